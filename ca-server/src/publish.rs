//! CRL and CA certificate distribution: the CRL DP and AIA caIssuers URLs that issued
//! certificates carry (`/crl/{ca}[-p{N}][-delta].crl`, `/ca/{ca}.crt`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use sha2::{Digest, Sha256};

use crate::error::Problem;
use crate::metrics::Metrics;
use crate::state::AppState;

/// One CRL scope of a CA: what a fetch names and the background signer signs.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CrlScope {
    /// The CA's name.
    pub ca: String,
    /// The partition (None: the CA's one CRL).
    pub partition: Option<u32>,
    /// The delta CRL rather than the full one.
    pub delta: bool,
}

/// CRL scopes waiting for the background signer: each at most once, however many fetches
/// asked. Only scopes of existing CAs, under their stored names, get here, so it is
/// bounded by them.
#[derive(Debug, Default)]
pub struct CrlQueue {
    pending: std::sync::Mutex<std::collections::HashSet<CrlScope>>,
    wake: tokio::sync::Notify,
}

impl CrlQueue {
    /// Queues `scope` for signing.
    pub fn ask(&self, scope: CrlScope) {
        let added = self
            .pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(scope);
        if added {
            self.wake.notify_one();
        }
    }

    /// Waits until a scope is queued, then takes every queued scope.
    async fn next(&self) -> Vec<CrlScope> {
        loop {
            let taken: Vec<CrlScope> = self
                .pending
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .drain()
                .collect();
            if !taken.is_empty() {
                return taken;
            }
            self.wake.notified().await;
        }
    }
}

/// The background CRL signer `serve` runs: signs each scope that fetches queued (within
/// its key device's budget), through [`ca_core::authority::Revocations::published_crl`] (which signs only
/// when still due, so concurrent asks and replicas sign once). Runs until aborted.
pub async fn sign_queued_crls(state: AppState) {
    loop {
        for scope in state.crls.next().await {
            sign_scope(&state, &scope).await;
        }
    }
}

/// Signs `scope`'s CRL when due; a failure is logged and counted (the
/// CRL already published keeps being served until its nextUpdate).
pub(crate) async fn sign_scope(state: &AppState, scope: &CrlScope) {
    let result = state
        .services
        .revocations
        .published_crl(
            &scope.ca,
            scope.partition,
            scope.delta,
            state.config.crl_revocation_delay_secs,
        )
        .await;
    if let Err(e) = result {
        Metrics::inc(&state.metrics.refresh_failures);
        tracing::warn!(ca = %scope.ca, partition = ?scope.partition, delta = scope.delta, error = %e, "CRL signing failed");
    }
}

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/crl/{file}", get(get_crl))
        .route("/ca/{file}", get(get_ca))
}

/// A CRL file name taken apart: CA name, partition, delta.
#[derive(Debug, PartialEq, Eq)]
struct CrlFile<'a> {
    ca: &'a str,
    partition: Option<u32>,
    delta: bool,
}

/// Parses `{ca}[-p{N}][-delta].crl`, the names `CaSettings::crl_url` produces.
fn parse_crl_file(file: &str) -> Option<CrlFile<'_>> {
    let mut stem = file.strip_suffix(".crl")?;
    let delta = match stem.strip_suffix("-delta") {
        Some(s) => {
            stem = s;
            true
        }
        None => false,
    };
    let mut partition = None;
    if let Some((name, p)) = stem.rsplit_once("-p") {
        if !p.is_empty() && p.len() <= 4 && p.bytes().all(|b| b.is_ascii_digit()) {
            partition = p.parse().ok();
            stem = name;
        }
    }
    (!stem.is_empty()).then_some(CrlFile {
        ca: stem,
        partition,
        delta,
    })
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn http_date(secs: i64) -> Option<HeaderValue> {
    let t = UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).ok()?);
    HeaderValue::from_str(&httpdate::fmt_http_date(t)).ok()
}

