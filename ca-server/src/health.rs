//! The server's health, kept rather than computed per request: a background pass every
//! `health_interval_secs` asks each CA's key device (within the device time-out, all at
//! once), makes a write to the store that changes nothing, measures the free disk beside a
//! SQLite database and reads each CA's newest CRLs. `/healthz` answers from the last pass
//! at once, whatever hangs; it says `degraded` when any of them is off.

use std::sync::{Arc, RwLock};

use crate::state::AppState;

/// The last health pass: its JSON body and whether the store could be read at all.
#[derive(Clone, Debug)]
pub struct HealthReport {
    /// `/healthz`'s body.
    pub body: serde_json::Value,
    /// Whether the store answered (a store that cannot even be read is 503).
    pub store_readable: bool,
    /// When the pass ended.
    pub at: std::time::Instant,
}

/// Where the last pass is kept.
#[derive(Debug, Default)]
pub struct HealthState(RwLock<Option<Arc<HealthReport>>>);

impl HealthState {
    /// The last report, if a pass ran.
    #[must_use]
    pub fn last(&self) -> Option<Arc<HealthReport>> {
        self.0
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn keep(&self, report: HealthReport) -> Arc<HealthReport> {
        let report = Arc::new(report);
        *self
            .0
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Arc::clone(&report));
        report
    }
}

/// Bounds every key device of this process by `config` (a budget of
/// `max_concurrent_signings` and a deadline of `device_timeout_secs`), unless bounds were
/// set already; [`crate::serve_doors`] calls it, and `caforge serve` before its first
/// health pass.
///
/// # Errors
/// Invalid settings (zero budget or time-out).
pub fn limit_devices(config: &crate::state::ServerConfig) -> ca_core::Result<()> {
    let devices = ca_core::keys::devices::Devices::global();
    if devices.limits().is_some() {
        return Ok(());
    }
    devices.limit(ca_core::keys::devices::DeviceLimits {
        deadline: std::time::Duration::from_secs(config.device_timeout_secs),
        budget: config.max_concurrent_signings,
    })
}

/// One health pass; its report is kept for `/healthz` and returned.
pub async fn check(state: &AppState) -> Arc<HealthReport> {
    let services = &state.services;
    let now = services.now();
    let mut problems: Vec<String> = Vec::new();
    // Key devices (each CA's, all at once, each within the device time-out).
    let (keys, store_readable) = match services.directory.key_health().await {
        Ok(keys) => (keys, true),
        Err(e) => {
            problems.push(format!("store: {e}"));
            (Vec::new(), false)
        }
    };
    let keys_json: Vec<_> = keys
        .iter()
        .map(|k| {
            if let Some(p) = &k.problem {
                problems.push(format!("CA '{}': {p}", k.ca));
            }
            serde_json::json!({
                "ca": k.ca,
                "custodian": k.custodian,
                "status": if k.problem.is_some() { "unavailable" } else { "ok" },
                "error": k.problem,
            })
        })
        .collect();
    // The store takes writes; the disk beside it has room. (Bounded like a device: a
    // store that hangs must not stop the next pass.)
    let bound = std::time::Duration::from_secs(state.config.device_timeout_secs.max(1));
    let store = match tokio::time::timeout(bound, services.lifecycle.store_health()).await {
        Ok(store) => store,
        Err(_) => ca_core::authority::StoreHealth {
            write_error: Some(format!("no answer within {} s", bound.as_secs())),
            read_only: false,
            disk_free: None,
        },
    };
    if let Some(e) = &store.write_error {
        problems.push(format!("store not writable: {e}"));
    }
    let min_free = state.config.min_free_disk_mib.saturating_mul(1024 * 1024);
    let disk_low = store.disk_free.is_some_and(|free| free < min_free);
    if disk_low {
        problems.push(format!(
            "{} MiB free beside the database (below {} MiB)",
            store.disk_free.unwrap_or(0) / (1024 * 1024),
            state.config.min_free_disk_mib
        ));
    }
    // CRL ages: a published CRL past its nextUpdate is one relying parties refuse.
    let mut crls = Vec::new();
    if store_readable {
        let read = tokio::time::timeout(bound, crl_ages(state, now, &mut crls, &mut problems));
        if read.await.is_err() {
            problems.push("the CRLs could not be read in time".into());
        }
    }
    let body = serde_json::json!({
        "status": if problems.is_empty() { "ok" } else { "degraded" },
        "version": crate::VERSION,
        "checked_at": ca_core::notify::rfc3339(now),
        "problems": problems,
        "cas": keys.len(),
        "keys": keys_json,
        "store": {
            "readable": store_readable,
            "writable": store.write_error.is_none(),
            "error": store.write_error,
            "disk_free_mib": store.disk_free.map(|b| b / (1024 * 1024)),
            "disk_low": disk_low,
        },
        "crls": crls,
    });
    // Logged when what is wrong changes, not on every pass.
    let before = state
        .health
        .last()
        .map(|r| r.body["problems"].clone())
        .unwrap_or_default();
    if serde_json::Value::from(problems.clone()) != before {
        if problems.is_empty() {
            tracing::info!("health: ok");
        } else {
            tracing::warn!(?problems, "health: degraded");
        }
    }
    state.health.keep(HealthReport {
        body,
        store_readable,
        at: std::time::Instant::now(),
    })
}

