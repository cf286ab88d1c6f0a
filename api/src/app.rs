//! Starting the service: logging, database, migrations, the outbox worker and the HTTP server.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use poem::Server;
use poem::listener::{Acceptor, Listener, TcpListener};

use crate::config::{LogFormat, Settings};
use crate::mail::{LogMailer, Mailer};
use crate::state::AppState;
use crate::worker::Worker;

/// Installs the global log subscriber (`RUST_LOG`, text or JSON) writing to stderr, with colours
/// only when stderr is a terminal (never in a file, a pipe or the journal).
pub fn init_tracing(format: LogFormat) {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// Connects, migrates and assembles the state and the outbox worker.
pub async fn prepare(
    settings: Settings,
    mailer: Arc<dyn Mailer>,
) -> anyhow::Result<(AppState, Worker)> {
    let db = crate::store::connect(&settings)
        .await
        .with_context(|| format!("connecting to the {} database", settings.database_backend()))?;
    crate::store::migrate(&db)
        .await
        .context("applying migrations")?;
    // Files a stopped process of this instance left behind; its jobs are taken over by
    // whichever instance sees their lease run out first (`importer::supervise`).
    let spooled = crate::importer::remove_spooled(&settings.data_dir).await;
    if spooled > 0 {
        tracing::warn!(
            spool_files = spooled,
            "files left by a stopped process were removed"
        );
    }
    crate::commands::impact::ensure_default_factor_set(&db)
        .await
        .context("publishing the default impact factor set")?;
    let search = crate::search::Search::from_settings(&settings)
        .await
        .context("opening the search engine")?;
    if let crate::search::Search::Embedded(e) = &search {
        // An index created empty (first start, or a new schema) is rebuilt from the database.
        for index in e.created_empty().to_vec() {
            let (db, search) = (db.clone(), search.clone());
            tokio::spawn(async move {
                match crate::search::indexer::rebuild(&db, &search, index, |_, _| {}).await {
                    Ok(n) => tracing::info!(
                        index = index.as_str(),
                        documents = n,
                        "search index rebuilt"
                    ),
                    Err(err) => tracing::error!(
                        index = index.as_str(),
                        error = format!("{err:#}"),
                        "search index rebuild failed"
                    ),
                }
            });
        }
    }
    let blobs = crate::blobs::Blobs::from_settings(&settings)
        .await
        .context("opening blob storage")?;
    let mut state = AppState::new(db.clone(), settings.clone(), blobs.clone(), search.clone());
    // With `SMTP_URL`, mails are delivered for real whatever mailer the caller passed.
    let mailer: Arc<dyn Mailer> = match &settings.accounts.smtp_url {
        Some(url) => {
            tracing::info!(smtp = %crate::account_settings::redact_url(url), "mails delivered over SMTP");
            Arc::new(crate::mail::smtp::SmtpMailer::from_url(
                url,
                Duration::from_secs(settings.accounts.smtp_timeout_secs),
            )?)
        }
        None => mailer,
    };
    state.mailer = Some(mailer.clone());
    let worker = Worker {
        retention: settings.accounts.clone(),
        documents: state.documents(),
        db: db.clone(),
        mailer,
        mail_from: settings.mail_from.clone(),
        search: search.clone(),
        max_backoff_secs: settings.outbox_max_backoff_secs as i64,
        today: settings.today,
        webhooks: crate::webhooks::Deliverer {
            db: db.clone(),
            settings: settings.webhooks.clone(),
        },
        signer: state.signer.clone(),
        heartbeat: state.outbox_heartbeat.clone(),
    };
    Ok((state, worker))
}

/// A running server, for tests and embedding.
pub struct Running {
    pub addr: std::net::SocketAddr,
    pub state: AppState,
    pub server: tokio::task::JoinHandle<()>,
    pub worker: tokio::task::JoinHandle<()>,
    /// Takes over the jobs of stopped instances.
    pub jobs: tokio::task::JoinHandle<()>,
}

/// Starts the service on `settings.addr` (port 0 picks a free one) in background tasks.
pub async fn spawn(mut settings: Settings, mailer: Arc<dyn Mailer>) -> anyhow::Result<Running> {
    let poll = Duration::from_millis(settings.outbox_poll_ms);
    let addr = settings.addr;
    let acceptor = TcpListener::bind(addr.to_string())
        .into_acceptor()
        .await
        .with_context(|| format!("binding {addr}"))?;
    let local = acceptor
        .local_addr()
        .into_iter()
        .find_map(|a| a.as_socket_addr().copied())
        .context("no local address")?;
    // A public URL derived from a port chosen by the system names the port actually bound.
    if settings.public_url == format!("http://{addr}") {
        settings.public_url = format!("http://{local}");
    }
    if let Some(why) = settings.public_url_refusal() {
        tracing::warn!(
            public_url = %settings.public_url,
            reason = %why,
            "REEMPLOI_PUBLIC_URL is not a public address: no document will be issued until it is set"
        );
    }
    let (state, worker) = prepare(settings, mailer).await?;
    let app = crate::http::app(state.clone());
    let acceptor = guarded(acceptor, &state);
    let server = tokio::spawn(async move {
        if let Err(err) = Server::new_with_acceptor(acceptor).run(app).await {
            tracing::error!(error = %err, "server stopped");
        }
    });
    let worker = tokio::spawn(worker.run(poll));
    // Jobs whose instance stopped are taken over (or failed) before the first request.
    crate::importer::reclaim(&state, crate::http::imports::job_result).await;
    let jobs = tokio::spawn(crate::importer::supervise(
        state.clone(),
        crate::http::imports::job_result,
    ));
    Ok(Running {
        addr: local,
        state,
        server,
        worker,
        jobs,
    })
}

/// Runs the service until Ctrl-C or SIGTERM, then drains in-flight requests.
pub async fn serve(settings: Settings) -> anyhow::Result<()> {
    let poll = Duration::from_millis(settings.outbox_poll_ms);
    let addr = settings.addr;
    tracing::info!(settings = ?settings, "starting");
    if let Some(why) = settings.public_url_refusal() {
        tracing::warn!(
            public_url = %settings.public_url,
            "REEMPLOI_PUBLIC_URL: {why}; no document is issued (503 public_url_not_public) until it is set to the address people reach the service at"
        );
    }
    let (state, worker) = prepare(settings, Arc::new(LogMailer)).await?;
    let acceptor = TcpListener::bind(addr.to_string())
        .into_acceptor()
        .await
        .with_context(|| format!("binding {addr}"))?;
    let acceptor = guarded(acceptor, &state);
    let worker = tokio::spawn(worker.run(poll));
    // Jobs whose instance stopped are taken over (or failed) before the first request.
    crate::importer::reclaim(&state, crate::http::imports::job_result).await;
    let jobs = tokio::spawn(crate::importer::supervise(
        state.clone(),
        crate::http::imports::job_result,
    ));
    let app = crate::http::app(state);
    tracing::info!(%addr, "listening; API docs at /docs");
    Server::new_with_acceptor(acceptor)
        .run_with_graceful_shutdown(app, shutdown_signal(), Some(Duration::from_secs(20)))
        .await
        .context("serving HTTP")?;
    worker.abort();
    jobs.abort();
    Ok(())
}

/// The acceptor under the connection cap and timeouts of the settings.
fn guarded<A: Acceptor>(acceptor: A, state: &AppState) -> crate::connections::Guarded<A> {
    let ops = &state.settings.ops;
    crate::connections::Guarded::new(
        acceptor,
        crate::connections::ConnLimits {
            max_connections: ops.max_connections,
            header_timeout: Duration::from_secs(ops.header_timeout_secs),
            idle_timeout: Duration::from_secs(ops.idle_timeout_secs),
        },
        state.connections.clone(),
    )
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down");
}
