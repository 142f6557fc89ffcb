//! The issuance API under `/api/v1`: issue from a CSR, fetch, list and revoke, for clients
//! holding a bearer token (`caforge token create`). What a token may do is decided in
//! ca-core ([`ca_core::authz::authorize`], called by the services); the handlers only
//! authenticate it. JSON in and out; errors as RFC 7807 problem details.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use ca_core::authority::{IssueRequest, RevokeRequest, SubjectKey};
use ca_core::authz::Principal;
use ca_core::profile::ProfileName;
use ca_core::revocation::RevocationReason;
use ca_core::store::{CertificateFilter, CertificateRecord, CertificateStatus};
use serde::Deserialize;

use crate::error::Problem;
use crate::state::AppState;

/// The API's OpenAPI 3.1 description, served at `/api/v1/openapi.json` (checked in as
/// `ca-server/openapi.json`; a test runs the handlers' real requests and responses
/// against it).
pub const OPENAPI: &str = include_str!("../openapi.json");

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/openapi.json", get(openapi))
        .route("/api/v1/certificates", post(issue).get(list))
        .route("/api/v1/certificates/{serial}", get(fetch))
        .route("/api/v1/certificates/{serial}/revoke", post(revoke))
}

/// `GET /api/v1/openapi.json`: the API's description, for anyone who reaches the listener.
async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

/// The authenticated caller: a token's principal.
pub(crate) struct Caller(Principal);

impl FromRequestParts<AppState> for Caller {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let unauthorized = |detail: &str| {
            let mut r =
                Problem::new(StatusCode::UNAUTHORIZED, "unauthorized", detail).into_response();
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer realm=\"caforge\""),
            );
            r
        };
        let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
            return Err(unauthorized("an Authorization: Bearer token is required"));
        };
        let Some(token) = value.to_str().ok().and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        }) else {
            return Err(unauthorized(
                "the Authorization header must be 'Bearer TOKEN'",
            ));
        };
        // The client certificate of a TLS connection (the listener put it there).
        let client = parts
            .extensions
            .get::<crate::tls::ClientCert>()
            .map(|c| c.key_sha256.clone());
        let required = state.config.tls.client_ca_file.is_some();
        match state
            .services
            .tokens
            .authenticate(token.trim(), client.as_deref(), required)
            .await
        {
            Ok(record) => Ok(Caller(Principal::Token {
                token: std::sync::Arc::new(record),
                client,
            })),
            Err(e) if e.kind() == ca_core::ErrorKind::Unauthorized => {
                Err(unauthorized("invalid, expired or revoked token"))
            }
            Err(e) => Err(Problem::from(e).into_response()),
        }
    }
}

fn bad_json(e: JsonRejection) -> Response {
    Problem::new(StatusCode::BAD_REQUEST, "bad-json", e.body_text()).into_response()
}

/// `POST /api/v1/certificates`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct IssueBody {
    ca: String,
    /// PKCS#10 CSR, PEM.
    csr: String,
    #[serde(default)]
    profile: Option<String>,
    #[serde(default)]
    days: Option<u32>,
    #[serde(default)]
    sans: Vec<String>,
    #[serde(default)]
    subject: Option<String>,
}

fn pem_chain(chain: &[Vec<u8>]) -> Result<String, Problem> {
    ca_core::pem::certificates(chain.iter().map(Vec::as_slice))
        .map_err(|e| Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))
}

fn certificate_json(
    record: &CertificateRecord,
    chain: &[Vec<u8>],
) -> Result<serde_json::Value, Problem> {
    let mut v = serde_json::to_value(crate::wire::Certificate::from(record))
        .map_err(|e| Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?;
    v["certificate"] = serde_json::Value::String(pem_chain(std::slice::from_ref(&record.der))?);
    v["chain"] = serde_json::Value::String(pem_chain(chain)?);
    Ok(v)
}

async fn issue(
    State(state): State<AppState>,
    Caller(principal): Caller,
    body: Result<Json<IssueBody>, JsonRejection>,
) -> Response {
    let Json(body) = match body {
        Ok(b) => b,
        Err(e) => return bad_json(e),
    };
    let profile = match body
        .profile
        .as_deref()
        .unwrap_or("tls-server")
        .parse::<ProfileName>()
    {
        Ok(p) => p,
        Err(e) => return Problem::from(ca_core::Error::from(e)).into_response(),
    };
    let ca = match state.services.directory.ca(&body.ca).await {
        Ok(ca) => ca,
        Err(e) => return Problem::from(e).into_response(),
    };
    let Principal::Token { token, .. } = &principal else {
        return Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "no token")
            .into_response();
    };
    let token = std::sync::Arc::clone(token);
    let request = IssueRequest {
        ca: ca.name.clone(),
        key: SubjectKey::Csr(body.csr.into_bytes()),
        subject: body.subject,
        sans: body.sans,
        profile,
        days: body.days,
        principal: principal.clone(),
    };
    let issued = state
        .services
        .tokens
        .within_quota(&token, state.services.issuance.issue(&request), |i| {
            i.record.id
        })
        .await;
    match issued {
        Ok(issued) => {
            crate::metrics::Metrics::inc(&state.metrics.certificates_issued);
            tracing::info!(principal = %principal, serial = %issued.record.serial, ca = %ca.name, "issued via API");
            match certificate_json(&issued.record, &issued.chain) {
                Ok(mut v) => {
                    v["warnings"] = serde_json::json!(issued.warnings);
                    (StatusCode::CREATED, Json(v)).into_response()
                }
                Err(p) => p.into_response(),
            }
        }
        Err(e) => Problem::from(e).into_response(),
    }
}

