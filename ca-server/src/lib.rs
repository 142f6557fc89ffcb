//! caforge's HTTP service: an OCSP responder (RFC 6960 appendix A, RFC 5019), CRL and CA
//! certificate distribution for the URLs issued certificates carry, and operations
//! endpoints. [`app`] builds the router from [`AppState`]; [`serve`] runs it.
//!
//! Domain errors become HTTP statuses in one place, [`error`].

#![forbid(unsafe_code)]

mod api;
pub mod error;
mod metrics;
mod ocsp;
mod ops;
mod publish;
mod state;

use std::future::Future;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::Router;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;

pub use metrics::Metrics;
pub use state::{AppState, ServerConfig};

/// The crate's version (reported by `/healthz`).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The whole service: one router per resource, merged here, with the limits every route
/// shares (request body size, request timeout).
pub fn app(state: AppState) -> Router {
    let limit = state.config.max_body_bytes;
    let timeout = Duration::from_secs(state.config.request_timeout_secs);
    Router::new()
        .merge(ocsp::router())
        .merge(api::router())
        .merge(publish::router())
        .merge(ops::router())
        .layer(DefaultBodyLimit::max(limit))
        .layer(RequestBodyLimitLayer::new(limit))
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
        .with_state(state)
}

/// Serves [`app`] on `listener` until `shutdown` completes, then lets in-flight requests
/// finish.
///
/// # Errors
/// I/O errors from the listener.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app(state))
        .with_graceful_shutdown(shutdown)
        .await
}
