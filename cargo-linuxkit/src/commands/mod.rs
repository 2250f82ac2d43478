//! One module per subcommand. Each takes the resolved [`Config`](crate::config::Config) and
//! its own arguments and returns the process exit code.

pub mod audit;
pub mod build;
pub mod cache;
pub mod check;
pub mod export;
pub mod import;
pub mod list;
pub mod lock;
pub mod pkg;
pub mod push;
pub mod run;
pub mod scaffold;
pub mod update;
