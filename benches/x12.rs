//! X12 engine benchmark: throughput (MB/s on one core) and peak memory (VmHWM) for
//! a plain memchr split, the `edi` crate, edigate's tokenizer+envelope, full validation, and
//! translation to canonical NDJSON (`edigate translate`, output counted and dropped), on generated
//! 856 and 214 files. Throughput is given by wall time and by the CPU time the measurement used
//! (the steadier figure when other work shares the machine).
//!
//! `cargo bench --bench x12` runs it on 100 MB files (`-- --size-mb 1024` for 1 GiB; the `edi`
//! crate is skipped above 200 MB, it needs about 10x the file in memory). Each measurement runs in
//! its own child process so that its peak RSS is its own. Under `cargo test` it does a 1 MB smoke run.
//! `-- --modes translate,edi` runs only the named measurements.
//!
//! Each measurement is run three times (`-- --runs N` to change) and its fastest run is shown,
//! the usual estimate on a shared machine, where other work only ever slows a run down; every
//! mode, the `edi` baseline included, is measured the same way, and the runs of the modes are
//! interleaved (all modes once, then all again) so that a slow spell of the machine does not
//! fall on one mode alone.

use std::alloc::{GlobalAlloc, Layout, System};
use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Instant;

use edigate::canonical::ndjson::NdjsonWriter;
use edigate::canonical::profile::Profiles;
use edigate::canonical::record::Record;
use edigate::canonical::translate::{ControlTracker, Rejection, Sink, Skipped, translate_file};
use edigate::x12::envelope::{EngineConfig, NoVisitor, run};
use edigate::x12::grammar::Grammars;
use edigate::x12::policy::Policy;
use edigate::x12::report::ReportVisitor;

/// The allocator: mimalloc, as the `edigate` binary uses, so edigate's figures are the
/// binary's; the system allocator when `EDIGATE_BENCH_ALLOC=system`. The `edi` baseline is
/// measured under both and its better figure counts, so the allocator never flatters a ratio.
struct BenchAlloc;

#[global_allocator]
static GLOBAL: BenchAlloc = BenchAlloc;

/// 0: not decided yet; 1: system; 2: mimalloc. Decided at the first allocation, before any
/// block exists, and fixed for the life of the process.
static CHOICE: AtomicU8 = AtomicU8::new(0);

fn system_allocator() -> bool {
    match CHOICE.load(Ordering::Relaxed) {
        1 => true,
        2 => false,
        _ => {
            // SAFETY: the name is a NUL-terminated literal, and getenv does not allocate; the
            // value is only read, before any thread of this program can change the environment.
            let value = unsafe { libc::getenv(c"EDIGATE_BENCH_ALLOC".as_ptr()) };
            let system = !value.is_null()
                // SAFETY: getenv returned a NUL-terminated string owned by the environment.
                && unsafe { std::ffi::CStr::from_ptr(value) }.to_bytes() == b"system";
            CHOICE.store(if system { 1 } else { 2 }, Ordering::Relaxed);
            system
        }
    }
}

// SAFETY: every call goes to one allocator for the whole process (fixed at the first
// allocation), so each block is freed by the allocator that made it.
unsafe impl GlobalAlloc for BenchAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        unsafe {
            if system_allocator() {
                System.alloc(layout)
            } else {
                mimalloc::MiMalloc.alloc(layout)
            }
        }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        unsafe {
            if system_allocator() {
                System.alloc_zeroed(layout)
            } else {
                mimalloc::MiMalloc.alloc_zeroed(layout)
            }
        }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's guarantees; the block came from this allocator.
        unsafe {
            if system_allocator() {
                System.dealloc(ptr, layout)
            } else {
                mimalloc::MiMalloc.dealloc(ptr, layout)
            }
        }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees; the block came from this allocator.
        unsafe {
            if system_allocator() {
                System.realloc(ptr, layout, new_size)
            } else {
                mimalloc::MiMalloc.realloc(ptr, layout, new_size)
            }
        }
    }
}

fn isa(control: u64) -> String {
    format!(
        "ISA*00*          *00*          *ZZ*BENCH3PL       *ZZ*BENCHRETAIL    *260105*1430*U*00401*{control:09}*0*P*>~\n"
    )
}

