//! Expiry notifications: which thresholds a certificate has reached, and the retry schedule
//! of webhook deliveries. Pure functions; the inventory service records what is due and the
//! server crate delivers it.

use serde::{Deserialize, Serialize};

/// The `[notify]` table of `caforge.toml`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotifySettings {
    /// Days before expiry at which each webhook hears about a certificate.
    pub thresholds_days: Vec<u32>,
    /// Webhook URLs (`http://…`) that receive a JSON POST per certificate and threshold.
    pub webhooks: Vec<String>,
    /// Delivery attempts before a notification is given up.
    pub max_attempts: u32,
    /// Seconds between the first and second attempt; doubled after each failure.
    pub retry_base_secs: i64,
    /// Longest wait between attempts (seconds).
    pub retry_max_secs: i64,
    /// Seconds between notification passes of `caforge serve`.
    pub interval_secs: u64,
}

impl Default for NotifySettings {
    fn default() -> Self {
        NotifySettings {
            thresholds_days: vec![30, 15, 7, 1],
            webhooks: Vec::new(),
            max_attempts: 8,
            retry_base_secs: 60,
            retry_max_secs: 6 * 3600,
            interval_secs: 300,
        }
    }
}

impl NotifySettings {
    /// Checks the settings.
    ///
    /// # Errors
    /// A description of the first problem.
    pub fn validate(&self) -> Result<(), String> {
        if self.thresholds_days.iter().any(|&d| d == 0 || d > 3650) {
            return Err("notify.thresholds_days must be between 1 and 3650".into());
        }
        for url in &self.webhooks {
            if !url.starts_with("http://") {
                return Err(format!(
                    "notify.webhooks: '{url}' is not an http:// URL (put a TLS-terminating relay in front of https receivers)"
                ));
            }
        }
        if self.max_attempts == 0 || self.retry_base_secs <= 0 || self.retry_max_secs <= 0 {
            return Err(
                "notify.max_attempts, retry_base_secs and retry_max_secs must be positive".into(),
            );
        }
        Ok(())
    }

    /// The largest threshold, in seconds (how far ahead a pass looks).
    #[must_use]
    pub fn horizon_secs(&self) -> i64 {
        i64::from(self.thresholds_days.iter().copied().max().unwrap_or(0)) * 86_400
    }

    /// When to try again after `attempts` failed attempts (None: give up).
    #[must_use]
    pub fn retry_at(&self, now: i64, attempts: u32) -> Option<i64> {
        if attempts >= self.max_attempts {
            return None;
        }
        let wait = backoff(
            self.retry_base_secs,
            self.retry_max_secs,
            attempts.saturating_sub(1),
        );
        Some(now.saturating_add(wait))
    }
}

/// `base` doubled `doublings` times, at most `max`: the wait before a retry (webhook
/// deliveries, managed-certificate deployments).
#[must_use]
pub fn backoff(base: i64, max: i64, doublings: u32) -> i64 {
    base.saturating_mul(1_i64 << doublings.min(30)).min(max)
}

/// `secs` (Unix time) as RFC 3339, for payloads.
#[must_use]
pub fn rfc3339(secs: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| secs.to_string())
}

/// The thresholds (days) a certificate valid until `not_after`, known to caforge since
/// `known_since`, has reached at `now`. A threshold counts once the certificate is within
/// it, unless it was already within it when caforge learnt of it (a 10-day certificate
/// owes no 30-day reminder). With `owe_passed` (an imported certificate, which someone
/// else issued), the nearest of those already passed is owed at once: imported with 10
/// days left, it owes the 15-day reminder now instead of silence until 7 days. Expired
/// certificates owe nothing.
#[must_use]
pub fn reached_thresholds(
    thresholds: &[u32],
    not_after: i64,
    known_since: i64,
    now: i64,
    owe_passed: bool,
) -> Vec<u32> {
    if now > not_after {
        return Vec::new();
    }
    let at = |days: u32| not_after - i64::from(days) * 86_400;
    let mut out: Vec<u32> = thresholds
        .iter()
        .copied()
        .filter(|&days| now >= at(days) && known_since < at(days))
        .collect();
    // The nearest threshold already passed when caforge learnt of the certificate.
    if let Some(nearest) = thresholds
        .iter()
        .copied()
        .filter(|&days| known_since >= at(days))
        .min()
        // Only until a nearer threshold is reached: by then the late one is no news (and
        // an import made before this rule owes no late reminder after an upgrade).
        .filter(|_| owe_passed && out.is_empty())
    {
        out.push(nearest);
    }
    out.sort_unstable();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400;

    #[test]
    fn thresholds_are_reached_once_the_certificate_is_within_them() {
        let t = [30, 15, 7, 1];
        let not_after = 100 * DAY;
        assert!(reached_thresholds(&t, not_after, 0, 60 * DAY, false).is_empty());
        assert_eq!(
            reached_thresholds(&t, not_after, 0, 70 * DAY, false),
            vec![30]
        );
        assert_eq!(
            reached_thresholds(&t, not_after, 0, 93 * DAY, false),
            vec![7, 15, 30]
        );
        assert_eq!(
            reached_thresholds(&t, not_after, 0, 100 * DAY, false),
            vec![1, 7, 15, 30]
        );
        assert!(reached_thresholds(&t, not_after, 0, 100 * DAY + 1, false).is_empty());
        // Learnt of at 10 days left: the 30- and 15-day reminders were never owed ...
        assert_eq!(
            reached_thresholds(&t, not_after, 90 * DAY, 95 * DAY, false),
            vec![7]
        );
        // ... unless imported: then the 15-day reminder is owed at once (not the 30-day
        // one too), and the 7-day one when it comes.
        assert_eq!(
            reached_thresholds(&t, not_after, 90 * DAY, 90 * DAY, true),
            vec![15]
        );
        assert_eq!(
            reached_thresholds(&t, not_after, 90 * DAY, 92 * DAY, true),
            vec![15]
        );
        assert_eq!(
            reached_thresholds(&t, not_after, 90 * DAY, 95 * DAY, true),
            vec![7]
        );
    }

    #[test]
    fn retries_back_off_and_give_up() {
        let s = NotifySettings::default();
        assert_eq!(s.retry_at(0, 1), Some(60));
        assert_eq!(s.retry_at(0, 2), Some(120));
        assert_eq!(s.retry_at(0, 3), Some(240));
        assert_eq!(s.retry_at(0, 7), Some(3840));
        assert_eq!(s.retry_at(0, 8), None);
        let capped = NotifySettings {
            max_attempts: 100,
            ..NotifySettings::default()
        };
        assert_eq!(capped.retry_at(0, 60), Some(6 * 3600));
    }

    #[test]
    fn settings_are_checked() {
        assert!(NotifySettings::default().validate().is_ok());
        let bad = NotifySettings {
            webhooks: vec!["ftp://x".into()],
            ..NotifySettings::default()
        };
        assert!(bad.validate().is_err());
        let bad = NotifySettings {
            thresholds_days: vec![0],
            ..NotifySettings::default()
        };
        assert!(bad.validate().is_err());
    }
}
