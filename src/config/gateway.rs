//! The gateway file (`edigate.toml`): paths, the ERP endpoint, spool timing and forwarder policy.
//!
//! ```toml
//! [paths]
//! spool = "/var/spool/edigate"       # per partner: <spool>/<partner>/in, work, archive, quarantine, out
//! state = "/var/lib/edigate"         # the SQLite database lives here
//! partners = "/etc/edigate/partners" # one TOML file per partner
//!
//! [erp]                              # absent: records are written under <state>/outbox instead
//! url = "http://127.0.0.1:8080/edi"  # records are POSTed to <url>/<kind>
//! timeout = "10s"
//! token_file = "/etc/edigate/erp-token"
//!
//! [spool]
//! quiet_period = "3s"
//! rescan_interval = "5s"
//! archive_retention = "90d"
//!
//! [forwarder]
//! concurrency = 32
//! max_attempts = 0
//! backoff_base = "1s"
//! backoff_max = "5m"
//!
//! [api]                              # the HTTP API: health, metrics, status (always on)
//! listen = "127.0.0.1:9464"
//! token_file = "/etc/edigate/api-token"  # bearer token for /v1/...; without it /v1 is refused
//! min_free_disk = "512MiB"           # /readyz fails below this on the state file system
//! ```
//!
//! Relative paths are resolved against the directory of the gateway file. Every problem is
//! reported with `file:line:column`, all of them in one pass.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::partner::ConfigError;
use crate::x12::grammar::line_col;

/// The gateway file as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayFile {
    /// Where the spool, the state (database, outbox) and the partner files live.
    pub paths: PathsFile,
    /// The ERP endpoint records are POSTed to. Without it, the directory sink writes every record
    /// to `<state>/outbox/<kind>/<id>.json`.
    #[serde(default)]
    pub erp: Option<ErpFile>,
    /// Spool timing.
    #[serde(default)]
    pub spool: Option<SpoolFile>,
    /// Intake (parsing and recording) settings.
    #[serde(default)]
    pub intake: Option<IntakeFile>,
    /// Delivery policy towards the ERP.
    #[serde(default)]
    pub forwarder: Option<ForwarderFile>,
    /// The HTTP API (health, metrics, status).
    #[serde(default)]
    pub api: Option<ApiFile>,
}

/// The `[api]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiFile {
    /// Address and port to listen on (default `"127.0.0.1:9464"`).
    #[serde(default)]
    pub listen: Option<Spanned<String>>,
    /// A file holding the bearer token `/v1/...` requires; read at start-up, surrounding
    /// whitespace trimmed, never logged. Without it every `/v1` request is refused.
    #[serde(default)]
    pub token_file: Option<Spanned<PathBuf>>,
    /// `/readyz` reports not ready when the state file system has less free space than this
    /// (default `"512MiB"`; units B, KiB, MiB, GiB).
    #[serde(default)]
    pub min_free_disk: Option<Spanned<String>>,
}

/// The `[paths]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PathsFile {
    /// The spool root: per partner `<spool>/<partner>/in` receives files, and `work`, `archive`,
    /// `quarantine` and `out` (acknowledgments) sit beside it. Created when missing.
    pub spool: Spanned<PathBuf>,
    /// The state directory: `edigate.db` (the ledger and outbox) and, without `[erp]`, `outbox/`.
    pub state: Spanned<PathBuf>,
    /// The directory of partner files (`*.toml`, one per partner).
    pub partners: Spanned<PathBuf>,
}

/// The `[erp]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErpFile {
    /// Base URL; each record is POSTed to `<url>/<kind>` (e.g. `.../warehouse_order`).
    pub url: Spanned<String>,
    /// How long one request may take before it counts as failed and is retried (default `"10s"`).
    #[serde(default)]
    pub timeout: Option<Spanned<String>>,
    /// A file holding the bearer token sent as `Authorization: Bearer <token>`; read at start-up,
    /// surrounding whitespace trimmed, never logged.
    #[serde(default)]
    pub token_file: Option<Spanned<PathBuf>>,
}

