//! Retry classification (what an ERP answer means) kept apart from backoff policy (when to try
//! again), and the circuit breaker that stops requests to an ERP that is down.
//!
//! Classification: 2xx and 409 (the ERP already has this `Idempotency-Key`) are delivered; 408,
//! 425, 429, 5xx, timeouts and connection errors are retried; every other status is a permanent
//! rejection that goes to the dead letters with the ERP's reason.

use std::time::{Duration, SystemTime};

use rand::Rng;

/// Longest response excerpt kept in the ledger, in bytes.
pub const EXCERPT_BYTES: usize = 512;

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// The ERP has the record.
    Delivered {
        /// HTTP status (200 for the directory sink).
        status: u16,
        /// The start of the response body.
        excerpt: String,
    },
    /// A transient failure: try again later.
    Retry {
        /// What went wrong.
        error: String,
        /// HTTP status, when there was a response.
        status: Option<u16>,
        /// The ERP's `Retry-After`, when it sent one.
        retry_after: Option<Duration>,
    },
    /// A permanent rejection: the record goes to the dead letters.
    Rejected {
        /// The ERP's reason.
        error: String,
        /// HTTP status.
        status: Option<u16>,
        /// The start of the response body.
        excerpt: String,
    },
}

impl Attempt {
    /// Whether the attempt says the ERP is unwell (feeds the circuit breaker).
    pub fn is_failure(&self) -> bool {
        matches!(self, Attempt::Retry { .. })
    }
}

/// Classifies an HTTP response.
pub fn classify_response(status: u16, retry_after: Option<&str>, body: &[u8]) -> Attempt {
    let excerpt = excerpt(body);
    match status {
        200..=299 | 409 => Attempt::Delivered { status, excerpt },
        408 | 425 | 429 | 500..=599 => Attempt::Retry {
            error: reason(status, &excerpt),
            status: Some(status),
            retry_after: retry_after.and_then(|v| parse_retry_after(v, SystemTime::now())),
        },
        _ => Attempt::Rejected {
            error: reason(status, &excerpt),
            status: Some(status),
            excerpt,
        },
    }
}

/// A failure before any response (connection refused, reset, timeout).
pub fn transport_failure(error: impl std::fmt::Display) -> Attempt {
    Attempt::Retry {
        error: error.to_string(),
        status: None,
        retry_after: None,
    }
}

fn reason(status: u16, excerpt: &str) -> String {
    if excerpt.is_empty() {
        format!("HTTP {status}")
    } else {
        format!("HTTP {status}: {excerpt}")
    }
}

/// At most [`EXCERPT_BYTES`] of a body, cut on a character boundary, lossily decoded.
pub fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(EXCERPT_BYTES + 4)]);
    let mut end = text.len().min(EXCERPT_BYTES);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].trim().to_string()
}

/// `Retry-After` as delay-seconds or an HTTP date; a date in the past means "now".
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let when = SystemTime::from(when);
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Capped exponential backoff with jitter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Delay after the first failure.
    pub base: Duration,
    /// Longest delay.
    pub max: Duration,
}

impl Backoff {
    /// The delay before the next try after `attempts` failed attempts (1 = first failure):
    /// `base * 2^(attempts-1)` capped at `max`, then between half and all of it (jitter keeps
    /// many records from retrying in lockstep). A longer `Retry-After` wins, capped at ten
    /// times `max` so a confused ERP cannot park records for days.
    pub fn delay(&self, attempts: u32, retry_after: Option<Duration>) -> Duration {
        let exp = attempts.saturating_sub(1).min(30);
        let full = self.base.saturating_mul(1u32 << exp).min(self.max);
        let jitter = rand::rng().random_range(0.5..=1.0);
        let delay = full.mul_f64(jitter);
        match retry_after {
            Some(r) => delay.max(r.min(self.max.saturating_mul(10))),
            None => delay,
        }
    }
}

/// State of the circuit breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Requests flow.
    Closed,
    /// No requests until the instant in the state.
    Open {
        /// When a probe may go.
        until: tokio::time::Instant,
    },
    /// One probe is out; its answer closes or reopens the breaker.
    HalfOpen,
}

/// Consecutive failures open the breaker; after the cool-down one probe decides.
#[derive(Debug, Clone)]
pub struct Breaker {
    threshold: u32,
    cooldown: Duration,
    failures: u32,
    state: BreakerState,
}

/// What the forwarder may send now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permit {
    /// As many as it likes.
    All,
    /// A single probe.
    Probe,
    /// Nothing before this instant.
    WaitUntil(tokio::time::Instant),
    /// Nothing until the probe returns.
    ProbeOut,
}

impl Breaker {
    /// A closed breaker.
    pub fn new(threshold: u32, cooldown: Duration) -> Self {
        Breaker {
            threshold: threshold.max(1),
            cooldown,
            failures: 0,
            state: BreakerState::Closed,
        }
    }

