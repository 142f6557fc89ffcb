#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]
//! Handler-level tests: the router driven with `tower::ServiceExt::oneshot`, no socket, over
//! an in-memory store. They pin statuses, content types and problem `type`s; the socket
//! tests with real clients (curl, `openssl ocsp -url`) are in `tests/tests/server.rs`.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::response::Response;
use ca_core::algorithm::KeyType;
use ca_core::authority::{NewCaRequest, Services, TokenRequest};
use ca_core::config::{Config, ServerSettings};
use ca_core::keys::{FileKeyProvider, Passphrase};
use ca_core::revocation::ocsp::{
    build_request, error_response, CertId, CertIdHash, ResponseStatus,
};
use ca_core::revocation::CaSettings;
use ca_core::store::AnyStore;
use ca_core::time::SystemClock;
use ca_server::{app, front, AppState};
use tower::ServiceExt as _;

struct Fixture {
    state: AppState,
    /// A token allowed to issue under CA "a" only.
    token_a: String,
    _keys: tempfile::TempDir,
}

async fn fixture() -> Fixture {
    let keys = tempfile::tempdir().unwrap();
    let store = AnyStore::open("sqlite::memory:").await.unwrap();
    let services = Services::new(
        store,
        Arc::new(FileKeyProvider::new(
            keys.path(),
            Some(Passphrase::new("test-only passphrase")),
        )),
        Arc::new(SystemClock),
        Config::default().profiles().unwrap(),
        Config::default().hooks,
        ca_core::authz::Principal::Server,
    );
    for name in ["a", "b"] {
        services
            .lifecycle
            .create_root(&NewCaRequest {
                name: name.into(),
                subject: None,
                key_type: KeyType::P256,
                days: None,
                path_len: None,
                sm2_id: None,
                name_constraints: Default::default(),
                policies: Default::default(),
                // Leaves straight from these roots keep the fixture small.
                settings: CaSettings {
                    allow_leaves: true,
                    ..CaSettings::default()
                },
                key_store: None,
            })
            .await
            .unwrap();
    }
    let (_, secret) = services
        .tokens
        .create(&TokenRequest {
            name: "ci".into(),
            scopes: vec![ca_core::authz::Scope {
                cas: vec!["a".into()],
                profiles: vec!["*".into()],
                actions: ca_core::authz::Action::ALL.to_vec(),
                names: vec!["*".into()],
                attributes: vec!["*".into()],
            }],
            lifetime: None,
            quota: None,
            client_certificate: None,
        })
        .await
        .unwrap();
    let settings = ServerSettings {
        max_body_bytes: 4096,
        refresh_interval_secs: 0,
        ..ServerSettings::default()
    };
    Fixture {
        state: AppState::new(services, settings),
        token_a: secret.to_string(),
        _keys: keys,
    }
}

async fn send(f: &Fixture, request: Request<Body>) -> Response {
    app(f.state.clone()).oneshot(request).await.unwrap()
}

/// Through [`front`], the service `serve` runs (POST /ocsp answered before the router).
async fn send_front(f: &Fixture, request: Request<Body>) -> Response {
    front(f.state.clone()).oneshot(request).await.unwrap()
}

async fn body(response: Response) -> Vec<u8> {
    axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap()
        .to_vec()
}

fn content_type(r: &Response) -> &str {
    r.headers()
        .get(header::CONTENT_TYPE)
        .map_or("", |v| v.to_str().unwrap())
}

/// Asserts an RFC 7807 answer with `status` and problem type `kind`.
async fn assert_problem(response: Response, status: StatusCode, kind: &str) {
    assert_eq!(response.status(), status);
    assert_eq!(content_type(&response), "application/problem+json");
    let v: serde_json::Value = serde_json::from_slice(&body(response).await).unwrap();
    assert_eq!(v["type"], format!("urn:caforge:problem:{kind}"), "{v}");
    assert_eq!(v["status"], status.as_u16());
}

fn ocsp_post(der: Vec<u8>, content_type: &str) -> Request<Body> {
    Request::post("/ocsp")
        .header(header::CONTENT_TYPE, content_type)
        .body(Body::from(der))
        .unwrap()
}

