//! Delivering expiry notifications: one pass records what became due (in the store, so a
//! restart neither repeats nor skips a threshold) and POSTs every due notification to its
//! webhook, retrying failures with backoff. Delivery is at least once: a receiver that
//! answered 2xx just before a crash may see the same notification (same `id`) again.

use ca_core::authority::Inventory;
use ca_core::notify::NotifySettings;
use ca_core::store::AnyStore;
use hyper::Method;

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
    inventory: &Inventory<AnyStore>,
    settings: &NotifySettings,
) -> ca_core::Result<NotifyReport> {
    let mut report = NotifyReport {
        recorded: inventory.plan_notifications(settings).await?,
        ..NotifyReport::default()
    };
    for n in inventory.due_notifications().await? {
        let outcome = post_json(&n.webhook, n.payload.clone()).await;
        let error = outcome.err();
        let given_up = inventory
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

/// POSTs `body` as JSON to `url`; Ok for a 2xx answer, else what went wrong.
async fn post_json(url: &str, body: String) -> Result<(), String> {
    let (status, _) = crate::http_client::send(
        Method::POST,
        url,
        Some("application/json"),
        body.into_bytes(),
        64 * 1024,
    )
    .await?;
    if (200..300).contains(&status) {
        Ok(())
    } else {
        Err(format!("POST {url}: HTTP {status}"))
    }
}
