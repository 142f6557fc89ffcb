//! The issuance API under `/api/v1`: issue from a CSR, fetch, list and revoke, for clients
//! holding a bearer token (`caforge token create`) scoped to CAs and profiles. JSON in and
//! out; errors as RFC 7807 problem details.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use ca_core::authority::{IssueRequest, RevokeRequest, SubjectKey};
use ca_core::profile::ProfileName;
use ca_core::revocation::RevocationReason;
use ca_core::store::{CertificateFilter, CertificateRecord, CertificateStatus};
use ca_core::tokens::TokenRecord;
use serde::Deserialize;

use crate::error::Problem;
use crate::state::AppState;

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/certificates", post(issue).get(list))
        .route("/api/v1/certificates/{serial}", get(fetch))
        .route("/api/v1/certificates/{serial}/revoke", post(revoke))
}

/// The authenticated caller.
pub(crate) struct Caller(TokenRecord);

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
        match state.services.tokens.authenticate(token.trim()).await {
            Ok(record) => Ok(Caller(record)),
            Err(e) if e.kind() == ca_core::ErrorKind::Unauthorized => {
                Err(unauthorized("invalid, expired or revoked token"))
            }
            Err(e) => Err(Problem::from(e).into_response()),
        }
    }
}

fn forbidden(detail: String) -> Response {
    Problem::from(ca_core::Error::Forbidden(detail)).into_response()
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
    Caller(token): Caller,
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
    if !token.allows_ca(&ca.name) || !token.allows_profile(profile.as_str()) {
        return forbidden(format!(
            "token {} may not issue under CA '{}' with profile {}",
            token.id,
            ca.name,
            profile.as_str()
        ));
    }
    let slot = state.signing_slot().await;
    let request = IssueRequest {
        ca: ca.name.clone(),
        key: SubjectKey::Csr(body.csr.into_bytes()),
        subject: body.subject,
        sans: body.sans,
        profile,
        days: body.days,
    };
    let issued = state
        .services
        .tokens
        .within_quota(&token, state.services.issuance.issue(&request), |i| {
            i.record.id
        })
        .await;
    drop(slot);
    match issued {
        Ok(issued) => {
            crate::metrics::Metrics::inc(&state.metrics.certificates_issued);
            tracing::info!(token = token.id, serial = %issued.record.serial, ca = %ca.name, "issued via API");
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
    Caller(token): Caller,
    Path(serial): Path<String>,
    Query(q): Query<FetchQuery>,
) -> Response {
    let record = match state
        .services
        .directory
        .certificate(&serial, q.ca.as_deref())
        .await
    {
        Ok(r) => r,
        Err(e) => return Problem::from(e).into_response(),
    };
    if !token.allows_ca(&record.issuer_name) {
        return forbidden(format!(
            "token {} may not read CA '{}'",
            token.id, record.issuer_name
        ));
    }
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

/// Query of `GET /api/v1/certificates`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListQuery {
    ca: Option<String>,
    status: Option<String>,
}

async fn list(
    State(state): State<AppState>,
    Caller(token): Caller,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Ok(Query(q)) = query else {
        return Problem::new(
            StatusCode::BAD_REQUEST,
            "bad-query",
            "query parameters: ca, status",
        )
        .into_response();
    };
    let mut filter = CertificateFilter::default();
    if let Some(ca) = &q.ca {
        match state.services.directory.ca(ca).await {
            Ok(r) => {
                if !token.allows_ca(&r.name) {
                    return forbidden(format!("token {} may not read CA '{}'", token.id, r.name));
                }
                filter.issuer = Some(r.id);
            }
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
    match state.services.directory.certificates(&filter).await {
        Ok(certs) => {
            let visible: Vec<crate::wire::Certificate<'_>> = certs
                .iter()
                .filter(|c| token.allows_ca(&c.issuer_name))
                .map(crate::wire::Certificate::from)
                .collect();
            Json(serde_json::json!(visible)).into_response()
        }
        Err(e) => Problem::from(e).into_response(),
    }
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
    Caller(token): Caller,
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
        .certificate(&serial, body.ca.as_deref())
        .await
    {
        Ok(r) => r,
        Err(e) => return Problem::from(e).into_response(),
    };
    if !token.allows_ca(&record.issuer_name) {
        return forbidden(format!(
            "token {} may not revoke under CA '{}'",
            token.id, record.issuer_name
        ));
    }
    match state
        .services
        .revocations
        .revoke(&RevokeRequest {
            serial,
            ca: Some(record.issuer_name.clone()),
            reason: body.reason,
            invalidity_date: body.invalidity_date,
        })
        .await
    {
        Ok(r) => {
            crate::metrics::Metrics::inc(&state.metrics.revocations);
            tracing::info!(token = token.id, serial = %r.serial, reason = body.reason.as_str(), "revoked via API");
            Json(serde_json::json!(crate::wire::Certificate::from(&r))).into_response()
        }
        Err(e) => Problem::from(e).into_response(),
    }
}