/// Writes a file of about `size` bytes of 856s (S > O > P > I, 40 items a set) or 214s.
fn generate(path: &Path, kind: &str, size: u64) -> std::io::Result<()> {
    let mut w = BufWriter::new(File::create(path)?);
    let mut written = 0u64;
    let mut ic = 0u64;
    while written < size {
        ic += 1;
        let mut text = isa(ic);
        let (gs01, set) = if kind == "856" {
            ("SH", "856")
        } else {
            ("QM", "214")
        };
        text.push_str(&format!(
            "GS*{gs01}*BENCH3PL*BENCHRETAIL*20260105*1430*{ic}*X*004010~\n"
        ));
        let sets: u64 = 200;
        for n in 1..=sets {
            let ctl = format!("{n:04}");
            let mut body = Vec::new();
            if kind == "856" {
                body.push(format!("BSN*00*ASN{ic}{n}*20260105*1430*0001"));
                body.push("DTM*011*20260105*1430".into());
                body.push("HL*1**S*1".into());
                body.push("TD1*CTN25*40****G*812.5*LB".into());
                body.push("TD5**2*QXRL*M*QUICK EXPRESS".into());
                body.push("REF*BM*BOL778812".into());
                body.push("N1*ST*RIVERBEND DISTRIBUTION*92*0042".into());
                body.push("HL*2*1*O*1".into());
                body.push(format!("PRF*PO{ic}{n}***20260101"));
                let mut id = 2;
                for p in 0..8 {
                    id += 1;
                    let pack = id;
                    body.push(format!("HL*{pack}*2*P*1"));
                    body.push(format!("MAN*GM*00100012340000{p:04}"));
                    for i in 0..5 {
                        id += 1;
                        body.push(format!("HL*{id}*{pack}*I*0"));
                        body.push(format!("LIN**UP*01234567890{i}*VN*VND-{p}-{i}"));
                        body.push("SN1**12*EA**12*EA".into());
                        body.push("PID*F****CERAMIC MUG 12OZ".into());
                    }
                }
                body.push(format!("CTT*{id}"));
            } else {
                body.push(format!("B10*PRO{ic}{n}*SHIP{n}*QXRL"));
                body.push("L11*BOL778812*BM".into());
                body.push("N1*SH*GRANITE BAY 3PL".into());
                body.push("N1*CN*RIVERBEND DISTRIBUTION".into());
                // Dates and times differ from set to set (across the year, so both sides of
                // daylight saving time), as a carrier's file of many shipments would have them.
                let k = (ic - 1) * sets + n;
                let (month, day) = (k % 12 + 1, k % 25 + 1);
                for (i, code) in ["AF", "X6", "X6", "D1"].iter().enumerate() {
                    let minute = (k * 37 + i as u64 * 181) % 1440;
                    body.push(format!("LX*{}", i + 1));
                    body.push(format!(
                        "AT7*{code}*NS***2026{month:02}{:02}*{:02}{:02}*ET",
                        day + i as u64,
                        minute / 60,
                        minute % 60
                    ));
                    body.push("MS1*COLUMBUS*OH*US".into());
                    body.push("MS2*QXRL*TRL5521".into());
                    body.push("AT8*G*L*812.5*40".into());
                }
            }
            text.push_str(&format!("ST*{set}*{ctl}~\n"));
            for s in &body {
                text.push_str(s);
                text.push_str("~\n");
            }
            text.push_str(&format!("SE*{}*{ctl}~\n", body.len() + 2));
        }
        text.push_str(&format!("GE*{sets}*{ic}~\nIEA*1*{ic:09}~\n"));
        written += text.len() as u64;
        w.write_all(text.as_bytes())?;
    }
    w.flush()
}

/// Counts the bytes written through it (the NDJSON a translation would print).
struct CountingWriter(u64);

impl Write for CountingWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// What `edigate translate` does with records (NDJSON), minus the terminal.
struct NdjsonSink {
    out: NdjsonWriter<BufWriter<CountingWriter>>,
    records: u64,
    not_records: u64,
}

impl Sink for NdjsonSink {
    fn record(&mut self, record: &Record) -> std::io::Result<()> {
        self.records += 1;
        self.out.write_record(record)
    }
    fn rejected(&mut self, _: &Rejection) -> std::io::Result<()> {
        self.not_records += 1;
        Ok(())
    }
    fn skipped(&mut self, _: &Skipped) -> std::io::Result<()> {
        self.not_records += 1;
        Ok(())
    }
}

