//! Trading-partner files: one TOML file per partner, checked at load time with `file:line:column`.
//!
//! ```toml
//! id = "bramblewood"
//! name = "Bramblewood Home Goods"
//! timezone = "America/Chicago"
//!
//! [x12]
//! sender = "ZZ:BRAMBLEWOODHG"      # ISA05:ISA06 of what they send us
//! receiver = "ZZ:NORTHGATE3PL"     # ISA07:ISA08
//! gs_sender = "BRAMBLEWOODHG"      # optional: GS02 must match too
//! policy = "standard"
//! ack = "997"
//! ak2 = "all"
//! grammars = ["grammars/940.toml"]
//!
//! [milestones]
//! X6 = { milestone = "out_for_delivery" }
//! "SD+AO" = { milestone = "delayed", exception_reason = "weather" }
//!
//! [inbound]
//! source = "spool"                 # or "sftp" / "ftp" with the keys of [`crate::config::transport`]
//!
//! # [outbound]                     # optional: where out/ (acknowledgments) is delivered
//! # target = "directory"
//! # path = "/srv/partners/bramblewood/in"
//!
//! [[flat]]                          # any number of CSV / fixed-width layouts
//! name = "bramblewood_status"
//! format = "csv"
//! kind = "shipment_status"
//! [[flat.columns]]
//! header = "PRO"
//! target = "payload.carrier_reference"
//! ```
//!
//! Flat layouts are checked at load ([`crate::flat::FlatLayout::from_config`]); a problem is
//! reported at the `[[flat.columns]]`, `group_by`, `[flat.csv]` or `[flat.fixed]` it names.
//! Their 214-style status rows are normalised with [`Partner::milestones`]: the default
//! milestone table, this partner's `[milestones]` and its `timezone`, as X12 214s are.
//!
//! Invariants of a loaded directory: partner ids are unique, no two partners claim the same
//! ISA sender/receiver pair, and `"unknown"` (what records of unmatched interchanges carry) is not
//! a partner id.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::canonical::map::{MappingSettings, MilestoneOverride};
use crate::canonical::milestone::PartnerMilestones;
pub use crate::config::transport::InboundSource;
use crate::config::transport::{
    AfterAction, ConnectionKeys, FtpTls, Outbound, OutboundTarget, Protocol, RemoteInbound,
    TargetKind, check_connection, duration_key,
};
use crate::flat::{FlatLayout, FlatLayoutConfig, LayoutProblem};
use crate::x12::ack::{AckKind, Ak2For};
use crate::x12::grammar::line_col;
use crate::x12::policy::Policy;

/// The partner id records carry when no partner matched.
pub const UNKNOWN_PARTNER: &str = "unknown";

/// A problem in a partner file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}:{column}: {message}")]
pub struct ConfigError {
    /// The file.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

/// A partner file as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartnerConfig {
    /// The partner's id: letters, digits, `-`, `_` and `.`, at most 64 characters. Records carry
    /// it in `partner`, and it enters every record id, so changing it changes the ids.
    pub id: Spanned<String>,
    /// The partner's name, for people.
    pub name: String,
    /// IANA time zone (e.g. `"America/Chicago"`) for times the partner sends without a zone.
    #[serde(default)]
    pub timezone: Option<Spanned<String>>,
    /// How the partner exchanges X12; absent for partners that only send flat files.
    #[serde(default)]
    pub x12: Option<X12Config>,
    /// 214 milestone overrides keyed by AT701 (`"X6"`) or AT701+AT702 (`"SD+AO"`); see
    /// x12-reference §5.3.
    #[serde(default)]
    pub milestones: BTreeMap<Spanned<String>, MilestoneOverride>,
    /// Where the partner's files come from.
    #[serde(default)]
    pub inbound: Option<InboundConfig>,
    /// Where the partner's outbound files (acknowledgments) go.
    #[serde(default)]
    pub outbound: Option<OutboundConfig>,
    /// Flat-file layouts (`[[flat]]`): how the partner's CSV and fixed-width files map to
    /// canonical records (see [`crate::flat::layout`] for every key and target path).
    #[serde(default)]
    pub flat: Vec<Spanned<FlatLayoutConfig>>,
}

/// The `[x12]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct X12Config {
    /// ISA05:ISA06 of the partner's interchanges, e.g. `"ZZ:ACMEWMS"` (padding not included).
    pub sender: Spanned<String>,
    /// ISA07:ISA08 of the partner's interchanges (that is, us as they address us).
    pub receiver: Spanned<String>,
    /// GS02 the partner's groups must carry, when set.
    #[serde(default)]
    pub gs_sender: Option<String>,
    /// GS03 the partner's groups must carry, when set.
    #[serde(default)]
    pub gs_receiver: Option<String>,
    /// Validation policy: `"strict"`, `"standard"` (default) or `"lenient"`.
    #[serde(default)]
    pub policy: Policy,
    /// Functional acknowledgment to send: `"997"` (default), `"999"` or `"none"`.
    #[serde(default)]
    pub ack: AckKind,
    /// AK2 loops for `"all"` sets (default) or only for sets with `"errors"`.
    #[serde(default)]
    pub ak2: Ak2For,
    /// Grammar files that replace the built-in grammar of the same set and version for this
    /// partner; paths are relative to this file's directory.
    #[serde(default)]
    pub grammars: Vec<Spanned<PathBuf>>,
}

