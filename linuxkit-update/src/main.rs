//! `linuxkit-update`: the A/B update agent of a LinuxKit system, run as the `update` service.
//!
//! At start it finds the version that booted (systemd-boot's `LoaderEntrySelected`) on the
//! ESP it booted from (`LoaderDevicePartUUID`), reports what runs and why (as built, updated,
//! rolled back), records versions that ran out of boot tries as failed (never installed
//! again), and, when the running version is on trial (its entry has a boot counter), waits for
//! it to be healthy and blesses it, or reboots so that its tries run out and systemd-boot falls
//! back. Then it checks the registry every `--interval` seconds (and on SIGHUP): a new system
//! artifact of the right type and architecture, that fits on the ESP, whose UKI matches its
//! digest and is signed like the running one, is written beside the running version, made the
//! default with `--tries` boot tries, and the system is rebooted through the init (services
//! stopped as on shutdown). See the library documentation and ARCHITECTURE.md.

#![forbid(unsafe_code)]

use std::collections::HashSet;
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use agent::check::{self, Failure, Verdict};
use agent::espfs::Esp;
use agent::health::{self, Health};
use agent::verify::{self, Signer};
use linuxkit_oci::digest::sha256_digest;
use linuxkit_oci::store::Platform;
use linuxkit_oci::write::DigestingWriter;
use linuxkit_resolve::{ProgressMode, Resolver, ResolverOptions};
use linuxkit_update::agent;
use linuxkit_update::artifact::SystemArtifact;
use linuxkit_update::esp::{Entry, Failed, State, Version};
use linuxkit_update::settings::Settings;

/// Where the agent mounts the ESP and efivarfs (directories of its image).
const ESP_DIR: &str = "/esp";
const EFIVARS_DIR: &str = "/efivars";
/// The registry client's scratch cache (a tmpfs).
const CACHE_DIR: &str = "/tmp/linuxkit-update";

macro_rules! say {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, $($t)*);
        let _ = out.flush();
    }};
}

const USAGE: &str =
    "usage: linuxkit-update --from REGISTRY/REPOSITORY:TAG [--insecure-registry HOST[:PORT]]...
       [--mirror REGISTRY=URL]... [--interval SECONDS] [--tries N] [--healthy-after SECONDS]
       [--health-timeout SECONDS] [--esp-size MIB] [--health-service NAME -- COMMAND [ARGS...]]
The update agent of a cargo-linuxkit system: runs as its `update` service (Update::from in a
definition). SIGHUP checks the registry at once.";

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("exec-in") => health::exec_in(&args[2..]),
        Some("--help" | "-h") => {
            println!("{USAGE}");
            return;
        }
        Some("--version") => {
            println!("linuxkit-update {}", linuxkit_update::VERSION);
            return;
        }
        _ => {}
    }
    // SIGHUP is taken by a thread of its own; blocked before any other thread starts, so every
    // thread inherits the mask.
    let checks = on_demand();
    let settings = match Settings::from_args(&args[1..]) {
        Ok(s) => s,
        Err(e) => idle(&format!("cannot start: {e}\n{USAGE}")),
    };
    match Agent::start(settings) {
        Ok(mut a) => a.run(&checks),
        Err(e) => idle(&e),
    }
}

/// Logs why updates are off and stays (a service that exits is restarted over and over).
fn idle(why: &str) -> ! {
    say!("linuxkit-update: {why}; updates are off");
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

/// A channel that receives a message on every SIGHUP.
fn on_demand() -> mpsc::Receiver<()> {
    use nix::sys::signal::{SigSet, Signal};
    let (tx, rx) = mpsc::channel();
    let mut set = SigSet::empty();
    set.add(Signal::SIGHUP);
    if set.thread_block().is_ok() {
        std::thread::spawn(move || {
            while set.wait().is_ok() {
                if tx.send(()).is_err() {
                    break;
                }
            }
        });
    }
    rx
}

/// Asks the init to reboot (SIGTERM to PID 1: services and onshutdown containers are stopped
/// as at any shutdown), then waits to be stopped.
fn reboot() -> ! {
    nix::unistd::sync();
    if let Err(e) = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(1),
        nix::sys::signal::Signal::SIGTERM,
    ) {
        say!("cannot ask the init to reboot (SIGTERM to PID 1: {e}): the update waits for the next boot");
    }
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

/// `sha256:<hex>` of the file at `path`, streamed.
fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut h = DigestingWriter::new(std::io::sink());
    std::io::copy(&mut std::fs::File::open(path)?, &mut h)?;
    Ok(h.finish().1.into_string())
}

