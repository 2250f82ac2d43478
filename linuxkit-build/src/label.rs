//! The `org.mobyproject.config` image label (build spec §2.2, upstream `moby.NewImage`).
//!
//! `linuxkit pkg build` writes the label as JSON; upstream reads it as YAML (JSON is a subset),
//! requires a mapping, validates it with the same schema as a `services` entry (with a dummy
//! `name` and `image` injected), and rejects a label that sets `name` or `image` itself. Here the
//! schema is the model's serde definition ([`linuxkit_dsl::Container`] rejects unknown keys), so
//! a label is parsed into a `Container` whose `name` and `image` are empty.
//!
//! `capabilities.add` and `binds.add` are accepted in a label but, as upstream, never used.

use linuxkit_dsl::Container;

/// The label key holding LinuxKit's per-image configuration.
pub const MOBY_CONFIG_LABEL: &str = "org.mobyproject.config";

/// Errors of reading an `org.mobyproject.config` label.
#[derive(Debug, thiserror::Error)]
pub enum LabelError {
    /// The label is not valid YAML or JSON.
    #[error("cannot parse the org.mobyproject.config label: {0}")]
    Syntax(String),
    /// The label is valid YAML but not a mapping.
    #[error("JSON is an array not an object: {0}")]
    NotAnObject(String),
    /// The label does not match the schema of an image entry (unknown key, wrong type).
    #[error("invalid configuration label: The org.mobyproject.config label is invalid: {0}")]
    Invalid(String),
    /// The label sets `name`.
    #[error("name cannot be set in metadata label")]
    NameSet,
    /// The label sets `image`.
    #[error("image cannot be set in metadata label")]
    ImageSet,
}

/// Parse an `org.mobyproject.config` label value into an image entry with empty `name` and
/// `image`.
pub fn parse(label: &str) -> Result<Container, LabelError> {
    let value: serde_norway::Value =
        serde_norway::from_str(label).map_err(|e| LabelError::Syntax(e.to_string()))?;
    let serde_norway::Value::Mapping(mut map) = value else {
        return Err(LabelError::NotAnObject(label.to_string()));
    };
    let is_set = |v: Option<&serde_norway::Value>| match v {
        None | Some(serde_norway::Value::Null) => false,
        Some(serde_norway::Value::String(s)) => !s.is_empty(),
        Some(_) => true,
    };
    let name_set = is_set(map.get("name"));
    let image_set = is_set(map.get("image"));
    // Validate with dummy name and image, as upstream does before looking at them.
    map.insert("name".into(), "dummyname".into());
    map.insert("image".into(), "dummyimage".into());
    let mut container: Container = serde_norway::from_value(serde_norway::Value::Mapping(map))
        .map_err(|e| LabelError::Invalid(e.to_string()))?;
    if name_set {
        return Err(LabelError::NameSet);
    }
    if image_set {
        return Err(LabelError::ImageSet);
    }
    container.name.clear();
    container.image.clear();
    Ok(container)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_label_parses_into_the_model() {
        let c = parse(
            r#"{"capabilities":["CAP_NET_ADMIN"],"capabilities.add":["CAP_SYS_TIME"],"readonly":true,"uid":1,"oomScoreAdj":-500}"#,
        )
        .unwrap();
        assert_eq!(c.capabilities, Some(vec!["CAP_NET_ADMIN".to_string()]));
        assert_eq!(c.capabilities_add, Some(vec!["CAP_SYS_TIME".to_string()]));
        assert_eq!(c.readonly, Some(true));
        assert_eq!(c.oom_score_adj, Some(-500));
        assert!(c.name.is_empty() && c.image.is_empty());
    }

    #[test]
    fn yaml_label_parses_too() {
        let c = parse("net: new\nbinds:\n  - /a:/b\n").unwrap();
        assert_eq!(c.net.as_deref(), Some("new"));
    }

    #[test]
    fn label_must_be_a_mapping() {
        assert!(matches!(
            parse(r#"["CAP_SYS_ADMIN"]"#),
            Err(LabelError::NotAnObject(_))
        ));
    }

    #[test]
    fn unknown_keys_are_invalid() {
        let err = parse(r#"{"capabilites":["CAP_SYS_ADMIN"]}"#).unwrap_err();
        assert!(matches!(err, LabelError::Invalid(_)));
        assert!(err
            .to_string()
            .contains("The org.mobyproject.config label is invalid"));
    }

    #[test]
    fn name_and_image_cannot_be_set() {
        assert!(matches!(parse(r#"{"name":"x"}"#), Err(LabelError::NameSet)));
        assert!(matches!(
            parse(r#"{"image":"alpine"}"#),
            Err(LabelError::ImageSet)
        ));
        assert!(parse(r#"{"name":""}"#).is_ok());
    }
}
