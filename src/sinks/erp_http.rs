//! The ERP HTTP sink: one POST per record to `<url>/<kind>` with the canonical JSON body and
//! `Idempotency-Key: <record id>`, so a retry after a lost response has no second effect.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::Url;
use reqwest::header::{
    AUTHORIZATION, CONTENT_TYPE, HeaderName, HeaderValue, LOCATION, RETRY_AFTER,
};

use super::Delivery;
use super::retry::{Attempt, EXCERPT_BYTES, classify_response, transport_failure};
use crate::config::gateway::ErpConfig;

/// The header carrying the record id.
pub const IDEMPOTENCY_KEY: &str = "Idempotency-Key";
/// The header shared by every record of one file.
pub const CORRELATION_ID: &str = "X-Correlation-Id";

/// [`IDEMPOTENCY_KEY`] as a ready header name (HTTP/1 sends names in lower case either way).
static IDEMPOTENCY_KEY_NAME: HeaderName = HeaderName::from_static("idempotency-key");
/// [`CORRELATION_ID`] as a ready header name.
static CORRELATION_ID_NAME: HeaderName = HeaderName::from_static("x-correlation-id");

/// Setting up the sink failed.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// The token file could not be read.
    #[error("cannot read ERP token file {path}: {source}")]
    Token {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The token cannot be sent in a header.
    #[error("the ERP token in {path} holds characters not allowed in an HTTP header")]
    TokenValue {
        /// The file.
        path: String,
    },
    /// The HTTP client could not be built.
    #[error("cannot set up the HTTP client: {0}")]
    Client(#[from] reqwest::Error),
}

/// A bearer token that never shows in logs or debug output.
#[derive(Clone)]
struct Token(HeaderValue);

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

/// POSTs records to the ERP.
#[derive(Debug, Clone)]
pub struct ErpHttpSink {
    client: reqwest::Client,
    base: String,
    token: Option<Token>,
    /// `<base>/<kind>` parsed once per kind (parsing it for every request was ~1% of the
    /// daemon's CPU); shared by the clones the forwarder hands to its runs.
    urls: Arc<Mutex<HashMap<String, Url>>>,
}

impl ErpHttpSink {
    /// A sink for `config`, reading the token file now.
    pub fn new(config: &ErpConfig) -> Result<Self, SinkError> {
        let token = config.token_file.as_deref().map(read_token).transpose()?;
        let client = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout.min(Duration::from_secs(5)))
            .pool_max_idle_per_host(256)
            // A redirected POST is re-sent as a GET without its body (301/302/303): a 2xx to
            // that would mark a record delivered that the ERP never saw. Redirects are refused.
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(ErpHttpSink {
            client,
            base: config.url.trim_end_matches('/').to_string(),
            token,
            urls: Arc::default(),
        })
    }

    /// The URL for `kind`, parsed on first use; `None` if it does not parse (the request then
    /// fails as a transport error, as it always did).
    fn url(&self, kind: &str) -> Option<Url> {
        if let Ok(urls) = self.urls.lock()
            && let Some(url) = urls.get(kind)
        {
            return Some(url.clone());
        }
        let url = Url::parse(&format!("{}/{}", self.base, kind)).ok()?;
        if let Ok(mut urls) = self.urls.lock() {
            urls.insert(kind.to_string(), url.clone());
        }
        Some(url)
    }

    /// Makes one attempt.
    pub async fn deliver(&self, d: Delivery<'_>) -> Attempt {
        let mut request = match self.url(d.kind) {
            Some(url) => self.client.post(url),
            // Unparsable: reqwest reports it as a builder error when sent.
            None => self.client.post(format!("{}/{}", self.base, d.kind)),
        }
        .header(CONTENT_TYPE, "application/json")
        .header(&IDEMPOTENCY_KEY_NAME, d.id)
        .header(&CORRELATION_ID_NAME, d.correlation_id)
        .body(d.body.to_string());
        if let Some(Token(t)) = &self.token {
            request = request.header(AUTHORIZATION, t.clone());
        }
        let mut response = match request.send().await {
            Ok(r) => r,
            Err(e) => return transport_failure(describe(&e)),
        };
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        if (300..400).contains(&status) {
            let to = response
                .headers()
                .get(LOCATION)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("an unnamed location");
            return Attempt::Rejected {
                error: format!(
                    "HTTP {status}: the ERP redirects to {to}; edigate does not follow redirects (the record could reach it without its body), so set erp.url to the final address"
                ),
                status: Some(status),
                excerpt: String::new(),
            };
        }
        // Only the excerpt is kept, so stop reading once there is enough of it.
        let mut body = Vec::new();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    body.extend_from_slice(&chunk);
                    if body.len() > EXCERPT_BYTES {
                        break;
                    }
                }
                Ok(None) => break,
                // A 2xx whose body broke off still says the ERP committed.
                Err(e) if !(200..300).contains(&status) && status != 409 => {
                    return transport_failure(format!(
                        "HTTP {status}, body unreadable: {}",
                        describe(&e)
                    ));
                }
                Err(_) => break,
            }
        }
        classify_response(status, retry_after.as_deref(), &body)
    }
}

