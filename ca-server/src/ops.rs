//! Operations: `/healthz` (checks the store) and `/metrics` (Prometheus text).

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

/// `200 {"status":"ok"}` when the store answers and every CA key can be used;
/// `200 {"status":"degraded"}` when the store answers but some CA's key device does not (the
/// server still serves pre-signed OCSP responses and published CRLs; `keys` says which);
/// `503` when the store does not answer.
async fn healthz(State(state): State<AppState>) -> Response {
    match state.services.directory.key_health().await {
        Ok(keys) => {
            let degraded = keys.iter().any(|k| k.problem.is_some());
            if degraded {
                for k in keys.iter().filter(|k| k.problem.is_some()) {
                    tracing::warn!(ca = %k.ca, problem = ?k.problem, "CA key unavailable");
                }
            }
            let keys_json: Vec<_> = keys
                .iter()
                .map(|k| {
                    serde_json::json!({
                        "ca": k.ca,
                        "custodian": k.custodian,
                        "status": if k.problem.is_some() { "unavailable" } else { "ok" },
                        "error": k.problem,
                    })
                })
                .collect();
            axum::Json(serde_json::json!({
                "status": if degraded { "degraded" } else { "ok" },
                "version": crate::VERSION,
                "cas": keys.len(),
                "keys": keys_json,
            }))
            .into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, "health check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                axum::Json(serde_json::json!({"status": "unavailable"})),
            )
                .into_response()
        }
    }
}

async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
        .into_response()
}
