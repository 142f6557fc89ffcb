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
    /// Of those, the ones served from memory without reading the store.
    pub ocsp_memory_hits: AtomicU64,
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
    /// Certificates issued through the API.
    pub certificates_issued: AtomicU64,
    /// Revocations made through the API.
    pub revocations: AtomicU64,
    /// Background refreshes that failed.
    pub refresh_failures: AtomicU64,
    /// HTTP requests answered.
    pub http_requests: AtomicU64,
    /// HTTP responses with a 5xx status.
    pub http_server_errors: AtomicU64,
    /// Request latency histogram: counts per bucket of `LATENCY_BUCKETS` (cumulative on
    /// rendering), the last slot being +Inf.
    pub latency_buckets: [AtomicU64; LATENCY_BUCKETS.len() + 1],
    /// Sum of request latencies, microseconds.
    pub latency_micros: AtomicU64,
}

/// Upper bounds (seconds) of the request latency histogram.
pub(crate) const LATENCY_BUCKETS: [f64; 9] =
    [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0];

impl Metrics {
    /// Adds one to `counter`.
    pub fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Records one answered request.
    pub fn observe(&self, elapsed: std::time::Duration, server_error: bool) {
        Self::inc(&self.http_requests);
        if server_error {
            Self::inc(&self.http_server_errors);
        }
        let secs = elapsed.as_secs_f64();
        let slot = LATENCY_BUCKETS
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(LATENCY_BUCKETS.len());
        Self::inc(&self.latency_buckets[slot]);
        self.latency_micros.fetch_add(
            u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
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
            "caforge_ocsp_memory_hits_total",
            "Pre-signed OCSP answers served from memory, without reading the store.",
            &self.ocsp_memory_hits,
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
        counter(
            "caforge_certificates_issued_total",
            "Certificates issued through the API.",
            &self.certificates_issued,
        );
        counter(
            "caforge_revocations_total",
            "Revocations made through the API.",
            &self.revocations,
        );
        counter(
            "caforge_refresh_failures_total",
            "Background refreshes that failed.",
            &self.refresh_failures,
        );
        counter(
            "caforge_http_server_errors_total",
            "HTTP responses with a 5xx status.",
            &self.http_server_errors,
        );
        let _ = writeln!(
            out,
            "# HELP caforge_http_request_duration_seconds HTTP request latency."
        );
        let _ = writeln!(
            out,
            "# TYPE caforge_http_request_duration_seconds histogram"
        );
        let mut cumulative = 0;
        for (i, slot) in self.latency_buckets.iter().enumerate() {
            cumulative += slot.load(Ordering::Relaxed);
            let le = LATENCY_BUCKETS
                .get(i)
                .map_or("+Inf".to_owned(), |b| b.to_string());
            let _ = writeln!(
                out,
                "caforge_http_request_duration_seconds_bucket{{le=\"{le}\"}} {cumulative}"
            );
        }
        let _ = writeln!(
            out,
            "caforge_http_request_duration_seconds_sum {}",
            self.latency_micros.load(Ordering::Relaxed) as f64 / 1e6
        );
        let _ = writeln!(
            out,
            "caforge_http_request_duration_seconds_count {}",
            self.http_requests.load(Ordering::Relaxed)
        );
        out
    }
}
