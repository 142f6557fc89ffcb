//! OCSP over HTTP (RFC 6960 appendix A): `POST /ocsp` and `GET /ocsp/{base64}`, with the
//! RFC 5019 caching headers on GET answers.

use std::task::Poll;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use base64::Engine as _;
use ca_core::authority::OcspOutcome;
use ca_core::revocation::ocsp::{error_response, ResponseStatus, MAX_OCSP_REQUEST_BYTES};
use http_body_util::{BodyExt as _, LengthLimitError, Limited};
use sha2::{Digest, Sha256};

use crate::error::Problem;
use crate::metrics::Metrics;
use crate::state::AppState;

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/ocsp", post(post_ocsp))
        .route("/ocsp/", post(post_ocsp))
        .route("/ocsp/{*request}", get(get_ocsp))
}

const OCSP_RESPONSE: &str = "application/ocsp-response";

async fn answer(state: &AppState, der: &[u8]) -> OcspOutcome {
    let started = Instant::now();
    Metrics::inc(&state.metrics.ocsp_requests);
    let outcome = state.services.responder.ocsp_respond(der).await;
    match (outcome.status, outcome.cached) {
        (ResponseStatus::Successful, true) => {
            Metrics::inc(&state.metrics.ocsp_cache_hits);
            if outcome.memory {
                Metrics::inc(&state.metrics.ocsp_memory_hits);
            }
        }
        (ResponseStatus::Successful, false) => Metrics::inc(&state.metrics.ocsp_signatures),
        _ => {
            Metrics::inc(&state.metrics.ocsp_errors);
            tracing::info!(status = outcome.status.as_str(), detail = ?outcome.detail, "OCSP error response");
        }
    }
    state.metrics.ocsp_micros.fetch_add(
        u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
        std::sync::atomic::Ordering::Relaxed,
    );
    outcome
}

fn ocsp_body(der: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, OCSP_RESPONSE)], der).into_response()
}

/// An OCSP answer; `tryLater` ones say when to ask again (the device time-out).
fn ocsp_answer(state: &AppState, outcome: &OcspOutcome) -> Response {
    let mut response = ocsp_body(outcome.der.clone());
    if outcome.status == ResponseStatus::TryLater {
        if let Ok(v) = HeaderValue::from_str(&state.config.device_timeout_secs.max(1).to_string()) {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
    }
    response
}

/// Whether the request says it carries an OCSP request (RFC 6960 appendix A.1).
fn is_ocsp_request(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/ocsp-request"))
}

fn unsupported_media_type() -> Response {
    Problem::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported-media-type",
        "OCSP requests are POSTed as application/ocsp-request",
    )
    .into_response()
}

/// The answer to a POSTed request body.
async fn post_answer(state: &AppState, body: &[u8]) -> Response {
    let outcome = answer(state, body).await;
    // RFC 5019 §5: POSTed answers are not cached by intermediaries.
    let mut response = ocsp_answer(state, &outcome);
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

async fn post_ocsp(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    if !is_ocsp_request(&headers) {
        return unsupported_media_type();
    }
    post_answer(&state, &body).await
}

/// Whether [`post_direct`] serves `request` (rather than the router).
pub(crate) fn is_direct<B>(request: &Request<B>) -> bool {
    request.method() == Method::POST && matches!(request.uri().path(), "/ocsp" | "/ocsp/")
}

/// `POST /ocsp` without the router: the busiest route, answered with the same checks and
/// limits as the router gives it (media type, body size, request timeout, metrics) but
/// without its per-request layers. A request whose body came with its headers and whose
/// answer is in memory completes at its first poll; only one that does not gets the
/// request timeout armed (over the whole request, as the router's timeout layer).
pub(crate) async fn post_direct<B>(state: AppState, request: Request<B>) -> Response
where
    B: axum::body::HttpBody<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let started = Instant::now();
    let limit = Duration::from_secs(state.config.request_timeout_secs);
    let response = match within(limit, post_direct_inner(&state, request)).await {
        Some(response) => response,
        None => Problem::new(
            StatusCode::REQUEST_TIMEOUT,
            "request-timeout",
            "the request was not received and answered in time",
        )
        .into_response(),
    };
    state
        .metrics
        .observe(started.elapsed(), response.status().is_server_error());
    response
}

