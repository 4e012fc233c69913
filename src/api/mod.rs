//! The HTTP API (`[api]`, default `127.0.0.1:9464`): `/livez`, `/readyz`, `/metrics`, and JSON
//! under `/v1/` (status, files, a record's lineage, dead letters, replay) behind a bearer token
//! read from `token_file`. Without a token file every `/v1` request is refused.
//!
//! Every handler reads the ledger through its own read-only connection (replay opens a
//! writable one, as `edigate replay` does); nothing here blocks the daemon's writer.

pub mod metrics;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::{Path as UrlPath, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use crate::config::gateway::ApiConfig;
use crate::shutdown::Shutdown;
use crate::store::{Store, StoreError};

/// What the handlers need.
#[derive(Debug)]
pub struct ApiState {
    /// The ledger file.
    pub database: PathBuf,
    /// The state directory (free space and writability are checked there).
    pub state_dir: PathBuf,
    /// The bearer token `/v1` requires (`None`: `/v1` is refused).
    pub token: Option<String>,
    /// `/readyz` fails below this many free bytes.
    pub min_free_disk: u64,
    /// Set once shutdown has begun.
    pub shutdown: Shutdown,
}

/// Why the API could not start.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The token file could not be read.
    #[error("cannot read the API token file {path}: {source}")]
    Token {
        /// The configured path.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
}

impl ApiState {
    /// State for `config`, reading the token file (or its credential) now.
    pub fn new(
        config: &ApiConfig,
        database: PathBuf,
        state_dir: PathBuf,
        shutdown: Shutdown,
    ) -> Result<ApiState, ApiError> {
        let token = match &config.token_file {
            Some(path) => Some(crate::config::secrets::read_secret(path).map_err(|source| {
                ApiError::Token {
                    path: path.display().to_string(),
                    source,
                }
            })?)
            .filter(|t| !t.is_empty()),
            None => None,
        };
        Ok(ApiState {
            database,
            state_dir,
            token,
            min_free_disk: config.min_free_disk,
            shutdown,
        })
    }
}

/// The router.
pub fn router(state: Arc<ApiState>) -> Router {
    let v1 = Router::new()
        .route("/status", get(status))
        .route("/files", get(files))
        .route("/records/{id}", get(record))
        .route("/dead-letters", get(dead_letters))
        .route("/replay", post(replay))
        .route_layer(middleware::from_fn_with_state(state.clone(), bearer));
    Router::new()
        .route("/livez", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .nest("/v1", v1)
        .with_state(state)
}

/// Binds `config.listen`.
pub async fn bind(config: &ApiConfig) -> Result<tokio::net::TcpListener, ApiError> {
    tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| ApiError::Bind {
            addr: config.listen.to_string(),
            source,
        })
}

/// Serves until `stop` fires.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<ApiState>,
    mut stop: Shutdown,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(async move { stop.wait().await })
        .await
}

/// Refuses `/v1` requests without the bearer token (compared in constant time).
async fn bearer(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    request: Request,
    next: Next,
) -> Response {
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let ok = match (&state.token, given) {
        (Some(want), Some(got)) => constant_time_eq(want.as_bytes(), got.trim().as_bytes()),
        _ => false,
    };
    if ok {
        next.run(request).await
    } else {
        (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            Json(serde_json::json!({"error": "a valid bearer token is required"})),
        )
            .into_response()
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Runs a ledger query on a blocking thread with a read-only connection.
async fn with_store<T: Send + 'static>(
    state: &ApiState,
    writable: bool,
    f: impl FnOnce(&mut Store) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, Response> {
    let path = state.database.clone();
    let result = tokio::task::spawn_blocking(move || {
        let mut store = if writable {
            Store::open(&path)?
        } else {
            Store::open_readonly(&path)?
        };
        f(&mut store)
    })
    .await;
    match result {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(server_error(&e.to_string())),
        Err(e) => Err(server_error(&e.to_string())),
    }
}

fn server_error(message: &str) -> Response {
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        Json(serde_json::json!({ "error": message })),
    )
        .into_response()
}

/// What `/readyz` found wrong (empty: ready).
pub fn readiness_problems(state: &ApiState) -> Vec<String> {
    let mut problems = Vec::new();
    if state.shutdown.is_triggered() {
        problems.push("shutting down".to_string());
    }
    let probe = state.state_dir.join(".readyz-probe");
    if let Err(e) = std::fs::write(&probe, b"ok").and_then(|()| std::fs::remove_file(&probe)) {
        problems.push(format!(
            "state directory {} is not writable: {e}",
            state.state_dir.display()
        ));
    }
    if let Err(e) = crate::store::metrics::probe_writable(&state.database, Duration::from_secs(2)) {
        problems.push(format!("database is not writable: {e}"));
    }
    match rustix::fs::statvfs(&state.state_dir) {
        Ok(s) => {
            let free = s.f_bavail.saturating_mul(s.f_frsize);
            if free < state.min_free_disk {
                problems.push(format!(
                    "{free} bytes free on the state file system, below {}",
                    state.min_free_disk
                ));
            }
        }
        Err(e) => problems.push(format!("cannot read free disk space: {e}")),
    }
    problems
}

async fn readyz(State(state): State<Arc<ApiState>>) -> Response {
    let s = state.clone();
    let problems = tokio::task::spawn_blocking(move || readiness_problems(&s))
        .await
        .unwrap_or_else(|e| vec![e.to_string()]);
    if problems.is_empty() {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {}\n", problems.join("; ")),
        )
            .into_response()
    }
}