/// Each CA's newest CRLs into `crls`, and those past their nextUpdate into `problems`.
async fn crl_ages(
    state: &AppState,
    now: i64,
    crls: &mut Vec<serde_json::Value>,
    problems: &mut Vec<String>,
) {
    let services = &state.services;
    let Ok(cas) = services.directory.cas().await else {
        problems.push("the CAs could not be listed".into());
        return;
    };
    for ca in cas {
        let Ok(ages) = services.revocations.crl_ages(&ca).await else {
            continue;
        };
        for (partition, age) in ages {
            let Some((this_update, next_update)) = age else {
                continue;
            };
            let expired = now >= next_update;
            if expired {
                problems.push(format!(
                    "CA '{}': its CRL{} expired at {}",
                    ca.name,
                    partition
                        .map(|p| format!(" (partition {p})"))
                        .unwrap_or_default(),
                    ca_core::notify::rfc3339(next_update)
                ));
            }
            crls.push(serde_json::json!({
                "ca": ca.name,
                "partition": partition,
                "age_secs": now - this_update,
                "next_update": ca_core::notify::rfc3339(next_update),
                "status": if expired { "expired" } else { "ok" },
            }));
        }
    }
}

/// `report`'s body with the key devices as they are now (a signature that found its
/// device down since the last pass shows at once), and degraded when the last pass is
/// older than three intervals plus the device time-out (the health monitor itself is
/// stuck).
#[must_use]
pub fn with_live_devices(state: &AppState, report: &HealthReport) -> serde_json::Value {
    let mut body = report.body.clone();
    let mut degraded = body["status"] == "degraded";
    let mut down = Vec::new();
    let stale_after = std::time::Duration::from_secs(
        3 * state.config.health_interval_secs.max(1) + state.config.device_timeout_secs,
    );
    let age = report.at.elapsed();
    body["age_secs"] = age.as_secs().into();
    if age > stale_after {
        degraded = true;
        down.push(serde_json::Value::from(format!(
            "the last health check is {} s old",
            age.as_secs()
        )));
    }
    let devices: Vec<_> = ca_core::keys::devices::Devices::global()
        .status()
        .into_iter()
        .map(|d| {
            if let Some(reason) = &d.down {
                degraded = true;
                down.push(serde_json::Value::from(format!(
                    "key device {}: {reason}",
                    d.name
                )));
            }
            serde_json::json!({
                "device": d.name,
                "status": if d.down.is_some() { "down" } else { "ok" },
                "error": d.down,
            })
        })
        .collect();
    body["devices"] = devices.into();
    if let Some(problems) = body["problems"].as_array_mut() {
        problems.extend(down);
    }
    body["status"] = if degraded { "degraded" } else { "ok" }.into();
    body
}

/// Runs [`check`] every `health_interval_secs` until aborted (a pass's device probes, its
/// store write and its CRL reads are each bounded by the device time-out, so a hung device
/// or store never stops the next).
pub async fn monitor(state: AppState) {
    let every = std::time::Duration::from_secs(state.config.health_interval_secs.max(1));
    loop {
        tokio::time::sleep(every).await;
        check(&state).await;
    }
}