/// The `[inbound]` table (see [`crate::config::transport`] for the remote keys).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InboundConfig {
    /// Where files arrive: `"spool"` (the local spool directory), `"sftp"` or `"ftp"`.
    pub source: Spanned<InboundSource>,
    /// Overrides the gateway's `[spool] quiet_period` for this partner's `in/` folder (e.g.
    /// `"0s"` for a partner that renames complete files into place, `"30s"` for a slow link).
    #[serde(default)]
    pub quiet_period: Option<Spanned<String>>,
    /// Remote host.
    #[serde(default)]
    pub host: Option<Spanned<String>>,
    /// Remote port.
    #[serde(default)]
    pub port: Option<Spanned<i64>>,
    /// Remote user.
    #[serde(default)]
    pub user: Option<Spanned<String>>,
    /// SFTP private key file.
    #[serde(default)]
    pub key_file: Option<Spanned<PathBuf>>,
    /// File holding the key's passphrase.
    #[serde(default)]
    pub passphrase_file: Option<Spanned<PathBuf>>,
    /// File holding the password.
    #[serde(default)]
    pub password_file: Option<Spanned<PathBuf>>,
    /// SFTP pinned host key.
    #[serde(default)]
    pub host_key: Option<Spanned<String>>,
    /// Deadline of one network operation (default `"30s"`).
    #[serde(default)]
    pub timeout: Option<Spanned<String>>,
    /// FTP: `"explicit"` (default), `"implicit"` or `"none"`.
    #[serde(default)]
    pub tls: Option<Spanned<FtpTls>>,
    /// FTP: plain text accepted.
    #[serde(default)]
    pub allow_plaintext: Option<bool>,
    /// FTP: extra trusted roots (PEM).
    #[serde(default)]
    pub ca_file: Option<Spanned<PathBuf>>,
    /// Remote directory polled.
    #[serde(default)]
    pub remote_dir: Option<Spanned<String>>,
    /// File-name glob (default `"*"`).
    #[serde(default)]
    pub pattern: Option<Spanned<String>>,
    /// Time between polls (default `"30s"`).
    #[serde(default)]
    pub poll_interval: Option<Spanned<String>>,
    /// Stability interval (default `"5s"`).
    #[serde(default)]
    pub stable_interval: Option<Spanned<String>>,
    /// Largest file taken, in bytes (default 1 GiB).
    #[serde(default)]
    pub max_size: Option<Spanned<i64>>,
    /// `"delete"`, `"move:<dir>"` or `"rename:<suffix>"`.
    #[serde(default)]
    pub after: Option<Spanned<String>>,
}

impl InboundConfig {
    fn connection_keys(&self) -> ConnectionKeys {
        ConnectionKeys {
            host: self.host.clone(),
            port: self.port.clone(),
            user: self.user.clone(),
            key_file: self.key_file.clone(),
            passphrase_file: self.passphrase_file.clone(),
            password_file: self.password_file.clone(),
            host_key: self.host_key.clone(),
            timeout: self.timeout.clone(),
            tls: self.tls.clone(),
            allow_plaintext: self.allow_plaintext,
            ca_file: self.ca_file.clone(),
        }
    }
}

/// The `[outbound]` table: where `<spool>/<partner>/out` is delivered.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboundConfig {
    /// `"sftp"`, `"ftp"` or `"directory"`.
    pub target: Spanned<TargetKind>,
    /// Remote directory (sftp, ftp).
    #[serde(default)]
    pub remote_dir: Option<Spanned<String>>,
    /// Local directory (directory target).
    #[serde(default)]
    pub path: Option<Spanned<PathBuf>>,
    /// Time between looks at `out/` (default `"5s"`).
    #[serde(default)]
    pub poll_interval: Option<Spanned<String>>,
    // Connection keys; unset ones default to `[inbound]`'s.
    /// Remote host.
    #[serde(default)]
    pub host: Option<Spanned<String>>,
    /// Remote port.
    #[serde(default)]
    pub port: Option<Spanned<i64>>,
    /// Remote user.
    #[serde(default)]
    pub user: Option<Spanned<String>>,
    /// SFTP private key file.
    #[serde(default)]
    pub key_file: Option<Spanned<PathBuf>>,
    /// File holding the key's passphrase.
    #[serde(default)]
    pub passphrase_file: Option<Spanned<PathBuf>>,
    /// File holding the password.
    #[serde(default)]
    pub password_file: Option<Spanned<PathBuf>>,
    /// SFTP pinned host key.
    #[serde(default)]
    pub host_key: Option<Spanned<String>>,
    /// Deadline of one network operation (default `"30s"`).
    #[serde(default)]
    pub timeout: Option<Spanned<String>>,
    /// FTP: `"explicit"` (default), `"implicit"` or `"none"`.
    #[serde(default)]
    pub tls: Option<Spanned<FtpTls>>,
    /// FTP: plain text accepted.
    #[serde(default)]
    pub allow_plaintext: Option<bool>,
    /// FTP: extra trusted roots (PEM).
    #[serde(default)]
    pub ca_file: Option<Spanned<PathBuf>>,
}

impl OutboundConfig {
    fn connection_keys(&self) -> ConnectionKeys {
        ConnectionKeys {
            host: self.host.clone(),
            port: self.port.clone(),
            user: self.user.clone(),
            key_file: self.key_file.clone(),
            passphrase_file: self.passphrase_file.clone(),
            password_file: self.password_file.clone(),
            host_key: self.host_key.clone(),
            timeout: self.timeout.clone(),
            tls: self.tls.clone(),
            allow_plaintext: self.allow_plaintext,
            ca_file: self.ca_file.clone(),
        }
    }
}