/// What a check of the registry found out, when it is not an installation.
enum Outcome {
    /// Nothing new, or nothing to say again.
    Quiet,
    /// A transient failure: try again at the next check.
    Retry(String),
    /// This digest is refused for good.
    Refuse(String),
}

struct Agent {
    settings: Settings,
    esp: Esp,
    /// The running entry as it is named on the ESP now.
    running: Entry,
    running_signer: Option<Signer>,
    state: State,
    registry: Resolver,
    /// Manifest digests already dealt with (refused, skipped, or the running version).
    settled: HashSet<String>,
    /// The last transient failure reported (reported again only when it changes).
    last_error: Option<String>,
}

impl Agent {
    fn start(settings: Settings) -> Result<Agent, String> {
        agent::kmod::ensure()?;
        let vars = agent::efivars::EfiVars::mount(Path::new(EFIVARS_DIR))?;
        let selected = vars.loader_string("LoaderEntrySelected").ok_or(
            "the system was not started by systemd-boot (no LoaderEntrySelected): it is not \
             an updatable disk (build raw-efi or qcow2-efi with the update service)",
        )?;
        let part = vars
            .loader_string("LoaderDevicePartUUID")
            .ok_or("the boot loader did not report its partition (LoaderDevicePartUUID)")?;
        let (device, _) = agent::disk::find_partition(&part)?;
        let esp = Esp::mount(&device, Path::new(ESP_DIR))?;
        let booted = Entry::parse(&selected)
            .ok_or_else(|| format!("the booted entry {selected} is not a linuxkit version"))?;
        let entries = esp.entries();
        let running = entries
            .iter()
            .find(|e| e.seq == booted.seq && e.id == booted.id)
            .cloned()
            .ok_or_else(|| format!("the booted entry {selected} is no longer on the ESP"))?;
        for p in esp.clean_partials() {
            say!("removed {p}, left by an interrupted update");
        }
        let mut state = esp.state();
        // Versions whose entry is gone (an install interrupted before its rename).
        state
            .versions
            .retain(|base, _| entries.iter().any(|e| &e.base() == base));
        let running_uki = std::fs::read(esp.path(&running.path()))
            .map_err(|e| format!("reading {running}: {e}"))?;
        if let std::collections::btree_map::Entry::Vacant(v) = state.versions.entry(running.base())
        {
            v.insert(Version {
                uki: sha256_digest(&running_uki).into_string(),
                ..Version::default()
            });
        }
        let running_signer = verify::signer(&running_uki)
            .map_err(|e| format!("the running version's signature: {e}"))?;
        let registry = Resolver::new(ResolverOptions {
            cache_dir: Some(CACHE_DIR.into()),
            platform: Platform::host(),
            mirrors: settings.mirrors.clone(),
            insecure_registries: settings.insecure_registries.clone(),
            progress: ProgressMode::Quiet,
            ..ResolverOptions::default()
        })
        .map_err(|e| format!("the registry client: {e}"))?;
        let mut agent = Agent {
            settings,
            esp,
            running,
            running_signer,
            state,
            registry,
            settled: HashSet::new(),
            last_error: None,
        };
        let rolled_back = agent.record_failures(&entries);
        agent.save_state();
        agent.status_line(&entries, rolled_back.as_deref());
        Ok(agent)
    }

