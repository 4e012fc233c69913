//! Wiring of the daemon: config → store → spool source, intake workers, ack writer, forwarder;
//! then wait for shutdown (or a partner reload) and stop in order.
//!
//! Start-up order matters: the store recovers deliveries left in flight, acks recorded but not
//! written are written, intake starts consuming, and only then are files left in `work/` by a
//! crash handed over, ahead of anything new in `in/`.

use std::future::Future;
use std::path::Path;
use std::sync::{Arc, Mutex};

use tokio::sync::{Notify, mpsc, watch};
use tracing::{error, info, warn};

use crate::config::check::check_partners;
use crate::config::gateway::GatewayConfig;
use crate::forwarder::Forwarder;
use crate::intake::ack_writer;
use crate::intake::worker::{IntakeContext, PartnerBook, run_workers};
use crate::shutdown;
use crate::sinks::{AnySink, DirectorySink, ErpHttpSink, SinkError};
use crate::sources::spool::{SpoolPartner, SpoolSource};
use crate::store::{Store, StoreError};
use crate::writer::{StoreWriter, WriteError};

/// Why the daemon could not start or had to stop.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Partner files or grammars are wrong (one line per problem).
    #[error("{0}")]
    Partners(String),
    /// The store could not be opened or failed.
    #[error("{0}")]
    Store(#[from] StoreError),
    /// The store failed while running.
    #[error("{0}")]
    Write(#[from] WriteError),
    /// The ERP sink could not be set up.
    #[error("{0}")]
    Sink(#[from] SinkError),
    /// The HTTP API could not start.
    #[error("{0}")]
    Api(#[from] crate::api::ApiError),
    /// A folder could not be created or read.
    #[error("{what} {path}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The path.
        path: String,
        /// Why it failed.
        source: std::io::Error,
    },
}

/// Loads the partner files and builds translation profiles from them: the same check as
/// `edigate check-config` ([`crate::config::check::check_partners`]).
pub fn load_partners(dir: &Path) -> Result<PartnerBook, AppError> {
    let (partners, profiles) = check_partners(dir).map_err(|e| {
        AppError::Partners(
            e.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n"),
        )
    })?;
    Ok(PartnerBook { profiles, partners })
}

/// Opens the ledger for the daemon: creates the state folder, migrates, and returns deliveries
/// left in flight by a crash to pending.
pub fn open_store(config: &GatewayConfig) -> Result<Store, AppError> {
    std::fs::create_dir_all(&config.state).map_err(|source| AppError::Io {
        what: "cannot create the state folder",
        path: config.state.display().to_string(),
        source,
    })?;
    let mut store = Store::open(&config.database())?;
    let recovered = store.recover_in_flight()?;
    if recovered > 0 {
        info!(
            deliveries = recovered,
            "Deliveries in flight at the last stop are pending again."
        );
    }
    Ok(store)
}

/// Runs the daemon until `shutdown` completes.
pub async fn run(
    config: GatewayConfig,
    shutdown: impl Future<Output = ()>,
) -> Result<(), AppError> {
    run_with_reload(config, shutdown, None).await
}

/// Runs the daemon until `shutdown` completes; each message on `reload` (SIGHUP) and every
/// change in the partner directory reloads the partners.
pub async fn run_with_reload(
    config: GatewayConfig,
    shutdown: impl Future<Output = ()>,
    reload: Option<mpsc::Receiver<()>>,
) -> Result<(), AppError> {
    let (_partner_watch, reload) = crate::reload::reload_requests(&config.partners, reload);
    let mut reload = Some(reload);
    let book = load_partners(&config.partners)?;
    info!(partners = book.partners.len(), dir = %config.partners.display(), "Partners loaded.");
    let sink = match &config.erp {
        Some(erp) => {
            info!(url = %erp.url, "Records go to the ERP.");
            AnySink::Http(ErpHttpSink::new(erp)?)
        }
        None => {
            info!(outbox = %config.outbox().display(), "No [erp] configured: records are written to the outbox folder.");
            AnySink::Directory(DirectorySink::new(config.outbox()))
        }
    };
    let store = {
        let cfg = config.clone();
        tokio::task::spawn_blocking(move || open_store(&cfg))
            .await
            .map_err(|e| AppError::Io {
                what: "cannot open the store",
                path: config.database().display().to_string(),
                source: std::io::Error::other(e),
            })??
    };
    let (writer, writer_thread) = StoreWriter::spawn(store);
    crate::intake::worker::reconcile_unfinalized(&writer, &config.spool).await?;
    let written = ack_writer::write_pending(&writer, &config.spool).await?;
    if written > 0 {
        info!(
            acks = written,
            "Acknowledgments recorded before the last stop were written."
        );
    }

    let (trigger, stop) = shutdown::channel();
    let (book_tx, book_rx) = watch::channel(Arc::new(book));
    let spool_partners: Vec<SpoolPartner> = book_rx.borrow().spool_partners();
    // Remote pollers and outbound senders follow the partners in force (start-up and reloads).
    let transport_book = book_rx.clone();
    let (spool_tx, spool_rx) = watch::channel(Arc::new(spool_partners));
    let acks_ready = Arc::new(Notify::new());
    let records_ready = Arc::new(Notify::new());
    let ctx = IntakeContext {
        writer: writer.clone(),
        acks_ready: acks_ready.clone(),
        records_ready: records_ready.clone(),
        batcher: crate::intake::batcher::Batcher::spawn(writer.clone()),
        finisher: crate::intake::worker::Finisher::spawn(),
        controls: Arc::default(),
        in_progress: Arc::new(Mutex::new(Default::default())),
    };
    let (claim_tx, claim_rx) = mpsc::channel(config.intake_workers * 16);
    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(run_workers(
        ctx,
        book_rx,
        claim_rx,
        config.intake_workers,
        stop.clone(),
    ));
    tasks.spawn(ack_writer::run(
        writer.clone(),
        config.spool.clone(),
        acks_ready,
        stop.clone(),
    ));
    let forwarder = Forwarder::new(
        writer.clone(),
        sink,
        config.forwarder.clone(),
        records_ready,
    );
    let (fatal_tx, mut fatal_rx) = mpsc::channel::<AppError>(1);
    {
        let stop = stop.clone();
        let fatal = fatal_tx.clone();
        tasks.spawn(async move {
            if let Err(e) = forwarder.run(stop).await {
                let _ = fatal.send(e.into()).await;
            }
        });
    }
    let mut source = SpoolSource::new(
        config.spool.clone(),
        config.spool_settings.clone(),
        spool_rx,
        claim_tx,
    );
    {
        let mut stop = stop.clone();
        let fatal = fatal_tx;
        let spool = config.spool.clone();
        tasks.spawn(async move {
            match source.recover(&mut stop).await {
                Ok(_) => source.run(stop).await,
                Err(e) => {
                    let _ = fatal
                        .send(AppError::Io {
                            what: "cannot prepare the spool",
                            path: spool.display().to_string(),
                            source: e,
                        })
                        .await;
                }
            }
        });
    }
    tasks.spawn(
        crate::sources::supervisor::TransportSupervisor::new(config.spool.clone(), writer.clone())
            .run(transport_book, stop.clone()),
    );
    tasks.spawn(crate::systemd::watchdog(writer.clone(), stop.clone()));
    drop(writer);
    // The API outlives the other tasks: /readyz answers 503 while they drain.
    let (api_trigger, api_stop) = shutdown::channel();
    let api_task = match &config.api {
        Some(api) => {
            let state = Arc::new(crate::api::ApiState::new(
                api,
                config.database(),
                config.state.clone(),
                stop.clone(),
            )?);
            let listener = crate::api::bind(api).await?;
            info!(listen = %api.listen, "HTTP API listening.");
            Some(tokio::spawn(crate::api::serve(listener, state, api_stop)))
        }
        None => None,
    };
    info!(spool = %config.spool.display(), "edigate is running.");
    crate::systemd::ready("running");

    let mut failure = None;
    tokio::pin!(shutdown);
    loop {
        let reload_next = async {
            match reload.as_mut() {
                Some(r) => r.recv().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = &mut shutdown => {
                info!("Shutting down: no new files; finishing what is in flight.");
                break;
            }
            Some(e) = fatal_rx.recv() => {
                error!(error = %e, "Stopping after a fatal error.");
                failure = Some(e);
                break;
            }
            r = reload_next => {
                if r.is_none() {
                    reload = None;
                    continue;
                }
                match load_partners(&config.partners) {
                    Ok(book) => {
                        let changes = crate::reload::PartnerChanges::between(
                            &book_tx.borrow().partners,
                            &book.partners,
                        );
                        if changes.is_empty() {
                            continue;
                        }
                        info!(
                            partners = book.partners.len(),
                            added = ?changes.added,
                            changed = ?changes.changed,
                            removed = ?changes.removed,
                            "Partners reloaded."
                        );
                        spool_tx.send_replace(Arc::new(book.spool_partners()));
                        book_tx.send_replace(Arc::new(book));
                    }
                    Err(e) => warn!(error = %e, "Partner reload refused; the previous partners stay in force."),
                }
            }
        }
    }
    crate::systemd::stopping();
    trigger.fire();
    while let Some(r) = tasks.join_next().await {
        if let Err(e) = r {
            error!(error = %e, "A daemon task failed.");
        }
    }
    // Every writer handle is gone now; the writer thread drains and closes the database.
    let _ = tokio::task::spawn_blocking(move || writer_thread.join()).await;
    api_trigger.fire();
    if let Some(t) = api_task {
        let _ = t.await;
    }
    info!("edigate stopped.");
    match failure {
        Some(e) => Err(e),
        None => Ok(()),
    }
}
