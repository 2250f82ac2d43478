//! The agent's parts (the binary's modules).

pub mod disk;
pub mod efivars;
pub mod espfs;
pub mod health;
pub mod kmod;
pub mod verify;