    fn running_version(&self) -> Version {
        self.state
            .versions
            .get(&self.running.base())
            .cloned()
            .unwrap_or_default()
    }

    fn describe(&self, e: &Entry) -> String {
        match self.state.versions.get(&e.base()) {
            Some(v) => v.describe(),
            None => e.base(),
        }
    }

    fn save_state(&self) {
        if let Err(e) = self.esp.save_state(&self.state) {
            say!("cannot write the state file: {e}");
        }
    }

    /// Entries that ran out of tries (other than the running one) failed: recorded, removed,
    /// reported. Returns what the system rolled back from, if anything.
    fn record_failures(&mut self, entries: &[Entry]) -> Option<String> {
        let mut rolled_back = None;
        for e in entries
            .iter()
            .filter(|e| e.is_bad() && e.base() != self.running.base())
        {
            let v = self.state.versions.remove(&e.base()).unwrap_or_default();
            let uki = if v.uki.is_empty() {
                sha256_file(&self.esp.path(&e.path())).unwrap_or_default()
            } else {
                v.uki.clone()
            };
            let tries = e.tries.map_or(0, |t| t.done);
            let reason = match &v.unhealthy {
                Some(u) => format!("it was not healthy: {u}"),
                None => {
                    "it never became healthy: it panicked, hung, or stopped before its services ran"
                        .to_string()
                }
            };
            let what = if v.uki.is_empty() {
                e.base()
            } else {
                v.describe()
            };
            if let Err(err) = self.esp.remove_entry(e) {
                say!("cannot remove {e}: {err}");
            }
            say!(
                "rolled back: {what} failed {tries} boot {} ({reason}); {} runs again, and {what} will not be installed again",
                if tries == 1 { "try" } else { "tries" },
                self.describe(&self.running)
            );
            if self
                .state
                .failed_before(v.manifest.as_deref(), &uki)
                .is_none()
            {
                self.state.failed.push(Failed {
                    uki,
                    manifest: v.manifest.clone(),
                    version: what.clone(),
                    reason,
                });
            }
            rolled_back = Some(what);
        }
        rolled_back
    }

    /// The status line: which version runs, and why.
    fn status_line(&self, entries: &[Entry], rolled_back: Option<&str>) {
        let v = self.running_version();
        let why = if let Some(from) = rolled_back {
            format!("rolled back from {from}")
        } else if let Some(t) = self.running.tries {
            let previous = entries
                .iter()
                .filter(|e| e.seq < self.running.seq && e.tries.is_none())
                .max_by_key(|e| e.seq)
                .map(|e| format!("updated from {}", self.describe(e)))
                .unwrap_or_else(|| "updated".into());
            format!(
                "{previous}; on trial ({} boot tries left), checking its health",
                t.left
            )
        } else if self.running.seq == 1 {
            "as built".to_string()
        } else {
            "blessed".to_string()
        };
        let signed = match &self.running_signer {
            Some(s) => format!(", signed by {}", s.subject),
            None => String::new(),
        };
        say!(
            "linuxkit-update: running {} ({}{signed}): {why}; updates from {} every {} s",
            v.describe(),
            self.running,
            self.settings.source,
            self.settings.interval
        );
    }