async fn get_crl(State(state): State<AppState>, Path(file): Path<String>) -> Response {
    Metrics::inc(&state.metrics.crl_requests);
    let Some(f) = parse_crl_file(&file) else {
        return Problem::new(
            StatusCode::NOT_FOUND,
            "not-found",
            "CRLs are named {ca}.crl, {ca}-p{N}.crl or {ca}-delta.crl",
        )
        .into_response();
    };
    // Stored bytes only: a fetch never signs, locks or writes. A missing or due CRL is
    // queued for the background signer (`sign_queued_crls`).
    let stored = match state
        .services
        .revocations
        .stored_crl(
            f.ca,
            f.partition,
            f.delta,
            state.config.crl_revocation_delay_secs,
        )
        .await
    {
        Ok(s) => s,
        Err(e) => return Problem::from(e).into_response(),
    };
    if stored.due && !stored.offline {
        // Keyed by the CA's stored name, however the URL named it (name or id).
        state.crls.ask(CrlScope {
            ca: stored.ca.clone(),
            partition: f.partition,
            delta: f.delta,
        });
    }
    let Some(published) = stored.crl else {
        if stored.offline {
            return Problem::new(
                StatusCode::NOT_FOUND,
                "not-found",
                format!(
                    "root CA '{}' is offline here and has no valid CRL published; its operator signs one with `caforge crl`",
                    stored.ca
                ),
            )
            .into_response();
        }
        let mut problem = Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "this CRL is being signed; try again in a moment",
        );
        problem.retry_after = Some(1);
        return problem.into_response();
    };
    // A CRL that is due is replaced within moments: caches must not keep it. (An offline
    // root's is replaced when its operator signs one.)
    let max_age = if stored.due && !stored.offline {
        0
    } else {
        (published.next_update - now()).max(0)
    };
    let mut response = (
        [(header::CONTENT_TYPE, "application/pkix-crl")],
        published.der.clone(),
    )
        .into_response();
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&format!(
        "max-age={max_age}, public, no-transform, must-revalidate"
    )) {
        h.insert(header::CACHE_CONTROL, v);
    }
    if let Some(v) = http_date(published.this_update) {
        h.insert(header::LAST_MODIFIED, v);
    }
    if let Some(v) = http_date(published.next_update) {
        h.insert(header::EXPIRES, v);
    }
    if let Ok(v) = HeaderValue::from_str(&format!("\"crl-{}\"", published.number)) {
        h.insert(header::ETAG, v);
    }
    response
}

async fn get_ca(State(state): State<AppState>, Path(file): Path<String>) -> Response {
    Metrics::inc(&state.metrics.ca_requests);
    let Some(name) = file.strip_suffix(".crt").filter(|n| !n.is_empty()) else {
        return Problem::new(
            StatusCode::NOT_FOUND,
            "not-found",
            "CA certificates are named {ca}.crt",
        )
        .into_response();
    };
    match state.services.directory.ca(name).await {
        Ok(ca) => {
            let etag = format!("\"{}\"", hex::encode(Sha256::digest(&ca.cert_der)));
            let mut response = (
                [
                    (header::CONTENT_TYPE, "application/pkix-cert"),
                    (header::CACHE_CONTROL, "max-age=86400, public"),
                ],
                ca.cert_der,
            )
                .into_response();
            if let Ok(v) = HeaderValue::from_str(&etag) {
                response.headers_mut().insert(header::ETAG, v);
            }
            response
        }
        Err(e) => Problem::from(e).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crl_file_names() {
        let f = |s| parse_crl_file(s);
        assert_eq!(
            f("int.crl"),
            Some(CrlFile {
                ca: "int",
                partition: None,
                delta: false
            })
        );
        assert_eq!(
            f("int-p3.crl"),
            Some(CrlFile {
                ca: "int",
                partition: Some(3),
                delta: false
            })
        );
        assert_eq!(
            f("my-pki-delta.crl"),
            Some(CrlFile {
                ca: "my-pki",
                partition: None,
                delta: true
            })
        );
        assert_eq!(
            f("a-p12-delta.crl"),
            Some(CrlFile {
                ca: "a",
                partition: Some(12),
                delta: true
            })
        );
        assert_eq!(
            f("a-px.crl"),
            Some(CrlFile {
                ca: "a-px",
                partition: None,
                delta: false
            })
        );
        assert_eq!(f(".crl"), None);
        assert_eq!(f("int.pem"), None);
    }
}