/// `work`'s output, or `None` when it takes longer than `limit`; the timer is armed only if
/// `work` does not complete at its first poll.
async fn within<F: std::future::Future>(limit: Duration, work: F) -> Option<F::Output> {
    let mut work = std::pin::pin!(work);
    match std::future::poll_fn(|cx| Poll::Ready(work.as_mut().poll(cx))).await {
        Poll::Ready(output) => Some(output),
        Poll::Pending => tokio::time::timeout(limit, work).await.ok(),
    }
}

async fn post_direct_inner<B>(state: &AppState, request: Request<B>) -> Response
where
    B: axum::body::HttpBody<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let (parts, body) = request.into_parts();
    if !is_ocsp_request(&parts.headers) {
        return unsupported_media_type();
    }
    let collected = Limited::new(body, state.config.max_body_bytes)
        .collect()
        .await;
    match collected {
        Ok(c) => post_answer(state, &c.to_bytes()).await,
        Err(e) if e.is::<LengthLimitError>() => Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload-too-large",
            format!(
                "the request body is over {} bytes",
                state.config.max_body_bytes
            ),
        )
        .into_response(),
        Err(e) => Problem::new(
            StatusCode::BAD_REQUEST,
            "bad-request",
            format!("cannot read the request body: {e}"),
        )
        .into_response(),
    }
}

/// Decodes the GET path: base64 (standard or URL-safe, padded or not) of the DER request,
/// already percent-decoded by the router.
fn decode_request(path: &str) -> Option<Vec<u8>> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    let text = path.trim_matches('/');
    // Base64 of the largest acceptable request.
    if text.is_empty() || text.len() > MAX_OCSP_REQUEST_BYTES.div_ceil(3) * 4 {
        return None;
    }
    [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
        .iter()
        .find_map(|engine| engine.decode(text).ok())
}

fn http_date(secs: i64) -> Option<HeaderValue> {
    let t = UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).ok()?);
    HeaderValue::from_str(&httpdate::fmt_http_date(t)).ok()
}

async fn get_ocsp(State(state): State<AppState>, Path(request): Path<String>) -> Response {
    let Some(der) = decode_request(&request) else {
        Metrics::inc(&state.metrics.ocsp_requests);
        Metrics::inc(&state.metrics.ocsp_errors);
        return ocsp_body(error_response(ResponseStatus::MalformedRequest));
    };
    let outcome = answer(&state, &der).await;
    let mut response = ocsp_answer(&state, &outcome);
    let (Some(produced), Some(next)) = (outcome.produced_at, outcome.next_update) else {
        return response;
    };
    // RFC 5019 §6.2: caches may keep the answer until nextUpdate.
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    let max_age = (next - now).max(0);
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&format!(
        "max-age={max_age}, public, no-transform, must-revalidate"
    )) {
        h.insert(header::CACHE_CONTROL, v);
    }
    if let Some(v) = http_date(produced) {
        h.insert(header::LAST_MODIFIED, v);
    }
    if let Some(v) = http_date(next) {
        h.insert(header::EXPIRES, v);
    }
    if let Ok(v) = HeaderValue::from_str(&format!(
        "\"{}\"",
        hex::encode(Sha256::digest(&outcome.der))
    )) {
        h.insert(header::ETAG, v);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_timeout_is_armed_only_for_work_that_waits() {
        // Ready at its first poll: answered even with no time at all.
        assert_eq!(within(Duration::ZERO, async { 7 }).await, Some(7));
        // Never ready: cut off.
        assert_eq!(
            within(Duration::from_millis(10), std::future::pending::<()>()).await,
            None
        );
        // Waits once, then finishes within the limit.
        let waits = async {
            tokio::task::yield_now().await;
            8
        };
        assert_eq!(within(Duration::from_secs(60), waits).await, Some(8));
    }

    #[test]
    fn get_paths_decode_in_every_base64_flavour() {
        let der = vec![0x30, 0x03, 0xfb, 0xff, 0xfe];
        use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
        assert_eq!(decode_request(&STANDARD.encode(&der)), Some(der.clone()));
        assert_eq!(decode_request(&URL_SAFE_NO_PAD.encode(&der)), Some(der));
        assert_eq!(decode_request("not base64 !!"), None);
        assert_eq!(decode_request(""), None);
        assert_eq!(decode_request(&"A".repeat(100_000)), None);
    }
}
