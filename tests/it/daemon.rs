//! The daemon end to end: spool → ledger → ERP stub on loopback, failures of every kind, and a
//! crash test that SIGKILLs the real binary at random moments.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use edigate::config::GatewayConfig;
use edigate::config::gateway::ErpConfig;
use edigate::store::Store;

use crate::support::{drop_file, expected_ids, order_file, repo_partners};

/// One request the stub saw.
#[derive(Debug, Clone)]
pub struct Seen {
    pub path: String,
    pub key: String,
    pub correlation: String,
    pub body: String,
}

/// How the stub answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Mode {
    Ok = 0,
    /// 503 with `Retry-After: 0` to everything.
    Down = 1,
    /// Never answers (the client times out).
    Stall = 2,
}

/// A stand-in ERP: records every request; commits each `Idempotency-Key` once (a repeat gets
/// 409, as an idempotent API answers); can fail, stall, reject chosen ids with 422, or commit
/// and then lose the response.
#[derive(Default)]
pub struct ErpStub {
    pub requests: Mutex<Vec<Seen>>,
    /// Committed effects per key (must never exceed 1).
    pub effects: Mutex<HashMap<String, u32>>,
    mode: AtomicU8,
    pub reject: Mutex<HashSet<String>>,
    /// Commit, then never answer (for as long as the client waits) on first sight of a key.
    pub lose_first_response: AtomicBool,
    pub failures_answered: AtomicUsize,
}

impl ErpStub {
    pub fn set_mode(&self, m: Mode) {
        self.mode.store(m as u8, Ordering::SeqCst);
    }

    pub fn committed(&self) -> HashSet<String> {
        self.effects.lock().unwrap().keys().cloned().collect()
    }

    pub fn requests_for(&self, key: &str) -> usize {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.key == key)
            .count()
    }
}

async fn receive(
    State(stub): State<Arc<ErpStub>>,
    UrlPath(kind): UrlPath<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let key = header("idempotency-key");
    stub.requests.lock().unwrap().push(Seen {
        path: format!("/edi/{kind}"),
        key: key.clone(),
        correlation: header("x-correlation-id"),
        body: String::from_utf8_lossy(&body).into_owned(),
    });
    match stub.mode.load(Ordering::SeqCst) {
        1 => {
            stub.failures_answered.fetch_add(1, Ordering::SeqCst);
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                [("retry-after", "0")],
                "maintenance",
            )
                .into_response();
        }
        2 => {
            tokio::time::sleep(Duration::from_secs(30)).await;
        }
        _ => {}
    }
    if stub.reject.lock().unwrap().contains(&key) {
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            "{\"error\":\"unknown ship-to location\"}",
        )
            .into_response();
    }
    let first = {
        let mut effects = stub.effects.lock().unwrap();
        let n = effects.entry(key.clone()).or_insert(0);
        if *n > 0 {
            false
        } else {
            *n += 1;
            true
        }
    };
    if !first {
        return (StatusCode::CONFLICT, "{\"status\":\"already recorded\"}").into_response();
    }
    if stub.lose_first_response.load(Ordering::SeqCst) {
        // Committed; the answer never reaches the client, which times out first.
        tokio::time::sleep(Duration::from_secs(30)).await;
    }
    (StatusCode::CREATED, "{\"status\":\"created\"}").into_response()
}

