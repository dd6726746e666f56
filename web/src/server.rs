//! The HTTP server: API, UI and health check on one listener behind the access guard, shut
//! down gracefully on Ctrl-C or SIGTERM.

use std::net::SocketAddr;

use anyhow::Context;
use tokio::net::TcpListener;

use arrears_connectors::inbound::InboundSources;
use arrears_engine::store::Store;

use crate::api::{self, AppState};

/// Requests larger than this are refused before they are read.
pub(crate) const BODY_LIMIT: usize = 16 * 1024 * 1024;

/// What the server is configured with beyond its database.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Sources of inbound webhooks and their secrets (none: every webhook is refused).
    pub inbound: InboundSources,
    /// The pull connectors file whose schedules run beside the server (none: the default
    /// file when it exists).
    pub connectors: Option<std::path::PathBuf>,
    /// Templates, channels and the debtor page's base URL.
    pub outbound: crate::worker::Outbound,
    /// The debtor page's upload size and rate limits.
    pub debtor_page: crate::pay::DebtorPage,
    /// Whether session cookies are marked `Secure` (sent over https only): true unless the
    /// server listens on loopback and its public URL is plain http (`secure_cookies_for`).
    pub secure_cookies: bool,
}

/// Session cookies are `Secure` unless the server is reached over plain http on loopback
/// (a developer's machine): a browser would not send a Secure cookie there. A server on any
/// other address, or with an https public URL, is taken to sit behind TLS.
pub fn secure_cookies_for(listen: SocketAddr, public_url: &str) -> bool {
    !(listen.ip().is_loopback() && public_url.starts_with("http://"))
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            inbound: InboundSources::default(),
            connectors: None,
            outbound: crate::worker::Outbound::from_env(),
            secure_cookies: true,
            debtor_page: crate::pay::DebtorPage::from_env().unwrap_or_else(|e| {
                tracing::error!(error = %e, "debtor page limits refused: the defaults apply");
                crate::pay::DebtorPage::default()
            }),
        }
    }
}

/// Everything the server answers, with no inbound webhook sources.
pub fn app(store: Store) -> axum::Router {
    app_with(store, Settings::default())
}

/// Everything the server answers.
pub fn app_with(store: Store, settings: Settings) -> axum::Router {
    let runtime = match crate::worker::runtime_with(store.clone(), &settings.outbound) {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "outbound configuration refused");
            crate::worker::runtime(store.clone())
        }
    };
    let state = AppState {
        store,
        runtime: std::sync::Arc::new(runtime),
        inbound: std::sync::Arc::new(settings.inbound),
        delivery_token: settings.outbound.delivery_token.clone(),
        secure_cookies: settings.secure_cookies,
        public_url: settings.outbound.public_url.clone(),
    };
    api::router(state.clone())
        .merge(crate::ui::router(state.clone()))
        .merge(crate::inbox::router(state.clone()))
        .merge(crate::dashboard::router(state.clone()))
        .merge(crate::scenario_page::router(state.clone()))
        .merge(crate::request::router(state.clone()))
        .merge(crate::matching::router(state.clone()))
        .merge(crate::access::login::router(state.clone()))
        .merge(crate::pay::router(state.clone(), settings.debtor_page))
        .route(
            "/metrics",
            axum::routing::get(metrics).with_state(state.clone()),
        )
        // Every route, and the not-found fallback, passes the access guard first.
        .layer(axum::middleware::from_fn_with_state(
            state,
            crate::access::guard,
        ))
        .layer(tower_http::limit::RequestBodyLimitLayer::new(BODY_LIMIT))
        .layer(tower_http::trace::TraceLayer::new_for_http())
}

/// Prometheus metrics: cases by scenario and step, steps executed, timer lag, outbox and
/// task backlogs.
async fn metrics(
    axum::extract::State(state): axum::extract::State<AppState>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    match crate::worker::metrics_text(&state.store).await {
        Ok(text) => (
            [(
                axum::http::header::CONTENT_TYPE,
                "text/plain; version=0.0.4",
            )],
            text,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "metrics failed");
            axum::http::StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
    }
}

pub async fn serve(
    store: Store,
    listen: SocketAddr,
    db: &str,
    settings: Settings,
) -> anyhow::Result<()> {
    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, backend = store.backend_name(), db = %arrears_engine::store::redact(db), "arrears is serving");
    eprintln!(
        "arrears is serving on http://{addr}/ (API: http://{addr}/api/v1, OpenAPI: http://{addr}/api/openapi.json)"
    );
    // The engine's workers run beside the server and stop with it.
    // A configuration that does not work stops the server before it starts.
    crate::worker::runtime_with(store.clone(), &settings.outbound)?;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let (conn_stop_tx, conn_stop_rx) = tokio::sync::oneshot::channel::<()>();
    let outbound = settings.outbound.clone();
    let engine_store = store.clone();
    let engine = tokio::spawn(async move {
        crate::worker::run_real_time_with(engine_store, &outbound, async move {
            let _ = stop_rx.await;
        })
        .await
    });
    let scheduler = tokio::spawn(crate::connector::schedule(
        store.clone(),
        settings.connectors.clone(),
        async move {
            let _ = conn_stop_rx.await;
        },
    ));
    if !settings.inbound.is_empty() {
        let sources: Vec<&str> = settings.inbound.names().collect();
        tracing::info!(sources = %sources.join(","), "inbound webhooks accepted");
    }
    // The client's address feeds the debtor page's rate limit.
    let app = app_with(store.clone(), settings)
        .into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown())
        .await
        .context("the server stopped")?;
    let _ = stop_tx.send(());
    let _ = conn_stop_tx.send(());
    let _ = engine.await;
    match scheduler.await {
        Ok(Err(e)) => tracing::error!(error = %e, "the connector scheduler stopped"),
        Err(e) => tracing::error!(error = %e, "the connector scheduler failed"),
        Ok(Ok(())) => {}
    }
    store.close().await;
    Ok(())
}

async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}