/// A checked partner, with paths resolved and the time zone parsed.
#[derive(Debug, Clone)]
pub struct Partner {
    /// The file it was read from.
    pub file: PathBuf,
    /// Partner id.
    pub id: String,
    /// Partner name.
    pub name: String,
    /// Default time zone.
    pub timezone: Option<chrono_tz::Tz>,
    /// X12 settings, when the partner exchanges X12.
    pub x12: Option<X12Partner>,
    /// Milestone overrides by `"X6"` / `"SD+AO"`.
    pub milestones: BTreeMap<String, MilestoneOverride>,
    /// Inbound source.
    pub inbound: Option<InboundSource>,
    /// The remote server polled, for `source = "sftp"` or `"ftp"`.
    pub remote_inbound: Option<RemoteInbound>,
    /// Where `out/` is delivered, when `[outbound]` is set.
    pub outbound: Option<Outbound>,
    /// The partner's own spool quiet period, when set.
    pub inbound_quiet_period: Option<std::time::Duration>,
    /// Flat layouts, validated, in file order; names are unique within the partner.
    pub flat: Vec<FlatLayout>,
}

/// A partner's checked X12 settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct X12Partner {
    /// ISA05:ISA06.
    pub sender: String,
    /// ISA07:ISA08.
    pub receiver: String,
    /// GS02 to require.
    pub gs_sender: Option<String>,
    /// GS03 to require.
    pub gs_receiver: Option<String>,
    /// Validation policy.
    pub policy: Policy,
    /// Functional acknowledgment kind.
    pub ack: AckKind,
    /// AK2 loops for all sets or errors only.
    pub ak2: Ak2For,
    /// Grammar files, resolved against the partner file's directory.
    pub grammars: Vec<PathBuf>,
}

impl Partner {
    /// What the mappers need from this partner.
    pub fn mapping_settings(&self) -> MappingSettings {
        MappingSettings {
            partner: self.id.clone(),
            default_timezone: self.timezone,
            milestones: self.milestones.clone(),
        }
    }

    /// The 214 milestone lookup for this partner's flat `shipment_status` rows: the default
    /// table with the partner's overrides and default time zone, exactly as X12 214s get them.
    pub fn milestones(&self) -> PartnerMilestones<'_> {
        PartnerMilestones::new(&self.milestones, self.timezone)
    }

    /// The flat layout named `name`.
    pub fn layout(&self, name: &str) -> Option<&FlatLayout> {
        self.flat.iter().find(|l| l.name == name)
    }

    /// Parses and checks one partner file's text; `path` locates errors and relative paths.
    pub fn parse(path: &Path, text: &str) -> Result<Partner, Vec<ConfigError>> {
        let mut ctx = Ctx {
            file: path.display().to_string(),
            text,
            errors: Vec::new(),
            flat_parts: Vec::new(),
        };
        let config: PartnerConfig = match toml::from_str(text) {
            Ok(c) => c,
            Err(e) => {
                ctx.err(e.span().map_or(0, |s| s.start), e.message());
                return Err(ctx.errors);
            }
        };
        let partner = ctx.check(path, config);
        if !ctx.flat_parts.is_empty() {
            ctx.locate_flat_problems();
        }
        ctx.errors.sort_by_key(|e| (e.line, e.column));
        if ctx.errors.is_empty() {
            Ok(partner)
        } else {
            Err(ctx.errors)
        }
    }

    /// Reads and checks one partner file.
    pub fn load(path: &Path) -> Result<Partner, Vec<ConfigError>> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            vec![ConfigError {
                file: path.display().to_string(),
                line: 1,
                column: 1,
                message: format!("cannot read: {e}"),
            }]
        })?;
        Partner::parse(path, &text)
    }
}

struct Ctx<'a> {
    file: String,
    text: &'a str,
    errors: Vec<ConfigError>,
    /// Flat-layout errors by index in `errors`, with their layout and the part they name.
    flat_parts: Vec<(usize, usize, Option<FlatPart>)>,
}

/// The part of a `[[flat]]` table a layout problem names.
#[derive(Debug, Clone, Copy)]
enum FlatPart {
    Column(usize),
    GroupBy,
    Csv,
    Fixed,
}

/// Reads the part out of a problem's location (`columns[3] (target ..)`, `group_by`, `csv`,
/// `fixed`, `fixed.record_type`).
fn problem_part(problem: &LayoutProblem) -> Option<FlatPart> {
    let location = problem.location.as_deref()?;
    if let Some(rest) = location.strip_prefix("columns[") {
        let n: usize = rest.split(']').next()?.parse().ok()?;
        return n.checked_sub(1).map(FlatPart::Column);
    }
    match location.split('.').next()? {
        "group_by" => Some(FlatPart::GroupBy),
        "csv" => Some(FlatPart::Csv),
        "fixed" => Some(FlatPart::Fixed),
        _ => None,
    }
}

/// Just the spans of the `[[flat]]` parts, for locating layout problems.
#[derive(Deserialize)]
struct FlatSpansFile {
    #[serde(default)]
    flat: Vec<Spanned<FlatSpans>>,
}

#[derive(Deserialize)]
struct FlatSpans {
    #[serde(default)]
    columns: Vec<Spanned<toml::Value>>,
    #[serde(default)]
    group_by: Option<Spanned<toml::Value>>,
    #[serde(default)]
    csv: Option<Spanned<toml::Value>>,
    #[serde(default)]
    fixed: Option<Spanned<toml::Value>>,
}

