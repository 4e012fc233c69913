//! The `edigate` command line: parse arguments, run a command, turn errors into one line and an
//! exit code (0 all accepted, 1 something rejected, 2 usage or I/O error).

use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};

use edigate::canonical::intake_translate::{InputProblem, InputSink, InputTranslator};
use edigate::canonical::ndjson::NdjsonWriter;
use edigate::canonical::profile::Profiles;
use edigate::canonical::record::Record;
use edigate::canonical::translate::{ControlTracker, Rejection, Sink, Skipped, TranslateError};
use edigate::config::GatewayConfig;
use edigate::flat::RowError;
use edigate::store::{self, Store};
use edigate::x12::envelope::{EngineConfig, run};
use edigate::x12::grammar::Grammars;
use edigate::x12::policy::Policy;
use edigate::x12::report::ReportVisitor;

/// The allocator: translation and the daemon make many short-lived allocations, and mimalloc
/// serves them with less contention and fragmentation than the system allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// edigate: an on-premises EDI gateway.
#[derive(Parser)]
#[command(name = "edigate", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Log format for `run`: the journal when stderr is journald's (under systemd), else text;
    /// or JSON lines.
    #[arg(long, value_enum, default_value = "auto", global = true)]
    log_format: LogFormat,
    /// Where secrets (token files) are looked up by file name before their configured path,
    /// when `$CREDENTIALS_DIRECTORY` (systemd's LoadCredential=) is not set.
    #[arg(long, value_name = "DIR", global = true)]
    credentials_dir: Option<PathBuf>,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum LogFormat {
    /// The journal under systemd, text otherwise.
    Auto,
    /// Human-readable text on stderr.
    Text,
    /// One JSON object per line on stderr.
    Json,
    /// Structured entries to journald.
    Journal,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Text,
    Json,
}

#[derive(Clone, Copy, ValueEnum)]
enum PolicyArg {
    Strict,
    Standard,
    Lenient,
}

impl From<PolicyArg> for Policy {
    fn from(p: PolicyArg) -> Policy {
        match p {
            PolicyArg::Strict => Policy::Strict,
            PolicyArg::Standard => Policy::Standard,
            PolicyArg::Lenient => Policy::Lenient,
        }
    }
}

