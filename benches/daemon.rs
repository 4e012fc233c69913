//! Daemon benchmark: files-to-ERP throughput (transaction sets per second, durable commits) and
//! latency from an atomic drop into the spool to receipt at the ERP, against a fast local HTTP
//! stub on loopback.
//!
//! `cargo bench --bench daemon` runs the full measurement: throughput with 400 files of 25 sets
//! (10,000 sets, 4 partners) dropped at once; latency at 10 files per second for 20 s with the
//! quiet period set to zero. Under `cargo test` it does a small smoke run. `EDIGATE_BENCH_DIR`
//! moves the spool and state (e.g. to tmpfs, to separate CPU cost from fsync latency);
//! `EDIGATE_BENCH_ONLY=throughput` (or `latency`) runs one of the two. Each run writes under a
//! new directory; runs older than a day are removed after the measurements.
//!
//! The throughput line also gives the process's CPU time (user + sys) over the measured window
//! (drop to last receipt; the stub's share included), which is steadier than the wall time on a
//! busy machine. `EDIGATE_BENCH_PERF_CTL=<fifo>` writes `enable` / `disable` to a
//! `perf record -D -1 --control fifo:<fifo>` control pipe around that window, so a profile
//! leaves out the set-up (staging and translating the files for their ids).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use edigate::canonical::profile::Profiles;
use edigate::canonical::translate::{Collect, ControlTracker, translate};
use edigate::config::GatewayConfig;
use edigate::config::gateway::ErpConfig;
use edigate::x12::grammar::Grammars;
use edigate::x12::policy::Policy;

/// The allocator the `edigate` binary uses, so the figures are the binary's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Receipt time per `Idempotency-Key`.
type Receipts = Arc<Mutex<HashMap<String, Instant>>>;

async fn receive(State(r): State<Receipts>, headers: HeaderMap) -> StatusCode {
    let now = Instant::now();
    if let Some(key) = headers.get("idempotency-key").and_then(|v| v.to_str().ok()) {
        r.lock()
            .map(|mut m| m.entry(key.to_string()).or_insert(now).to_owned())
            .ok();
    }
    StatusCode::CREATED
}