/// CPU seconds (user + system) this process has used, from `/proc/self/stat` (clock ticks of
/// 1/100 s, Linux's USER_HZ): on a shared machine this is steadier than wall time.
fn cpu_seconds() -> f64 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            // Fields after the command name (which is in parentheses and may hold spaces).
            let rest = s.rsplit_once(')')?.1;
            let f: Vec<&str> = rest.split_whitespace().collect();
            let utime: f64 = f.get(11)?.parse().ok()?;
            let stime: f64 = f.get(12)?.parse().ok()?;
            Some((utime + stime) / 100.0)
        })
        .unwrap_or(0.0)
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// One measurement, run in this (child) process; prints `bytes seconds peak_kib`.
fn measure(mode: &str, path: &Path) {
    let bytes = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let grammars = Grammars::embedded().expect("built-in grammars");
    let start = Instant::now();
    let cpu_start = cpu_seconds();
    let mut sink = 0u64;
    match mode {
        "memchr" | "memchr-count" => {
            // The plain baseline: split segments on `~` and elements on `*`, nothing else (no
            // delimiter detection, no envelope, no locations). `memchr` hands out each segment's
            // elements as slices in a reused vector, as a split does; `memchr-count` only counts
            // them (a lower bound no tokenizer that hands out elements can reach).
            let collect = mode == "memchr";
            let mut f = File::open(path).expect("bench file");
            let mut buf = vec![0u8; 1 << 20];
            let mut carry = Vec::new();
            loop {
                let n = f.read(&mut buf).expect("read");
                if n == 0 {
                    break;
                }
                carry.extend_from_slice(&buf[..n]);
                let mut last = 0;
                // One vector per 1 MiB read, reused for every segment in it.
                let mut elements: Vec<&[u8]> = Vec::with_capacity(64);
                for end in memchr::memchr_iter(b'~', &carry) {
                    let seg = &carry[last..end];
                    if collect {
                        elements.clear();
                        let mut start = 0;
                        for i in memchr::memchr_iter(b'*', seg) {
                            elements.push(&seg[start..i]);
                            start = i + 1;
                        }
                        elements.push(&seg[start..]);
                        sink += elements.len() as u64 + elements[0].len() as u64;
                    } else {
                        sink += memchr::memchr_iter(b'*', seg).count() as u64 + 1;
                    }
                    last = end + 1;
                }
                drop(elements);
                carry.drain(..last);
            }
        }
        "edi" => {
            let text = std::fs::read_to_string(path).expect("bench file");
            let doc = edi::parse(&text).expect("edi parses the generated file");
            sink = doc.interchanges.len() as u64;
        }
        "envelope" => {
            let mut config = EngineConfig::new(&grammars, Policy::Standard);
            config.validate_grammar = false;
            let s = run(
                File::open(path).expect("bench file"),
                config,
                &mut NoVisitor,
            )
            .expect("read");
            assert!(!s.rejected, "the generated file must pass envelope checks");
            sink = s.sets;
        }
        "validate" => {
            let mut v = ReportVisitor::default();
            let s = run(
                File::open(path).expect("bench file"),
                EngineConfig::new(&grammars, Policy::Standard),
                &mut v,
            )
            .expect("read");
            let report = v.finish("bench", s);
            assert!(
                !report.summary.rejected,
                "the generated file must validate: {}",
                report
                    .to_text()
                    .lines()
                    .take(5)
                    .collect::<Vec<_>>()
                    .join("\n")
            );
            sink = report.summary.sets;
        }
        "translate" => {
            let profiles = Profiles::new(grammars.clone(), Policy::Standard);
            let mut out = NdjsonSink {
                out: NdjsonWriter::new(BufWriter::new(CountingWriter(0))),
                records: 0,
                not_records: 0,
            };
            let outcome = translate_file(path, &profiles, &mut ControlTracker::default(), &mut out)
                .expect("translate");
            out.out.flush().expect("flush");
            assert_eq!(out.not_records, 0, "every generated set must translate");
            assert_eq!(out.records, outcome.summary.sets);
            sink = out.out.get_ref().get_ref().0;
        }
        other => panic!("unknown mode {other}"),
    }
    let secs = start.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu_start;
    std::hint::black_box(sink);
    println!("{bytes} {secs} {} {cpu}", peak_rss_kib());
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--measure") {
        measure(&args[i + 1], Path::new(&args[i + 2]));
        return;
    }
    let benching = args.iter().any(|a| a == "--bench");
    let size_mb: u64 = args
        .iter()
        .position(|a| a == "--size-mb")
        .and_then(|i| args.get(i + 1)?.parse().ok())
        .unwrap_or(if benching { 100 } else { 1 });
    let runs: usize = args
        .iter()
        .position(|a| a == "--runs")
        .and_then(|i| args.get(i + 1)?.parse().ok())
        .unwrap_or(if benching { 3 } else { 1 })
        .max(1);
    // `--modes translate,edi` runs only those measurements.
    let only: Option<Vec<&str>> = args
        .iter()
        .position(|a| a == "--modes")
        .and_then(|i| args.get(i + 1))
        .map(|m| m.split(',').collect());
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("bench-data");
    std::fs::create_dir_all(&dir).expect("bench data dir");
    println!(
        "edigate X12 benchmark, {size_mb} MB files (each measurement in its own process; fastest of {runs} runs)"
    );
    println!(
        "{:<6} {:<36} {:>10} {:>12} {:>12}",
        "set", "mode", "MB/s", "MB/s (CPU)", "peak RSS"
    );
    for kind in ["856", "214"] {
        let path = dir.join(format!("{kind}-{size_mb}mb.edi"));
        if std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0) < size_mb << 20 {
            generate(&path, kind, size_mb << 20).expect("generate bench file");
        }
        let all: &[&str] = if size_mb <= 200 {
            &[
                "memchr-count",
                "memchr",
                "edi",
                "envelope",
                "validate",
                "translate",
            ]
        } else {
            &[
                "memchr-count",
                "memchr",
                "envelope",
                "validate",
                "translate",
            ]
        };
        let modes: Vec<&str> = match &only {
            Some(list) => all.iter().copied().filter(|m| list.contains(m)).collect(),
            None => all.to_vec(),
        };
        // Every mode once per round; a mode's fastest run counts, its highest peak RSS shows.
        let mut best: Vec<Option<Run>> = vec![None; modes.len()];
        let mut ratios: Vec<Vec<f64>> = vec![Vec::new(); modes.len()];
        for _ in 0..runs {
            let mut edi_round = None;
            for (i, mode) in modes.iter().enumerate() {
                // The `edi` baseline runs under both allocators; its faster run counts.
                let run = if *mode == "edi" {
                    let system = run_child(mode, &path, Some("system"), ", system alloc");
                    let mimalloc = run_child(mode, &path, None, ", mimalloc");
                    if system.secs <= mimalloc.secs {
                        system
                    } else {
                        mimalloc
                    }
                } else {
                    run_child(mode, &path, None, "")
                };
                if *mode == "edi" {
                    edi_round = Some(run.secs);
                }
                if let Some(e) = edi_round.filter(|_| matches!(*mode, "validate" | "translate")) {
                    ratios[i].push(e / run.secs);
                }
                best[i] = Some(match best[i].take() {
                    Some(b) if b.secs <= run.secs => Run {
                        kib: b.kib.max(run.kib),
                        ..b
                    },
                    Some(b) => Run {
                        kib: b.kib.max(run.kib),
                        ..run
                    },
                    None => run,
                });
            }
        }
        let edi_secs = modes
            .iter()
            .position(|m| *m == "edi")
            .and_then(|i| best[i].map(|r| r.secs));
        for (i, mode) in modes.iter().enumerate() {
            let Some(run) = best[i] else { continue };
            let label = match *mode {
                "memchr-count" => "memchr count (lower bound)".to_string(),
                "memchr" => "memchr split (baseline)".to_string(),
                "edi" => format!("edi crate parse{}", run.alloc),
                "envelope" => "edigate tokenize+envelope".to_string(),
                "validate" => "edigate validate (grammar)".to_string(),
                _ => "edigate translate (NDJSON)".to_string(),
            };
            let vs_edi = match edi_secs {
                Some(e) if matches!(*mode, "validate" | "translate") => {
                    let rounds: Vec<String> =
                        ratios[i].iter().map(|r| format!("{r:.2}x")).collect();
                    format!(
                        "  {:.2}x edi (round by round: {})",
                        e / run.secs,
                        rounds.join(" ")
                    )
                }
                _ => String::new(),
            };
            println!(
                "{kind:<6} {label:<36} {:>10.0} {:>12.0} {:>8.1} MiB{vs_edi}",
                run.bytes / run.secs / 1e6,
                run.bytes / run.cpu.max(0.01) / 1e6,
                run.kib / 1024.0
            );
        }
    }
}

/// One measurement: bytes, wall seconds, peak RSS in KiB, CPU seconds, and the allocator note.
#[derive(Clone, Copy)]
struct Run {
    bytes: f64,
    secs: f64,
    kib: f64,
    cpu: f64,
    alloc: &'static str,
}

/// Runs one measurement in a child process (optionally under `EDIGATE_BENCH_ALLOC`).
fn run_child(mode: &str, path: &Path, alloc: Option<&str>, note: &'static str) -> Run {
    let exe = std::env::current_exe().expect("own path");
    let mut command = Command::new(exe);
    command.arg("--measure").arg(mode).arg(path);
    match alloc {
        Some(a) => command.env("EDIGATE_BENCH_ALLOC", a),
        None => command.env_remove("EDIGATE_BENCH_ALLOC"),
    };
    let out = command.output().expect("child runs");
    if !out.status.success() {
        panic!("{mode} failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let v: Vec<f64> = text
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    Run {
        bytes: v[0],
        secs: v[1],
        kib: v[2],
        cpu: v[3],
        alloc: note,
    }
}
