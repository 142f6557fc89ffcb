//! Counters exposed at `/metrics` in the Prometheus text format (version 0.0.4).

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

/// Process-wide counters.
#[derive(Debug, Default)]
pub struct Metrics {
    /// OCSP requests received.
    pub ocsp_requests: AtomicU64,
    /// OCSP answers served from pre-signed responses.
    pub ocsp_cache_hits: AtomicU64,
    /// OCSP responses signed.
    pub ocsp_signatures: AtomicU64,
    /// OCSP error responses (any non-successful status).
    pub ocsp_errors: AtomicU64,
    /// CRLs served.
    pub crl_requests: AtomicU64,
    /// CA certificates served.
    pub ca_requests: AtomicU64,
    /// Sum of OCSP handling time, microseconds.
    pub ocsp_micros: AtomicU64,
}

impl Metrics {
    /// Adds one to `counter`.
    pub fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let mut counter = |name: &str, help: &str, v: &AtomicU64| {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} counter");
            let _ = writeln!(out, "{name} {}", v.load(Ordering::Relaxed));
        };
        counter(
            "caforge_ocsp_requests_total",
            "OCSP requests received.",
            &self.ocsp_requests,
        );
        counter(
            "caforge_ocsp_cache_hits_total",
            "OCSP answers served from pre-signed responses.",
            &self.ocsp_cache_hits,
        );
        counter(
            "caforge_ocsp_signatures_total",
            "OCSP responses signed.",
            &self.ocsp_signatures,
        );
        counter(
            "caforge_ocsp_errors_total",
            "OCSP error responses.",
            &self.ocsp_errors,
        );
        counter(
            "caforge_ocsp_handling_microseconds_total",
            "Time spent answering OCSP requests.",
            &self.ocsp_micros,
        );
        counter(
            "caforge_crl_requests_total",
            "CRLs served.",
            &self.crl_requests,
        );
        counter(
            "caforge_ca_certificate_requests_total",
            "CA certificates served.",
            &self.ca_requests,
        );
        out
    }
}