async fn start_stub() -> (Receipts, SocketAddr) {
    let receipts: Receipts = Arc::default();
    let app = Router::new()
        .route("/edi/{kind}", post(receive))
        .with_state(receipts.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (receipts, addr)
}

const ORDER: &str = "W05*N*BHG-SO-448120*CLO-PO-7731904~\nN1*ST*CEDAR LANE OUTFITTERS STORE 117*92*0117~\nN3*4480 HARTWELL INDUSTRIAL PKWY*BUILDING C~\nN4*COLUMBUS*OH*43228*US~\nN1*SF*NORTHGATE LOGISTICS DC2*UL*0812459000216~\nN1*WH*NORTHGATE LOGISTICS DC2*9*0812459770002~\nN9*BM*NGL0000448120~\nG62*10*20260108~\nW66*PP*M***RIDGELINE FREIGHT LTL*****RDFL~\nLX*1~\nW01*12*CA*857340900152*VN*BHG-TWL-BTH-NVY~\nG69*BATH TOWEL 6PK NAVY~\nLX*2~\nW01*12.5*YD**SK*55810273*UP*857340312078~\nG69*COTTON THROW FABRIC GREY BY THE YARD~\nW76*24.5*412.75*LB*38.5*CF~\n";

/// A 940 interchange from bench partner `p` with `sets` orders.
fn order_file(p: usize, n: u64, sets: usize) -> String {
    let segs = ORDER.matches('~').count() + 2;
    let sender = format!("BENCHSHIP{p}");
    let mut out = format!(
        "ISA*00*          *00*          *ZZ*{sender:<15}*ZZ*BENCH3PL       *260105*1430*U*00401*{n:09}*0*P*>~\nGS*OW*{sender}*BENCH3PL*20260105*1430*{n}*X*004010~\n"
    );
    for i in 1..=sets {
        out.push_str(&format!("ST*940*{i:04}~\n{ORDER}SE*{segs}*{i:04}~\n"));
    }
    out.push_str(&format!("GE*{sets}*{n}~\nIEA*1*{n:09}~\n"));
    out
}

const PARTNERS: usize = 4;

fn write_partners(dir: &Path) {
    std::fs::create_dir_all(dir).expect("partners dir");
    for p in 0..PARTNERS {
        std::fs::write(
            dir.join(format!("bench{p}.toml")),
            format!(
                "id = \"bench{p}\"\nname = \"Bench shipper {p}\"\n[x12]\nsender = \"ZZ:BENCHSHIP{p}\"\nreceiver = \"ZZ:BENCH3PL\"\n[inbound]\nsource = \"spool\"\n"
            ),
        )
        .expect("partner file");
    }
}

fn ids_of(profiles: &Profiles, name: &str, text: &str) -> Vec<String> {
    let mut sink = Collect::default();
    translate(
        name,
        || Ok(text.as_bytes()),
        profiles,
        &mut ControlTracker::default(),
        &mut sink,
    )
    .expect("translate");
    assert!(sink.rejected.is_empty(), "{:?}", sink.rejected);
    sink.records
        .into_iter()
        .map(|r| r.id.into_string())
        .collect()
}

struct Bench {
    dir: PathBuf,
    config: GatewayConfig,
    profiles: Profiles,
}

fn setup(name: &str, addr: SocketAddr) -> Bench {
    // EDIGATE_BENCH_DIR puts spool and state elsewhere (e.g. on tmpfs, to see the CPU-bound
    // ceiling without the disk's fsync latency).
    let base = std::env::var_os("EDIGATE_BENCH_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")), PathBuf::from);
    // Each run gets a new directory, and old runs are removed only when a day old
    // ([`prune_old_runs`]): on this project's machine (ext4 without a journal) creating files
    // in the minutes after thousands were deleted costs the kernel up to 0.6 s more CPU per run,
    // which would be charged to the daemon if the previous run were deleted just before.
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let dir = base
        .join(format!("bench-daemon-{name}"))
        .join(format!("{stamp}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("bench dir");
    let mut config = GatewayConfig::local_default(&dir);
    write_partners(&config.partners);
    config.spool_settings.quiet_period = Duration::ZERO;
    config.erp = Some(ErpConfig {
        url: format!("http://{addr}/edi"),
        timeout: Duration::from_secs(10),
        token_file: None,
    });
    let partners = edigate::config::load_dir(&config.partners).expect("partners");
    let profiles = Profiles::new(Grammars::embedded().expect("grammars"), Policy::Standard)
        .with_partners(&partners)
        .expect("profiles");
    for p in 0..PARTNERS {
        std::fs::create_dir_all(config.spool.join(format!("bench{p}/in"))).expect("inbox");
    }
    Bench {
        dir,
        config,
        profiles,
    }
}

struct Daemon {
    stop: tokio::sync::oneshot::Sender<()>,
    handle: tokio::task::JoinHandle<Result<(), edigate::app::AppError>>,
}

fn start(config: GatewayConfig) -> Daemon {
    let (stop, rx) = tokio::sync::oneshot::channel::<()>();
    let handle = tokio::spawn(edigate::app::run(config, async move {
        let _ = rx.await;
    }));
    Daemon { stop, handle }
}

impl Daemon {
    async fn stop(self) {
        let _ = self.stop.send(());
        match self.handle.await {
            Ok(Ok(())) => {}
            other => panic!("daemon failed: {other:?}"),
        }
    }
}

async fn wait_all(receipts: &Receipts, ids: &[String], limit: Duration) {
    let start = Instant::now();
    loop {
        // Only the stub's keys are counted until there are enough of them: checking every id
        // each time would cost the daemon CPU and hold the stub's lock.
        let done = {
            let m = receipts.lock().expect("receipts");
            m.len() >= ids.len() && ids.iter().all(|id| m.contains_key(id))
        };
        if done {
            return;
        }
        assert!(
            start.elapsed() < limit,
            "not every record arrived in {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Files staged beside the spool, renamed into the partners' `in/` all at once.
async fn throughput(files: u64, sets: usize) {
    let (receipts, addr) = start_stub().await;
    let b = setup("throughput", addr);
    let staging = b.dir.join("staging");
    std::fs::create_dir_all(&staging).expect("staging");
    let mut ids = Vec::new();
    let mut staged = Vec::new();
    for n in 0..files {
        let p = (n as usize) % PARTNERS;
        let name = format!("tp-{n}.edi");
        let text = order_file(p, 100_000 + n, sets);
        ids.extend(ids_of(&b.profiles, &name, &text));
        std::fs::write(staging.join(&name), text).expect("stage");
        staged.push((p, name));
    }
    let daemon = start(b.config.clone());
    tokio::time::sleep(Duration::from_millis(300)).await;
    perf_ctl("enable");
    let cpu0 = cpu_secs();
    let t0 = Instant::now();
    for (p, name) in &staged {
        std::fs::rename(
            staging.join(name),
            b.config.spool.join(format!("bench{p}/in")).join(name),
        )
        .expect("drop");
    }
    // When intake is done: every file has left in/ and work/ for the archive.
    let archive: Vec<PathBuf> = (0..PARTNERS)
        .map(|p| b.config.spool.join(format!("bench{p}/archive")))
        .collect();
    let intake_done = tokio::spawn(async move {
        loop {
            let n: usize = archive.iter().map(|a| count_files(a)).sum();
            if n as u64 >= files {
                return Instant::now();
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    });
    wait_all(&receipts, &ids, Duration::from_secs(600)).await;
    let secs = t0.elapsed().as_secs_f64();
    let cpu = cpu_secs() - cpu0;
    perf_ctl("disable");
    let intake_secs = intake_done
        .await
        .map_or(f64::NAN, |t| t.duration_since(t0).as_secs_f64());
    daemon.stop().await;
    println!(
        "throughput: {files} files x {sets} sets = {} transaction sets ({PARTNERS} partners) in {secs:.2} s: {:.0} sets/s, {:.0} files/s (intake alone done after {intake_secs:.2} s: {:.0} sets/s recorded); CPU {cpu:.2} s",
        ids.len(),
        ids.len() as f64 / secs,
        files as f64 / secs,
        ids.len() as f64 / intake_secs
    );
}

/// One single-set file every 100 ms; latency from its rename into `in/` to ERP receipt.
async fn latency(seconds: u64) {
    let (receipts, addr) = start_stub().await;
    let b = setup("latency", addr);
    let staging = b.dir.join("staging");
    std::fs::create_dir_all(&staging).expect("staging");
    let daemon = start(b.config.clone());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let total = seconds * 10;
    let mut dropped: Vec<(String, Instant)> = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    for n in 0..total {
        tick.tick().await;
        let p = (n as usize) % PARTNERS;
        let name = format!("lat-{n}.edi");
        let text = order_file(p, 200_000 + n, 1);
        let id = ids_of(&b.profiles, &name, &text).remove(0);
        std::fs::write(staging.join(&name), text).expect("stage");
        let target = b.config.spool.join(format!("bench{p}/in")).join(&name);
        let at = Instant::now();
        std::fs::rename(staging.join(&name), target).expect("drop");
        dropped.push((id, at));
    }
    let ids: Vec<String> = dropped.iter().map(|(id, _)| id.clone()).collect();
    wait_all(&receipts, &ids, Duration::from_secs(60)).await;
    daemon.stop().await;
    let m = receipts.lock().expect("receipts");
    let mut lat: Vec<f64> = dropped
        .iter()
        .filter_map(|(id, at)| {
            m.get(id)
                .map(|r| r.duration_since(*at).as_secs_f64() * 1000.0)
        })
        .collect();
    lat.sort_by(f64::total_cmp);
    let pct = |p: f64| lat[((lat.len() as f64 - 1.0) * p).round() as usize];
    println!(
        "latency at 10 files/s, quiet period 0, {} files: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        lat.len(),
        pct(0.50),
        pct(0.99),
        lat[lat.len() - 1]
    );
}

/// User + sys CPU seconds of this process so far (`/proc/self/stat`, clock ticks of 10 ms);
/// NaN where that cannot be read.
fn cpu_secs() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return f64::NAN;
    };
    // Fields after the command name (which may hold spaces) start at field 3, `state`; utime
    // and stime are fields 14 and 15.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or(vec![], |(_, rest)| rest.split_whitespace().collect());
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok());
    match (ticks(11), ticks(12)) {
        (Some(u), Some(s)) => (u + s) / 100.0,
        _ => f64::NAN,
    }
}

/// Sends `cmd` to the perf control fifo named by `EDIGATE_BENCH_PERF_CTL`, if any.
fn perf_ctl(cmd: &str) {
    if let Some(path) = std::env::var_os("EDIGATE_BENCH_PERF_CTL") {
        let _ = std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .and_then(|mut f| std::io::Write::write_all(&mut f, format!("{cmd}\n").as_bytes()));
    }
}

/// Files under `dir`, by the listing's own file types (no `stat` per file: the bench polls this
/// while the daemon runs and should not take its CPU).
fn count_files(dir: &Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |d| {
        d.flatten()
            .map(|e| {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    count_files(&e.path())
                } else {
                    1
                }
            })
            .sum()
    })
}

/// Removes bench run directories older than a day (after the measurements). Deleting runs
/// within the hour taxes the next runs: pruning runs older than ten minutes after each run
/// deleted about 24,000 files in the middle of a series and cost those runs 0.3 to 0.6 s of CPU
/// each. A full run leaves about 32 MB; `cargo clean` or removing
/// `target/tmp/bench-daemon-*` frees them sooner.
fn prune_old_runs() {
    let base = std::env::var_os("EDIGATE_BENCH_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")), PathBuf::from);
    for name in ["throughput", "latency"] {
        let Ok(runs) = std::fs::read_dir(base.join(format!("bench-daemon-{name}"))) else {
            continue;
        };
        for run in runs.flatten() {
            let old = run
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > Duration::from_secs(24 * 3600));
            if old {
                let _ = std::fs::remove_dir_all(run.path());
            }
        }
    }
}

fn main() {
    let benching = std::env::args().any(|a| a == "--bench");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        if benching {
            // EDIGATE_BENCH_ONLY=throughput or =latency runs one part (e.g. to count its fsyncs).
            let only = std::env::var("EDIGATE_BENCH_ONLY").unwrap_or_default();
            println!("edigate daemon benchmark (durable commits, loopback ERP stub)");
            if only.is_empty() || only == "throughput" {
                throughput(400, 25).await;
            }
            if only.is_empty() || only == "latency" {
                latency(20).await;
            }
        } else {
            throughput(8, 5).await;
            latency(1).await;
        }
    });
    prune_old_runs();
}