impl Ctx<'_> {
    fn err(&mut self, at: usize, message: impl Into<String>) {
        let (line, column) = line_col(self.text, at);
        self.errors.push(ConfigError {
            file: self.file.clone(),
            line,
            column,
            message: message.into(),
        });
    }

    fn check(&mut self, path: &Path, c: PartnerConfig) -> Partner {
        let id = c.id.get_ref().clone();
        let id_ok = !id.is_empty()
            && id.len() <= 64
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        if !id_ok {
            self.err(
                c.id.span().start,
                format!("id {id:?} must be 1 to 64 letters, digits, '-', '_' or '.'"),
            );
        } else if id == UNKNOWN_PARTNER {
            self.err(
                c.id.span().start,
                "id \"unknown\" is reserved for unmatched interchanges",
            );
        }
        let timezone = c.timezone.as_ref().and_then(|tz| {
            let parsed = tz.get_ref().parse::<chrono_tz::Tz>().ok();
            if parsed.is_none() {
                let msg = format!("timezone {:?} is not an IANA time zone name", tz.get_ref());
                self.err(tz.span().start, msg);
            }
            parsed
        });
        let mut milestones = BTreeMap::new();
        for (key, value) in c.milestones {
            if !milestone_key_ok(key.get_ref()) {
                let msg = format!(
                    "milestone key {:?} must be a status code (\"X6\") or code+reason (\"SD+AO\")",
                    key.get_ref()
                );
                self.err(key.span().start, msg);
            }
            milestones.insert(key.into_inner(), value);
        }
        let dir = path.parent().unwrap_or(Path::new(""));
        let x12 = c.x12.map(|x| self.check_x12(dir, x));
        let flat = self.check_flat(&c.flat);
        let inbound_quiet_period = c
            .inbound
            .as_ref()
            .and_then(|i| i.quiet_period.as_ref())
            .and_then(
                |q| match crate::config::gateway::parse_duration(q.get_ref()) {
                    Ok(d) => Some(d),
                    Err(e) => {
                        self.err(q.span().start, format!("quiet_period: {e}"));
                        None
                    }
                },
            );
        let remote_inbound = c
            .inbound
            .as_ref()
            .and_then(|i| self.check_remote_inbound(dir, i));
        let outbound = c
            .outbound
            .as_ref()
            .and_then(|o| self.check_outbound(dir, c.inbound.as_ref(), o));
        Partner {
            file: path.to_path_buf(),
            id,
            name: c.name,
            timezone,
            x12,
            milestones,
            inbound: c.inbound.as_ref().map(|i| *i.source.get_ref()),
            remote_inbound,
            outbound,
            inbound_quiet_period,
            flat,
        }
    }

    fn problems(&mut self, problems: Vec<(usize, String)>) {
        for (at, msg) in problems {
            self.err(at, msg);
        }
    }

    /// The remote side of `[inbound]`; remote keys under `source = "spool"` are errors.
    fn check_remote_inbound(&mut self, dir: &Path, i: &InboundConfig) -> Option<RemoteInbound> {
        let at = i.source.span().start;
        let mut problems = Vec::new();
        let protocol = match i.source.get_ref() {
            InboundSource::Sftp => Protocol::Sftp,
            InboundSource::Ftp => Protocol::Ftp,
            InboundSource::Spool => {
                let remote = [
                    i.host.as_ref().map(|v| ("host", v.span().start)),
                    i.user.as_ref().map(|v| ("user", v.span().start)),
                    i.remote_dir
                        .as_ref()
                        .map(|v| ("remote_dir", v.span().start)),
                    i.after.as_ref().map(|v| ("after", v.span().start)),
                    i.pattern.as_ref().map(|v| ("pattern", v.span().start)),
                ];
                for (key, at) in remote.into_iter().flatten() {
                    problems.push((
                        at,
                        format!("{key} is for source = \"sftp\" or \"ftp\", not \"spool\""),
                    ));
                }
                self.problems(problems);
                return None;
            }
        };
        let conn = check_connection(&i.connection_keys(), protocol, at, dir, &mut problems);
        let remote_dir = match &i.remote_dir {
            Some(d) if !d.get_ref().trim().is_empty() => d.get_ref().trim().to_string(),
            Some(d) => {
                problems.push((d.span().start, "remote_dir must not be empty".to_string()));
                String::new()
            }
            None => {
                problems.push((at, "a remote source needs remote_dir".to_string()));
                String::new()
            }
        };
        let pattern = i
            .pattern
            .as_ref()
            .map_or_else(|| "*".to_string(), |p| p.get_ref().clone());
        if let Err(e) = globset::Glob::new(&pattern)
            && let Some(p) = &i.pattern
        {
            problems.push((p.span().start, format!("pattern {pattern:?}: {e}")));
        }
        let poll_interval = duration_key(
            "poll_interval",
            i.poll_interval.as_ref(),
            std::time::Duration::from_secs(30),
            &mut problems,
        );
        let stable_interval = duration_key(
            "stable_interval",
            i.stable_interval.as_ref(),
            std::time::Duration::from_secs(5),
            &mut problems,
        );
        let max_size = match &i.max_size {
            Some(m) => match u64::try_from(*m.get_ref()) {
                Ok(n) if n > 0 => n,
                _ => {
                    problems.push((
                        m.span().start,
                        "max_size must be a positive number of bytes".to_string(),
                    ));
                    0
                }
            },
            None => 1 << 30,
        };
        let after = match &i.after {
            Some(a) => match AfterAction::parse(a.get_ref()) {
                Ok(a) => Some(a),
                Err(e) => {
                    problems.push((a.span().start, e));
                    None
                }
            },
            None => {
                problems.push((
                    at,
                    "a remote source needs after = \"delete\", \"move:<dir>\" or \"rename:<suffix>\"".to_string(),
                ));
                None
            }
        };
        let ok = problems.is_empty();
        self.problems(problems);
        if !ok {
            return None;
        }
        Some(RemoteInbound {
            conn: conn?,
            remote_dir,
            pattern,
            poll_interval,
            stable_interval,
            max_size,
            after: after?,
        })
    }

    /// `[outbound]`, its connection keys defaulting to `[inbound]`'s.
    fn check_outbound(
        &mut self,
        dir: &Path,
        inbound: Option<&InboundConfig>,
        o: &OutboundConfig,
    ) -> Option<Outbound> {
        let at = o.target.span().start;
        let mut problems = Vec::new();
        let poll_interval = duration_key(
            "poll_interval",
            o.poll_interval.as_ref(),
            std::time::Duration::from_secs(5),
            &mut problems,
        );
        let target = match o.target.get_ref() {
            TargetKind::Directory => {
                if let Some(r) = &o.remote_dir {
                    problems.push((
                        r.span().start,
                        "target = \"directory\" takes path, not remote_dir".to_string(),
                    ));
                }
                match &o.path {
                    Some(p) => Some(OutboundTarget::Directory(dir.join(p.get_ref()))),
                    None => {
                        problems.push((at, "target = \"directory\" needs path".to_string()));
                        None
                    }
                }
            }
            kind @ (TargetKind::Sftp | TargetKind::Ftp) => {
                let protocol = if *kind == TargetKind::Sftp {
                    Protocol::Sftp
                } else {
                    Protocol::Ftp
                };
                if let Some(p) = &o.path {
                    problems.push((
                        p.span().start,
                        "a remote target takes remote_dir, not path".to_string(),
                    ));
                }
                let base = inbound
                    .map(InboundConfig::connection_keys)
                    .unwrap_or_default();
                let keys = o.connection_keys().or(&base);
                let conn = check_connection(&keys, protocol, at, dir, &mut problems);
                let remote_dir = match &o.remote_dir {
                    Some(d) if !d.get_ref().trim().is_empty() => {
                        Some(d.get_ref().trim().to_string())
                    }
                    _ => {
                        problems.push((at, "a remote target needs remote_dir".to_string()));
                        None
                    }
                };
                match (conn, remote_dir) {
                    (Some(conn), Some(remote_dir)) => {
                        Some(OutboundTarget::Remote { conn, remote_dir })
                    }
                    _ => None,
                }
            }
        };
        let ok = problems.is_empty();
        self.problems(problems);
        if !ok {
            return None;
        }
        Some(Outbound {
            target: target?,
            poll_interval,
        })
    }

    /// Validates every `[[flat]]` layout; problems are reported at the layout's table for now
    /// and moved to the part they name by [`Ctx::locate_flat_problems`].
    fn check_flat(&mut self, layouts: &[Spanned<FlatLayoutConfig>]) -> Vec<FlatLayout> {
        let mut out: Vec<FlatLayout> = Vec::new();
        for (index, spanned) in layouts.iter().enumerate() {
            let at = spanned.span().start;
            match FlatLayout::from_config(spanned.get_ref()) {
                Ok(layout) => {
                    if out.iter().any(|l| l.name == layout.name) {
                        let msg = format!(
                            "flat layout {:?}: the name is used by an earlier [[flat]] layout of this partner",
                            layout.name
                        );
                        self.flat_problem(at, index, None, msg);
                    }
                    out.push(layout);
                }
                Err(problems) => {
                    for problem in problems {
                        let part = problem_part(&problem);
                        self.flat_problem(at, index, part, problem.to_string());
                    }
                }
            }
        }
        out
    }

    fn flat_problem(&mut self, at: usize, index: usize, part: Option<FlatPart>, message: String) {
        self.err(at, message);
        self.flat_parts.push((self.errors.len() - 1, index, part));
    }

    /// Moves each flat-layout error to the line of the part it is about (`columns[3]`,
    /// `group_by`, `[csv]`, `[fixed]`), found by reading the file a second time for spans.
    fn locate_flat_problems(&mut self) {
        let Ok(spans) = toml::from_str::<FlatSpansFile>(self.text) else {
            return;
        };
        for (error, index, part) in std::mem::take(&mut self.flat_parts) {
            let Some(layout) = spans.flat.get(index) else {
                continue;
            };
            let layout = layout.get_ref();
            let span = match part {
                Some(FlatPart::Column(i)) => layout.columns.get(i).map(Spanned::span),
                Some(FlatPart::GroupBy) => layout.group_by.as_ref().map(Spanned::span),
                Some(FlatPart::Csv) => layout.csv.as_ref().map(Spanned::span),
                Some(FlatPart::Fixed) => layout.fixed.as_ref().map(Spanned::span),
                None => None,
            };
            if let (Some(span), Some(e)) = (span, self.errors.get_mut(error)) {
                let (line, column) = line_col(self.text, span.start);
                e.line = line;
                e.column = column;
            }
        }
    }

    fn check_x12(&mut self, dir: &Path, x: X12Config) -> X12Partner {
        for (what, v) in [("sender", &x.sender), ("receiver", &x.receiver)] {
            if !isa_id_ok(v.get_ref()) {
                let msg = format!(
                    "{what} {:?} must be ISA qualifier and id as \"ZZ:ACMEWMS\" (2 characters, ':', 1 to 15 characters)",
                    v.get_ref()
                );
                self.err(v.span().start, msg);
            }
        }
        let mut grammars = Vec::new();
        for g in &x.grammars {
            let resolved = dir.join(g.get_ref());
            if !resolved.is_file() {
                let msg = format!("grammar file {} does not exist", resolved.display());
                self.err(g.span().start, msg);
            }
            grammars.push(resolved);
        }
        X12Partner {
            sender: x.sender.get_ref().trim().to_string(),
            receiver: x.receiver.get_ref().trim().to_string(),
            gs_sender: x.gs_sender.map(|s| s.trim().to_string()),
            gs_receiver: x.gs_receiver.map(|s| s.trim().to_string()),
            policy: x.policy,
            ack: x.ack,
            ak2: x.ak2,
            grammars,
        }
    }
}