    /// The current state.
    pub fn state(&self) -> BreakerState {
        self.state
    }

    /// What may be sent at `now`; moving from open to half-open hands out the probe.
    pub fn permit(&mut self, now: tokio::time::Instant) -> Permit {
        match self.state {
            BreakerState::Closed => Permit::All,
            BreakerState::Open { until } if now >= until => {
                self.state = BreakerState::HalfOpen;
                Permit::Probe
            }
            BreakerState::Open { until } => Permit::WaitUntil(until),
            BreakerState::HalfOpen => Permit::ProbeOut,
        }
    }

    /// The probe handed out by [`Breaker::permit`] was not used (nothing was due): the next
    /// call hands it out again.
    pub fn probe_unused(&mut self, now: tokio::time::Instant) {
        if self.state == BreakerState::HalfOpen {
            self.state = BreakerState::Open { until: now };
        }
    }

    /// Notes an answer; returns true when this opened the breaker.
    pub fn observe(&mut self, failure: bool, now: tokio::time::Instant) -> bool {
        if !failure {
            self.failures = 0;
            self.state = BreakerState::Closed;
            return false;
        }
        self.failures = self.failures.saturating_add(1);
        let open = match self.state {
            BreakerState::HalfOpen => true,
            BreakerState::Closed => self.failures >= self.threshold,
            BreakerState::Open { .. } => false,
        };
        if open {
            self.state = BreakerState::Open {
                until: now + self.cooldown,
            };
        }
        open
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_classify_as_the_contract_says() {
        let cases: &[(u16, &str)] = &[
            (200, "delivered"),
            (201, "delivered"),
            (204, "delivered"),
            (409, "delivered"),
            (408, "retry"),
            (425, "retry"),
            (429, "retry"),
            (500, "retry"),
            (503, "retry"),
            (599, "retry"),
            (400, "rejected"),
            (401, "rejected"),
            (404, "rejected"),
            (422, "rejected"),
            (301, "rejected"),
        ];
        for (status, want) in cases {
            let got = match classify_response(*status, None, b"why") {
                Attempt::Delivered { .. } => "delivered",
                Attempt::Retry { .. } => "retry",
                Attempt::Rejected { .. } => "rejected",
            };
            assert_eq!(got, *want, "status {status}");
        }
    }

    #[test]
    fn rejection_keeps_the_erp_reason() {
        let a = classify_response(422, None, b"{\"error\":\"unknown sku\"}");
        let Attempt::Rejected { error, status, .. } = a else {
            panic!("not rejected: {a:?}")
        };
        assert_eq!(status, Some(422));
        assert!(error.contains("unknown sku"), "{error}");
    }

    #[test]
    fn excerpt_is_bounded_on_a_char_boundary() {
        let body = "é".repeat(600);
        let e = excerpt(body.as_bytes());
        assert!(e.len() <= EXCERPT_BYTES);
        assert!(e.chars().all(|c| c == 'é'));
    }

    #[test]
    fn retry_after_in_seconds_and_as_http_date() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_470);
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn backoff_doubles_caps_and_honours_retry_after() {
        let b = Backoff {
            base: Duration::from_millis(100),
            max: Duration::from_secs(1),
        };
        for _ in 0..50 {
            let d1 = b.delay(1, None);
            assert!(d1 >= Duration::from_millis(50) && d1 <= Duration::from_millis(100));
            let d3 = b.delay(3, None);
            assert!(d3 >= Duration::from_millis(200) && d3 <= Duration::from_millis(400));
            assert!(b.delay(40, None) <= Duration::from_secs(1));
        }
        assert_eq!(
            b.delay(1, Some(Duration::from_secs(5))),
            Duration::from_secs(5)
        );
        assert_eq!(
            b.delay(1, Some(Duration::from_secs(3600))),
            Duration::from_secs(10)
        );
    }

    #[test]
    fn breaker_opens_probes_and_closes() {
        let t0 = tokio::time::Instant::now();
        let mut b = Breaker::new(3, Duration::from_secs(5));
        assert_eq!(b.permit(t0), Permit::All);
        assert!(!b.observe(true, t0));
        assert!(!b.observe(true, t0));
        assert!(b.observe(true, t0));
        assert_eq!(b.permit(t0), Permit::WaitUntil(t0 + Duration::from_secs(5)));
        let later = t0 + Duration::from_secs(6);
        assert_eq!(b.permit(later), Permit::Probe);
        assert_eq!(b.permit(later), Permit::ProbeOut);
        // The probe fails: open again for another cool-down.
        assert!(b.observe(true, later));
        assert_eq!(
            b.permit(later),
            Permit::WaitUntil(later + Duration::from_secs(5))
        );
        let much_later = later + Duration::from_secs(6);
        assert_eq!(b.permit(much_later), Permit::Probe);
        assert!(!b.observe(false, much_later));
        assert_eq!(b.permit(much_later), Permit::All);
    }
}