    fn run(&mut self, checks: &mpsc::Receiver<()>) -> ! {
        if self.running.tries.is_some() {
            self.assess();
        }
        loop {
            self.check();
            match checks.recv_timeout(Duration::from_secs(self.settings.interval)) {
                Ok(()) => say!("checking {} (SIGHUP)", self.settings.source),
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    std::thread::sleep(Duration::from_secs(self.settings.interval))
                }
            }
        }
    }

    /// A version on trial: bless it once healthy, or reboot when it is not in time.
    fn assess(&mut self) {
        let started = Instant::now();
        let timeout = Duration::from_secs(self.settings.health_timeout);
        let name = self.describe(&self.running);
        let mut last = String::new();
        loop {
            match health::judge(&self.settings, started) {
                Health::Healthy => break,
                Health::Waiting(why) => {
                    if started.elapsed() >= timeout {
                        let left = self.running.tries.map_or(0, |t| t.left);
                        if let Some(v) = self.state.versions.get_mut(&self.running.base()) {
                            v.unhealthy = Some(why.clone());
                        }
                        self.save_state();
                        say!(
                            "{name} is not healthy after {} s: {why}; rebooting ({})",
                            timeout.as_secs(),
                            if left == 0 {
                                "no boot tries left: the previous version starts".to_string()
                            } else {
                                format!("{left} boot tries left")
                            }
                        );
                        reboot();
                    }
                    // Only the kind of wait is reported, not every second of it.
                    let kind: String = why.split(" up for").next().unwrap_or(&why).to_string();
                    if kind != last {
                        say!("{name}: waiting for health: {why}");
                        last = kind;
                    }
                    std::thread::sleep(Duration::from_millis(500));
                }
            }
        }
        let blessed = self.running.blessed();
        if let Err(e) = self.esp.rename_entry(&self.running, &blessed) {
            say!("cannot bless {}: {e}", self.running);
            return;
        }
        self.running = blessed;
        if let Some(v) = self.state.versions.get_mut(&self.running.base()) {
            v.unhealthy = None;
        }
        // Versions older than the previous one go.
        let entries = self.esp.entries();
        let previous = entries
            .iter()
            .filter(|e| e.seq < self.running.seq && e.tries.is_none())
            .max_by_key(|e| e.seq)
            .cloned();
        for e in &entries {
            if e.base() == self.running.base()
                || Some(e.base()) == previous.as_ref().map(Entry::base)
            {
                continue;
            }
            if self.esp.remove_entry(e).is_ok() {
                say!("removed {} ({e})", self.describe(e));
                self.state.versions.remove(&e.base());
            }
        }
        self.save_state();
        say!(
            "{name} is healthy after {:.0} s: blessed ({}){}",
            started.elapsed().as_secs_f64(),
            self.running,
            previous
                .map(|p| format!("; {} is kept to roll back to", self.describe(&p)))
                .unwrap_or_default()
        );
    }

    /// One check of the registry.
    fn check(&mut self) {
        let source = self.settings.source.clone();
        let found = match self.registry.fetch_manifest(&source) {
            Ok(Some(found)) => found,
            Ok(None) => return self.transient(format!("{source} does not exist yet")),
            Err(e) => return self.transient(format!("cannot check {source}: {e}")),
        };
        let (raw, desc) = found;
        if self.settled.contains(desc.digest.as_str()) {
            return;
        }
        match self.consider(&raw, &desc.digest) {
            Outcome::Quiet => {
                self.last_error = None;
            }
            Outcome::Retry(why) => self.transient(why),
            Outcome::Refuse(why) => {
                self.settled.insert(desc.digest.to_string());
                self.last_error = None;
                say!(
                    "refused {source}@{}: {why}; {} keeps running",
                    desc.digest,
                    self.describe(&self.running)
                );
            }
        }
    }

    fn transient(&mut self, why: String) {
        if self.last_error.as_deref() != Some(why.as_str()) {
            say!("{why}; trying again in {} s", self.settings.interval);
            self.last_error = Some(why);
        }
    }

    /// Decides about the artifact `raw` (manifest digest `digest`), installing it when it is
    /// a new, good version.
    fn consider(&mut self, raw: &[u8], digest: &str) -> Outcome {
        let running = self.running_version();
        // Room: what is free, plus the versions removed before writing (all but the running).
        let reclaim: u64 = self
            .esp
            .entries()
            .iter()
            .filter(|e| e.base() != self.running.base())
            .map(|e| self.esp.entry_len(e))
            .sum();
        let available = (self.esp.free() + reclaim).saturating_sub(256 << 10);
        let verdict = check::judge(
            raw,
            digest,
            &check::Running {
                architecture: &Platform::host().architecture,
                uki: &running.uki,
                state: &self.state,
                available,
            },
        );
        let a = match verdict {
            Verdict::Refuse(why) => return Outcome::Refuse(why),
            Verdict::Running(a) => {
                if running.manifest.as_deref() != Some(digest) {
                    if let Some(v) = self.state.versions.get_mut(&self.running.base()) {
                        v.manifest = Some(digest.to_string());
                        v.image = Some(a.info.name.clone());
                        v.version = Some(a.info.version.clone());
                    }
                    self.save_state();
                }
                self.settled.insert(digest.to_string());
                return Outcome::Quiet;
            }
            Verdict::Install(a) => a,
        };
        if self.running.tries.is_some() {
            return Outcome::Retry(format!(
                "{} is still on trial: new versions wait until it is blessed",
                running.describe()
            ));
        }
        self.install(&a, digest)
    }

    fn install(&mut self, a: &SystemArtifact, digest: &str) -> Outcome {
        let source = self.settings.source.clone();
        say!(
            "installing {} ({digest}) from {source} beside {}",
            a.info.describe(),
            self.describe(&self.running)
        );
        for e in self.esp.entries() {
            if e.base() == self.running.base() {
                continue;
            }
            let what = self.describe(&e);
            match self.esp.remove_entry(&e) {
                Ok(()) => {
                    say!("removed {what} ({e}) to make room");
                    self.state.versions.remove(&e.base());
                }
                Err(err) => return Outcome::Retry(format!("cannot remove {e}: {err}")),
            }
        }
        self.save_state();
        // Downloaded and checked in memory (tmpfs) first: the ESP only ever gets a complete,
        // verified UKI, written into space allocated beforehand (see `Esp::write_incoming`).
        let t0 = Instant::now();
        let _ = std::fs::create_dir_all(CACHE_DIR);
        let download = Path::new(CACHE_DIR).join("incoming.efi");
        say!(
            "downloading {} ({:.1} MiB)",
            a.info.describe(),
            a.uki.size as f64 / 1048576.0
        );
        if let Err(f) = check::download(
            &self.registry,
            &source,
            a,
            &download,
            self.running_signer.as_ref(),
        ) {
            return match f {
                Failure::Refuse(why) => Outcome::Refuse(why),
                Failure::Retry(why) => Outcome::Retry(why),
            };
        }
        say!(
            "writing {} ({:.1} MiB) to the ESP",
            a.info.describe(),
            a.uki.size as f64 / 1048576.0
        );
        let name = a.info.describe();
        let written = self.esp.write_incoming(&download, || {
            say!("space for {name} allocated on the ESP; writing its bytes")
        });
        let _ = std::fs::remove_file(&download);
        if let Err(e) = written {
            let _ = std::fs::remove_file(self.esp.path(linuxkit_update::esp::INCOMING_PATH));
            return Outcome::Retry(format!(
                "cannot write {}: {e}",
                linuxkit_update::esp::INCOMING_PATH
            ));
        }
        let seq = self
            .esp
            .entries()
            .iter()
            .map(|e| e.seq)
            .max()
            .unwrap_or(self.running.seq)
            .max(self.running.seq)
            + 1;
        let entry = Entry::new(seq, &a.uki.digest, Some(self.settings.tries));
        self.state.versions.insert(
            entry.base(),
            Version {
                uki: a.uki.digest.to_string(),
                manifest: Some(digest.to_string()),
                image: Some(a.info.name.clone()),
                version: Some(a.info.version.clone()),
                source: Some(source.clone()),
                unhealthy: None,
            },
        );
        self.save_state();
        if let Err(e) = self.esp.install_incoming(&entry) {
            let _ = std::fs::remove_file(self.esp.path(linuxkit_update::esp::INCOMING_PATH));
            return Outcome::Retry(format!("cannot install {entry}: {e}"));
        }
        say!(
            "installed {} as {entry} in {:.1} s; rebooting into it ({} boot tries)",
            a.info.describe(),
            t0.elapsed().as_secs_f64(),
            self.settings.tries
        );
        reboot();
    }
}
