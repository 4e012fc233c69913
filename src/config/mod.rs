//! Operator configuration read from TOML files: the gateway file and trading partners.
//!
//! Every file is checked when it is loaded, and every problem is reported with `file:line:column`
//! so an operator can fix all of them in one pass.

pub mod check;
pub mod gateway;
pub mod partner;
pub mod secrets;
pub mod transport;

pub use gateway::GatewayConfig;
pub use partner::{ConfigError, Partner, load_dir};
