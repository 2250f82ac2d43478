//! Builders: fluent, typed constructors for the model.
//!
//! Every model type gets a constructor and one chainable method per field, so a definition
//! reads top to bottom and rust-analyzer completes it:
//!
//! ```
//! use linuxkit_dsl::{Capability, Container, File, Image, Kernel, Namespace};
//!
//! let image = Image::new(Kernel::new("linuxkit/kernel:6.12.59").cmdline("console=ttyS0"))
//!     .init(["linuxkit/init:b5506cc74a6812dc40982cacfd2f4328f8a4b12a"])
//!     .service(
//!         Container::new("sshd", "linuxkit/sshd:08e5d4a46603eff485d5d1b14001cc932a530858")
//!             .capability(Capability::NetBindService)
//!             .net(Namespace::Host)
//!             .add_bind("/root/.ssh:/root/.ssh"),
//!     )
//!     .file(File::new("root/.ssh/authorized_keys").source("~/.ssh/id_rsa.pub").mode(0o600).optional());
//! assert_eq!(image.services[0].capabilities.as_deref(), Some(&["CAP_NET_BIND_SERVICE".to_string()][..]));
//! ```
//!
//! Conventions:
//! - A singular method (`.capability`, `.bind`, `.env`, `.mount`) **appends** one element; the
//!   plural method (`.capabilities`, `.binds`, `.environment`, `.mounts`) **sets** the whole list,
//!   making it `Some` even when empty (an empty list set explicitly overrides the image label).
//! - Flags without an argument (`.readonly()`, `.optional()`) turn the option on; `set_*` methods
//!   take an explicit `bool` (for `readonly: false`).
//! - Methods that add an item to an [`Image`], and container methods that set or add a part,
//!   record where they were called (see [`crate::location`]), so problems found later point at
//!   the line that wrote the value.

use std::collections::BTreeMap;
use std::panic::Location;

use crate::location::{adopt_nested, record, record_nested, rename_nested};
use crate::model::*;
use crate::types::{
    Capability, DeviceType, MountType, Namespace, Propagation, Rlimit, RlimitValue,
};

fn push<T>(list: &mut Option<Vec<T>>, item: T) {
    list.get_or_insert_with(Vec::new).push(item);
}

/// Parses a JSON array of free-form values (block IO device entries, as `cargo linuxkit
/// import` writes them); anything but a JSON array gives an empty list.
pub fn json_values(text: &str) -> Vec<serde_json::Value> {
    serde_json::from_str(text).unwrap_or_default()
}

/// Key-value entries as a map of strings (sysctls, annotations).
fn string_map<I, K, V>(entries: I) -> BTreeMap<String, String>
where
    I: IntoIterator<Item = (K, V)>,
    K: Into<String>,
    V: Into<String>,
{
    entries
        .into_iter()
        .map(|(k, v)| (k.into(), v.into()))
        .collect()
}

fn strings<I, S>(items: I) -> Vec<String>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    items.into_iter().map(Into::into).collect()
}

fn caps<I: IntoIterator<Item = Capability>>(items: I) -> Vec<String> {
    items.into_iter().map(String::from).collect()
}

/// Formats a file or device mode the way LinuxKit files write it: `0644`.
pub fn octal_mode_string(mode: u32) -> String {
    format!("{mode:04o}")
}

