//! Assembly of the root-filesystem tar stream, byte-compatible with LinuxKit.
