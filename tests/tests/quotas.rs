#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]
//! Issuance quotas of API tokens over real HTTP: issuance past the quota is refused with a
//! problem+json (429, Retry-After, when it frees up); failed requests do not use it up; a
//! clock moved past the window frees it.

use caforge_tests::server::{api, Server};
use caforge_tests::{p256_csr, Home};

fn quota_token(h: &Home, quota: &str) -> String {
    let r = h.ok(&[
        "token",
        "create",
        "--ca",
        "int",
        "--profile",
        "tls-server",
        "--quota",
        quota,
        "--format",
        "json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["quota"], quota);
    v["token"].as_str().unwrap().to_owned()
}

#[test]
fn issuance_past_the_quota_is_refused_until_it_frees_up() {
    let h = Home::new();
    h.root_and_intermediate("p256", &[], &[]);
    let token = quota_token(&h, "2/1d");
    let csr = p256_csr(h.path(), "app", "/CN=app.example");
    let body =
        serde_json::json!({"ca": "int", "csr": csr, "sans": ["dns:app.example"], "days": 30})
            .to_string();
    let bad = serde_json::json!({"ca": "int", "csr": "not a CSR", "sans": ["dns:app.example"]})
        .to_string();
    let server = Server::start(&h);
    let post = |b: &str| {
        api(
            &h,
            &server,
            "POST",
            "/api/v1/certificates",
            Some(&token),
            Some(b),
        )
    };

    // A refused request does not use the quota up.
    assert_eq!(post(&bad).0, 400);
    assert_eq!(post(&body).0, 201);
    assert_eq!(post(&bad).0, 400);
    assert_eq!(post(&body).0, 201);
    let count = h.cert_count();
    let (code, headers, problem) = post(&body);
    assert_eq!(code, 429, "{problem}");
    assert!(headers.contains("application/problem+json"), "{headers}");
    let retry_after: u64 = headers
        .lines()
        .find_map(|l| l.strip_prefix("retry-after:"))
        .expect("Retry-After header")
        .trim()
        .parse()
        .unwrap();
    assert!(retry_after > 0 && retry_after <= 86_400, "{retry_after}");
    let problem: serde_json::Value = serde_json::from_str(&problem).unwrap();
    assert_eq!(problem["type"], "urn:caforge:problem:quota-exceeded");
    assert_eq!(problem["status"], 429);
    assert!(
        problem["detail"].as_str().unwrap().contains("2/1d"),
        "{problem}"
    );
    assert!(
        problem["frees_at"].as_str().unwrap().ends_with('Z'),
        "{problem}"
    );
    assert_eq!(h.cert_count(), count, "nothing is issued past the quota");
    drop(server);

    let tokens = h.ok(&["token", "list", "--format", "json"]);
    let tokens: serde_json::Value = serde_json::from_str(&tokens.stdout).unwrap();
    assert_eq!(tokens[0]["quota_used"], 2);

    // A day later the window has moved on: the quota is free again.
    let later = Server::start_with(&h, &[("CAFORGE_DANGER_CLOCK_SHIFT", "25h")]);
    let (code, _, answer) = api(
        &h,
        &later,
        "POST",
        "/api/v1/certificates",
        Some(&token),
        Some(&body),
    );
    assert_eq!(code, 201, "{answer}");

    // Bad quotas are refused at creation.
    for bad in ["0/1d", "5", "x/1d", "5/0d", "5/soon"] {
        let r = h.run(&[
            "token",
            "create",
            "--ca",
            "int",
            "--profile",
            "tls-server",
            "--quota",
            bad,
        ]);
        assert!(
            !r.ok && !r.stderr.contains("panicked"),
            "{bad}: {}",
            r.stderr
        );
    }
}