/// The `[spool]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpoolFile {
    /// A file is taken once its size and modification time stayed unchanged this long
    /// (default `"3s"`; `"0s"` takes a file as soon as it is seen, for senders that rename
    /// complete files into `in/`). A partner's `[inbound] quiet_period` overrides it.
    #[serde(default)]
    pub quiet_period: Option<Spanned<String>>,
    /// How often every `in/` folder is listed even without change notifications (default
    /// `"5s"`). The listing is the truth; notifications only make it come sooner.
    #[serde(default)]
    pub rescan_interval: Option<Spanned<String>>,
    /// How long dated `archive/YYYY-MM-DD` folders are kept (e.g. `"90d"`); absent keeps them
    /// forever. The ledger keeps every file's record regardless.
    #[serde(default)]
    pub archive_retention: Option<Spanned<String>>,
    /// Watch `in/` folders for change notifications (default `true`). Set `false` on network
    /// file systems that do not deliver them; the rescan then finds every file alone.
    #[serde(default)]
    pub watch: Option<bool>,
}

/// The `[intake]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntakeFile {
    /// Files parsed at the same time (default: twice the number of CPUs, at most 16).
    #[serde(default)]
    pub workers: Option<Spanned<usize>>,
}

/// The `[forwarder]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForwarderFile {
    /// Requests in flight at once (default 32). Within one partner and record kind, records
    /// still leave one at a time, in the order they were received.
    #[serde(default)]
    pub concurrency: Option<Spanned<usize>>,
    /// Attempts before a record that keeps failing with a retryable error becomes a dead letter;
    /// `0` (the default) retries for ever.
    #[serde(default)]
    pub max_attempts: Option<u32>,
    /// First retry delay (default `"1s"`); it doubles with each attempt, with jitter.
    #[serde(default)]
    pub backoff_base: Option<Spanned<String>>,
    /// Longest retry delay (default `"5m"`). A longer `Retry-After` from the ERP wins.
    #[serde(default)]
    pub backoff_max: Option<Spanned<String>>,
    /// Consecutive failed requests that open the circuit breaker (default 5): no more requests
    /// until the cool-down has passed, then one probe.
    #[serde(default)]
    pub breaker_threshold: Option<Spanned<u32>>,
    /// How long the open breaker waits before its probe (default `"5s"`).
    #[serde(default)]
    pub breaker_cooldown: Option<Spanned<String>>,
}

/// A checked gateway configuration with paths resolved and durations parsed.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// The file it came from (`None` for the built-in local default).
    pub file: Option<PathBuf>,
    /// Spool root.
    pub spool: PathBuf,
    /// State directory.
    pub state: PathBuf,
    /// Partner files directory.
    pub partners: PathBuf,
    /// The ERP, when configured.
    pub erp: Option<ErpConfig>,
    /// Spool timing.
    pub spool_settings: SpoolSettings,
    /// Files parsed at once.
    pub intake_workers: usize,
    /// Delivery policy.
    pub forwarder: ForwarderSettings,
    /// The HTTP API (`None`: not started, the local default).
    pub api: Option<ApiConfig>,
}

/// Checked `[api]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiConfig {
    /// Listen address.
    pub listen: std::net::SocketAddr,
    /// Bearer token file for `/v1`.
    pub token_file: Option<PathBuf>,
    /// Free bytes below which `/readyz` fails.
    pub min_free_disk: u64,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            listen: std::net::SocketAddr::from(([127, 0, 0, 1], 9464)),
            token_file: None,
            min_free_disk: 512 << 20,
        }
    }
}

/// Checked `[erp]`.
#[derive(Debug, Clone)]
pub struct ErpConfig {
    /// Base URL without a trailing `/`.
    pub url: String,
    /// Request timeout.
    pub timeout: Duration,
    /// Bearer token file.
    pub token_file: Option<PathBuf>,
}

/// Checked `[spool]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpoolSettings {
    /// Quiet period before a file is taken.
    pub quiet_period: Duration,
    /// Interval between full listings.
    pub rescan_interval: Duration,
    /// Archive retention (`None`: keep for ever).
    pub archive_retention: Option<Duration>,
    /// Use change notifications (the rescan runs either way).
    pub watch: bool,
}

impl Default for SpoolSettings {
    fn default() -> Self {
        SpoolSettings {
            quiet_period: Duration::from_secs(3),
            rescan_interval: Duration::from_secs(5),
            archive_retention: None,
            watch: true,
        }
    }
}

/// Checked `[forwarder]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwarderSettings {
    /// Requests in flight at once.
    pub concurrency: usize,
    /// Attempts before giving up (0: never).
    pub max_attempts: u32,
    /// First retry delay.
    pub backoff_base: Duration,
    /// Longest retry delay.
    pub backoff_max: Duration,
    /// Consecutive failures that open the breaker.
    pub breaker_threshold: u32,
    /// Open-breaker cool-down.
    pub breaker_cooldown: Duration,
}