#[tokio::test]
async fn health_and_metrics() {
    let f = fixture().await;
    let r = send(&f, Request::get("/healthz").body(Body::empty()).unwrap()).await;
    assert_eq!(r.status(), StatusCode::OK);
    let v: serde_json::Value = serde_json::from_slice(&body(r).await).unwrap();
    assert_eq!(v["status"], "ok", "{v}");
    let r = send(&f, Request::get("/metrics").body(Body::empty()).unwrap()).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        content_type(&r).starts_with("text/plain"),
        "{}",
        content_type(&r)
    );
    let text = String::from_utf8(body(r).await).unwrap();
    for name in [
        "caforge_ocsp_requests_total",
        "caforge_ocsp_memory_hits_total",
        "caforge_http_request_duration_seconds_bucket",
    ] {
        assert!(text.contains(name), "{name} missing from {text}");
    }
}

/// The hostile POSTs, through the router or through [`front`].
async fn hostile_posts(f: &Fixture, direct: bool) {
    let counted = || {
        f.state
            .metrics
            .http_requests
            .load(std::sync::atomic::Ordering::Relaxed)
    };
    let before = counted();
    let send = |r| async move {
        if direct {
            send_front(f, r).await
        } else {
            send(f, r).await
        }
    };
    // Not DER at all.
    let r = send(ocsp_post(b"hello".to_vec(), "application/ocsp-request")).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(content_type(&r), "application/ocsp-response");
    assert_eq!(
        body(r).await,
        error_response(ResponseStatus::MalformedRequest)
    );
    // Wrong content type.
    let r = send(ocsp_post(b"hello".to_vec(), "application/json")).await;
    assert_problem(
        r,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported-media-type",
    )
    .await;
    // Over the body limit (4 KiB here).
    let r = send(ocsp_post(vec![0x30; 8192], "application/ocsp-request")).await;
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    // A CertID naming nobody we know.
    let foreign = build_request(
        &[CertId::new(CertIdHash::Sha256, b"\x30\x00", b"not our key", &[1, 2, 3]).unwrap()],
        None,
    )
    .unwrap();
    let r = send(ocsp_post(foreign, "application/ocsp-request")).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(body(r).await, error_response(ResponseStatus::Unauthorized));
    // Every request above was counted for /metrics.
    assert_eq!(counted() - before, 4);
}

#[tokio::test]
async fn hostile_ocsp_requests_get_ocsp_errors_or_http_statuses() {
    let f = fixture().await;
    hostile_posts(&f, false).await;
    hostile_posts(&f, true).await;
    // GET with a path that is not base64.
    let r = send(
        &f,
        Request::get("/ocsp/%25%25!!").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        body(r).await,
        error_response(ResponseStatus::MalformedRequest)
    );
}

#[tokio::test]
async fn publication_paths_for_unknown_cas_are_404() {
    let f = fixture().await;
    for path in ["/crl/nope.crl", "/crl/a-p9.crl", "/ca/nope.crt", "/nothing"] {
        let r = send(&f, Request::get(path).body(Body::empty()).unwrap()).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
    }
    let r = send(&f, Request::get("/ca/a.crt").body(Body::empty()).unwrap()).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(content_type(&r), "application/pkix-cert");
}

#[tokio::test]
async fn a_crl_fetch_serves_stored_bytes_and_queues_the_signing() {
    let f = fixture().await;
    let get = || Request::get("/crl/a.crl").body(Body::empty()).unwrap();
    // Nothing signed yet: the fetch signs nothing itself (no background signer runs here).
    for _ in 0..2 {
        let r = send(&f, get()).await;
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(r.headers().contains_key(header::RETRY_AFTER));
    }
    // Once the queued scope is signed (what `serve`'s signer does), the fetch serves it.
    f.state
        .services
        .revocations
        .published_crl("a", None, false, 0)
        .await
        .unwrap();
    let r = send(&f, get()).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(content_type(&r), "application/pkix-crl");
    let cache = r.headers()[header::CACHE_CONTROL]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(!cache.starts_with("max-age=0"), "{cache}");
}

fn api_issue(token: Option<&str>, json: &str) -> Request<Body> {
    let mut b =
        Request::post("/api/v1/certificates").header(header::CONTENT_TYPE, "application/json");
    if let Some(t) = token {
        b = b.header(header::AUTHORIZATION, t);
    }
    b.body(Body::from(json.to_owned())).unwrap()
}

