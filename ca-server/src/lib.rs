//! caforge's HTTP service: an OCSP responder (RFC 6960 appendix A, RFC 5019), CRL and CA
//! certificate distribution for the URLs issued certificates carry, and operations
//! endpoints. [`app`] builds the router from [`AppState`]; [`serve`] runs it.
//!
//! Domain errors become HTTP statuses in one place, [`error`].

#![forbid(unsafe_code)]

mod api;
pub use api::OPENAPI;
pub mod error;
pub mod health;
mod metrics;
mod ocsp;
mod ops;
mod publish;
pub use publish::{sign_queued_crls, CrlQueue, CrlScope};
mod state;
pub mod tls;
mod wire;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::Router;
use tokio::sync::Semaphore;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;

pub use metrics::Metrics;
pub use state::{AppState, ServerConfig, Shared};

/// The crate's version (reported by `/healthz`).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Which routes a listener serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Door {
    /// OCSP, CRLs, CA certificates, `/healthz`, `/metrics`: for anyone, in plain HTTP.
    Public,
    /// The issuance API under `/api/v1` (and `/healthz`, `/metrics`): for token holders,
    /// over HTTPS.
    Api,
    /// Both (the public listener with `api_on_public`, and handler tests).
    Both,
}

/// The whole service: one router per resource, merged here, with the limits every route
/// shares (request body size, request timeout).
pub fn app(state: AppState) -> Router {
    door(state, Door::Both)
}

/// The routes of `door`, with the limits every route shares.
pub fn door(state: AppState, door: Door) -> Router {
    let limit = state.config.max_body_bytes;
    let timeout = Duration::from_secs(state.config.request_timeout_secs);
    let mut router = Router::new().merge(ops::router());
    if door != Door::Api {
        router = router.merge(ocsp::router()).merge(publish::router());
    }
    if door != Door::Public {
        router = router.merge(api::router());
    }
    router
        .layer(axum::middleware::from_fn_with_state(state.clone(), observe))
        .layer(DefaultBodyLimit::max(limit))
        .layer(RequestBodyLimitLayer::new(limit))
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
        .with_state(state)
}

/// The service [`serve`] runs: [`app`], with `POST /ocsp` — the route that takes nearly all
/// the traffic — answered before the router (same checks, limits and metrics, fewer
/// per-request layers). Tests drive it like [`app`], with `tower::ServiceExt::oneshot`.
#[derive(Clone)]
pub struct Front {
    router: Router,
    state: AppState,
    /// Whether `POST /ocsp` is served (not on the API door).
    ocsp: bool,
    /// The client certificate of the connection it serves, put in every request.
    client: Option<tls::ClientCert>,
}

/// [`Front`] over `state`, serving everything ([`app`]).
pub fn front(state: AppState) -> Front {
    front_door(state, Door::Both)
}

/// [`Front`] over `state` for `door`.
pub fn front_door(state: AppState, which: Door) -> Front {
    Front {
        router: door(state.clone(), which),
        state,
        ocsp: which != Door::Api,
        client: None,
    }
}

impl Front {
    /// The same front for a connection whose client presented `client`.
    #[must_use]
    pub fn with_client(&self, client: Option<tls::ClientCert>) -> Front {
        Front {
            client,
            ..self.clone()
        }
    }
}

impl<B> tower::Service<axum::http::Request<B>> for Front
where
    B: axum::body::HttpBody<Data = axum::body::Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Response = axum::response::Response;
    type Error = std::convert::Infallible;
    type Future = std::pin::Pin<
        Box<dyn Future<Output = Result<axum::response::Response, std::convert::Infallible>> + Send>,
    >;

    fn poll_ready(
        &mut self,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut request: axum::http::Request<B>) -> Self::Future {
        if self.ocsp && ocsp::is_direct(&request) {
            let state = self.state.clone();
            Box::pin(async move { Ok(ocsp::post_direct(state, request).await) })
        } else {
            if let Some(client) = &self.client {
                request.extensions_mut().insert(client.clone());
            }
            let router = self.router.clone();
            Box::pin(async move {
                tower::ServiceExt::oneshot(router, request.map(axum::body::Body::new)).await
            })
        }
    }
}

/// Counts every request and its latency for `/metrics`.
async fn observe(
    axum::extract::State(state): axum::extract::State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    state
        .metrics
        .observe(started.elapsed(), response.status().is_server_error());
    response
}

