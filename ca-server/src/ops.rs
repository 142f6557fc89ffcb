//! Operations: `/healthz` (the last health pass) and `/metrics` (Prometheus text).

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::state::AppState;

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
}

/// `200 {"status":"ok"|"degraded", …}` from the last health pass ([`crate::health`]),
/// at once: `degraded` when a CA's key device does not answer, the store takes no writes,
/// the disk beside it runs low or a CRL has expired (the server still serves pre-signed
/// OCSP answers and published CRLs; `problems` says what is off); `503` when the store
/// could not even be read. Before the first pass, one is made.
async fn healthz(State(state): State<AppState>) -> Response {
    let report = match state.health.last() {
        Some(r) => r,
        None => crate::health::check(&state).await,
    };
    let status = if report.store_readable {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        axum::Json(crate::health::with_live_devices(&state, &report)),
    )
        .into_response()
}

async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
        .into_response()
}