/// `QQ:ID`: a 2-character qualifier and a 1- to 15-character id.
fn isa_id_ok(v: &str) -> bool {
    let v = v.trim();
    match v.split_once(':') {
        Some((q, id)) => {
            q.len() == 2
                && q.bytes().all(|b| b.is_ascii_alphanumeric())
                && (1..=15).contains(&id.trim().len())
        }
        None => false,
    }
}

/// `X6` or `SD+AO`: upper-case letters and digits, two each.
fn milestone_key_ok(key: &str) -> bool {
    let code = |c: &str| {
        c.len() == 2
            && c.bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    };
    match key.split_once('+') {
        Some((status, reason)) => code(status) && code(reason),
        None => code(key),
    }
}

/// Loads every `*.toml` file in `dir` (not its subdirectories) as a partner, sorted by file name.
/// Returns every problem of every file, including duplicate ids and duplicate sender/receiver
/// pairs across files.
pub fn load_dir(dir: &Path) -> Result<Vec<Partner>, Vec<ConfigError>> {
    let dir_error = |e: std::io::Error| {
        vec![ConfigError {
            file: dir.display().to_string(),
            line: 1,
            column: 1,
            message: format!("cannot read directory: {e}"),
        }]
    };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(dir_error)? {
        let path = entry.map_err(dir_error)?.path();
        if path.is_file() && path.extension().is_some_and(|e| e == "toml") {
            files.push(path);
        }
    }
    files.sort();
    let mut errors = Vec::new();
    let mut partners = Vec::new();
    for path in files {
        match Partner::load(&path) {
            Ok(p) => partners.push(p),
            Err(e) => errors.extend(e),
        }
    }
    errors.extend(duplicates(&partners));
    if errors.is_empty() {
        Ok(partners)
    } else {
        Err(errors)
    }
}