async fn metrics_text(State(state): State<Arc<ApiState>>) -> Response {
    match with_store(&state, false, |s| s.metric_counts()).await {
        Ok(counts) => (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            metrics::render(&counts, &crate::events::METRICS),
        )
            .into_response(),
        Err(r) => r,
    }
}

async fn status(State(state): State<Arc<ApiState>>) -> Response {
    match with_store(&state, false, |s| s.status()).await {
        Ok(r) => Json(r).into_response(),
        Err(r) => r,
    }
}

/// `/v1/files` query.
#[derive(Debug, Deserialize)]
struct FilesQuery {
    partner: Option<String>,
    state: Option<String>,
    limit: Option<usize>,
}

async fn files(State(state): State<Arc<ApiState>>, Query(q): Query<FilesQuery>) -> Response {
    let limit = q.limit.unwrap_or(100).min(10_000);
    match with_store(&state, false, move |s| {
        s.files(q.partner.as_deref(), q.state.as_deref(), limit)
    })
    .await
    {
        Ok(rows) => Json(rows).into_response(),
        Err(r) => r,
    }
}

async fn record(State(state): State<Arc<ApiState>>, UrlPath(id): UrlPath<String>) -> Response {
    match with_store(&state, false, move |s| s.inspect(&id)).await {
        Ok(Some(lineage)) => Json(lineage).into_response(),
        Ok(None) => (
            StatusCode::NOT_FOUND,
            Json(serde_json::json!({"error": "no such record"})),
        )
            .into_response(),
        Err(r) => r,
    }
}

/// `/v1/dead-letters` query.
#[derive(Debug, Deserialize)]
struct LimitQuery {
    limit: Option<usize>,
}

async fn dead_letters(State(state): State<Arc<ApiState>>, Query(q): Query<LimitQuery>) -> Response {
    let limit = q.limit.unwrap_or(100).min(10_000);
    match with_store(&state, false, move |s| s.dead_letters(limit)).await {
        Ok(rows) => Json(rows).into_response(),
        Err(r) => r,
    }
}

/// `POST /v1/replay` body: exactly one of the three.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReplayRequest {
    record: Option<String>,
    file: Option<String>,
    #[serde(default)]
    dead: bool,
}

async fn replay(State(state): State<Arc<ApiState>>, body: axum::body::Bytes) -> Response {
    let bad = |m: &str| {
        (
            StatusCode::BAD_REQUEST,
            Json(serde_json::json!({ "error": m })),
        )
            .into_response()
    };
    let req: ReplayRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return bad(&format!(
                "body must be {{\"record\"|\"file\"|\"dead\"}}: {e}"
            ));
        }
    };
    let n =
        usize::from(req.record.is_some()) + usize::from(req.file.is_some()) + usize::from(req.dead);
    if n != 1 {
        return bad("give exactly one of record, file or dead");
    }
    let result = with_store(&state, true, move |s| {
        Ok(if let Some(id) = req.record {
            u64::from(s.replay_record(&id)?)
        } else if let Some(f) = req.file {
            s.replay_file(&f)?
        } else {
            s.replay_dead()?
        })
    })
    .await;
    match result {
        Ok(replayed) => {
            tracing::info!(replayed, "Replay requested over the API.");
            Json(serde_json::json!({ "replayed": replayed })).into_response()
        }
        Err(r) => r,
    }
}
