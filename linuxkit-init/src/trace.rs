//! `linuxkit.trace` on the kernel command line: libcontainer's `tracing` events (debug and
//! above) on the console with the guest uptime, to see where container setup spends its time.

use std::sync::atomic::{AtomicU64, Ordering};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

/// Prints events as `linuxkit-init: [uptime] trace TARGET: message fields`.
struct Console {
    next: AtomicU64,
}

struct Fields(String);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        use std::fmt::Write;
        if field.name() == "message" {
            let _ = write!(self.0, " {value:?}");
        } else {
            let _ = write!(self.0, " {}={value:?}", field.name());
        }
    }
}

impl Subscriber for Console {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        *metadata.level() <= Level::DEBUG
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(self.next.fetch_add(1, Ordering::Relaxed).max(1))
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut f = Fields(String::new());
        event.record(&mut f);
        crate::info!("trace {}:{}", event.metadata().target(), f.0);
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

/// Installs the console subscriber when the kernel command line has `linuxkit.trace`.
pub fn install(cmdline: &str) {
    if cmdline.split_whitespace().any(|w| w == "linuxkit.trace") {
        let _ = tracing::subscriber::set_global_default(Console {
            next: AtomicU64::new(1),
        });
    }
}
