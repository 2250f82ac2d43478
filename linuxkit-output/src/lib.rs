//! Output formats built from the assembled root-filesystem tar.
