//! Tests of the `hello` definitions without booting: the team's policy, and the exact
//! `config.json` the `hello` service gets (its image built from this package, the
//! `org.mobyproject.config` label from `[package.metadata.linuxkit.config]` merged), as an
//! insta snapshot. Review a change with `cargo insta review` (or `INSTA_UPDATE=always`).

// The definition target, compiled into this test (its `main` is unused here).
#[allow(dead_code)]
#[path = "../examples/hello-image.rs"]
mod hello_image;

use linuxkit_dsl::testing::Policy;
use linuxkit_dsl::Capability;
use linuxkit_testing::{locked_references, ContainerAudit, Harness};

/// What this team allows: no CAP_SYS_ADMIN anywhere, CAP_KILL nowhere, every registry image
/// pinned (by digest or in linuxkit.lock), host networking only for the two containers whose
/// images declare it.
fn policy() -> Policy {
    let locked = locked_references(env!("CARGO_MANIFEST_DIR")).expect("linuxkit.lock readable");
    Policy::new()
        .forbid_capability(Capability::SysAdmin)
        .forbid_capability(Capability::Kill)
        .require_pinned_or_locked(locked)
        .host_network_only(["net-up", "hello"])
}

#[test]
fn hello_follows_the_policy() {
    policy().assert(&hello_image::hello());
}

#[test]
fn the_demo_variant_is_caught_by_the_policy() {
    let found: Vec<String> = policy()
        .readonly_rootfs_except(["net-up"])
        .check(&hello_image::hello_demo())
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        found,
        [
            "services[0] `hello`: has CAP_KILL (forbidden unless allowed for this container)",
            "services[0] `hello`: root filesystem is writable: add .readonly()",
        ]
    );
}

#[test]
fn hello_service_config_json() {
    let harness = Harness::new(env!("CARGO_MANIFEST_DIR")).expect("workspace");
    let config = harness
        .container_config(&hello_image::hello(), "hello")
        .unwrap_or_else(|e| panic!("{e}"));
    insta::assert_snapshot!(config);
}

/// What each container may do with its image's label merged (the label comes from
/// `[package.metadata.linuxkit.config]`): a snapshot, the same facts as the `config.json`, and
/// the policy applied to them, where the label's grants count.
#[test]
fn hello_audit_matches_config_json_and_the_policy_sees_label_grants() {
    let harness = Harness::new(env!("CARGO_MANIFEST_DIR")).expect("workspace");
    let image = hello_image::hello();
    let audits = harness
        .audit(&image, "hello")
        .unwrap_or_else(|e| panic!("{e}"));
    insta::assert_snapshot!(serde_json::to_string_pretty(&audits).expect("JSON"));

    let config: serde_json::Value = serde_json::from_str(
        &harness
            .container_config(&image, "hello")
            .unwrap_or_else(|e| panic!("{e}")),
    )
    .expect("config.json");
    let hello = audits.iter().find(|a| a.name == "hello").expect("hello");
    assert_eq!(
        serde_json::json!(hello.capabilities.effective),
        config["process"]["capabilities"]["effective"]
    );
    let own_net = config["linux"]["namespaces"]
        .as_array()
        .expect("namespaces")
        .iter()
        .any(|n| n["type"] == "network");
    assert_eq!(
        hello.host_namespaces.iter().any(|n| n == "network"),
        !own_net
    );

    // The definition sets no capability: only the merged facts show the labels' grants.
    let strict = Policy::new().forbid_capability(Capability::NetAdmin);
    assert!(strict.check(&image).is_empty());
    let effective: Vec<_> = audits.iter().map(ContainerAudit::effective).collect();
    let found: Vec<String> = strict
        .check_effective(&image, &effective)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        found,
        ["onboot[0] `net-up`: has CAP_NET_ADMIN (forbidden unless allowed for this container)"]
    );
    assert!(policy().check_effective(&image, &effective).is_empty());
}
