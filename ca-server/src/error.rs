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
    /// Seconds until retrying makes sense (`Retry-After`).
    pub retry_after: Option<u64>,
    /// When a used-up quota frees a slot (Unix seconds; `frees_at` in the body).
    pub frees_at: Option<i64>,
}

/// `Retry-After` of a 503: what the server lacks now (a key device that is down or busy,
/// a responder not yet issued) is usually back within seconds.
pub const UNAVAILABLE_RETRY_SECS: u64 = 5;

impl Problem {
    /// A problem with an explicit status.
    pub fn new(status: StatusCode, kind: &'static str, detail: impl Into<String>) -> Problem {
        Problem {
            status,
            kind,
            detail: detail.into(),
            retry_after: None,
            frees_at: None,
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
            ErrorKind::Forbidden => (StatusCode::FORBIDDEN, "forbidden"),
            ErrorKind::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            ErrorKind::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
            ErrorKind::Exhausted => (StatusCode::TOO_MANY_REQUESTS, "quota-exceeded"),
        };
        let (retry_after, frees_at) = match &e {
            ca_core::Error::QuotaExceeded { frees_at, .. } => {
                let now = time::OffsetDateTime::now_utc().unix_timestamp();
                (
                    Some(u64::try_from(frees_at - now).unwrap_or(0).max(1)),
                    Some(*frees_at),
                )
            }
            _ if status == StatusCode::SERVICE_UNAVAILABLE => (Some(UNAVAILABLE_RETRY_SECS), None),
            _ => (None, None),
        };
        if status.is_server_error() {
            tracing::error!(error = %e, "request failed");
        }
        Problem {
            retry_after,
            frees_at,
            ..Problem::new(status, kind, e.to_string())
        }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let mut body = serde_json::json!({
            "type": format!("urn:caforge:problem:{}", self.kind),
            "title": self.status.canonical_reason().unwrap_or("error"),
            "status": self.status.as_u16(),
            "detail": self.detail,
        });
        let mut response = (
            self.status,
            [(header::CONTENT_TYPE, "application/problem+json")],
            String::new(),
        )
            .into_response();
        if let Some(at) = self.frees_at {
            body["frees_at"] = ca_core::notify::rfc3339(at).into();
        }
        if let Some(secs) = self.retry_after {
            if let Ok(v) = header::HeaderValue::from_str(&secs.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        *response.body_mut() = axum::body::Body::from(body.to_string());
        response
    }
}