/// Duplicate ids and sender/receiver pairs, reported at the later file.
fn duplicates(partners: &[Partner]) -> Vec<ConfigError> {
    let mut errors = Vec::new();
    let mut ids: HashMap<&str, &Path> = HashMap::new();
    let mut pairs: HashMap<(&str, &str), &Partner> = HashMap::new();
    for p in partners {
        let located = |key: &str, message: String| {
            let text = std::fs::read_to_string(&p.file).unwrap_or_default();
            let at = find_key(&text, key);
            let (line, column) = line_col(&text, at);
            ConfigError {
                file: p.file.display().to_string(),
                line,
                column,
                message,
            }
        };
        if let Some(first) = ids.insert(&p.id, &p.file) {
            errors.push(located(
                "id",
                format!("partner id {:?} is also used by {}", p.id, first.display()),
            ));
        }
        if let Some(x) = &p.x12
            && let Some(first) = pairs.insert((&x.sender, &x.receiver), p)
        {
            errors.push(located(
                "sender",
                format!(
                    "sender {} / receiver {} is also claimed by partner {:?} ({})",
                    x.sender,
                    x.receiver,
                    first.id,
                    first.file.display()
                ),
            ));
        }
    }
    errors
}

/// Byte offset of the line that assigns `key` (for locating cross-file errors), else 0.
fn find_key(text: &str, key: &str) -> usize {
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start();
        if let Some(rest) = trimmed.strip_prefix(key)
            && rest.trim_start().starts_with('=')
        {
            return offset + (line.len() - trimmed.len());
        }
        offset += line.len();
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canonical::record::Milestone;

    const FULL: &str = r#"
id = "bramblewood"
name = "Bramblewood Home Goods"
timezone = "America/Chicago"

[x12]
sender = "ZZ:BRAMBLEWOODHG"
receiver = "ZZ:NORTHGATE3PL"
gs_sender = "BRAMBLEWOODHG"
policy = "lenient"
ack = "999"
ak2 = "errors"

[milestones]
X6 = { milestone = "out_for_delivery" }
"SD+AO" = { milestone = "delayed", exception_reason = "weather" }

[inbound]
source = "spool"

[[flat]]
name = "orders"
format = "csv"
kind = "warehouse_order"
group_by = { header = "Order" }
[[flat.columns]]
header = "Order"
target = "payload.order_number"
[[flat.columns]]
header = "Qty"
target = "line.quantity"
"#;

    fn parse(text: &str) -> Result<Partner, Vec<ConfigError>> {
        Partner::parse(Path::new("/etc/edigate/partners/p.toml"), text)
    }

    #[test]
    fn full_file_loads() {
        let p = parse(FULL).expect("valid");
        assert_eq!(p.id, "bramblewood");
        assert_eq!(p.timezone, Some(chrono_tz::America::Chicago));
        let x = p.x12.as_ref().expect("x12");
        assert_eq!(x.sender, "ZZ:BRAMBLEWOODHG");
        assert_eq!(x.gs_sender.as_deref(), Some("BRAMBLEWOODHG"));
        assert_eq!(x.gs_receiver, None);
        assert_eq!(
            (x.policy, x.ack, x.ak2),
            (Policy::Lenient, AckKind::Ack999, Ak2For::Errors)
        );
        assert_eq!(
            p.milestones["X6"].milestone,
            Some(Milestone::OutForDelivery)
        );
        assert_eq!(
            p.milestones["SD+AO"].exception_reason.as_deref(),
            Some("weather")
        );
        assert_eq!(p.inbound, Some(InboundSource::Spool));
        assert_eq!(p.flat.len(), 1);
        assert_eq!(p.layout("orders").map(|l| l.columns.len()), Some(2));
        let s = p.mapping_settings();
        assert_eq!(s.partner, "bramblewood");
        assert_eq!(s.milestones.len(), 2);
    }

    #[test]
    fn flat_layout_problems_point_at_the_part_they_name() {
        let text = concat!(
            "id = \"a\"\nname = \"A\"\n",
            "[[flat]]\nname = \"good\"\nformat = \"fixed\"\nkind = \"shipment_status\"\n",
            "[[flat.columns]]\nstart = 1\nlength = 10\ntarget = \"payload.carrier_reference\"\n",
            "[[flat]]\nname = \"bad\"\nformat = \"csv\"\nkind = \"warehouse_order\"\n",
            "group_by = { header = \"Order\" }\n",
            "[[flat.columns]]\nheader = \"Order\"\ntarget = \"payload.order_number\"\n",
            "[[flat.columns]]\nheader = \"When\"\ntarget = \"event.at\"\n",
            "[[flat]]\nname = \"good\"\nformat = \"csv\"\nkind = \"shipment_status\"\n",
            "[[flat.columns]]\nheader = \"PRO\"\ntarget = \"payload.carrier_reference\"\n",
        );
        let errs = parse(text).expect_err("bad layouts");
        let shown: Vec<String> = errs.iter().map(ToString::to_string).collect();
        assert_eq!(errs.len(), 3, "{shown:#?}");
        // group_by: no line target; the inline table is on line 15.
        assert_eq!((errs[0].line, errs[0].column), (15, 12), "{shown:#?}");
        assert!(errs[0].message.contains("group_by"), "{shown:#?}");
        // columns[2] is the [[flat.columns]] table starting on line 19.
        assert_eq!(errs[1].line, 19, "{shown:#?}");
        assert!(
            shown[1].contains("columns[2] (target \"event.at\")")
                && shown[1].contains("does not exist for kind \"warehouse_order\""),
            "{shown:#?}"
        );
        assert_eq!(errs[2].line, 22, "{shown:#?}");
        assert!(shown[2].contains("used by an earlier"), "{shown:#?}");
        assert!(shown[0].starts_with("/etc/edigate/partners/p.toml:15:12: flat layout \"bad\""));
    }

    #[test]
    fn remote_inbound_and_outbound_load_with_defaults_from_inbound() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("p.toml");
        let text = concat!(
            "id = \"a\"\nname = \"A\"\n[inbound]\nsource = \"sftp\"\nhost = \"sftp.example\"\n",
            "user = \"edi\"\nkey_file = \"keys/a\"\n",
            "host_key = \"SHA256:nThbg6kXUpJWGl7E1IGOCspRomTxdCARLviKw6E5SY8\"\n",
            "remote_dir = \"/outbound\"\npattern = \"*.edi\"\npoll_interval = \"10s\"\n",
            "after = \"move:/outbound/archive\"\n",
            "[outbound]\ntarget = \"sftp\"\nremote_dir = \"/inbound\"\n",
        );
        std::fs::create_dir_all(dir.path().join("keys")).expect("keys dir");
        std::fs::write(dir.path().join("keys/a"), "key").expect("key file");
        let p = Partner::parse(&file, text).expect("valid");
        let r = p.remote_inbound.expect("remote");
        assert_eq!(r.conn.port, 22);
        assert_eq!(
            r.conn.auth,
            crate::config::transport::Auth::Key {
                key_file: dir.path().join("keys/a"),
                passphrase_file: None
            }
        );
        assert_eq!(r.after, AfterAction::Move("/outbound/archive".into()));
        assert_eq!(r.poll_interval, std::time::Duration::from_secs(10));
        let o = p.outbound.expect("outbound");
        match o.target {
            OutboundTarget::Remote { conn, remote_dir } => {
                assert_eq!(
                    (conn.host.as_str(), remote_dir.as_str()),
                    ("sftp.example", "/inbound")
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn remote_problems_are_reported_where_they_are() {
        // A password file that exists: these cases are about the other keys.
        let secret = tempfile::NamedTempFile::new().expect("temp file");
        let pw = secret.path().display().to_string();
        let errs = parse(&format!(
            "id = \"a\"\nname = \"A\"\n[inbound]\nsource = \"sftp\"\nhost = \"h\"\nuser = \"u\"\npassword_file = \"{pw}\"\nremote_dir = \"/r\"\nafter = \"shred\"\n",
        ))
        .expect_err("no host_key, bad after");
        let shown: Vec<String> = errs.iter().map(ToString::to_string).collect();
        assert_eq!(errs.len(), 2, "{shown:#?}");
        assert!(
            shown[0].contains(":4:") && shown[0].contains("host_key"),
            "{shown:#?}"
        );
        assert!(
            shown[1].contains(":9:") && shown[1].contains("after"),
            "{shown:#?}"
        );
        let errs = parse(&format!(
            "id = \"a\"\nname = \"A\"\n[inbound]\nsource = \"ftp\"\nhost = \"h\"\nuser = \"u\"\npassword_file = \"{pw}\"\nremote_dir = \"/r\"\nafter = \"delete\"\ntls = \"none\"\n",
        ))
        .expect_err("plaintext needs consent");
        assert!(
            errs[0].line == 10 && errs[0].message.contains("allow_plaintext"),
            "{errs:#?}"
        );
        let errs =
            parse("id = \"a\"\nname = \"A\"\n[outbound]\ntarget = \"directory\"\nhots = \"x\"\n")
                .expect_err("unknown key");
        assert_eq!(errs[0].line, 5, "{errs:#?}");
    }

    #[test]
    fn defaults() {
        let p = parse("id = \"a\"\nname = \"A\"\n[x12]\nsender = \"01:1\"\nreceiver = \"ZZ:B\"\n")
            .expect("valid");
        let x = p.x12.expect("x12");
        assert_eq!(
            (x.policy, x.ack, x.ak2),
            (Policy::Standard, AckKind::Ack997, Ak2For::All)
        );
        assert!(p.timezone.is_none() && p.milestones.is_empty() && p.flat.is_empty());
    }

    #[test]
    fn unknown_keys_are_errors_with_line_and_column() {
        let errs = parse("id = \"a\"\nname = \"A\"\n[x12]\nsender = \"ZZ:A\"\nreceiver = \"ZZ:B\"\nretries = 3\n")
            .expect_err("unknown key");
        assert_eq!(errs.len(), 1);
        assert_eq!((errs[0].line, errs[0].column), (6, 1), "{}", errs[0]);
        assert!(errs[0].message.contains("retries"), "{}", errs[0]);
        let errs =
            parse("id = \"a\"\nname = \"A\"\n[inbound]\nsource = \"spool\"\npath = \"/x\"\n")
                .expect_err("inbound accepts only source");
        assert!(
            errs[0]
                .to_string()
                .starts_with("/etc/edigate/partners/p.toml:5:"),
            "{}",
            errs[0]
        );
    }

    #[test]
    fn every_value_problem_is_reported() {
        let text = concat!(
            "id = \"unknown\"\nname = \"A\"\ntimezone = \"Mars/Olympus\"\n",
            "[x12]\nsender = \"ACME\"\nreceiver = \"ZZ:B\"\ngrammars = [\"nope/940.toml\"]\n",
            "[milestones]\nx6 = { milestone = \"in_transit\" }\n\"SD+A\" = { ignore = true }\n"
        );
        let errs = parse(text).expect_err("invalid");
        let lines: Vec<usize> = errs.iter().map(|e| e.line).collect();
        assert_eq!(lines, [1, 3, 5, 7, 9, 10], "{errs:#?}");
        assert!(errs[2].message.contains("ZZ:ACMEWMS"));
    }

    #[test]
    fn bad_policy_and_milestone_values_are_errors() {
        let errs = parse("id = \"a\"\nname = \"A\"\n[x12]\nsender = \"ZZ:A\"\nreceiver = \"ZZ:B\"\npolicy = \"loose\"\n")
            .expect_err("bad policy");
        assert_eq!(errs[0].line, 6);
        let errs =
            parse("id = \"a\"\nname = \"A\"\n[milestones]\nX6 = { milestone = \"teleported\" }\n")
                .expect_err("bad milestone");
        assert_eq!(errs[0].line, 4);
    }

    #[test]
    fn directory_reports_duplicates_at_the_later_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let write =
            |name: &str, text: &str| std::fs::write(dir.path().join(name), text).expect("write");
        write(
            "a.toml",
            "id = \"acme\"\nname = \"A\"\n[x12]\nsender = \"ZZ:A\"\nreceiver = \"ZZ:B\"\n",
        );
        write(
            "b.toml",
            "name = \"B\"\nid = \"acme\"\n[x12]\nsender = \"ZZ:C\"\nreceiver = \"ZZ:B\"\n",
        );
        write(
            "c.toml",
            "id = \"other\"\nname = \"C\"\n[x12]\n  sender = \"ZZ:A\"\nreceiver = \"ZZ:B\"\n",
        );
        write("notes.txt", "not a partner");
        let errs = load_dir(dir.path()).expect_err("duplicates");
        assert_eq!(errs.len(), 2, "{errs:#?}");
        assert!(
            errs[0].file.ends_with("b.toml") && errs[0].line == 2,
            "{}",
            errs[0]
        );
        assert!(errs[0].message.contains("a.toml"), "{}", errs[0]);
        assert!(
            errs[1].file.ends_with("c.toml") && (errs[1].line, errs[1].column) == (4, 3),
            "{}",
            errs[1]
        );
        std::fs::remove_file(dir.path().join("b.toml")).expect("rm");
        std::fs::remove_file(dir.path().join("c.toml")).expect("rm");
        let partners = load_dir(dir.path()).expect("valid");
        assert_eq!(partners.len(), 1);
    }

    #[test]
    fn grammar_paths_resolve_against_the_partner_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("g")).expect("mkdir");
        std::fs::write(dir.path().join("g/940.toml"), "").expect("write");
        let file = dir.path().join("p.toml");
        let text = "id = \"a\"\nname = \"A\"\n[x12]\nsender = \"ZZ:A\"\nreceiver = \"ZZ:B\"\ngrammars = [\"g/940.toml\"]\n";
        let p = Partner::parse(&file, text).expect("valid");
        assert_eq!(
            p.x12.expect("x12").grammars,
            [dir.path().join("g/940.toml")]
        );
    }
}
