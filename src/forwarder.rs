//! The forwarder: claims due deliveries from the outbox, hands them to the sink, records what
//! came of them, and backs off.
//!
//! Invariants:
//! - Order per lane (partner, kind): the store hands out a *run* of consecutive deliveries from
//!   the front of a lane; a run is sent strictly one at a time, and at the first delivery that
//!   is not delivered the rest of the run is released unsent. A lane is never claimed again
//!   while any of its deliveries is in flight (including outcomes not yet recorded).
//! - Exactly once in effect: a delivery is marked delivered only after the sink said so; a
//!   crash before the outcome is recorded sends it again with the same `Idempotency-Key`.
//! - Outcomes are recorded in batches: every run that finished since the last write shares one
//!   commit.
//! - At most `concurrency` runs are in flight. The circuit breaker stops new claims after
//!   `breaker_threshold` consecutive transient failures and lets one probe through after the
//!   cool-down.
//! - Shutdown: no new claims; each run stops after its current request; what was not sent is
//!   released; outcomes are written before the forwarder returns.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use crate::config::gateway::ForwarderSettings;
use crate::shutdown::Shutdown;
use crate::sinks::retry::{Attempt, Backoff, Breaker, Permit};
use crate::sinks::{AnySink, Delivery};
use crate::sources::spool::now_ms;
use crate::store::{DeliveryJob, DeliveryOutcome};
use crate::writer::{StoreWriter, WriteError};

/// Deliveries claimed per lane at once.
const RUN_LENGTH: usize = 256;
/// Longest sleep without looking at the outbox (intake wakes the forwarder sooner).
const IDLE_POLL: Duration = Duration::from_secs(2);

/// What one run came to.
#[derive(Debug, Default)]
struct RunResult {
    outcomes: Vec<DeliveryOutcome>,
    /// Whether each attempt was a transient failure, in order (for the breaker).
    failures: Vec<bool>,
    release: Vec<i64>,
}

/// Claims, sends, records.
pub struct Forwarder {
    writer: StoreWriter,
    sink: AnySink,
    settings: ForwarderSettings,
    breaker: Breaker,
    backoff: Backoff,
    wake: Arc<Notify>,
}

impl Forwarder {
    /// A forwarder writing outcomes through `writer`; `wake` is notified when new deliveries
    /// are committed.
    pub fn new(
        writer: StoreWriter,
        sink: AnySink,
        settings: ForwarderSettings,
        wake: Arc<Notify>,
    ) -> Self {
        Forwarder {
            breaker: Breaker::new(settings.breaker_threshold, settings.breaker_cooldown),
            backoff: Backoff {
                base: settings.backoff_base,
                max: settings.backoff_max,
            },
            writer,
            sink,
            settings,
            wake,
        }
    }

    /// Runs until shutdown, then finishes what is in flight.
    pub async fn run(mut self, mut shutdown: Shutdown) -> Result<(), WriteError> {
        let mut tasks: JoinSet<RunResult> = JoinSet::new();
        let mut done: Vec<RunResult> = Vec::new();
        let mut stopping = false;
        loop {
            // Collect every run that has finished; their outcomes are recorded in one commit,
            // in the same writer call as the next claim when there is one (one trip through
            // the writer's queue instead of two before a lane goes on).
            while let Some(r) = tasks.try_join_next() {
                done.push(r.unwrap_or_default());
            }
            let mut settle = (!done.is_empty()).then(|| self.observe(std::mem::take(&mut done)));
            let mut wake_at = Instant::now() + IDLE_POLL;
            let free = self.settings.concurrency.saturating_sub(tasks.len());
            if !stopping && free > 0 {
                let (lanes, per_lane) = match self.breaker.permit(Instant::now()) {
                    Permit::All => (free, RUN_LENGTH),
                    Permit::Probe => {
                        info!("ERP circuit breaker half-open: sending one probe.");
                        (1, 1)
                    }
                    Permit::WaitUntil(t) => {
                        wake_at = t;
                        (0, 0)
                    }
                    Permit::ProbeOut => (0, 0),
                };
                if lanes > 0 {
                    let now = now_ms();
                    let outcomes = settle.take();
                    let runs = self
                        .writer
                        .run(move |s| {
                            if let Some(o) = outcomes {
                                o.write(s)?;
                            }
                            s.claim_due_runs(now, lanes, per_lane)
                        })
                        .await?;
                    if runs.is_empty() {
                        if per_lane == 1 {
                            // Nothing to probe with: the next due delivery will be the probe.
                            self.breaker.probe_unused(Instant::now());
                        }
                        if let Some(next) = self.writer.run(|s| s.next_due_at()).await? {
                            let wait = u64::try_from(next.saturating_sub(now_ms())).unwrap_or(0);
                            wake_at = wake_at.min(Instant::now() + Duration::from_millis(wait));
                        }
                    }
                    for run in runs {
                        let sink = self.sink.clone();
                        let backoff = self.backoff;
                        let max_attempts = self.settings.max_attempts;
                        let stop = shutdown.clone();
                        tasks.spawn(send_run(sink, run, backoff, max_attempts, stop));
                    }
                }
            }
            if let Some(o) = settle {
                self.writer.run(move |s| o.write(s)).await?;
            }
            if stopping && tasks.is_empty() {
                break;
            }
            let can_claim = !stopping && tasks.len() < self.settings.concurrency;
            tokio::select! {
                r = tasks.join_next(), if !tasks.is_empty() => {
                    if let Some(r) = r {
                        done.push(r.unwrap_or_default());
                    }
                }
                () = self.wake.notified(), if can_claim => {}
                () = tokio::time::sleep_until(wake_at), if can_claim => {}
                () = shutdown.wait(), if !stopping => {
                    stopping = true;
                    debug!("Forwarder stopping: no new claims.");
                }
            }
        }
        debug!("Forwarder stopped.");
        Ok(())
    }