impl Default for ForwarderSettings {
    fn default() -> Self {
        ForwarderSettings {
            concurrency: 32,
            max_attempts: 0,
            backoff_base: Duration::from_secs(1),
            backoff_max: Duration::from_secs(300),
            breaker_threshold: 5,
            breaker_cooldown: Duration::from_secs(5),
        }
    }
}

fn default_workers() -> usize {
    // Parsing overlaps the commits of other files, so twice the CPUs keeps both busy.
    (std::thread::available_parallelism().map_or(2, usize::from) * 2).min(16)
}

impl GatewayConfig {
    /// The local default used when no `--config` is given: `spool/`, `partners/` and `state/`
    /// under `base` (the current directory), and the directory sink.
    pub fn local_default(base: &Path) -> GatewayConfig {
        GatewayConfig {
            file: None,
            spool: base.join("spool"),
            state: base.join("state"),
            partners: base.join("partners"),
            erp: None,
            spool_settings: SpoolSettings::default(),
            intake_workers: default_workers(),
            forwarder: ForwarderSettings::default(),
            api: None,
        }
    }

    /// Reads and checks a gateway file.
    pub fn load(path: &Path) -> Result<GatewayConfig, Vec<ConfigError>> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            vec![ConfigError {
                file: path.display().to_string(),
                line: 1,
                column: 1,
                message: format!("cannot read: {e}"),
            }]
        })?;
        GatewayConfig::parse(path, &text)
    }

    /// Parses and checks a gateway file's text; `path` locates errors and relative paths.
    pub fn parse(path: &Path, text: &str) -> Result<GatewayConfig, Vec<ConfigError>> {
        let mut ctx = Ctx {
            file: path.display().to_string(),
            text,
            errors: Vec::new(),
        };
        let raw: GatewayFile = match toml::from_str(text) {
            Ok(r) => r,
            Err(e) => {
                ctx.err(e.span().map_or(0, |s| s.start), e.message());
                return Err(ctx.errors);
            }
        };
        let base = path.parent().unwrap_or(Path::new(""));
        let config = ctx.check(path, base, raw);
        if ctx.errors.is_empty() {
            Ok(config)
        } else {
            ctx.errors.sort_by_key(|e| (e.line, e.column));
            Err(ctx.errors)
        }
    }

    /// The SQLite database file.
    pub fn database(&self) -> PathBuf {
        self.state.join("edigate.db")
    }

    /// The directory sink's root.
    pub fn outbox(&self) -> PathBuf {
        self.state.join("outbox")
    }
}