/// Starts the stub on 127.0.0.1:0.
pub async fn start_stub() -> (Arc<ErpStub>, SocketAddr) {
    let stub = Arc::new(ErpStub::default());
    let app = Router::new()
        .route("/edi/{kind}", post(receive))
        .with_state(stub.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (stub, addr)
}

/// A gateway config under `dir`: the example partners, quiet period 0, fast retries.
fn config(dir: &Path, erp: Option<SocketAddr>) -> GatewayConfig {
    let mut c = GatewayConfig::local_default(dir);
    c.partners = repo_partners();
    c.spool_settings.quiet_period = Duration::ZERO;
    c.spool_settings.rescan_interval = Duration::from_millis(250);
    c.intake_workers = 4;
    c.erp = erp.map(|addr| ErpConfig {
        url: format!("http://{addr}/edi"),
        timeout: Duration::from_millis(500),
        token_file: None,
    });
    c.forwarder.backoff_base = Duration::from_millis(20);
    c.forwarder.backoff_max = Duration::from_millis(200);
    c.forwarder.breaker_threshold = 3;
    c.forwarder.breaker_cooldown = Duration::from_millis(200);
    c
}

/// The daemon running in this process.
struct Running {
    stop: tokio::sync::oneshot::Sender<()>,
    handle: tokio::task::JoinHandle<Result<(), edigate::app::AppError>>,
}

fn start(config: GatewayConfig) -> Running {
    let (stop, rx) = tokio::sync::oneshot::channel::<()>();
    let handle = tokio::spawn(edigate::app::run(config, async move {
        let _ = rx.await;
    }));
    Running { stop, handle }
}

impl Running {
    async fn stop(self) {
        let _ = self.stop.send(());
        let r = tokio::time::timeout(Duration::from_secs(10), self.handle)
            .await
            .expect("the daemon stops within 10 s")
            .expect("the daemon task does not panic");
        r.expect("the daemon stops cleanly");
    }
}

/// Waits until `cond` holds, or fails the test with `what`.
async fn wait_for(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn inbox(c: &GatewayConfig) -> PathBuf {
    c.spool.join("bramblewood/in")
}

/// Drops `files` generated files of `sets` orders each, numbered from `first`; returns the
/// record ids they must produce.
fn drop_orders(c: &GatewayConfig, first: u64, files: u64, sets: usize) -> HashSet<String> {
    std::fs::create_dir_all(inbox(c)).expect("inbox");
    let mut ids = HashSet::new();
    for n in first..first + files {
        let name = format!("order-{n}.edi");
        let text = order_file(n, sets);
        ids.extend(expected_ids(&name, &text));
        drop_file(&inbox(c), &name, &text);
    }
    ids
}

fn status(c: &GatewayConfig) -> edigate::store::StatusReport {
    Store::open_readonly(&c.database())
        .expect("ledger")
        .status()
        .expect("status")
}

/// The ledger's status, or `None` while the daemon has not created its database yet (for
/// conditions polled right after start-up).
fn try_status(c: &GatewayConfig) -> Option<edigate::store::StatusReport> {
    Store::open_readonly(&c.database()).ok()?.status().ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_dropped_in_the_spool_reach_the_erp_exactly_once_with_their_keys() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (stub, addr) = start_stub().await;
    let c = config(dir.path(), Some(addr));
    let daemon = start(c.clone());
    let expected = drop_orders(&c, 1000, 20, 3);
    assert_eq!(expected.len(), 60);
    wait_for("60 records at the ERP", Duration::from_secs(20), || {
        stub.committed().len() == 60
    })
    .await;
    daemon.stop().await;

    assert_eq!(stub.committed(), expected);
    let requests = stub.requests.lock().unwrap().clone();
    assert_eq!(requests.len(), 60, "no record was sent twice");
    for r in &requests {
        assert_eq!(r.path, "/edi/warehouse_order");
        let body: serde_json::Value = serde_json::from_str(&r.body).expect("JSON body");
        assert_eq!(body["id"], r.key.as_str(), "the key is the record id");
        assert!(!r.correlation.is_empty());
    }
    let per_file: HashSet<&str> = requests.iter().map(|r| r.correlation.as_str()).collect();
    assert_eq!(per_file.len(), 20, "one correlation id per file");

    let s = status(&c);
    assert_eq!(s.files.get("accepted"), Some(&20));
    assert_eq!(s.deliveries.delivered, 60);
    assert_eq!(s.unfinalized_files, 0);
    let archived = walk(&c.spool.join("bramblewood/archive"));
    assert_eq!(archived.len(), 20);
    assert!(walk(&c.spool.join("bramblewood/work")).is_empty());
    let acks = walk(&c.spool.join("bramblewood/out"));
    assert_eq!(acks.len(), 20, "one 997 per file");
    let ack = std::fs::read_to_string(&acks[0]).expect("ack");
    assert!(ack.starts_with("ISA*") && ack.contains("ST*997*"), "{ack}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_file_again_is_recorded_as_a_duplicate_and_not_forwarded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (stub, addr) = start_stub().await;
    let c = config(dir.path(), Some(addr));
    let daemon = start(c.clone());
    let text = order_file(77, 2);
    std::fs::create_dir_all(inbox(&c)).expect("inbox");
    drop_file(&inbox(&c), "a.edi", &text);
    wait_for("2 records", Duration::from_secs(10), || {
        stub.committed().len() == 2
    })
    .await;
    drop_file(&inbox(&c), "a-again.edi", &text);
    wait_for(
        "the duplicate to be recorded",
        Duration::from_secs(10),
        || try_status(&c).is_some_and(|s| s.files.get("duplicate") == Some(&1)),
    )
    .await;
    daemon.stop().await;
    assert_eq!(stub.requests.lock().unwrap().len(), 2);
    assert_eq!(walk(&c.spool.join("bramblewood/archive")).len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erp_down_for_a_while_then_back_gets_everything() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (stub, addr) = start_stub().await;
    stub.set_mode(Mode::Down);
    let c = config(dir.path(), Some(addr));
    let daemon = start(c.clone());
    let expected = drop_orders(&c, 2000, 10, 2);
    wait_for(
        "the ERP to refuse a few attempts",
        Duration::from_secs(10),
        || stub.failures_answered.load(Ordering::SeqCst) >= 6,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let refused = stub.failures_answered.load(Ordering::SeqCst);
    assert!(stub.committed().is_empty());
    stub.set_mode(Mode::Ok);
    wait_for(
        "every record after the ERP is back",
        Duration::from_secs(20),
        || stub.committed().len() == expected.len(),
    )
    .await;
    daemon.stop().await;
    assert_eq!(stub.committed(), expected);
    // The breaker kept the failed attempts well below one per record per backoff step.
    assert!(refused < 200, "{refused} attempts while the ERP was down");
    let s = status(&c);
    assert_eq!(s.deliveries.delivered, 20);
    assert_eq!(s.dead_letters, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_erp_that_stalls_is_timed_out_and_retried_until_it_answers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (stub, addr) = start_stub().await;
    stub.set_mode(Mode::Stall);
    let c = config(dir.path(), Some(addr));
    let daemon = start(c.clone());
    let expected = drop_orders(&c, 6000, 4, 1);
    wait_for("a few stalled attempts", Duration::from_secs(10), || {
        stub.requests.lock().unwrap().len() >= 3
    })
    .await;
    assert!(stub.committed().is_empty());
    stub.set_mode(Mode::Ok);
    wait_for(
        "every record once the ERP answers",
        Duration::from_secs(20),
        || stub.committed().len() == expected.len(),
    )
    .await;
    daemon.stop().await;
    assert_eq!(stub.committed(), expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_the_erp_refuses_with_422_is_a_dead_letter_and_the_others_flow() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (stub, addr) = start_stub().await;
    let c = config(dir.path(), Some(addr));
    // Three orders in one file: one lane, so the refused one sits between the others.
    let text = order_file(3000, 3);
    let ids = expected_ids("f.edi", &text);
    stub.reject.lock().unwrap().insert(ids[1].clone());
    let more = {
        let text = order_file(3001, 2);
        expected_ids("g.edi", &text)
    };
    let daemon = start(c.clone());
    std::fs::create_dir_all(inbox(&c)).expect("inbox");
    drop_file(&inbox(&c), "f.edi", &text);
    drop_file(&inbox(&c), "g.edi", &order_file(3001, 2));
    wait_for("the four other records", Duration::from_secs(15), || {
        stub.committed().len() == 4
    })
    .await;
    daemon.stop().await;
    let mut want: HashSet<String> = more.into_iter().collect();
    want.insert(ids[0].clone());
    want.insert(ids[2].clone());
    assert_eq!(stub.committed(), want);
    assert_eq!(stub.requests_for(&ids[1]), 1, "a 422 is not retried");
    let store = Store::open_readonly(&c.database()).expect("ledger");
    let dead = store.dead_letters(10).expect("dead letters");
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].record_id, ids[1]);
    assert_eq!(dead[0].status, Some(422));
    let error = dead[0].last_error.clone().unwrap_or_default();
    assert!(error.contains("unknown ship-to location"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_response_lost_after_the_erp_committed_is_retried_with_the_same_key_and_takes_effect_once()
 {
    let dir = tempfile::tempdir().expect("tempdir");
    let (stub, addr) = start_stub().await;
    stub.lose_first_response.store(true, Ordering::SeqCst);
    let c = config(dir.path(), Some(addr));
    let daemon = start(c.clone());
    let expected = drop_orders(&c, 4000, 3, 1);
    wait_for("every record delivered", Duration::from_secs(20), || {
        try_status(&c).is_some_and(|s| s.deliveries.delivered == 3)
    })
    .await;
    daemon.stop().await;
    assert_eq!(stub.committed(), expected);
    for key in &expected {
        assert!(stub.requests_for(key) >= 2, "{key} was retried");
        assert_eq!(stub.effects.lock().unwrap()[key], 1, "one effect for {key}");
    }
    let requests = stub.requests.lock().unwrap().clone();
    for key in &expected {
        let bodies: HashSet<&str> = requests
            .iter()
            .filter(|r| &r.key == key)
            .map(|r| r.body.as_str())
            .collect();
        assert_eq!(bodies.len(), 1, "every retry carries the same body");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_written_slowly_in_pieces_is_not_taken_before_it_is_complete() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (stub, addr) = start_stub().await;
    let mut c = config(dir.path(), Some(addr));
    c.spool_settings.quiet_period = Duration::from_millis(500);
    c.spool_settings.rescan_interval = Duration::from_millis(100);
    let daemon = start(c.clone());
    std::fs::create_dir_all(inbox(&c)).expect("inbox");
    let text = order_file(5000, 3);
    let expected: HashSet<String> = expected_ids("slow.edi", &text).into_iter().collect();
    let path = inbox(&c).join("slow.edi");
    let pieces: Vec<&[u8]> = text.as_bytes().chunks(text.len() / 6 + 1).collect();
    for piece in &pieces {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .expect("open for append");
        f.write_all(piece).expect("append");
        drop(f);
        tokio::time::sleep(Duration::from_millis(250)).await;
        assert!(
            path.exists() || stub.committed().len() == 3,
            "taken before it was complete"
        );
        assert!(walk(&c.spool.join("bramblewood/work")).is_empty() || path.exists());
    }
    wait_for("the file's 3 records", Duration::from_secs(10), || {
        stub.committed().len() == 3
    })
    .await;
    daemon.stop().await;
    assert_eq!(stub.committed(), expected);
    let archived = walk(&c.spool.join("bramblewood/archive"));
    assert_eq!(archived.len(), 1);
    assert_eq!(
        std::fs::read_to_string(&archived[0]).expect("archived"),
        text
    );
    assert_eq!(status(&c).files.get("accepted"), Some(&1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_files_dropped_at_once_are_all_processed_by_the_rescan_alone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut c = config(dir.path(), None);
    // No change notifications at all: as if every event were lost, the rescan alone finds them.
    c.spool_settings.watch = false;
    // Staged beside the spool, then renamed in as fast as possible, with the daemon running.
    let staging = dir.path().join("staging");
    std::fs::create_dir_all(&staging).expect("staging");
    std::fs::create_dir_all(inbox(&c)).expect("inbox");
    for n in 0..2000u64 {
        std::fs::write(
            staging.join(format!("bulk-{n}.edi")),
            order_file(10_000 + n, 1),
        )
        .expect("stage");
    }
    let daemon = start(c.clone());
    tokio::time::sleep(Duration::from_millis(200)).await;
    for n in 0..2000u64 {
        let name = format!("bulk-{n}.edi");
        std::fs::rename(staging.join(&name), inbox(&c).join(&name)).expect("drop");
    }
    let outbox = c.outbox().join("warehouse_order");
    wait_for(
        "2000 records in the outbox",
        Duration::from_secs(40),
        || std::fs::read_dir(&outbox).map_or(0, |d| d.count()) == 2000,
    )
    .await;
    daemon.stop().await;
    let s = status(&c);
    assert_eq!(s.files.get("accepted"), Some(&2000));
    assert_eq!(s.deliveries.delivered, 2000);
    assert!(walk(&inbox(&c)).is_empty());
}

/// Every file under `dir`, recursively.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else if !e.file_name().to_string_lossy().starts_with('.') {
            out.push(p);
        }
    }
    out.sort();
    out
}

/// The crash test: the real binary, SIGKILLed at 20+ random moments while a stream of files
/// arrives, restarted each time; at the end every expected id reached the ERP exactly once in
/// effect, every file is in the ledger exactly once, and the database is intact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_random_moments_loses_nothing_and_doubles_nothing() {
    use rand::Rng;
    let dir = tempfile::tempdir().expect("tempdir");
    let (stub, addr) = start_stub().await;
    let spool = dir.path().join("spool");
    let state = dir.path().join("state");
    let inbox = spool.join("bramblewood/in");
    std::fs::create_dir_all(&inbox).expect("inbox");
    let config_path = dir.path().join("edigate.toml");
    std::fs::write(
        &config_path,
        format!(
            "[paths]\nspool = \"spool\"\nstate = \"state\"\npartners = {:?}\n\
             [erp]\nurl = \"http://{addr}/edi\"\ntimeout = \"2s\"\n\
             [spool]\nquiet_period = \"0s\"\nrescan_interval = \"200ms\"\n\
             [forwarder]\nbackoff_base = \"20ms\"\nbackoff_max = \"200ms\"\nbreaker_cooldown = \"100ms\"\n\
             [api]\nlisten = \"127.0.0.1:0\"\n",
            repo_partners().display().to_string()
        ),
    )
    .expect("config");

    const FILES: u64 = 240;
    let mut texts = Vec::new();
    let mut expected = HashSet::new();
    let mut shas = Vec::new();
    for n in 0..FILES {
        let name = format!("stream-{n}.edi");
        let text = order_file(20_000 + n, 1 + (n % 3) as usize);
        expected.extend(expected_ids(&name, &text));
        shas.push(sha256_hex(text.as_bytes()));
        texts.push((name, text));
    }
    // The stream: files arrive through the whole test, a few every 50 ms.
    let dropper = {
        let inbox = inbox.clone();
        std::thread::spawn(move || {
            for chunk in texts.chunks(4) {
                for (name, text) in chunk {
                    drop_file(&inbox, name, text);
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        })
    };
    let spawn = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_edigate"))
            .args(["run", "--config"])
            .arg(&config_path)
            .env("RUST_LOG", "error")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start edigate")
    };
    let mut kills = 0;
    let mut rng = rand::rng();
    while kills < 22 {
        let mut child = spawn();
        let ms = rng.random_range(30..450);
        tokio::time::sleep(Duration::from_millis(ms)).await;
        child.kill().expect("SIGKILL");
        child.wait().expect("reaped");
        kills += 1;
    }
    dropper.join().expect("dropper");

    // The last run: let it finish, then stop it with SIGTERM.
    let log_path = dir.path().join("last-run.log");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_edigate"))
        .args(["run", "--config"])
        .arg(&config_path)
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log_path).expect("log file"))
        .spawn()
        .expect("start edigate");
    wait_for(
        "every expected id at the ERP",
        Duration::from_secs(30),
        || stub.committed().len() >= expected.len(),
    )
    .await;
    let db = state.join("edigate.db");
    wait_for("the ledger to settle", Duration::from_secs(10), || {
        Store::open_readonly(&db)
            .and_then(|s| s.status())
            .is_ok_and(|s| {
                s.deliveries.delivered as usize == expected.len() && s.unfinalized_files == 0
            })
    })
    .await;
    // SIGTERM only once the daemon has its signal handlers (the ledger may have settled before).
    wait_for("the last run to be up", Duration::from_secs(10), || {
        std::fs::read_to_string(&log_path).is_ok_and(|l| l.contains("edigate is running"))
    })
    .await;
    let term = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill -TERM");
    assert!(term.success());
    let exit = child.wait().expect("exit");
    assert!(
        exit.success(),
        "clean exit after SIGTERM: {exit:?}\n{}",
        std::fs::read_to_string(&log_path).unwrap_or_default()
    );

    assert_eq!(
        stub.committed(),
        expected,
        "every id reached the ERP, none extra"
    );
    for (key, n) in stub.effects.lock().unwrap().iter() {
        assert_eq!(*n, 1, "{key} took effect once");
    }
    let store = Store::open_readonly(&db).expect("ledger");
    assert_eq!(store.integrity_check().expect("integrity"), "ok");
    let s = store.status().expect("status");
    assert_eq!(
        s.files.get("accepted"),
        Some(&FILES),
        "every file recorded once: {:?}",
        s.files
    );
    assert_eq!(s.files.values().sum::<u64>(), FILES, "{:?}", s.files);
    assert_eq!(s.deliveries.delivered as usize, expected.len());
    assert_eq!(s.dead_letters, 0);
    for sha in &shas {
        let row = store
            .file_by_sha256(sha)
            .expect("query")
            .expect("file recorded");
        assert!(row.final_path.is_some(), "{} finalized", row.name);
    }
    assert!(walk(&inbox).is_empty(), "nothing left in in/");
    assert!(
        walk(&spool.join("bramblewood/work")).is_empty(),
        "nothing left in work/"
    );
    assert_eq!(
        walk(&spool.join("bramblewood/archive")).len(),
        FILES as usize
    );
    eprintln!(
        "crash test: {kills} SIGKILLs, {} files, {} records, {} ERP requests",
        FILES,
        expected.len(),
        stub.requests.lock().unwrap().len()
    );
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// Partner CSV and fixed-width files, zipped or not, dropped in a partner's spool folder become
/// records with that partner's layouts, like `edigate translate` makes them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flat_files_and_zip_archives_in_the_spool_become_records() {
    use std::io::Write as _;
    let dir = tempfile::tempdir().expect("tempdir");
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut c = config(dir.path(), None);
    c.partners = fixtures.join("partners");
    let daemon = start(c.clone());
    let golden = |name: &str| -> HashSet<String> {
        std::fs::read_to_string(fixtures.join("golden").join(name))
            .expect("golden")
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).expect("json")["id"]
                    .as_str()
                    .expect("id")
                    .to_string()
            })
            .collect()
    };
    // A CSV as it is.
    let csv = std::fs::read_to_string(fixtures.join("flat/ridgeline_status.csv")).expect("csv");
    let inbox = c.spool.join("ridgeline/in");
    wait_for(
        "the ridgeline spool folder",
        Duration::from_secs(10),
        || inbox.is_dir(),
    )
    .await;
    drop_file(&inbox, "ridgeline_status.csv", &csv);
    // A fixed-width file inside a zip archive.
    let txt = std::fs::read(fixtures.join("flat/northgate_advice.txt")).expect("txt");
    let mut zipped = Vec::new();
    {
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(&mut zipped));
        w.start_file(
            "northgate_advice.txt",
            zip::write::SimpleFileOptions::default(),
        )
        .expect("member");
        w.write_all(&txt).expect("member bytes");
        w.finish().expect("zip");
    }
    let ng_inbox = c.spool.join("northgate/in");
    wait_for(
        "the northgate spool folder",
        Duration::from_secs(10),
        || ng_inbox.is_dir(),
    )
    .await;
    let tmp = ng_inbox.join(".advice.zip.part");
    std::fs::write(&tmp, &zipped).expect("write zip");
    std::fs::rename(&tmp, ng_inbox.join("advice.zip")).expect("rename zip");

    let outbox = c.state.join("outbox");
    let ids_in = |kind: &str| -> HashSet<String> {
        walk(&outbox.join(kind))
            .iter()
            .filter_map(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
            .collect()
    };
    let want_status = golden("flat_ridgeline_status.ndjson");
    wait_for(
        "the CSV's records in the outbox",
        Duration::from_secs(20),
        || ids_in("shipment_status") == want_status,
    )
    .await;
    let want_advice = golden("flat_northgate_advice.ndjson").len();
    wait_for(
        "every row group of the zipped file as a record in the outbox",
        Duration::from_secs(20),
        || ids_in("shipment_advice").len() == want_advice,
    )
    .await;
    daemon.stop().await;
    assert_eq!(ids_in("shipment_advice").len(), want_advice);
    let s = status(&c);
    assert_eq!(s.unfinalized_files, 0);
    assert!(
        walk(&c.spool.join("northgate/archive")).len() == 1,
        "the archive was archived"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partner_file_added_and_removed_while_running_is_picked_up_and_dropped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (stub, addr) = start_stub().await;
    let mut c = config(dir.path(), Some(addr));
    c.partners = dir.path().join("partners");
    std::fs::create_dir_all(&c.partners).expect("partners dir");
    let daemon = start(c.clone());
    // Let the daemon come up without Bramblewood.
    wait_for("the spool root", Duration::from_secs(10), || {
        c.spool.is_dir()
    })
    .await;
    assert!(!inbox(&c).exists());

    let text = std::fs::read_to_string(repo_partners().join("bramblewood.toml")).expect("example");
    std::fs::write(c.partners.join("bramblewood.toml"), text).expect("add partner");
    wait_for("Bramblewood's in/ folder", Duration::from_secs(10), || {
        inbox(&c).is_dir()
    })
    .await;
    let expected = drop_orders(&c, 5000, 1, 2);
    wait_for("its records at the ERP", Duration::from_secs(10), || {
        stub.committed() == expected
    })
    .await;

    // An invalid change (a broken file beside it) is refused: Bramblewood stays in force.
    std::fs::write(c.partners.join("broken.toml"), "id = 3\n").expect("broken file");
    tokio::time::sleep(Duration::from_millis(800)).await;
    let more = drop_orders(&c, 5002, 1, 1);
    let expected: HashSet<String> = expected.union(&more).cloned().collect();
    wait_for(
        "records sent while the change was refused",
        Duration::from_secs(10),
        || stub.committed() == expected,
    )
    .await;
    std::fs::remove_file(c.partners.join("broken.toml")).expect("remove broken");

    std::fs::remove_file(c.partners.join("bramblewood.toml")).expect("remove partner");
    // The reload settles for 300 ms; rescans run every 250 ms.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    drop_file(&inbox(&c), "after.edi", &order_file(5001, 1));
    // Its folder is an unknown partner's now: the file is quarantined, not accepted.
    let quarantined = c.spool.join("bramblewood/quarantine/after.edi");
    wait_for(
        "the second file in quarantine",
        Duration::from_secs(10),
        || quarantined.exists(),
    )
    .await;
    daemon.stop().await;
    let s = status(&c);
    assert_eq!(s.files.get("accepted"), Some(&2), "{:?}", s.files);
    assert_eq!(stub.committed(), expected, "nothing more reached the ERP");
}