/// One background refresh: scheduled revocations, managed certificates and delegated OCSP
/// responders that are due; every CA's CRLs are re-signed when due (before nextUpdate, after
/// revocations), and with `presign` its OCSP responses are pre-signed. Failures are logged
/// and counted; the next round tries again.
pub async fn refresh_once(state: &AppState) {
    // Scheduled revocations (superseded certificates after their grace period) first, so
    // the CRLs signed below include them.
    match state.services.lifecycle.run_due_revocations().await {
        Ok(done) if !done.revoked.is_empty() => {
            tracing::info!(revoked = ?done.revoked, "refresh: scheduled revocations carried out");
        }
        Ok(_) => {}
        Err(e) => {
            Metrics::inc(&state.metrics.refresh_failures);
            tracing::warn!(error = %e, "refresh: scheduled revocations failed");
        }
    }
    match ca_ops::managed::run_pass(&state.services.lifecycle).await {
        Ok(report) if report.renewed + report.deployed + report.failed.len() > 0 => {
            tracing::info!(?report, "refresh: managed certificates");
        }
        Ok(_) => {}
        Err(e) => {
            Metrics::inc(&state.metrics.refresh_failures);
            tracing::warn!(error = %e, "refresh: managed certificates failed");
        }
    }
    // Delegated OCSP responders are issued here, never on a request.
    match state.services.responder.refresh_responders().await {
        Ok(done) => {
            if !done.issued.is_empty() {
                tracing::info!(issued = ?done.issued, "refresh: OCSP responders issued");
            }
            for (ca, error) in &done.failed {
                Metrics::inc(&state.metrics.refresh_failures);
                tracing::warn!(%ca, %error, "refresh: OCSP responder");
            }
        }
        Err(e) => {
            Metrics::inc(&state.metrics.refresh_failures);
            tracing::warn!(error = %e, "refresh: OCSP responders failed");
        }
    }
    let cas = match state.services.directory.cas().await {
        Ok(cas) => cas,
        Err(e) => {
            Metrics::inc(&state.metrics.refresh_failures);
            tracing::warn!(error = %e, "refresh: cannot list CAs");
            return;
        }
    };
    for ca in cas {
        // An offline root's CRLs and OCSP answers are its operator's to sign.
        if state.services.directory.is_offline(&ca) {
            continue;
        }
        let scopes = match state.services.revocations.crl_scopes(&ca).await {
            Ok(s) => s,
            Err(e) => {
                Metrics::inc(&state.metrics.refresh_failures);
                tracing::warn!(ca = %ca.name, error = %e, "refresh: cannot list CRL scopes");
                continue;
            }
        };
        for partition in scopes {
            let scope = CrlScope {
                ca: ca.name.clone(),
                partition,
                delta: false,
            };
            publish::sign_scope(state, &scope).await;
        }
        if state.config.presign {
            let result = state.services.responder.presign_ocsp(&ca.name).await;
            if let Err(e) = result {
                Metrics::inc(&state.metrics.refresh_failures);
                tracing::warn!(ca = %ca.name, error = %e, "refresh: OCSP pre-signing");
            }
        }
    }
    checkpoint_audit(state).await;
}

/// Records the audit log's head in the checkpoint file, if the server keeps one.
pub async fn checkpoint_audit(state: &AppState) {
    if let Some(checkpoints) = &state.audit_checkpoints {
        if let Err(e) = state.services.lifecycle.checkpoint_audit(checkpoints).await {
            Metrics::inc(&state.metrics.refresh_failures);
            tracing::warn!(error = %e, "refresh: audit checkpoint");
        }
    }
}

/// The API's own listener: its socket and, for HTTPS, its TLS configuration.
pub struct ApiListener {
    /// The bound socket.
    pub listener: tokio::net::TcpListener,
    /// rustls settings ([`tls::server_config`]); `None` serves plain HTTP (tests only).
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

/// Serves the public door on `listener` (with the API too when `api_on_public`) until
/// `shutdown` completes, then stops accepting and lets in-flight requests finish. See
/// [`serve_doors`].
///
/// # Errors
/// As [`serve_doors`].
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_doors(listener, None, state, shutdown).await
}