/// A transport error with its causes, without the URL's query (none is used) or any header.
fn describe(e: &reqwest::Error) -> String {
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    };
    let mut text = what.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

fn read_token(path: &Path) -> Result<Token, SinkError> {
    let text = crate::config::secrets::read_secret(path).map_err(|source| SinkError::Token {
        path: path.display().to_string(),
        source,
    })?;
    let mut value = HeaderValue::from_str(&format!("Bearer {}", text.trim())).map_err(|_| {
        SinkError::TokenValue {
            path: path.display().to_string(),
        }
    })?;
    value.set_sensitive(true);
    Ok(Token(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_never_shows_in_debug_output() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("token");
        std::fs::write(&path, "s3cret-value\n").expect("write");
        let sink = ErpHttpSink::new(&ErpConfig {
            url: "http://127.0.0.1:9/edi".into(),
            timeout: Duration::from_secs(1),
            token_file: Some(path),
        })
        .expect("sink");
        let shown = format!("{sink:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
    }

    #[tokio::test]
    async fn a_redirect_is_a_dead_letter_not_a_delivery() {
        use axum::routing::{get, post};
        let got = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let seen = got.clone();
        let app = axum::Router::new()
            .route(
                "/edi/warehouse_order",
                post(|| async {
                    (
                        axum::http::StatusCode::SEE_OTHER,
                        [(axum::http::header::LOCATION, "/moved")],
                    )
                }),
            )
            .route(
                "/moved",
                get(move || {
                    seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    async { "ok" }
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("address");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let a = send_one(&format!("http://{addr}/edi")).await;
        match a {
            Attempt::Rejected { error, status, .. } => {
                assert_eq!(status, Some(303));
                assert!(error.contains("redirects to /moved"), "{error}");
            }
            other => panic!("a redirect must not count as delivered: {other:?}"),
        }
        assert_eq!(got.load(std::sync::atomic::Ordering::SeqCst), 0);
    }

    /// One `warehouse_order` delivery to an ERP at `url`.
    async fn send_one(url: &str) -> Attempt {
        let sink = ErpHttpSink::new(&ErpConfig {
            url: url.into(),
            timeout: Duration::from_secs(5),
            token_file: None,
        })
        .expect("sink");
        sink.deliver(Delivery {
            id: "x",
            kind: "warehouse_order",
            correlation_id: "c",
            body: "{}",
        })
        .await
    }

    #[tokio::test]
    async fn a_refused_connection_is_retried() {
        let a = send_one("http://127.0.0.1:9/edi").await;
        assert!(matches!(a, Attempt::Retry { status: None, .. }), "{a:?}");
    }
}