/// Query of `GET /api/v1/certificates/{serial}`.
#[derive(Debug, Deserialize)]
pub(crate) struct FetchQuery {
    ca: Option<String>,
}

async fn fetch(
    State(state): State<AppState>,
    Caller(principal): Caller,
    Path(serial): Path<String>,
    Query(q): Query<FetchQuery>,
) -> Response {
    let record = match state
        .services
        .directory
        .certificate_as(&principal, &serial, q.ca.as_deref())
        .await
    {
        Ok(r) => r,
        Err(e) => return Problem::from(e).into_response(),
    };
    let chain = match state.services.directory.ca(&record.issuer_name).await {
        Ok(ca) => match state.services.directory.chain_records(&ca).await {
            Ok(c) => c.into_iter().map(|c| c.cert_der).collect::<Vec<_>>(),
            Err(e) => return Problem::from(e).into_response(),
        },
        Err(e) => return Problem::from(e).into_response(),
    };
    match certificate_json(&record, &chain) {
        Ok(v) => Json(v).into_response(),
        Err(p) => p.into_response(),
    }
}

/// Certificates a page of `GET /api/v1/certificates` holds unless `limit` says fewer.
pub(crate) const DEFAULT_PAGE: u32 = 100;
/// The most a page holds.
pub(crate) const MAX_PAGE: u32 = 1000;

/// Query of `GET /api/v1/certificates`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListQuery {
    ca: Option<String>,
    status: Option<String>,
    /// The cursor: the `id` of the last certificate of the page before.
    after: Option<i64>,
    limit: Option<u32>,
}

async fn list(
    State(state): State<AppState>,
    Caller(principal): Caller,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Ok(Query(q)) = query else {
        return Problem::new(
            StatusCode::BAD_REQUEST,
            "bad-query",
            "query parameters: ca, status, after (an id), limit (1 to 1000)",
        )
        .into_response();
    };
    let limit = q.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Problem::new(
            StatusCode::BAD_REQUEST,
            "bad-query",
            format!("limit must be 1 to {MAX_PAGE}"),
        )
        .into_response();
    }
    let mut filter = CertificateFilter {
        after_id: q.after,
        limit: Some(limit),
        ..CertificateFilter::default()
    };
    if let Some(ca) = &q.ca {
        match state.services.directory.ca(ca).await {
            Ok(r) => filter.issuer = Some(r.id),
            Err(e) => return Problem::from(e).into_response(),
        }
    }
    match q.status.as_deref().map(CertificateStatus::parse) {
        None => {}
        Some(Ok(s)) => filter.status = Some(s),
        Some(Err(_)) => {
            let other = q.status.as_deref().unwrap_or_default();
            return Problem::new(
                StatusCode::BAD_REQUEST,
                "bad-query",
                format!("unknown status '{other}' (valid or revoked)"),
            )
            .into_response();
        }
    }
    let (visible, next) = match state
        .services
        .directory
        .certificates_as(&principal, &filter)
        .await
    {
        Ok(page) => page,
        Err(e) => return Problem::from(e).into_response(),
    };
    let visible: Vec<crate::wire::Certificate<'_>> =
        visible.iter().map(crate::wire::Certificate::from).collect();
    let mut response = Json(serde_json::json!(visible)).into_response();
    if let Some(after) = next {
        let mut link = format!("</api/v1/certificates?after={after}&limit={limit}");
        if let Some(ca) = &q.ca {
            link.push_str(&format!("&ca={}", ca_core::revocation::url_segment(ca)));
        }
        if let Some(status) = &q.status {
            link.push_str(&format!(
                "&status={}",
                ca_core::revocation::url_segment(status)
            ));
        }
        link.push_str(">; rel=\"next\"");
        if let Ok(v) = header::HeaderValue::from_str(&link) {
            response.headers_mut().insert(header::LINK, v);
        }
    }
    response
}

/// `POST /api/v1/certificates/{serial}/revoke`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RevokeBody {
    reason: RevocationReason,
    #[serde(default)]
    invalidity_date: Option<i64>,
    #[serde(default)]
    ca: Option<String>,
}

async fn revoke(
    State(state): State<AppState>,
    Caller(principal): Caller,
    Path(serial): Path<String>,
    body: Result<Json<RevokeBody>, JsonRejection>,
) -> Response {
    let Json(body) = match body {
        Ok(b) => b,
        Err(e) => return bad_json(e),
    };
    let record = match state
        .services
        .directory
        .certificate_exact(&serial, body.ca.as_deref())
        .await
    {
        Ok(r) => r,
        Err(e) => return Problem::from(e).into_response(),
    };
    match state
        .services
        .revocations
        .revoke(&RevokeRequest {
            serial,
            ca: Some(record.issuer_name.clone()),
            reason: body.reason,
            invalidity_date: body.invalidity_date,
            principal: principal.clone(),
        })
        .await
    {
        Ok(r) => {
            crate::metrics::Metrics::inc(&state.metrics.revocations);
            tracing::info!(principal = %principal, serial = %r.serial, reason = body.reason.as_str(), "revoked via API");
            Json(serde_json::json!(crate::wire::Certificate::from(&r))).into_response()
        }
        Err(e) => Problem::from(e).into_response(),
    }
}