/// Serves the public door on `public` (OCSP, CRLs, CA certificates; with the API too when
/// `api_on_public`) and the API door on `api` (HTTPS when it has TLS settings), runs the
/// background work, and when `shutdown` completes stops accepting and lets in-flight
/// requests finish.
///
/// Connections are HTTP/1.1 with hyper's header read timeout: a client that trickles its
/// headers, or keeps an idle connection open, is disconnected after `header_timeout_secs`;
/// a TLS handshake gets as long; whole requests (bodies included) are bounded by
/// `request_timeout_secs` in [`app`]. At most `max_connections` are served at once on each
/// door; the rest wait in the listen backlog.
///
/// # Errors
/// None today: accept errors (such as running out of file descriptors) are logged and
/// retried after a pause rather than ending the service.
pub async fn serve_doors(
    public: tokio::net::TcpListener,
    api: Option<ApiListener>,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    if let Err(e) = health::limit_devices(&state.config) {
        tracing::error!(error = %e, "key device limits not set");
    }
    let interval = state.config.refresh_interval_secs;
    let refresher = (interval > 0).then(|| {
        let state = state.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(interval));
            loop {
                tick.tick().await;
                refresh_once(&state).await;
            }
        })
    });
    let crl_signer = tokio::spawn(publish::sign_queued_crls(state.clone()));
    let health = tokio::spawn(health::monitor(state.clone()));
    let notifier = (!state.notify.webhooks.is_empty()).then(|| {
        let state = state.clone();
        tokio::spawn(async move {
            let mut tick =
                tokio::time::interval(Duration::from_secs(state.notify.interval_secs.max(1)));
            loop {
                tick.tick().await;
                match ca_ops::notify::run_pass(&state.services.inventory, &state.notify).await {
                    Ok(report) => tracing::debug!(?report, "notification pass"),
                    Err(e) => tracing::warn!(error = %e, "notification pass failed"),
                }
            }
        })
    });
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(Duration::from_secs(state.config.header_timeout_secs.max(1)))
        .keep_alive(true);
    let handshake = Duration::from_secs(state.config.header_timeout_secs.max(1));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let stopper = tokio::spawn(async move {
        shutdown.await;
        let _ = stop.send(true);
    });
    let public_door = if state.config.api_on_public {
        Door::Both
    } else {
        Door::Public
    };
    let doors = Doors {
        http: &http,
        graceful: &graceful,
        max_connections: state.config.max_connections.max(1),
        handshake,
    };
    let public = doors.run(
        public,
        None,
        front_door(state.clone(), public_door),
        stopped.clone(),
    );
    match api {
        Some(api) => {
            let api = doors.run(
                api.listener,
                api.tls.map(tokio_rustls::TlsAcceptor::from),
                front_door(state.clone(), Door::Api),
                stopped,
            );
            tokio::join!(public, api);
        }
        None => public.await,
    }
    graceful.shutdown().await;
    stopper.abort();
    crl_signer.abort();
    health.abort();
    for task in [refresher, notifier].into_iter().flatten() {
        task.abort();
    }
    Ok(())
}

/// Serves `front` on one accepted connection `io` (plain or TLS) until it ends, or until
/// the server shuts down gracefully.
async fn serve_connection<I>(
    http: hyper::server::conn::http1::Builder,
    watcher: hyper_util::server::graceful::Watcher,
    io: I,
    front: Front,
) -> Result<(), hyper::Error>
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper_util::service::TowerToHyperService::new(front);
    watcher
        .watch(http.serve_connection(hyper_util::rt::TokioIo::new(io), service))
        .await
}

/// What every listener's accept loop shares.
struct Doors<'a> {
    http: &'a hyper::server::conn::http1::Builder,
    graceful: &'a hyper_util::server::graceful::GracefulShutdown,
    /// Connections each door serves at once (each door has its own: strangers crowding
    /// the public one do not lock token holders out of the API, nor the reverse).
    max_connections: usize,
    handshake: Duration,
}

impl Doors<'_> {
    /// Accepts on `listener` (TLS first when `tls`) and serves `front` on each connection
    /// until `stopped` turns true.
    async fn run(
        &self,
        listener: tokio::net::TcpListener,
        tls: Option<tokio_rustls::TlsAcceptor>,
        front: Front,
        mut stopped: tokio::sync::watch::Receiver<bool>,
    ) {
        let connections = Arc::new(Semaphore::new(self.max_connections));
        loop {
            let permit = tokio::select! {
                permit = connections.clone().acquire_owned() => match permit {
                    Ok(p) => p,
                    Err(_) => break,
                },
                _ = stopped.wait_for(|s| *s) => break,
            };
            let (stream, _peer) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(pair) => pair,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed; retrying");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
                _ = stopped.wait_for(|s| *s) => break,
            };
            // Small responses: do not wait for Nagle.
            let _ = stream.set_nodelay(true);
            let watcher = self.graceful.watcher();
            let http = self.http.clone();
            let front = front.clone();
            let tls = tls.clone();
            let handshake = self.handshake;
            tokio::spawn(async move {
                // Held until the connection ends, however it ends.
                let _permit = permit;
                let result = match tls {
                    None => serve_connection(http, watcher, stream, front).await,
                    Some(acceptor) => {
                        let stream =
                            match tokio::time::timeout(handshake, acceptor.accept(stream)).await {
                                Ok(Ok(s)) => s,
                                Ok(Err(e)) => {
                                    tracing::debug!(error = %e, "TLS handshake failed");
                                    return;
                                }
                                Err(_) => {
                                    tracing::debug!("TLS handshake timed out");
                                    return;
                                }
                            };
                        let client = stream
                            .get_ref()
                            .1
                            .peer_certificates()
                            .and_then(|certs| certs.first())
                            .and_then(|c| tls::ClientCert::of(c.as_ref()));
                        serve_connection(http, watcher, stream, front.with_client(client)).await
                    }
                };
                if let Err(e) = result {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
            });
        }
    }
}