/// Builder methods, each setting one field. Three forms, all recorded at the caller's location
/// under the item path `key` where one is given (see `Container::mark`), so problems found later
/// point at the call:
///
/// - `name(arg: Type) [mark "key"] => field = value;` sets the field;
/// - `name(arg: Type) push "key" => field, value;` appends to a list field (`key[N]`);
/// - `name(strings arg) [mark "key"] => field;` sets a list of strings from any iterator.
macro_rules! setters {
    () => {};
    (
        $(#[$doc:meta])*
        $name:ident($arg:ident: $ty:ty) $(mark $key:literal)? => $field:ident = $value:expr;
        $($rest:tt)*
    ) => {
        $(#[$doc])*
        #[must_use]
        #[track_caller]
        pub fn $name(mut self, $arg: $ty) -> Self {
            $(self.mark($key);)?
            self.$field = $value;
            self
        }
        setters!($($rest)*);
    };
    (
        $(#[$doc:meta])*
        $name:ident($arg:ident: $ty:ty) push $key:literal => $field:ident, $value:expr;
        $($rest:tt)*
    ) => {
        $(#[$doc])*
        #[must_use]
        #[track_caller]
        pub fn $name(mut self, $arg: $ty) -> Self {
            self.mark(format!(
                concat!($key, "[{}]"),
                self.$field.as_ref().map_or(0, Vec::len)
            ));
            push(&mut self.$field, $value);
            self
        }
        setters!($($rest)*);
    };
    (
        $(#[$doc:meta])*
        $name:ident(strings $arg:ident) $(mark $key:literal)? => $field:ident;
        $($rest:tt)*
    ) => {
        $(#[$doc])*
        #[must_use]
        #[track_caller]
        pub fn $name<I, S>(mut self, $arg: I) -> Self
        where
            I: IntoIterator<Item = S>,
            S: Into<String>,
        {
            $(self.mark($key);)?
            self.$field = Some(strings($arg));
            self
        }
        setters!($($rest)*);
    };
}

// ---------------------------------------------------------------------------------------------
// Image

impl Image {
    /// An image booting `kernel`. Use [`Image::default()`] for an image without a kernel
    /// (e.g. a fragment merged with another file).
    #[track_caller]
    pub fn new(kernel: Kernel) -> Self {
        record("kernel".into(), Location::caller());
        Image {
            kernel: Some(kernel),
            ..Image::default()
        }
    }

    /// Sets (replaces) the kernel section.
    #[track_caller]
    #[must_use]
    pub fn kernel(mut self, kernel: Kernel) -> Self {
        record("kernel".into(), Location::caller());
        self.kernel = Some(kernel);
        self
    }

    /// Appends init images (unpacked at `/` in order: init, runc, containerd, ...).
    #[track_caller]
    #[must_use]
    pub fn init<I, S>(mut self, images: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let loc = Location::caller();
        for image in images {
            record(format!("init[{}]", self.init.len()), loc);
            self.init.push(image.into());
        }
        self
    }

    /// Appends a container run once, in order, at boot: a [`Container`] or a catalogue
    /// package such as `pkgs::dhcpcd().once()` (see [`crate::pkgs`]).
    #[track_caller]
    #[must_use]
    pub fn onboot(mut self, container: impl Into<Container>) -> Self {
        let container = container.into();
        let path = format!("onboot[{}]", self.onboot.len());
        adopt_nested(&container.name, &path);
        record(path, Location::caller());
        self.onboot.push(container);
        self
    }

    /// Appends a container run once, in order, at shutdown.
    #[track_caller]
    #[must_use]
    pub fn onshutdown(mut self, container: impl Into<Container>) -> Self {
        let container = container.into();
        let path = format!("onshutdown[{}]", self.onshutdown.len());
        adopt_nested(&container.name, &path);
        record(path, Location::caller());
        self.onshutdown.push(container);
        self
    }

    /// Appends a long-running service (names must be unique).
    #[track_caller]
    #[must_use]
    pub fn service(mut self, container: impl Into<Container>) -> Self {
        let container = container.into();
        let path = format!("services[{}]", self.services.len());
        adopt_nested(&container.name, &path);
        record(path, Location::caller());
        self.services.push(container);
        self
    }

    /// Appends a file, directory or symlink.
    #[track_caller]
    #[must_use]
    pub fn file(mut self, file: File) -> Self {
        record(format!("files[{}]", self.files.len()), Location::caller());
        self.files.push(file);
        self
    }

    /// Appends a named volume.
    #[track_caller]
    #[must_use]
    pub fn volume(mut self, volume: Volume) -> Self {
        record(
            format!("volumes[{}]", self.volumes.len()),
            Location::caller(),
        );
        self.volumes.push(volume);
        self
    }

    /// Sets the legacy `trust` section (accepted and ignored, as upstream does).
    #[must_use]
    pub fn trust(mut self, trust: Trust) -> Self {
        self.trust = Some(trust);
        self
    }
}

// ---------------------------------------------------------------------------------------------
// Kernel

impl Kernel {
    /// A kernel from an OCI image such as `linuxkit/kernel:6.12.59`.
    pub fn new(image: impl Into<String>) -> Self {
        Kernel {
            image: image.into(),
            ..Kernel::default()
        }
    }

    setters! {
        /// The kernel command line, written verbatim to `boot/cmdline`.
        cmdline(cmdline: impl Into<String>) => cmdline = Some(cmdline.into());

        /// File name of the kernel binary at the image root (default `kernel`).
        binary(binary: impl Into<String>) => binary = Some(binary.into());

        /// Tarball inside the image unpacked at `/` (default `kernel.tar`).
        tar(tar: impl Into<String>) => tar = Some(tar.into());
    }

    /// Do not unpack any kernel tarball (`tar: none`).
    #[must_use]
    pub fn no_tar(mut self) -> Self {
        self.tar = Some("none".into());
        self
    }

    /// Microcode cpio inside the image, prepended to the initrd.
    #[must_use]
    pub fn ucode(mut self, ucode: impl Into<String>) -> Self {
        self.ucode = Some(ucode.into());
        self
    }
}

// ---------------------------------------------------------------------------------------------
// Container

/// A uid or gid given as a number.
impl From<i64> for Id {
    fn from(v: i64) -> Self {
        Id::Num(v)
    }
}

/// A uid or gid given as a number (what an unsuffixed literal such as `100` is).
impl From<i32> for Id {
    fn from(v: i32) -> Self {
        Id::Num(i64::from(v))
    }
}

/// A uid or gid given as a number.
impl From<u32> for Id {
    fn from(v: u32) -> Self {
        Id::Num(i64::from(v))
    }
}

/// A uid or gid given as a container name (its id is that container's index from 100).
impl From<&str> for Id {
    fn from(v: &str) -> Self {
        Id::Name(v.to_string())
    }
}

/// A uid or gid given as a container name.
impl From<String> for Id {
    fn from(v: String) -> Self {
        Id::Name(v)
    }
}

impl Container {
    /// Records where a part of this container was written (see [`crate::location`]).
    #[track_caller]
    fn mark(&self, relative: impl Into<String>) {
        record_nested(&self.name, relative.into(), Location::caller());
    }

    /// A container `name` running `image` (an OCI reference such as `linuxkit/getty:<tag>`).
    pub fn new(name: impl Into<String>, image: impl Into<String>) -> Self {
        Container {
            name: name.into(),
            image: image.into(),
            ..Container::default()
        }
    }

    /// Renames the container.
    #[must_use]
    pub fn name(mut self, name: impl Into<String>) -> Self {
        let name = name.into();
        rename_nested(&self.name, &name);
        self.name = name;
        self
    }

    setters! {
        /// Replaces the image reference.
        image(image: impl Into<String>) => image = image.into();

        /// Appends a capability to `capabilities` (which replaces the image label's list).
        capability(cap: Capability) push "capabilities" => capabilities, cap.into();

        /// Sets `capabilities` to exactly these (an empty list means no capabilities).
        capabilities(caps_: impl IntoIterator<Item = Capability>) mark "capabilities" => capabilities = Some(caps(caps_));
    }

    /// Sets `capabilities` to `all`: every capability.
    #[must_use]
    #[track_caller]
    pub fn all_capabilities(mut self) -> Self {
        self.mark("capabilities");
        self.capabilities = Some(vec!["all".into()]);
        self
    }

    /// Sets `capabilities` to an explicit empty list: no capabilities, whatever the label says.
    #[must_use]
    #[track_caller]
    pub fn no_capabilities(mut self) -> Self {
        self.mark("capabilities");
        self.capabilities = Some(Vec::new());
        self
    }

    setters! {
        /// Sets `capabilities` from LinuxKit strings (`CAP_NET_ADMIN`, `all`, `none`).
        capability_names(strings names) mark "capabilities" => capabilities;

        /// Appends to `capabilities.add`: added to the capabilities of the image label.
        add_capability(cap: Capability) push "capabilities.add" => capabilities_add, cap.into();

        /// Sets `capabilities.add` to exactly these.
        add_capabilities(caps_: impl IntoIterator<Item = Capability>) mark "capabilities.add" => capabilities_add = Some(caps(caps_));

        /// Sets `capabilities.add` from LinuxKit strings.
        add_capability_names(strings names) mark "capabilities.add" => capabilities_add;

        /// Appends an ambient capability (also added to the bounding set).
        ambient(cap: Capability) push "ambient" => ambient, cap.into();

        /// Sets the ambient capabilities to exactly these.
        ambient_capabilities(caps_: impl IntoIterator<Item = Capability>) mark "ambient" => ambient = Some(caps(caps_));

        /// Sets the ambient capabilities from LinuxKit strings.
        ambient_names(strings names) mark "ambient" => ambient;

        /// Appends a full mount specification.
        mount(mount: Mount) push "mounts" => mounts, mount;

        /// Sets the mounts to exactly these.
        mounts(mounts: impl IntoIterator<Item = Mount>) mark "mounts" => mounts = Some(mounts.into_iter().collect());

        /// Appends a bind `src:dst[:opts]` (`src` is a host path or a volume name). `binds` replaces
        /// the image label's binds; use [`Container::add_bind`] to extend them instead.
        bind(bind: impl Into<String>) push "binds" => binds, bind.into();

        /// Sets `binds` to exactly these.
        binds(strings binds) mark "binds" => binds;

        /// Appends to `binds.add`: added to the binds of the image label.
        add_bind(bind: impl Into<String>) push "binds.add" => binds_add, bind.into();

        /// Sets `binds.add` to exactly these.
        add_binds(strings binds) mark "binds.add" => binds_add;

        /// Appends a device node.
        device(device: Device) push "devices" => devices, device;

        /// Sets the devices to exactly these.
        devices(devices: impl IntoIterator<Item = Device>) mark "devices" => devices = Some(devices.into_iter().collect());

        /// Appends a tmpfs mount `dst[:opt,opt]`.
        tmpfs(tmpfs: impl Into<String>) push "tmpfs" => tmpfs, tmpfs.into();

        /// Sets the tmpfs mounts to exactly these.
        tmpfs_mounts(strings tmpfs) mark "tmpfs" => tmpfs;

        /// Sets the process arguments (default: the image's Entrypoint + Cmd).
        command(strings args) mark "command" => command;
    }

    /// Appends an environment entry `KEY=value`.
    #[must_use]
    #[track_caller]
    pub fn env(mut self, entry: impl Into<String>) -> Self {
        self.mark(format!("env[{}]", self.env.as_ref().map_or(0, Vec::len)));
        push(&mut self.env, entry.into());
        self
    }

    /// Appends an environment variable `key=value`.
    #[must_use]
    #[track_caller]
    pub fn env_var(mut self, key: impl AsRef<str>, value: impl AsRef<str>) -> Self {
        self.mark(format!("env[{}]", self.env.as_ref().map_or(0, Vec::len)));
        push(
            &mut self.env,
            format!("{}={}", key.as_ref(), value.as_ref()),
        );
        self
    }

    setters! {
        /// Sets the environment to exactly these `KEY=value` entries (replacing the image's Env).
        environment(strings entries) mark "env" => env;

        /// Sets the working directory.
        cwd(cwd: impl Into<String>) mark "cwd" => cwd = Some(cwd.into());

        /// Network namespace: host by default; [`Namespace::New`]/[`Namespace::None`] give a fresh
        /// one, a path joins an existing one.
        net(ns: impl Into<Namespace>) mark "net" => net = Some(ns.into().as_str().to_string());

        /// PID namespace: **new** by default; [`Namespace::Host`] shares the host's.
        pid(ns: impl Into<Namespace>) mark "pid" => pid = Some(ns.into().as_str().to_string());

        /// IPC namespace: host by default.
        ipc(ns: impl Into<Namespace>) mark "ipc" => ipc = Some(ns.into().as_str().to_string());

        /// UTS namespace: host by default.
        uts(ns: impl Into<Namespace>) mark "uts" => uts = Some(ns.into().as_str().to_string());

        /// User namespace: host by default (experimental upstream).
        userns(ns: impl Into<Namespace>) mark "userns" => userns = Some(ns.into().as_str().to_string());

        /// Hostname inside the container.
        hostname(hostname: impl Into<String>) mark "hostname" => hostname = Some(hostname.into());
    }

    /// Read-only root filesystem.
    #[must_use]
    #[track_caller]
    pub fn readonly(self) -> Self {
        self.set_readonly(true)
    }

    setters! {
        /// Sets `readonly` explicitly.
        set_readonly(readonly: bool) mark "readonly" => readonly = Some(readonly);

        /// Appends a masked path.
        masked_path(path: impl Into<String>) push "maskedPaths" => masked_paths, path.into();

        /// Sets the masked paths to exactly these.
        masked_paths(strings paths) mark "maskedPaths" => masked_paths;

        /// Appends a read-only path.
        readonly_path(path: impl Into<String>) push "readonlyPaths" => readonly_paths, path.into();

        /// Sets the read-only paths to exactly these.
        readonly_paths(strings paths) mark "readonlyPaths" => readonly_paths;

        /// User id: a number, or the name of a container of this image (its id from 100).
        uid(uid: impl Into<Id>) mark "uid" => uid = Some(uid.into());

        /// Group id: a number, or the name of a container of this image.
        gid(gid: impl Into<Id>) mark "gid" => gid = Some(gid.into());

        /// Appends a supplementary group id.
        additional_gid(gid: impl Into<Id>) push "additionalGids" => additional_gids, gid.into();
    }

    /// Sets the supplementary group ids to exactly these.
    #[must_use]
    #[track_caller]
    pub fn additional_gids<I, T>(mut self, gids: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<Id>,
    {
        self.mark("additionalGids");
        self.additional_gids = Some(gids.into_iter().map(Into::into).collect());
        self
    }

    /// Sets the no_new_privs bit.
    #[must_use]
    #[track_caller]
    pub fn no_new_privileges(self) -> Self {
        self.set_no_new_privileges(true)
    }

    setters! {
        /// Sets `noNewPrivileges` explicitly.
        set_no_new_privileges(value: bool) mark "noNewPrivileges" => no_new_privileges = Some(value);

        /// OOM score adjustment (-1000..1000).
        oom_score_adj(adj: i64) mark "oomScoreAdj" => oom_score_adj = Some(adj);

        /// Mount propagation of the root filesystem.
        rootfs_propagation(propagation: Propagation) mark "rootfsPropagation" => rootfs_propagation = Some(propagation.as_str().to_string());

        /// Mount propagation of the root filesystem, as a string.
        rootfs_propagation_str(propagation: impl Into<String>) mark "rootfsPropagation" => rootfs_propagation = Some(propagation.into());

        /// cgroup path of the container.
        cgroups_path(path: impl Into<String>) mark "cgroupsPath" => cgroups_path = Some(path.into());

        /// Resource limits (replace the label's whole).
        resources(resources: Resources) mark "resources" => resources = Some(resources);
    }

    /// Sets one namespaced sysctl, e.g. `("net.ipv4.ip_forward", "1")`.
    #[must_use]
    #[track_caller]
    pub fn sysctl(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        let key = key.into();
        self.mark(format!("sysctl.{key}"));
        self.sysctl
            .get_or_insert_with(BTreeMap::new)
            .insert(key, value.into());
        self
    }

    /// Sets the sysctls to exactly these.
    #[must_use]
    #[track_caller]
    pub fn sysctls<I, K, V>(mut self, entries: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        self.mark("sysctl");
        self.sysctl = Some(string_map(entries));
        self
    }

    /// Appends a resource limit, e.g. `.rlimit(Rlimit::Nofile, 1024, 4096)` or
    /// `.rlimit(Rlimit::Memlock, RlimitValue::Unlimited, RlimitValue::Unlimited)`.
    #[must_use]
    #[track_caller]
    pub fn rlimit(
        mut self,
        limit: Rlimit,
        soft: impl Into<RlimitValue>,
        hard: impl Into<RlimitValue>,
    ) -> Self {
        self.mark(format!(
            "rlimits[{}]",
            self.rlimits.as_ref().map_or(0, Vec::len)
        ));
        push(
            &mut self.rlimits,
            format!("{},{},{}", limit.as_str(), soft.into(), hard.into()),
        );
        self
    }

    setters! {
        /// Sets the resource limits to exactly these LinuxKit strings (`name,soft,hard`).
        rlimits(strings limits) mark "rlimits" => rlimits;

        /// Sets the user namespace uid mappings.
        uid_mappings(mappings: impl IntoIterator<Item = IdMapping>) mark "uidMappings" => uid_mappings = Some(mappings.into_iter().collect());

        /// Sets the user namespace gid mappings.
        gid_mappings(mappings: impl IntoIterator<Item = IdMapping>) mark "gidMappings" => gid_mappings = Some(mappings.into_iter().collect());
    }

    /// Sets one OCI annotation.
    #[must_use]
    #[track_caller]
    pub fn annotation(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        let key = key.into();
        self.mark(format!("annotations.{key}"));
        self.annotations
            .get_or_insert_with(BTreeMap::new)
            .insert(key, value.into());
        self
    }

    /// Sets the annotations to exactly these.
    #[must_use]
    #[track_caller]
    pub fn annotations<I, K, V>(mut self, entries: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        self.mark("annotations");
        self.annotations = Some(string_map(entries));
        self
    }

    /// What init does around the container (goes to `runtime.json`).
    #[must_use]
    #[track_caller]
    pub fn runtime(mut self, runtime: Runtime) -> Self {
        self.mark("runtime");
        self.runtime = Some(runtime);
        self
    }
}

// ---------------------------------------------------------------------------------------------
// Mount, IdMapping, Device

impl Mount {
    /// A mount of filesystem type `kind`; set `.destination(..)` (and `.source(..)`).
    pub fn new(kind: MountType) -> Self {
        Mount::of_type(kind.as_str())
    }

    /// A mount whose type is given as a string (for types outside [`MountType`]).
    pub fn of_type(kind: impl Into<String>) -> Self {
        Mount {
            kind: kind.into(),
            ..Mount::default()
        }
    }

    /// A bind mount of `source` (a host path or a volume name) at `destination`.
    pub fn bind(source: impl Into<String>, destination: impl Into<String>) -> Self {
        Mount::new(MountType::Bind)
            .source(source)
            .destination(destination)
    }

    /// A tmpfs at `destination`.
    pub fn tmpfs(destination: impl Into<String>) -> Self {
        Mount::new(MountType::Tmpfs)
            .source("tmpfs")
            .destination(destination)
    }

    setters! {
        /// Mount point inside the container.
        destination(destination: impl Into<String>) => destination = destination.into();

        /// Mount source.
        source(source: impl Into<String>) => source = source.into();
    }

    /// Appends a mount option (`ro`, `nosuid`, `mode=755`, ...).
    #[must_use]
    pub fn option(mut self, option: impl Into<String>) -> Self {
        push(&mut self.options, option.into());
        self
    }

    setters! {
        /// Sets the mount options to exactly these.
        options(strings options) => options;

        /// Sets the uid mappings of an idmapped mount.
        uid_mappings(mappings: impl IntoIterator<Item = IdMapping>) => uidmappings = Some(mappings.into_iter().collect());

        /// Sets the gid mappings of an idmapped mount.
        gid_mappings(mappings: impl IntoIterator<Item = IdMapping>) => gidmappings = Some(mappings.into_iter().collect());
    }
}

impl IdMapping {
    /// Maps `size` ids starting at `container_id` to ids starting at `host_id`.
    pub fn new(container_id: i64, host_id: i64, size: i64) -> Self {
        IdMapping {
            host_id: Some(host_id),
            container_id: Some(container_id),
            size: Some(size),
        }
    }
}

impl Device {
    /// A device node `path` of type `kind` with the given numbers; set `.mode(0o666)`.
    pub fn new(path: impl Into<String>, kind: DeviceType, major: i64, minor: i64) -> Self {
        Device {
            path: path.into(),
            kind: kind.as_str().to_string(),
            major: Some(major),
            minor: Some(minor),
            mode: None,
        }
    }

    /// Allow every device of type `kind` (`path: all`).
    pub fn all(kind: DeviceType) -> Self {
        Device {
            path: "all".into(),
            kind: kind.as_str().to_string(),
            ..Device::default()
        }
    }

    setters! {
        /// File mode of the node, e.g. `0o666` (written as the octal string `"0666"`).
        mode(mode: u32) => mode = Some(octal_mode_string(mode));

        /// File mode as a LinuxKit octal string.
        mode_str(mode: impl Into<String>) => mode = Some(mode.into());
    }
}

// ---------------------------------------------------------------------------------------------
// Resources

impl Resources {
    /// No limits set.
    pub fn new() -> Self {
        Resources::default()
    }

    /// Appends a device cgroup rule.
    #[must_use]
    pub fn device(mut self, rule: DeviceCgroup) -> Self {
        push(&mut self.devices, rule);
        self
    }

    /// Memory limits.
    #[must_use]
    pub fn memory(mut self, memory: Memory) -> Self {
        self.memory = Some(memory);
        self
    }

    /// Memory limit in bytes (`memory.limit`).
    #[must_use]
    pub fn memory_limit(mut self, bytes: i64) -> Self {
        self.memory.get_or_insert_with(Memory::default).limit = Some(bytes);
        self
    }

    /// CPU limits.
    #[must_use]
    pub fn cpu(mut self, cpu: Cpu) -> Self {
        self.cpu = Some(cpu);
        self
    }

    /// Relative CPU weight (`cpu.shares`).
    #[must_use]
    pub fn cpu_shares(mut self, shares: u64) -> Self {
        self.cpu.get_or_insert_with(Cpu::default).shares = Some(shares);
        self
    }

    setters! {
        /// Maximum number of tasks (`pids.limit`).
        pids_limit(limit: i64) => pids = Some(Pids { limit });

        /// Block IO limits.
        block_io(block_io: BlockIo) => block_io = Some(block_io);
    }

    /// Appends a hugepage limit.
    #[must_use]
    pub fn hugepage_limit(mut self, page_size: impl Into<String>, limit: u64) -> Self {
        push(
            &mut self.hugepage_limits,
            HugepageLimit {
                page_size: page_size.into(),
                limit,
            },
        );
        self
    }

    /// Network class and priorities.
    #[must_use]
    pub fn network(mut self, network: Network) -> Self {
        self.network = Some(network);
        self
    }
}

impl DeviceCgroup {
    /// A rule allowing `access` (e.g. `rwm`) to devices of type `kind`.
    pub fn allow(kind: DeviceType, access: impl Into<String>) -> Self {
        DeviceCgroup {
            allow: true,
            kind: Some(kind.as_str().to_string()),
            access: Some(access.into()),
            ..DeviceCgroup::default()
        }
    }

    /// A rule denying `access` to devices of type `kind`.
    pub fn deny(kind: DeviceType, access: impl Into<String>) -> Self {
        DeviceCgroup {
            allow: false,
            ..DeviceCgroup::allow(kind, access)
        }
    }

    /// Restricts the rule to one major/minor number.
    #[must_use]
    pub fn numbers(mut self, major: i64, minor: i64) -> Self {
        self.major = Some(major);
        self.minor = Some(minor);
        self
    }
}

// ---------------------------------------------------------------------------------------------
// Runtime, Interface, BindNs

impl Runtime {
    /// No runtime actions.
    pub fn new() -> Self {
        Runtime::default()
    }

    /// Appends a cgroup to create before the container starts.
    #[must_use]
    pub fn cgroup(mut self, cgroup: impl Into<String>) -> Self {
        push(&mut self.cgroups, cgroup.into());
        self
    }

    /// Sets the cgroups to exactly these.
    #[must_use]
    pub fn cgroups<I, S>(mut self, cgroups: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.cgroups = Some(strings(cgroups));
        self
    }

    /// Appends a mount made in the root namespace before the container is created
    /// (a relative destination is relative to the bundle's rootfs).
    #[must_use]
    pub fn mount(mut self, mount: Mount) -> Self {
        push(&mut self.mounts, mount);
        self
    }

    /// Sets the runtime mounts to exactly these.
    #[must_use]
    pub fn mounts(mut self, mounts: impl IntoIterator<Item = Mount>) -> Self {
        self.mounts = Some(mounts.into_iter().collect());
        self
    }

    /// Appends a directory to create (relative means relative to the rootfs).
    #[must_use]
    pub fn mkdir(mut self, dir: impl Into<String>) -> Self {
        push(&mut self.mkdir, dir.into());
        self
    }

    /// Sets the directories to create to exactly these.
    #[must_use]
    pub fn mkdirs<I, S>(mut self, dirs: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.mkdir = Some(strings(dirs));
        self
    }

    /// Appends a network interface to create or move into the container's namespace.
    #[must_use]
    pub fn interface(mut self, interface: Interface) -> Self {
        push(&mut self.interfaces, interface);
        self
    }

    setters! {
        /// Sets the interfaces to exactly these.
        interfaces(interfaces: impl IntoIterator<Item = Interface>) => interfaces = Some(interfaces.into_iter().collect());

        /// Bind the container's namespaces to paths (`bindNS`).
        bind_ns(bind_ns: BindNs) => bind_ns = Some(bind_ns);

        /// containerd namespace for services (default `services.linuxkit`).
        namespace(namespace: impl Into<String>) => namespace = Some(namespace.into());
    }
}

impl Interface {
    /// An interface called `name`.
    pub fn new(name: impl Into<String>) -> Self {
        Interface {
            name: name.into(),
            ..Interface::default()
        }
    }

    /// Create an interface of this type (`veth`, `wireguard`, ...).
    #[must_use]
    #[allow(clippy::should_implement_trait)] // named after LinuxKit's `add` key
    pub fn add(mut self, kind: impl Into<String>) -> Self {
        self.add = kind.into();
        self
    }

    /// Peer name of a veth pair.
    #[must_use]
    pub fn peer(mut self, peer: impl Into<String>) -> Self {
        self.peer = peer.into();
        self
    }

    /// Create the interface in the root namespace, then move it into the container's.
    #[must_use]
    pub fn create_in_root(mut self) -> Self {
        self.create_in_root = true;
        self
    }
}

impl BindNs {
    /// No namespace bound.
    pub fn new() -> Self {
        BindNs::default()
    }

    setters! {
        /// Bind the cgroup namespace at `path`.
        cgroup(path: impl Into<String>) => cgroup = Some(path.into());

        /// Bind the IPC namespace at `path`.
        ipc(path: impl Into<String>) => ipc = Some(path.into());

        /// Bind the mount namespace at `path`.
        mnt(path: impl Into<String>) => mnt = Some(path.into());

        /// Bind the network namespace at `path` (e.g. `/run/netns/wg0`).
        net(path: impl Into<String>) => net = Some(path.into());

        /// Bind the PID namespace at `path`.
        pid(path: impl Into<String>) => pid = Some(path.into());

        /// Bind the user namespace at `path`.
        user(path: impl Into<String>) => user = Some(path.into());

        /// Bind the UTS namespace at `path`.
        uts(path: impl Into<String>) => uts = Some(path.into());
    }
}

// ---------------------------------------------------------------------------------------------
// File, Volume, Trust

impl File {
    /// An entry at `path` (a leading `/` is optional). Give it `.contents(..)`, `.source(..)`,
    /// `.metadata_yaml()`, `.directory()` or `.symlink(..)`.
    pub fn new(path: impl Into<String>) -> Self {
        File {
            path: path.into(),
            ..File::default()
        }
    }

    setters! {
        /// Inline contents (an empty string gives an empty file).
        contents(contents: impl Into<String>) => contents = Some(contents.into());

        /// Copy a host file (`~/` expands to the home directory; relative to the working directory).
        source(source: impl Into<String>) => source = Some(source.into());
    }

    /// Make this entry a directory (mode `0700` unless set).
    #[must_use]
    pub fn directory(mut self) -> Self {
        self.directory = true;
        self
    }

    /// Make this entry a symlink to `target`.
    #[must_use]
    pub fn symlink(mut self, target: impl Into<String>) -> Self {
        self.symlink = Some(target.into());
        self
    }

    /// Fill the file with the final image definition as YAML (`metadata: yaml`).
    #[must_use]
    pub fn metadata_yaml(self) -> Self {
        self.metadata("yaml")
    }

    /// Fill the file with the final image definition as JSON (`metadata: json`).
    #[must_use]
    pub fn metadata_json(self) -> Self {
        self.metadata("json")
    }

    /// `metadata` as a string (`yaml` or `json`).
    #[must_use]
    pub fn metadata(mut self, format: impl Into<String>) -> Self {
        self.metadata = Some(format.into());
        self
    }

    /// With `.source(..)`: skip the entry when the host file does not exist.
    #[must_use]
    pub fn optional(mut self) -> Self {
        self.optional = true;
        self
    }

    setters! {
        /// Permission bits, e.g. `0o644` (written as the octal string `"0644"`).
        mode(mode: u32) => mode = Some(octal_mode_string(mode));

        /// Permission bits as a LinuxKit octal string (`"0644"`).
        mode_str(mode: impl Into<String>) => mode = Some(mode.into());

        /// Owner: a number or a container name.
        uid(uid: impl Into<Id>) => uid = Some(uid.into());

        /// Group: a number or a container name.
        gid(gid: impl Into<Id>) => gid = Some(gid.into());
    }
}

impl Volume {
    /// A blank volume `name` (`[a-z0-9_-]*`), mounted in containers with `.bind("name:/dst")`.
    pub fn new(name: impl Into<String>) -> Self {
        Volume {
            name: name.into(),
            ..Volume::default()
        }
    }

    /// Fill the volume from an image.
    #[must_use]
    pub fn image(mut self, image: impl Into<String>) -> Self {
        self.image = Some(image.into());
        self
    }

    /// Every bind or mount of the volume must be read-only (`:ro`).
    #[must_use]
    pub fn readonly(mut self) -> Self {
        self.readonly = true;
        self
    }

    /// Store the image as an OCI image layout (`format: oci`) instead of a filesystem.
    #[must_use]
    pub fn format_oci(self) -> Self {
        self.format("oci")
    }

    /// Store the image unpacked (`format: filesystem`, the default).
    #[must_use]
    pub fn format_filesystem(self) -> Self {
        self.format("filesystem")
    }

    setters! {
        /// `format` as a string.
        format(format: impl Into<String>) => format = Some(format.into());

        /// Platforms stored with `format: oci`, e.g. `["linux/amd64"]`.
        platforms(strings platforms) => platforms;
    }
}

impl Trust {
    /// An empty trust section.
    pub fn new() -> Self {
        Trust::default()
    }

    setters! {
        /// Images to verify.
        images(strings images) => image;

        /// Organisations to verify.
        orgs(strings orgs) => org;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::location::{clear_recorded, take_recorded};

    #[test]
    fn singular_appends_plural_sets() {
        let c = Container::new("a", "alpine:3.21")
            .capability(Capability::NetAdmin)
            .capability(Capability::SysAdmin)
            .bind("/a:/a")
            .add_bind("/b:/b")
            .masked_paths([] as [&str; 0]);
        assert_eq!(
            c.capabilities,
            Some(vec!["CAP_NET_ADMIN".into(), "CAP_SYS_ADMIN".into()])
        );
        assert_eq!(c.binds, Some(vec!["/a:/a".into()]));
        assert_eq!(c.binds_add, Some(vec!["/b:/b".into()]));
        assert_eq!(c.masked_paths, Some(vec![]));
        assert_eq!(c.readonly_paths, None);
        let c = c.capabilities([]);
        assert_eq!(c.capabilities, Some(vec![]));
    }

    #[test]
    fn typed_values_become_linuxkit_strings() {
        let c = Container::new("a", "alpine:3.21")
            .net(Namespace::New)
            .pid("/run/netns/x")
            .rlimit(Rlimit::Nofile, 1024u64, RlimitValue::Unlimited)
            .uid("b")
            .gid(100u32)
            .device(Device::new("/dev/fuse", DeviceType::Char, 10, 229).mode(0o666))
            .rootfs_propagation(Propagation::Shared);
        assert_eq!(c.net.as_deref(), Some("new"));
        assert_eq!(c.pid.as_deref(), Some("/run/netns/x"));
        assert_eq!(c.rlimits, Some(vec!["nofile,1024,unlimited".into()]));
        assert_eq!(c.uid, Some(Id::Name("b".into())));
        assert_eq!(c.gid, Some(Id::Num(100)));
        assert_eq!(c.devices.unwrap()[0].mode.as_deref(), Some("0666"));
        assert_eq!(c.rootfs_propagation.as_deref(), Some("shared"));
        assert_eq!(File::new("x").mode(0o600).mode.as_deref(), Some("0600"));
        assert_eq!(Kernel::new("k").no_tar().tar.as_deref(), Some("none"));
    }

    fn helper_container() -> Container {
        Container::new("helper", "alpine:3.21").bind("/a:/a")
    }

    #[test]
    fn container_parts_record_locations_under_their_item_path() {
        clear_recorded();
        let line = line!() + 3;
        let _image = Image::default()
            .onboot(Container::new("first", "alpine:3.21"))
            .service(
                Container::new("web", "nginx:1.27")
                    .capability(Capability::NetAdmin)
                    .bind("/x:/x")
                    .bind("/y:/y")
                    .sysctl("net.ipv4.ip_forward", "1")
                    .readonly(),
            )
            .service(helper_container().name("renamed"));
        let locs = take_recorded();
        let at = |p: &str| locs.get(p).map(|l| l.line);
        assert_eq!(at("services[0]"), Some(line));
        assert_eq!(at("services[0].capabilities[0]"), Some(line + 2));
        assert_eq!(at("services[0].binds[1]"), Some(line + 4));
        assert_eq!(at("services[0].sysctl.net.ipv4.ip_forward"), Some(line + 5));
        assert_eq!(at("services[0].readonly"), Some(line + 6));
        assert_eq!(at("onboot[0].binds[0]"), None);
        // Parts written in a helper point into the helper, and survive a rename.
        let helper = locs.get("services[1].binds[0]").unwrap();
        assert!(helper.line < line, "{helper}");
    }

    #[test]
    fn image_builders_record_locations() {
        clear_recorded();
        let line = line!() + 1;
        let image = Image::new(Kernel::new("linuxkit/kernel:6.12.59"))
            .init(["linuxkit/init:1", "linuxkit/runc:2"])
            .service(Container::new("a", "alpine:3.21"))
            .service(Container::new("b", "alpine:3.21"));
        let locs = take_recorded();
        assert_eq!(image.services.len(), 2);
        assert_eq!(locs.get("kernel").map(|l| l.line), Some(line));
        assert_eq!(locs.get("init[1]").map(|l| l.line), Some(line + 1));
        assert_eq!(locs.get("services[1]").map(|l| l.line), Some(line + 3));
        assert!(locs
            .get("services[1]")
            .unwrap()
            .file
            .ends_with("builder.rs"));
        assert_eq!(
            locs.nearest("services[1].binds[0]").map(|l| l.line),
            Some(line + 3)
        );
        assert!(take_recorded().is_empty());
    }
}
