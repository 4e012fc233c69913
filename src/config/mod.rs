//! Operator configuration read from TOML files: trading partners (more sections will follow).
//!
//! Every file is checked when it is loaded, and every problem is reported with `file:line:column`
//! so an operator can fix all of them in one pass.

pub mod partner;

pub use partner::{ConfigError, Partner, load_dir};