#[tokio::test]
async fn the_api_wants_a_valid_token_in_scope_and_good_json() {
    let f = fixture().await;
    let body_b = r#"{"ca":"b","csr":"not a csr"}"#;
    // No token, a malformed header, a wrong token.
    for auth in [None, Some("Basic dXNlcjpwYXNz"), Some("Bearer cft_wrong")] {
        let r = send(&f, api_issue(auth, body_b)).await;
        assert_eq!(
            r.headers().get(header::WWW_AUTHENTICATE).unwrap(),
            "Bearer realm=\"caforge\""
        );
        assert_problem(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
    }
    let bearer = format!("Bearer {}", f.token_a);
    // A CA outside the token's scope.
    let r = send(&f, api_issue(Some(&bearer), body_b)).await;
    assert_problem(r, StatusCode::FORBIDDEN, "forbidden").await;
    // Broken JSON and unknown fields.
    for json in ["{\"ca\":", r#"{"ca":"a","csr":"x","admin":true}"#] {
        let r = send(&f, api_issue(Some(&bearer), json)).await;
        assert_problem(r, StatusCode::BAD_REQUEST, "bad-json").await;
    }
    // In scope, but the CSR is garbage: rejected, nothing issued.
    let r = send(
        &f,
        api_issue(Some(&bearer), r#"{"ca":"a","csr":"not a csr"}"#),
    )
    .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = send(
        &f,
        Request::get("/api/v1/certificates?ca=a")
            .header(header::AUTHORIZATION, &bearer)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let v: serde_json::Value = serde_json::from_slice(&body(r).await).unwrap();
    // Only the root's own certificate is there.
    let profiles: Vec<_> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["profile"].clone())
        .collect();
    assert_eq!(profiles, [serde_json::json!("ca")], "{v}");
}

/// `GET /api/v1/certificates` comes in pages: `limit` (1 to 1000) and `after` (the last id
/// seen), with a `Link: rel="next"` header while more may follow.
#[tokio::test]
async fn certificate_listings_come_in_pages() {
    let f = fixture().await;
    for i in 0..3 {
        f.state
            .services
            .issuance
            .issue(&ca_core::authority::IssueRequest {
                ca: "a".into(),
                key: ca_core::authority::SubjectKey::Generate(KeyType::P256),
                subject: Some(format!("CN=c{i}")),
                sans: vec![],
                profile: ca_core::profile::ProfileName::TlsClient,
                days: Some(30),
                principal: ca_core::authz::Principal::Operator("test".into()),
            })
            .await
            .unwrap();
    }
    let bearer = format!("Bearer {}", f.token_a);
    let get = |uri: String| {
        Request::get(uri)
            .header(header::AUTHORIZATION, &bearer)
            .body(Body::empty())
            .unwrap()
    };
    // The root's own certificate and three leaves: pages of 3 and 1.
    let r = send(&f, get("/api/v1/certificates?ca=a&limit=3".into())).await;
    assert_eq!(r.status(), StatusCode::OK);
    let link = r
        .headers()
        .get(header::LINK)
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let page: serde_json::Value = serde_json::from_slice(&body(r).await).unwrap();
    assert_eq!(page.as_array().unwrap().len(), 3);
    let last_id = page[2]["id"].as_i64().unwrap();
    assert_eq!(
        link,
        format!("</api/v1/certificates?after={last_id}&limit=3&ca=a>; rel=\"next\"")
    );
    let next = link
        .trim_start_matches('<')
        .split('>')
        .next()
        .unwrap()
        .to_owned();
    let r = send(&f, get(next)).await;
    assert!(r.headers().get(header::LINK).is_none(), "the last page");
    let page: serde_json::Value = serde_json::from_slice(&body(r).await).unwrap();
    assert_eq!(page.as_array().unwrap().len(), 1);
    for bad in ["limit=0", "limit=1001", "after=x"] {
        let r = send(&f, get(format!("/api/v1/certificates?{bad}"))).await;
        assert_problem(r, StatusCode::BAD_REQUEST, "bad-query").await;
    }
}
