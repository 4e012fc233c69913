//! edigate's integration tests: one binary, one module per area.

mod api;
mod appliance;
mod check_config;
mod daemon;
mod ftp;
mod fuzz_seeds;
mod intake_translate;
mod sftp;
mod sftp_live;
mod sshd;
mod support;
mod translate;
mod x12_corpus;
mod x12_differential;
mod x12_fixtures;
mod x12_properties;
