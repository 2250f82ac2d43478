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
use linuxkit_testing::{locked_references, Harness};

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