struct Ctx<'a> {
    file: String,
    text: &'a str,
    errors: Vec<ConfigError>,
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

    fn duration(
        &mut self,
        key: &str,
        value: Option<&Spanned<String>>,
        default: Duration,
    ) -> Duration {
        let Some(v) = value else { return default };
        match parse_duration(v.get_ref()) {
            Ok(d) => d,
            Err(e) => {
                self.err(v.span().start, format!("{key}: {e}"));
                default
            }
        }
    }

    fn positive(&mut self, key: &str, value: Option<&Spanned<usize>>, default: usize) -> usize {
        match value {
            Some(v) if *v.get_ref() == 0 => {
                self.err(v.span().start, format!("{key} must be at least 1"));
                default
            }
            Some(v) => *v.get_ref(),
            None => default,
        }
    }

    fn check(&mut self, path: &Path, base: &Path, raw: GatewayFile) -> GatewayConfig {
        let resolve = |p: &Spanned<PathBuf>| base.join(p.get_ref());
        for p in [&raw.paths.spool, &raw.paths.state, &raw.paths.partners] {
            if p.get_ref().as_os_str().is_empty() {
                self.err(p.span().start, "path must not be empty");
            }
        }
        let erp = raw.erp.as_ref().map(|e| self.check_erp(base, e));
        let spool = raw.spool.unwrap_or(SpoolFile {
            quiet_period: None,
            rescan_interval: None,
            archive_retention: None,
            watch: None,
        });
        let defaults = SpoolSettings::default();
        let quiet_period = self.duration(
            "quiet_period",
            spool.quiet_period.as_ref(),
            defaults.quiet_period,
        );
        let rescan_interval = self.duration(
            "rescan_interval",
            spool.rescan_interval.as_ref(),
            defaults.rescan_interval,
        );
        if let Some(r) = &spool.rescan_interval
            && rescan_interval.is_zero()
        {
            self.err(r.span().start, "rescan_interval must be longer than 0s");
        }
        let archive_retention = spool
            .archive_retention
            .as_ref()
            .map(|r| self.duration("archive_retention", Some(r), Duration::MAX));
        let intake_workers = self.positive(
            "workers",
            raw.intake.as_ref().and_then(|i| i.workers.as_ref()),
            default_workers(),
        );
        let forwarder = match &raw.forwarder {
            Some(f) => self.check_forwarder(f),
            None => ForwarderSettings::default(),
        };
        GatewayConfig {
            file: Some(path.to_path_buf()),
            spool: resolve(&raw.paths.spool),
            state: resolve(&raw.paths.state),
            partners: resolve(&raw.paths.partners),
            erp,
            spool_settings: SpoolSettings {
                quiet_period,
                rescan_interval,
                archive_retention,
                watch: spool.watch.unwrap_or(true),
            },
            intake_workers,
            forwarder,
            api: Some(self.check_api(base, raw.api.as_ref())),
        }
    }

    fn check_api(&mut self, base: &Path, a: Option<&ApiFile>) -> ApiConfig {
        let mut api = ApiConfig::default();
        let Some(a) = a else { return api };
        if let Some(l) = &a.listen {
            match l.get_ref().parse() {
                Ok(addr) => api.listen = addr,
                Err(_) => self.err(
                    l.span().start,
                    format!(
                        "listen {:?} is not an address and port like \"127.0.0.1:9464\"",
                        l.get_ref()
                    ),
                ),
            }
        }
        api.token_file = a.token_file.as_ref().map(|t| base.join(t.get_ref()));
        if let Some(m) = &a.min_free_disk {
            match parse_size(m.get_ref()) {
                Some(n) => api.min_free_disk = n,
                None => self.err(
                    m.span().start,
                    format!(
                        "min_free_disk {:?} is not a size like \"512MiB\" or \"2GiB\"",
                        m.get_ref()
                    ),
                ),
            }
        }
        api
    }

    fn check_erp(&mut self, base: &Path, e: &ErpFile) -> ErpConfig {
        let url = e.url.get_ref().trim().trim_end_matches('/').to_string();
        match reqwest::Url::parse(&url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => {}
            Ok(u) => self.err(
                e.url.span().start,
                format!("url scheme {:?} is not http or https", u.scheme()),
            ),
            Err(err) => self.err(
                e.url.span().start,
                format!("url {url:?} is not a URL: {err}"),
            ),
        }
        let timeout = self.duration("timeout", e.timeout.as_ref(), Duration::from_secs(10));
        if let Some(t) = &e.timeout
            && timeout.is_zero()
        {
            self.err(t.span().start, "timeout must be longer than 0s");
        }
        ErpConfig {
            url,
            timeout,
            token_file: e.token_file.as_ref().map(|t| base.join(t.get_ref())),
        }
    }

    fn check_forwarder(&mut self, f: &ForwarderFile) -> ForwarderSettings {
        let d = ForwarderSettings::default();
        let backoff_base = self.duration("backoff_base", f.backoff_base.as_ref(), d.backoff_base);
        let backoff_max = self.duration("backoff_max", f.backoff_max.as_ref(), d.backoff_max);
        if let Some(m) = &f.backoff_max
            && backoff_max < backoff_base
        {
            self.err(
                m.span().start,
                "backoff_max must not be shorter than backoff_base",
            );
        }
        let breaker_threshold = match &f.breaker_threshold {
            Some(t) if *t.get_ref() == 0 => {
                self.err(t.span().start, "breaker_threshold must be at least 1");
                d.breaker_threshold
            }
            Some(t) => *t.get_ref(),
            None => d.breaker_threshold,
        };
        ForwarderSettings {
            concurrency: self.positive("concurrency", f.concurrency.as_ref(), d.concurrency),
            max_attempts: f.max_attempts.unwrap_or(d.max_attempts),
            backoff_base,
            backoff_max,
            breaker_threshold,
            breaker_cooldown: self.duration(
                "breaker_cooldown",
                f.breaker_cooldown.as_ref(),
                d.breaker_cooldown,
            ),
        }
    }
}

/// Parses a size: `"1024"`, `"64KiB"`, `"512MiB"`, `"2GiB"` (also `KB`/`MB`/`GB` as powers of 1000).
pub fn parse_size(text: &str) -> Option<u64> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let n: u64 = digits.parse().ok()?;
    let mult: u64 = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "KB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        _ => return None,
    };
    n.checked_mul(mult)
}

