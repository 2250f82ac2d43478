//! A tar reader and writer with the exact semantics of Go's `archive/tar` (Go 1.24), which
//! LinuxKit and go-containerregistry use: same header parsing, same choice between USTAR and
//! PAX, same PAX record set and ordering, same field formatting. Byte identity of the output
//! with upstream depends on it, which is why it is hand-written rather than taken from the
//! `tar` crate (whose writer pads, names PAX headers and formats fields differently).

mod header;
pub use linuxkit_validate::gopath as path;
mod reader;
mod writer;

pub use header::{type_flag, GoTime, Header};
pub use reader::Reader;
pub use writer::{EntryError, Writer};