    /// Feeds the breaker with finished runs; returns what the ledger must record.
    fn observe(&mut self, results: Vec<RunResult>) -> Settle {
        let mut settle = Settle::default();
        for r in results {
            for failure in r.failures {
                if self.breaker.observe(failure, Instant::now()) {
                    warn!(
                        cooldown = ?self.settings.breaker_cooldown,
                        "ERP circuit breaker open: consecutive failures; pausing deliveries."
                    );
                }
            }
            settle.outcomes.extend(r.outcomes);
            settle.release.extend(r.release);
        }
        settle
    }
}

/// Outcomes and releases of finished runs, recorded together.
#[derive(Debug, Default)]
struct Settle {
    outcomes: Vec<DeliveryOutcome>,
    release: Vec<i64>,
}

impl Settle {
    fn write(self, s: &mut crate::store::Store) -> Result<(), crate::store::StoreError> {
        if !self.outcomes.is_empty() {
            s.record_outcomes(&self.outcomes)?;
        }
        if !self.release.is_empty() {
            s.release(&self.release)?;
        }
        Ok(())
    }
}

/// Sends one run in order, stopping at the first delivery that is not delivered.
async fn send_run(
    sink: AnySink,
    run: Vec<DeliveryJob>,
    backoff: Backoff,
    max_attempts: u32,
    stop: Shutdown,
) -> RunResult {
    let mut result = RunResult::default();
    let mut rest = run.into_iter();
    for job in rest.by_ref() {
        if stop.is_triggered() {
            result.release.push(job.delivery_id);
            break;
        }
        let started = Instant::now();
        let attempt = sink
            .deliver(Delivery {
                id: &job.record_id,
                kind: &job.kind,
                correlation_id: &job.correlation_id,
                body: &job.body,
            })
            .await;
        result.failures.push(attempt.is_failure());
        let (outcome, go_on) = outcome(&job, attempt, backoff, max_attempts);
        crate::events::DeliveryAttempted {
            record: &job.record_id,
            partner: &job.partner,
            correlation: &job.correlation_id,
            outcome: match &outcome {
                DeliveryOutcome::Delivered { .. } => crate::events::DeliveryOutcome::Delivered,
                DeliveryOutcome::Retry { .. } => crate::events::DeliveryOutcome::Retry,
                DeliveryOutcome::Dead { .. } => crate::events::DeliveryOutcome::Dead,
            },
            took: started.elapsed(),
        }
        .emit();
        result.outcomes.push(outcome);
        if !go_on {
            break;
        }
    }
    result.release.extend(rest.map(|j| j.delivery_id));
    result
}

/// The ledger outcome of an attempt, and whether the run may go on.
fn outcome(
    job: &DeliveryJob,
    attempt: Attempt,
    backoff: Backoff,
    max_attempts: u32,
) -> (DeliveryOutcome, bool) {
    let id = job.delivery_id;
    match attempt {
        Attempt::Delivered { status, excerpt } => {
            debug!(record = %job.record_id, kind = %job.kind, status, "Record delivered.");
            (
                DeliveryOutcome::Delivered {
                    delivery_id: id,
                    status,
                    excerpt,
                },
                true,
            )
        }
        Attempt::Rejected {
            error,
            status,
            excerpt,
        } => {
            warn!(record = %job.record_id, partner = %job.partner, kind = %job.kind, error = %error, "Record refused by the ERP; moved to dead letters.");
            (
                DeliveryOutcome::Dead {
                    delivery_id: id,
                    error,
                    status,
                    excerpt,
                },
                false,
            )
        }
        Attempt::Retry {
            error,
            status,
            retry_after,
        } => {
            let attempts = job.attempts.saturating_add(1);
            if max_attempts > 0 && attempts >= max_attempts {
                warn!(record = %job.record_id, partner = %job.partner, attempts, error = %error, "Record still failing after the last attempt; moved to dead letters.");
                return (
                    DeliveryOutcome::Dead {
                        delivery_id: id,
                        error: format!("gave up after {attempts} attempts: {error}"),
                        status,
                        excerpt: String::new(),
                    },
                    false,
                );
            }
            let delay = backoff.delay(attempts, retry_after);
            debug!(record = %job.record_id, attempts, delay = ?delay, error = %error, "Delivery failed; retrying later.");
            let delay_ms = i64::try_from(delay.as_millis()).unwrap_or(i64::MAX);
            (
                DeliveryOutcome::Retry {
                    delivery_id: id,
                    next_attempt_ms: now_ms().saturating_add(delay_ms),
                    error,
                    status,
                },
                false,
            )
        }
    }
}