/// Parses a human duration: `"250ms"`, `"10s"`, `"5m"`, `"90d"`, `"1h 30m"`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim())
        .map_err(|e| format!("{text:?} is not a duration like \"250ms\", \"10s\" or \"5m\": {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<GatewayConfig, Vec<ConfigError>> {
        GatewayConfig::parse(Path::new("/etc/edigate/edigate.toml"), text)
    }

    const ISSUE_EXAMPLE: &str = r#"
[paths]
spool = "/var/spool/edigate"       # per partner: <spool>/<partner>/in, work, archive, quarantine, out
state = "/var/lib/edigate"         # the SQLite database lives here
partners = "/etc/edigate/partners" # one TOML file per partner
[erp]
url = "http://127.0.0.1:8080/edi"  # records are POSTed to <url>/<kind>
timeout = "10s"
token_file = "/etc/edigate/erp-token"   # optional bearer token, read from a file, never logged
"#;

    #[test]
    fn the_issue_example_loads_with_defaults() {
        let c = parse(ISSUE_EXAMPLE).expect("valid");
        assert_eq!(c.spool, PathBuf::from("/var/spool/edigate"));
        assert_eq!(c.database(), PathBuf::from("/var/lib/edigate/edigate.db"));
        let erp = c.erp.expect("erp");
        assert_eq!(erp.url, "http://127.0.0.1:8080/edi");
        assert_eq!(erp.timeout, Duration::from_secs(10));
        assert_eq!(
            erp.token_file,
            Some(PathBuf::from("/etc/edigate/erp-token"))
        );
        assert_eq!(c.spool_settings, SpoolSettings::default());
        assert_eq!(c.forwarder, ForwarderSettings::default());
    }

    #[test]
    fn relative_paths_resolve_against_the_file() {
        let c =
            parse("[paths]\nspool = \"spool\"\nstate = \"st\"\npartners = \"p\"\n").expect("valid");
        assert_eq!(c.spool, PathBuf::from("/etc/edigate/spool"));
        assert!(c.erp.is_none());
    }

    #[test]
    fn durations_are_human_strings() {
        let c = parse(
            "[paths]\nspool = \"s\"\nstate = \"t\"\npartners = \"p\"\n[spool]\nquiet_period = \"250ms\"\nrescan_interval = \"1s\"\narchive_retention = \"30d\"\n[forwarder]\nbackoff_base = \"100ms\"\nbackoff_max = \"2s\"\nconcurrency = 4\nmax_attempts = 3\n",
        )
        .expect("valid");
        assert_eq!(c.spool_settings.quiet_period, Duration::from_millis(250));
        assert_eq!(
            c.spool_settings.archive_retention,
            Some(Duration::from_secs(30 * 86400))
        );
        assert_eq!(c.forwarder.backoff_max, Duration::from_secs(2));
        assert_eq!(c.forwarder.concurrency, 4);
        assert_eq!(c.forwarder.max_attempts, 3);
    }

    #[test]
    fn every_error_has_a_position_and_all_are_reported() {
        let errors = parse(
            "[paths]\nspool = \"s\"\nstate = \"t\"\npartners = \"p\"\n[spool]\nquiet_period = \"soon\"\n[forwarder]\nconcurrency = 0\n",
        )
        .expect_err("invalid");
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert_eq!((errors[0].line, errors[0].column), (6, 16));
        assert!(errors[0].message.contains("quiet_period"));
        assert_eq!(errors[1].line, 8);
    }

    #[test]
    fn unknown_keys_are_refused_with_their_line() {
        let errors = parse("[paths]\nspool = \"s\"\nstate = \"t\"\npartners = \"p\"\n[erp]\nurl = \"http://x\"\ntimeuot = \"1s\"\n")
            .expect_err("unknown key");
        assert_eq!(errors[0].line, 7, "{errors:?}");
        assert!(
            errors[0]
                .to_string()
                .starts_with("/etc/edigate/edigate.toml:7:")
        );
    }

    #[test]
    fn a_bad_url_is_refused() {
        let errors = parse(
            "[paths]\nspool = \"s\"\nstate = \"t\"\npartners = \"p\"\n[erp]\nurl = \"ftp://x\"\n",
        )
        .expect_err("bad scheme");
        assert_eq!(errors[0].line, 6);
    }
}
