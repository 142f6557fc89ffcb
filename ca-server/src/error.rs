//! The one place where a domain error becomes an HTTP status: RFC 7807 problem details
//! (`application/problem+json`) with a stable `type` per class of error.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use ca_core::ErrorKind;

/// An HTTP-facing error.
#[derive(Debug)]
pub struct Problem {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable identifier of the kind of problem (`urn:caforge:problem:…`).
    pub kind: &'static str,
    /// Human-readable explanation (never contains key material).
    pub detail: String,
}

impl Problem {
    /// A problem with an explicit status.
    pub fn new(status: StatusCode, kind: &'static str, detail: impl Into<String>) -> Problem {
        Problem {
            status,
            kind,
            detail: detail.into(),
        }
    }
}

impl From<ca_core::Error> for Problem {
    fn from(e: ca_core::Error) -> Problem {
        let (status, kind) = match e.kind() {
            ErrorKind::Rejected => (StatusCode::BAD_REQUEST, "rejected"),
            ErrorKind::NotFound => (StatusCode::NOT_FOUND, "not-found"),
            ErrorKind::Conflict => (StatusCode::CONFLICT, "conflict"),
            ErrorKind::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ErrorKind::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            ErrorKind::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        };
        if status.is_server_error() {
            tracing::error!(error = %e, "request failed");
        }
        Problem::new(status, kind, e.to_string())
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "type": format!("urn:caforge:problem:{}", self.kind),
            "title": self.status.canonical_reason().unwrap_or("error"),
            "status": self.status.as_u16(),
            "detail": self.detail,
        });
        (
            self.status,
            [(header::CONTENT_TYPE, "application/problem+json")],
            body.to_string(),
        )
            .into_response()
    }
}
