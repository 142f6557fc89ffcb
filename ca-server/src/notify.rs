//! Delivering expiry notifications: one pass records what became due (in the store, so a
//! restart neither repeats nor skips a threshold) and POSTs every due notification to its
//! webhook, retrying failures with backoff. Delivery is at least once: a receiver that
//! answered 2xx just before a crash may see the same notification (same `id`) again.

use std::time::Duration;

use axum::body::Body;
use ca_core::authority::Authority;
use ca_core::notify::NotifySettings;
use ca_core::store::AnyStore;
use hyper::{Request, StatusCode};

/// How long one webhook delivery may take, connection included.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);

/// What one pass did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NotifyReport {
    /// Notifications that became due in this pass.
    pub recorded: usize,
    /// Delivered now.
    pub delivered: usize,
    /// Failed now and to be retried.
    pub retrying: usize,
    /// Failed now for the last time.
    pub given_up: usize,
}

/// One pass: record what is due, then deliver what is pending.
///
/// # Errors
/// Store failures (delivery failures are recorded, not returned).
pub async fn run_pass(
    authority: &Authority<AnyStore>,
    settings: &NotifySettings,
) -> ca_core::Result<NotifyReport> {
    let mut report = NotifyReport {
        recorded: authority.plan_notifications(settings).await?,
        ..NotifyReport::default()
    };
    for n in authority.due_notifications().await? {
        let outcome = post_json(&n.webhook, n.payload.clone()).await;
        let error = outcome.err();
        let given_up = authority
            .notification_attempted(settings, &n, error.as_deref())
            .await?;
        match (error, given_up) {
            (None, _) => report.delivered += 1,
            (Some(e), true) => {
                tracing::warn!(webhook = %n.webhook, target = %n.target, error = %e, "notification given up");
                report.given_up += 1;
            }
            (Some(e), false) => {
                tracing::info!(webhook = %n.webhook, target = %n.target, error = %e, "notification will be retried");
                report.retrying += 1;
            }
        }
    }
    Ok(report)
}

/// `http://host[:port]/path` split into (host:port, host header, path).
fn split_url(url: &str) -> Result<(String, String, String), String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("'{url}' is not an http:// URL"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.is_empty() || authority.contains('@') {
        return Err(format!("'{url}' has no usable host"));
    }
    let address = if authority
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
    {
        authority.to_owned()
    } else {
        format!("{authority}:80")
    };
    Ok((address, authority.to_owned(), path.to_owned()))
}

/// POSTs `body` as JSON to `url`; Ok for a 2xx answer, else what went wrong.
async fn post_json(url: &str, body: String) -> Result<(), String> {
    tokio::time::timeout(DELIVERY_TIMEOUT, post_json_inner(url, body))
        .await
        .map_err(|_| format!("no answer within {}s", DELIVERY_TIMEOUT.as_secs()))?
}

async fn post_json_inner(url: &str, body: String) -> Result<(), String> {
    let (address, host, path) = split_url(url)?;
    let stream = tokio::net::TcpStream::connect(&address)
        .await
        .map_err(|e| format!("connecting to {address}: {e}"))?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(|e| format!("HTTP handshake with {address}: {e}"))?;
    let driver = tokio::spawn(async move {
        let _ = connection.await;
    });
    let request = Request::post(path)
        .header(hyper::header::HOST, host)
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .header(hyper::header::USER_AGENT, "caforge-notify")
        .body(Body::from(body))
        .map_err(|e| format!("building the request: {e}"))?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| format!("POST {url}: {e}"));
    driver.abort();
    let status: StatusCode = response?.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("POST {url}: HTTP {status}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_urls_are_split() {
        assert_eq!(
            split_url("http://127.0.0.1:9000/hook?x=1").unwrap(),
            (
                "127.0.0.1:9000".into(),
                "127.0.0.1:9000".into(),
                "/hook?x=1".into()
            )
        );
        assert_eq!(
            split_url("http://localhost").unwrap(),
            ("localhost:80".into(), "localhost".into(), "/".into())
        );
        assert!(split_url("https://x/").is_err());
        assert!(split_url("http://user@x/").is_err());
        assert!(split_url("http:///path").is_err());
    }
}