/// Where the gateway configuration comes from.
#[derive(clap::Args, Clone)]
struct ConfigArg {
    /// The gateway file (default: `spool/`, `partners/` and `state/` in the current directory,
    /// records written to `state/outbox/`).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

impl ConfigArg {
    fn load(&self) -> Result<GatewayConfig> {
        match &self.config {
            Some(path) => GatewayConfig::load(path).map_err(|e| anyhow::anyhow!(join(&e))),
            None => Ok(GatewayConfig::local_default(Path::new("."))),
        }
    }
}

#[derive(Subcommand)]
enum Command {
    /// Print an SSH server's SHA256 host key fingerprint, to pin as `host_key` after checking it
    /// with the partner. Nothing is trusted or stored.
    Fingerprint {
        /// `HOST` or `HOST:PORT` (port 22 by default; `[::1]:22` for IPv6).
        target: String,
        /// Give up after this long.
        #[arg(long, default_value = "10s")]
        timeout: String,
    },
    /// Run the gateway: take partner files from the spool, record them, forward records to the
    /// ERP (or the outbox folder). SIGTERM/SIGINT stop it cleanly; SIGHUP reloads partners.
    Run {
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Write the man page and shell completions under DIR (man/, completions/); for packaging.
    #[command(hide = true)]
    GenerateAssets {
        /// Output directory.
        dir: PathBuf,
    },
    /// Check the gateway file and every partner file without starting anything: every problem
    /// with file:line:column and a hint; exit 1 if there is any. No network.
    CheckConfig {
        #[command(flatten)]
        config: ConfigArg,
        /// Print nothing when the configuration is good.
        #[arg(long, short)]
        quiet: bool,
    },
    /// Counts per state, oldest pending delivery, dead letters, per partner.
    Status {
        #[command(flatten)]
        config: ConfigArg,
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// Records the ERP refused (or that kept failing), with the reason.
    DeadLetters {
        #[command(flatten)]
        config: ConfigArg,
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
        /// At most this many.
        #[arg(long, default_value = "100")]
        limit: usize,
    },
    /// Send records again, with the same id (the ERP's Idempotency-Key).
    Replay {
        #[command(flatten)]
        config: ConfigArg,
        /// One record by its id.
        #[arg(long, group = "what")]
        record: Option<String>,
        /// Every record of a file, by SHA-256 or name.
        #[arg(long, group = "what", value_name = "SHA256|NAME")]
        file: Option<String>,
        /// Every dead letter.
        #[arg(long, group = "what")]
        dead: bool,
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// Lineage of a record: file, interchange, group, set, record and every delivery attempt.
    Inspect {
        #[command(flatten)]
        config: ConfigArg,
        /// The record id.
        id: String,
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// Validate X12 files: a report per file with every finding, its location and code.
    Validate {
        /// Files to validate.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
        /// Validation policy.
        #[arg(long, value_enum, default_value = "standard")]
        policy: PolicyArg,
        /// Extra grammar directory (files there replace the built-in grammars of the same set and version).
        #[arg(long)]
        grammars: Option<PathBuf>,
        /// Envelope checks only (no grammar validation).
        #[arg(long)]
        envelope_only: bool,
    },
    /// Print exactly the acknowledgment interchange(s) edigate would send for a file.
    Ack {
        /// The received file.
        file: PathBuf,
        /// 997 or 999.
        #[arg(long, default_value = "997")]
        kind: AckArg,
        /// AK2 for every set, or only for sets with errors.
        #[arg(long, value_enum, default_value = "all")]
        ak2: Ak2Arg,
        /// Validation policy.
        #[arg(long, value_enum, default_value = "standard")]
        policy: PolicyArg,
        /// Extra grammar directory.
        #[arg(long)]
        grammars: Option<PathBuf>,
        /// Timestamp for the acknowledgment envelope, `YYYYMMDDHHMM` (default: now, UTC).
        #[arg(long)]
        timestamp: Option<String>,
    },
    /// Translate files into canonical records: NDJSON on stdout in document order; one line per
    /// rejected set, bad row or untranslatable input on stderr. The content decides the format
    /// (X12, zip, CSV, fixed width); flat files need a partner's [[flat]] layout.
    Translate {
        /// Files to translate.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Directory of partner files; interchanges are matched by ISA sender and receiver, flat
        /// files by the partner layout that fits their content.
        #[arg(long)]
        partners: Option<PathBuf>,
        /// Treat every input as coming from this partner (needs --partners): its interchanges
        /// whatever their ISA ids, and only its [[flat]] layouts for flat files.
        #[arg(long, requires = "partners")]
        partner: Option<String>,
        /// Read every flat file with the [[flat]] layout of this name (needs --partners).
        #[arg(long, requires = "partners")]
        layout: Option<String>,
        /// Validation policy for every interchange (default: the partner's, else standard).
        #[arg(long, value_enum)]
        policy: Option<PolicyArg>,
        /// Extra grammar directory (files there replace the built-in grammars of the same set and version).
        #[arg(long)]
        grammars: Option<PathBuf>,
    },
}

/// Writes records as NDJSON to stdout and everything that was not translated to stderr, one
/// line each, named by the path as given (`dir/a.zip!/member.csv` inside archives).
struct CliSink<W: Write> {
    out: NdjsonWriter<W>,
    /// The path as given on the command line.
    path: String,
    /// The name records carry for it (no directories).
    name: String,
}

impl<W: Write> CliSink<W> {
    /// `file` (a record-style name such as `a.zip!/b.csv`) as the user named it.
    fn label(&self, file: &str) -> String {
        match file.strip_prefix(self.name.as_str()) {
            Some(rest) => format!("{}{rest}", self.path),
            None => file.to_string(),
        }
    }
}

impl<W: Write> Sink for CliSink<W> {
    fn record(&mut self, record: &Record) -> io::Result<()> {
        self.out.write_record(record)
    }

    fn rejected(&mut self, rejection: &Rejection) -> io::Result<()> {
        eprintln!("edigate: {}: {rejection}", self.label(&rejection.file));
        Ok(())
    }

    fn skipped(&mut self, skipped: &Skipped) -> io::Result<()> {
        eprintln!("edigate: {}: {skipped}", self.label(&skipped.file));
        Ok(())
    }
}

impl<W: Write> InputSink for CliSink<W> {
    fn row_error(&mut self, e: &RowError) -> io::Result<()> {
        let column = e.column.map_or_else(|| "-".to_string(), |c| c.to_string());
        eprintln!(
            "edigate: {}:{}:{column}: {} {}",
            self.label(&e.file),
            e.line,
            e.code.as_str(),
            e.message
        );
        Ok(())
    }

    fn problem(&mut self, problem: InputProblem) -> io::Result<()> {
        let text = problem.to_string();
        let file = problem.file();
        let rest = text.strip_prefix(file).unwrap_or(&text);
        eprintln!("edigate: {}{rest}", self.label(file));
        Ok(())
    }
}

struct TranslateArgs<'a> {
    files: &'a [PathBuf],
    partners: Option<&'a Path>,
    partner: Option<&'a str>,
    layout: Option<&'a str>,
    policy: Option<Policy>,
    grammars: Option<&'a PathBuf>,
}

fn translate(args: TranslateArgs<'_>) -> Result<u8> {
    let grammars = load_grammars(args.grammars)?;
    let mut profiles = Profiles::new(grammars, args.policy.unwrap_or_default());
    if let Some(p) = args.policy {
        profiles.override_policy(p);
    }
    let partners = match args.partners {
        Some(dir) => edigate::config::load_dir(dir).map_err(|e| anyhow::anyhow!(join(&e)))?,
        None => Vec::new(),
    };
    let mut translator =
        InputTranslator::new(profiles, partners).map_err(|e| anyhow::anyhow!(join(&e)))?;
    if let Some(id) = args.partner {
        translator.force_partner(id)?;
    }
    if let Some(name) = args.layout {
        translator.force_layout(name)?;
    }
    let mut tracker = ControlTracker::default();
    let mut sink = CliSink {
        out: NdjsonWriter::new(BufWriter::new(io::stdout().lock())),
        path: String::new(),
        name: String::new(),
    };
    let mut worst = 0;
    for path in args.files {
        sink.path = path.display().to_string();
        sink.name = path
            .file_name()
            .map_or_else(|| sink.path.clone(), |n| n.to_string_lossy().into_owned());
        match translator.translate_path(path, &mut tracker, &mut sink) {
            Ok(counts) if counts.clean() => {}
            Ok(_) => worst = worst.max(1),
            // A reader that stopped early (`translate ... | head`) is not a failure: stop
            // quietly, as other command-line filters do.
            Err(TranslateError::Output { source, .. })
                if source.kind() == io::ErrorKind::BrokenPipe =>
            {
                return Ok(worst);
            }
            Err(e @ TranslateError::Output { .. }) => return Err(e.into()),
            Err(e) => {
                eprintln!("edigate: {e}");
                worst = 2;
            }
        }
    }
    match sink.out.flush() {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => {
            Err(anyhow::Error::new(e).context("cannot write output"))
        }
        _ => Ok(worst),
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum AckArg {
    #[value(name = "997")]
    A997,
    #[value(name = "999")]
    A999,
}

#[derive(Clone, Copy, ValueEnum)]
enum Ak2Arg {
    All,
    Errors,
}

fn ack(
    file: &PathBuf,
    kind: AckArg,
    ak2: Ak2Arg,
    policy: Policy,
    grammars: Option<&PathBuf>,
    timestamp: Option<&str>,
) -> Result<u8> {
    use edigate::x12::ack::{AckBuilder, AckKind, AckOptions, Ak2For, MemoryCounters};
    let grammars = load_grammars(grammars)?;
    let config = EngineConfig::new(&grammars, policy);
    let mut options = AckOptions {
        kind: match kind {
            AckArg::A997 => AckKind::Ack997,
            AckArg::A999 => AckKind::Ack999,
        },
        ak2_for: match ak2 {
            Ak2Arg::All => Ak2For::All,
            Ak2Arg::Errors => Ak2For::Errors,
        },
        ..AckOptions::default()
    };
    if let Some(ts) = timestamp {
        anyhow::ensure!(
            ts.len() == 12 && ts.bytes().all(|b| b.is_ascii_digit()),
            "--timestamp must be YYYYMMDDHHMM, got {ts:?}"
        );
        options.timestamp = (ts[..8].to_string(), ts[8..].to_string());
    }
    let mut counters = MemoryCounters::default();
    let f = std::fs::File::open(file).with_context(|| format!("cannot open {}", file.display()))?;
    let mut builder = AckBuilder::new(options, &mut counters);
    let summary =
        run(f, config, &mut builder).with_context(|| format!("cannot read {}", file.display()))?;
    for doc in builder.finish() {
        print!("{}", doc.text);
    }
    Ok(u8::from(summary.rejected))
}

fn load_grammars(dir: Option<&PathBuf>) -> Result<Grammars> {
    let mut g = Grammars::embedded().map_err(|e| anyhow::anyhow!(join(&e)))?;
    if let Some(dir) = dir {
        g.load_dir(dir).map_err(|e| anyhow::anyhow!(join(&e)))?;
    }
    Ok(g)
}

fn join<E: std::fmt::Display>(errors: &[E]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

fn validate(
    files: &[PathBuf],
    format: Format,
    policy: Policy,
    grammars: Option<&PathBuf>,
    envelope_only: bool,
) -> Result<u8> {
    let grammars = load_grammars(grammars)?;
    let mut config = EngineConfig::new(&grammars, policy);
    config.validate_grammar = !envelope_only;
    let mut worst = 0;
    for path in files {
        let file =
            std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        let mut visitor = ReportVisitor::default();
        let summary = run(
            std::io::BufReader::with_capacity(0, file),
            config,
            &mut visitor,
        )
        .with_context(|| format!("cannot read {}", path.display()))?;
        let report = visitor.finish(&path.display().to_string(), summary);
        if report.summary.rejected {
            worst = 1;
        }
        match format {
            Format::Text => print!("{}", report.to_text()),
            Format::Json => println!("{}", serde_json::to_string(&report)?),
        }
    }
    Ok(worst)
}

/// `edigate generate-assets DIR`: man pages (one per command) and completions for bash, zsh
/// and fish.
fn generate_assets(dir: &Path) -> Result<u8> {
    use clap::CommandFactory;
    let man = dir.join("man");
    let completions = dir.join("completions");
    for d in [&man, &completions] {
        std::fs::create_dir_all(d).with_context(|| format!("cannot create {}", d.display()))?;
    }
    let cmd = Cli::command();
    clap_mangen::generate_to(cmd.clone(), &man)
        .with_context(|| format!("cannot write man pages to {}", man.display()))?;
    for shell in [
        clap_complete::Shell::Bash,
        clap_complete::Shell::Zsh,
        clap_complete::Shell::Fish,
    ] {
        clap_complete::generate_to(shell, &mut cmd.clone(), "edigate", &completions)
            .with_context(|| format!("cannot write completions to {}", completions.display()))?;
    }
    Ok(0)
}

/// `edigate check-config`: 0 when everything is good, 1 with every problem on stderr.
fn check_config(config: &ConfigArg, quiet: bool) -> Result<u8> {
    match edigate::config::check::check_all(config.config.as_deref(), Path::new(".")) {
        Ok(checked) => {
            if !quiet {
                println!(
                    "{}: good ({} partner{}).",
                    config.config.as_deref().map_or_else(
                        || "default configuration".into(),
                        |p| p.display().to_string()
                    ),
                    checked.partners.len(),
                    if checked.partners.len() == 1 { "" } else { "s" }
                );
            }
            Ok(0)
        }
        Err(problems) => {
            for p in &problems {
                eprintln!("{p}");
            }
            eprintln!(
                "edigate: {} problem{} in the configuration.",
                problems.len(),
                if problems.len() == 1 { "" } else { "s" }
            );
            Ok(1)
        }
    }
}

/// Runs the daemon until SIGTERM or SIGINT; SIGHUP reloads partners.
fn run_daemon(config: &ConfigArg) -> Result<u8> {
    use tokio::signal::unix::{SignalKind, signal};
    // The same check as `edigate check-config`, before anything is opened.
    if let Err(problems) =
        edigate::config::check::check_all(config.config.as_deref(), Path::new("."))
    {
        anyhow::bail!(
            "the configuration has problems; nothing was started:\n{}",
            join(&problems)
        );
    }
    let config = config.load()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let mut term = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
        let mut int = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
        let mut hup = signal(SignalKind::hangup()).context("cannot handle SIGHUP")?;
        let (reload_tx, reload_rx) = tokio::sync::mpsc::channel(1);
        tokio::spawn(async move {
            while hup.recv().await.is_some() {
                tracing::info!("SIGHUP: reloading partners.");
                let _ = reload_tx.try_send(());
            }
        });
        let shutdown = async move {
            tokio::select! {
                _ = term.recv() => tracing::info!("SIGTERM received."),
                _ = int.recv() => tracing::info!("SIGINT received."),
            }
        };
        edigate::app::run_with_reload(config, shutdown, Some(reload_rx)).await?;
        Ok(0)
    })
}

/// Opens the ledger read-only for an operator command.
fn open_readonly(config: &ConfigArg) -> Result<Store> {
    let config = config.load()?;
    let path = config.database();
    anyhow::ensure!(
        path.exists(),
        "no ledger at {} (has `edigate run` been started with this configuration?)",
        path.display()
    );
    Store::open_readonly(&path).with_context(|| format!("cannot open {}", path.display()))
}

/// Opens the ledger for writing (replays), next to a running daemon.
fn open_writable(config: &ConfigArg) -> Result<Store> {
    let config = config.load()?;
    let path = config.database();
    anyhow::ensure!(
        path.exists(),
        "no ledger at {} (has `edigate run` been started with this configuration?)",
        path.display()
    );
    Store::open(&path).with_context(|| format!("cannot open {}", path.display()))
}

fn operator(command: Command) -> Result<u8> {
    let json = |f: Format| matches!(f, Format::Json);
    match command {
        Command::Status { config, format } => {
            let report = open_readonly(&config)?.status()?;
            print!("{}", store::render_status(&report, json(format)));
        }
        Command::DeadLetters {
            config,
            format,
            limit,
        } => {
            let rows = open_readonly(&config)?.dead_letters(limit)?;
            print!("{}", store::render_dead_letters(&rows, json(format)));
        }
        Command::Replay {
            config,
            record,
            file,
            dead,
            format,
        } => {
            let mut store = open_writable(&config)?;
            let (n, target) = if let Some(id) = record {
                let found = store.replay_record(&id)?;
                anyhow::ensure!(found, "no record with id {id:?}");
                (1, format!("record {id}"))
            } else if let Some(f) = file {
                (store.replay_file(&f)?, format!("file {f}"))
            } else if dead {
                (store.replay_dead()?, "dead letters".to_string())
            } else {
                anyhow::bail!("say what to replay: --record ID, --file SHA256|NAME or --dead");
            };
            print!("{}", store::render_replay(n, &target, json(format)));
        }
        Command::Inspect { config, id, format } => {
            let lineage = open_readonly(&config)?
                .inspect(&id)?
                .with_context(|| format!("no record with id {id:?}"))?;
            print!("{}", store::render_lineage(&lineage, json(format)));
        }
        _ => anyhow::bail!("not an operator command"),
    }
    Ok(0)
}

/// Whether stderr is connected to journald (`$JOURNAL_STREAM` names its device and inode).
fn stderr_is_journal() -> bool {
    let Some(stream) = std::env::var_os("JOURNAL_STREAM") else {
        return false;
    };
    let Some((dev, ino)) = stream.to_str().and_then(|s| s.split_once(':')) else {
        return false;
    };
    match rustix::fs::fstat(io::stderr()) {
        Ok(st) => dev.parse() == Ok(st.st_dev) && ino.parse() == Ok(st.st_ino),
        Err(_) => false,
    }
}

fn init_tracing(format: LogFormat) {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let journal = match format {
        LogFormat::Journal => true,
        LogFormat::Auto => stderr_is_journal(),
        LogFormat::Text | LogFormat::Json => false,
    };
    if journal {
        match tracing_journald::layer() {
            Ok(layer) => {
                let _ = tracing_subscriber::registry()
                    .with(filter)
                    .with(
                        layer
                            .with_syslog_identifier("edigate".into())
                            .with_field_prefix(None),
                    )
                    .try_init();
                return;
            }
            Err(e) => eprintln!("edigate: cannot log to the journal ({e}); logging text to stderr"),
        }
    }
    if format == LogFormat::Json {
        let _ = tracing_subscriber::fmt()
            .json()
            .with_env_filter(filter)
            .with_writer(io::stderr)
            .try_init();
    } else {
        use std::io::IsTerminal;
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_ansi(io::stderr().is_terminal())
            .with_writer(io::stderr)
            .try_init();
    }
}

/// `edigate fingerprint HOST[:PORT]`.
fn fingerprint(target: &str, timeout: &str) -> Result<u8> {
    let timeout = edigate::config::gateway::parse_duration(timeout).map_err(anyhow::Error::msg)?;
    let (host, port) = split_host_port(target)?;
    let fp = edigate::sources::sftp::fetch_fingerprint(&host, port, timeout)?;
    println!("{fp}");
    eprintln!("Pin it as host_key = \"{fp}\" only after the partner confirms it out of band.");
    Ok(0)
}

/// `host`, `host:port`, `[v6]` or `[v6]:port`.
fn split_host_port(target: &str) -> Result<(String, u16)> {
    let port = |p: &str| {
        p.parse::<u16>()
            .with_context(|| format!("{p:?} is not a port number"))
    };
    if let Some(rest) = target.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .with_context(|| format!("{target:?}: missing ']'"))?;
        return match after.strip_prefix(':') {
            Some(p) => Ok((host.to_string(), port(p)?)),
            None => Ok((host.to_string(), 22)),
        };
    }
    match target.rsplit_once(':') {
        Some((host, p)) if !host.contains(':') => Ok((host.to_string(), port(p)?)),
        _ => Ok((target.to_string(), 22)),
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    if let Some(dir) = cli.credentials_dir {
        edigate::config::secrets::set_credentials_dir(dir);
    }
    let result = match cli.command {
        Command::Run { config } => {
            init_tracing(cli.log_format);
            run_daemon(&config)
        }
        Command::CheckConfig { config, quiet } => check_config(&config, quiet),
        Command::GenerateAssets { dir } => generate_assets(&dir),
        c @ (Command::Status { .. }
        | Command::DeadLetters { .. }
        | Command::Replay { .. }
        | Command::Inspect { .. }) => operator(c),
        Command::Fingerprint { target, timeout } => fingerprint(&target, &timeout),
        Command::Validate {
            files,
            format,
            policy,
            grammars,
            envelope_only,
        } => validate(
            &files,
            format,
            policy.into(),
            grammars.as_ref(),
            envelope_only,
        ),
        Command::Ack {
            file,
            kind,
            ak2,
            policy,
            grammars,
            timestamp,
        } => ack(
            &file,
            kind,
            ak2,
            policy.into(),
            grammars.as_ref(),
            timestamp.as_deref(),
        ),
        Command::Translate {
            files,
            partners,
            partner,
            layout,
            policy,
            grammars,
        } => translate(TranslateArgs {
            files: &files,
            partners: partners.as_deref(),
            partner: partner.as_deref(),
            layout: layout.as_deref(),
            policy: policy.map(Policy::from),
            grammars: grammars.as_ref(),
        }),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("edigate: {}", one_line(&e));
            ExitCode::from(2)
        }
    }
}

/// An error and its causes on one line, joined by `: `. A cause whose text the message before
/// it already ends with (an error type that writes its source into its own message) is not
/// repeated.
fn one_line(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if line.ends_with(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

#[cfg(test)]
mod tests {
    use super::one_line;

    #[derive(Debug, thiserror::Error)]
    #[error("input.edi: cannot write output: {source}")]
    struct Output {
        source: std::io::Error,
    }

    #[test]
    fn a_cause_already_in_the_message_is_not_repeated() {
        let io = std::io::Error::new(std::io::ErrorKind::BrokenPipe, "Broken pipe");
        let e = anyhow::Error::new(Output { source: io });
        assert_eq!(one_line(&e), "input.edi: cannot write output: Broken pipe");
        let e = anyhow::anyhow!("disk full").context("cannot write output");
        assert_eq!(one_line(&e), "cannot write output: disk full");
    }
}
