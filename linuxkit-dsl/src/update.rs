//! A/B updates: [`Update`], the update agent as a service, added with [`Image::update`].
//!
//! ```
//! use linuxkit_dsl::{image_ref, Container, Image, Kernel, Update};
//!
//! let image = Image::new(Kernel::new(image_ref!("kernel:host")))
//!     .init([image_ref!("init:linuxkit-init")])
//!     .service(Container::new("web", image_ref!("nginx:1.27")))
//!     .update(Update::from("registry.example.com/fleet/web:stable").tries(2));
//! let agent = &image.services[1];
//! assert_eq!((agent.name.as_str(), agent.image.as_str()), ("update", "init:linuxkit-update"));
//! ```
//!
//! The agent (`init:linuxkit-update`, embedded in cargo-linuxkit) checks the registry
//! reference for new versions pushed by `cargo linuxkit push`, installs them beside the
//! running one on the ESP with boot tries, and reboots into them; `raw-efi` and `qcow2-efi`
//! builds of an image with it are laid out for two versions and boot through systemd-boot. Its
//! settings are its `command` (`linuxkit_update::settings`), so the YAML equivalent is the
//! same service written out. Under `#[image]` the reference is checked at compile time.

use linuxkit_update::settings::{HealthCheck, Settings};

use crate::model::{Container, Image};

/// The update agent's settings, as a service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Update {
    settings: Settings,
}

impl From<&str> for Update {
    /// Updates pulled from `source`, `HOST[:PORT]/REPOSITORY:TAG`.
    fn from(source: &str) -> Update {
        Update {
            settings: Settings::new(source),
        }
    }
}

impl From<String> for Update {
    fn from(source: String) -> Update {
        Update::from(source.as_str())
    }
}

impl Update {
    /// Seconds between checks of the registry (default 300; SIGHUP to the agent checks at
    /// once).
    #[must_use]
    pub fn interval(mut self, seconds: u64) -> Self {
        self.settings.interval = seconds.max(1);
        self
    }

    /// Boot tries a new version gets before systemd-boot falls back (default 3, at most 100).
    #[must_use]
    pub fn tries(mut self, tries: u32) -> Self {
        self.settings.tries = tries.clamp(1, 100);
        self
    }

    /// Seconds every service must have been up for a new version to be healthy (default 30).
    #[must_use]
    pub fn healthy_after(mut self, seconds: u64) -> Self {
        self.settings.healthy_after = seconds;
        self
    }

    /// Seconds after which a new version that is not healthy is given up (default 300).
    #[must_use]
    pub fn health_timeout(mut self, seconds: u64) -> Self {
        self.settings.health_timeout = seconds.max(1);
        self
    }

    /// Also healthy only when `command` exits with status 0 inside `service`'s container.
    #[must_use]
    pub fn health_check<I, S>(mut self, service: impl Into<String>, command: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.settings.health_check = Some(HealthCheck {
            service: service.into(),
            command: command.into_iter().map(Into::into).collect(),
        });
        self
    }

    /// Speak plain HTTP to this registry (`HOST[:PORT]`; loopback ones always are).
    #[must_use]
    pub fn insecure_registry(mut self, registry: impl Into<String>) -> Self {
        self.settings.insecure_registries.push(registry.into());
        self
    }

    /// Pull `registry`'s content through a mirror (`REGISTRY=URL`, as `cargo linuxkit --mirror`).
    #[must_use]
    pub fn mirror(mut self, mirror: impl Into<String>) -> Self {
        self.settings.mirrors.push(mirror.into());
        self
    }

    /// The ESP's size in MiB on disks built with the agent (default: two versions of the
    /// built one plus half again).
    #[must_use]
    pub fn esp_size_mib(mut self, mib: u64) -> Self {
        self.settings.esp_mib = Some(mib.max(1));
        self
    }

    /// The service: named `update`, image `init:linuxkit-update`, the settings as its command.
    pub fn into_container(self) -> Container {
        Container::new(linuxkit_update::SERVICE_NAME, linuxkit_update::IMAGE)
            .command(self.settings.command())
    }
}

impl From<Update> for Container {
    fn from(u: Update) -> Container {
        u.into_container()
    }
}

impl Image {
    /// Adds the A/B update agent as the `update` service (see [`Update`]).
    #[track_caller]
    #[must_use]
    pub fn update(self, update: Update) -> Self {
        self.service(update)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Kernel;

    #[test]
    fn the_service_command_is_the_agents_settings() {
        let image = Image::new(Kernel::new("kernel:host")).update(
            Update::from("10.0.2.2:5000/os:stable")
                .insecure_registry("10.0.2.2:5000")
                .interval(5)
                .tries(2)
                .health_check("web", ["wget", "-q", "http://127.0.0.1/"]),
        );
        let c = &image.services[0];
        assert_eq!(c.name, linuxkit_update::SERVICE_NAME);
        assert!(linuxkit_update::is_agent_image(&c.image));
        let s = Settings::from_command(c.command.as_deref().unwrap_or_default()).unwrap();
        assert_eq!(s.source, "10.0.2.2:5000/os:stable");
        assert_eq!((s.interval, s.tries), (5, 2));
        assert_eq!(s.insecure_registries, ["10.0.2.2:5000"]);
        assert_eq!(s.health_check.unwrap().service, "web");
        // Out-of-range knobs are clamped to what the agent accepts.
        let c = Update::from("r/x:1").tries(0).into_container();
        let s = Settings::from_command(c.command.as_deref().unwrap_or_default()).unwrap();
        assert_eq!(s.tries, 1);
    }
}
