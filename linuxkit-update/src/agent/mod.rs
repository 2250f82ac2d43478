//! The guest agent's parts (feature `agent`), used by the `linuxkit-update` binary; public so
//! that the decisions about what to install ([`check`], [`verify`]) are tested on the host
//! against a real registry.

pub mod check;
pub mod disk;
pub mod efivars;
pub mod espfs;
pub mod health;
pub mod kmod;
pub mod verify;
