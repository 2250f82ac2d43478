//! Local image references: `cargo:`, `kernel:`, `init:`, `dir:`. The grammar and its parse
//! ([`LocalSource`]) live in `linuxkit-validate`, so the macros and the DSL check exactly what
//! is built here.

pub use linuxkit_validate::local::{
    is_local_source as is_local, KernelFile, LocalSource, LocalSourceError, LOCAL_SCHEMES,
};

impl From<LocalSourceError> for crate::error::PkgError {
    fn from(e: LocalSourceError) -> Self {
        crate::error::PkgError::BadReference {
            reference: e.reference,
            reason: e.reason,
        }
    }
}
