//! The HTTP API against a running daemon: `/metrics` parses as Prometheus text and moves as
//! files flow, `/readyz` turns 503 when the state cannot be written, `/v1` needs the token.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use edigate::config::GatewayConfig;
use edigate::config::gateway::ApiConfig;

use crate::support::{drop_file, expected_ids, order_file, repo_partners};

const TOKEN: &str = "t0ken-for-tests";

fn free_port() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr")
}

fn config(dir: &Path) -> GatewayConfig {
    let mut c = GatewayConfig::local_default(dir);
    c.partners = repo_partners();
    c.spool_settings.quiet_period = Duration::ZERO;
    c.spool_settings.rescan_interval = Duration::from_millis(200);
    c.intake_workers = 2;
    let token_file = dir.join("api-token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).expect("token");
    c.api = Some(ApiConfig {
        listen: free_port(),
        token_file: Some(token_file),
        min_free_disk: 1,
    });
    c
}

struct Running {
    stop: tokio::sync::oneshot::Sender<()>,
    handle: tokio::task::JoinHandle<Result<(), edigate::app::AppError>>,
    base: String,
}

async fn start(c: GatewayConfig) -> Running {
    let base = format!("http://{}", c.api.as_ref().expect("api").listen);
    let (stop, rx) = tokio::sync::oneshot::channel::<()>();
    let handle = tokio::spawn(edigate::app::run(c, async move {
        let _ = rx.await;
    }));
    let r = Running { stop, handle, base };
    wait_until("the API", || async {
        get(&r, "/livez", None).await.0 == 200
    })
    .await;
    r
}

impl Running {
    async fn stop(self) {
        let _ = self.stop.send(());
        tokio::time::timeout(Duration::from_secs(10), self.handle)
            .await
            .expect("stops within 10 s")
            .expect("no panic")
            .expect("clean stop");
    }
}

async fn wait_until<F: std::future::Future<Output = bool>>(what: &str, mut f: impl FnMut() -> F) {
    let start = Instant::now();
    while !f().await {
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn get(r: &Running, path: &str, token: Option<&str>) -> (u16, String) {
    let mut req = reqwest::Client::new().get(format!("{}{path}", r.base));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    match req.send().await {
        Ok(resp) => {
            let status = resp.status().as_u16();
            (status, resp.text().await.unwrap_or_default())
        }
        Err(_) => (0, String::new()),
    }
}

/// Checks the Prometheus text format and returns every sample by `name{labels}`.
fn parse_prometheus(text: &str) -> BTreeMap<String, f64> {
    let mut help: HashMap<String, ()> = HashMap::new();
    let mut types: HashMap<String, String> = HashMap::new();
    let mut samples = BTreeMap::new();
    let is_name = |s: &str| {
        !s.is_empty()
            && s.chars().enumerate().all(|(i, c)| {
                c.is_ascii_alphabetic() || c == '_' || c == ':' || (i > 0 && c.is_ascii_digit())
            })
    };
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let name = rest.split(' ').next().expect("name");
            assert!(is_name(name), "bad HELP name: {line}");
            assert!(
                help.insert(name.to_string(), ()).is_none(),
                "HELP twice: {line}"
            );
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut parts = rest.split(' ');
            let name = parts.next().expect("name");
            let kind = parts.next().expect("kind");
            assert!(
                ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                "bad TYPE: {line}"
            );
            assert!(help.contains_key(name), "TYPE without HELP: {line}");
            assert!(
                types.insert(name.to_string(), kind.to_string()).is_none(),
                "TYPE twice: {line}"
            );
            continue;
        }
        assert!(
            !line.starts_with('#') && !line.is_empty(),
            "stray line: {line:?}"
        );
        let (series, value) = line.rsplit_once(' ').expect("name{labels} value");
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            v => v.parse().unwrap_or_else(|_| panic!("bad value: {line}")),
        };
        let name = series.split('{').next().expect("name");
        assert!(is_name(name), "bad metric name: {line}");
        assert!(name.starts_with("edigate_"), "no prefix: {line}");
        if let Some(labels) = series.strip_prefix(name).filter(|l| !l.is_empty()) {
            let inner = labels
                .strip_prefix('{')
                .and_then(|l| l.strip_suffix('}'))
                .unwrap_or_else(|| panic!("bad labels: {line}"));
            for pair in inner.split(',') {
                let (k, v) = pair
                    .split_once('=')
                    .unwrap_or_else(|| panic!("bad label: {line}"));
                assert!(is_name(k), "bad label name: {line}");
                assert!(
                    v.starts_with('"') && v.ends_with('"') && v.len() >= 2,
                    "{line}"
                );
            }
        }
        let base = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| {
                name.strip_suffix(s)
                    .filter(|b| types.get(*b).is_some_and(|k| k == "histogram"))
            })
            .unwrap_or(name);
        assert!(types.contains_key(base), "sample before its TYPE: {line}");
        assert!(
            samples.insert(series.to_string(), value).is_none(),
            "sample twice: {line}"
        );
    }
    samples
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_parse_as_prometheus_text_and_move_as_files_flow() {
    let dir = tempfile::tempdir().expect("tempdir");
    let c = config(dir.path());
    let r = start(c.clone()).await;
    let (code, body) = get(&r, "/metrics", None).await;
    assert_eq!(code, 200, "{body}");
    let before = parse_prometheus(&body);
    assert_eq!(
        before.get("edigate_build_info{version=\"0.1.0\"}"),
        Some(&1.0)
    );
    assert_eq!(before.get("edigate_outbox_depth"), Some(&0.0));
    assert!(!before.contains_key("edigate_files_received_total{partner=\"bramblewood\"}"));

    let inbox = c.spool.join("bramblewood/in");
    std::fs::create_dir_all(&inbox).expect("inbox");
    drop_file(&inbox, "a.edi", &order_file(9100, 2));
    drop_file(&inbox, "b.edi", &order_file(9101, 1));
    let start = Instant::now();
    let after = loop {
        let m = parse_prometheus(&get(&r, "/metrics", None).await.1);
        if m.get("edigate_deliveries{state=\"delivered\"}") == Some(&3.0) {
            break m;
        }
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "timed out: {m:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    r.stop().await;
    assert_eq!(
        after.get("edigate_files_received_total{partner=\"bramblewood\"}"),
        Some(&2.0)
    );
    assert_eq!(
        after.get("edigate_files_rejected_total{partner=\"bramblewood\"}"),
        Some(&0.0)
    );
    assert_eq!(
        after.get("edigate_transactions_total{set=\"940\",status=\"accepted\"}"),
        Some(&3.0),
        "{after:#?}"
    );
    assert_eq!(
        after.get("edigate_delivery_attempts_total{outcome=\"delivered\"}"),
        Some(&3.0)
    );
    assert!(after["edigate_parse_duration_seconds_count"] >= 2.0);
    assert!(after["edigate_delivery_duration_seconds_count{outcome=\"delivered\"}"] >= 3.0);
    assert_eq!(
        after["edigate_parse_duration_seconds_bucket{le=\"+Inf\"}"],
        after["edigate_parse_duration_seconds_count"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_turns_503_when_the_state_cannot_be_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    let c = config(dir.path());
    let r = start(c.clone()).await;
    let (code, body) = get(&r, "/readyz", None).await;
    assert_eq!(code, 200, "{body}");

    // The database and its folder go away under the daemon (a lost mount, say).
    let moved = dir.path().join("state-moved");
    std::fs::rename(&c.state, &moved).expect("move state");
    let (code, body) = get(&r, "/readyz", None).await;
    assert_eq!(code, 503, "{body}");
    assert!(body.contains("not writable"), "{body}");
    std::fs::rename(&moved, &c.state).expect("move back");
    let (code, body) = get(&r, "/readyz", None).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(get(&r, "/livez", None).await.0, 200);
    r.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_turns_503_when_free_disk_is_below_the_threshold() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut c = config(dir.path());
    if let Some(api) = c.api.as_mut() {
        api.min_free_disk = u64::MAX;
    }
    let r = start(c).await;
    let (code, body) = get(&r, "/readyz", None).await;
    assert_eq!(code, 503, "{body}");
    assert!(body.contains("bytes free"), "{body}");
    r.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v1_needs_the_bearer_token() {
    let dir = tempfile::tempdir().expect("tempdir");
    let c = config(dir.path());
    let r = start(c.clone()).await;
    for path in [
        "/v1/status",
        "/v1/files",
        "/v1/dead-letters",
        "/v1/records/x",
    ] {
        assert_eq!(get(&r, path, None).await.0, 401, "{path}");
        assert_eq!(get(&r, path, Some("wrong")).await.0, 401, "{path}");
    }
    let replay = reqwest::Client::new()
        .post(format!("{}/v1/replay", r.base))
        .body("{\"dead\":true}")
        .send()
        .await
        .expect("post");
    assert_eq!(replay.status().as_u16(), 401);

    let inbox = c.spool.join("bramblewood/in");
    std::fs::create_dir_all(&inbox).expect("inbox");
    let text = order_file(9200, 1);
    drop_file(&inbox, "a.edi", &text);
    wait_until("the file in /v1/files", || async {
        let (code, body) = get(
            &r,
            "/v1/files?partner=bramblewood&state=accepted",
            Some(TOKEN),
        )
        .await;
        code == 200 && body.contains("a.edi")
    })
    .await;
    let (code, body) = get(&r, "/v1/status", Some(TOKEN)).await;
    assert_eq!(code, 200);
    let status: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(status["files"]["accepted"], 1);
    let (code, body) = get(&r, "/v1/files?partner=nobody", Some(TOKEN)).await;
    assert_eq!((code, body.as_str()), (200, "[]"));
    let id = expected_ids("a.edi", &text).pop().expect("one record");
    let (code, body) = get(&r, &format!("/v1/records/{id}"), Some(TOKEN)).await;
    assert_eq!(code, 200, "{body}");
    let lineage: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(lineage["record"]["id"], id.as_str());
    assert_eq!(lineage["file"]["name"], "a.edi");
    let (code, _) = get(&r, "/v1/records/no-such-record", Some(TOKEN)).await;
    assert_eq!(code, 404);
    let (code, body) = get(&r, "/v1/dead-letters", Some(TOKEN)).await;
    assert_eq!((code, body.as_str()), (200, "[]"));
    let replay = reqwest::Client::new()
        .post(format!("{}/v1/replay", r.base))
        .bearer_auth(TOKEN)
        .body("{\"dead\":true}")
        .send()
        .await
        .expect("post");
    assert_eq!(replay.status().as_u16(), 200);
    assert_eq!(replay.text().await.expect("body"), "{\"replayed\":0}");
    r.stop().await;
}
