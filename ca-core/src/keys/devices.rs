//! Key devices under load and under failure: each device (an hsm-sim, a PKCS#11 token, or
//! this process's memory for file keys) has its own signing budget, every wait for it is
//! bounded by a deadline, and a device that did not answer in time is marked down, so
//! that later signatures on it fail at once (`tryLater`, 503) instead of queueing behind a
//! hung device, while other devices go on. The health monitor of `caforge serve` probes
//! devices and marks them up again.
//!
//! Without limits ([`Devices::limit`], which `serve` sets) signatures go straight to their
//! custodian, as the CLI wants: one command, one operator waiting.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, OnceLock};
use std::time::Duration;

use super::{KeyError, Signer};
use crate::{Error, Result};

/// The device name of keys held in this process's memory (file keys, software keys).
pub const MEMORY_DEVICE: &str = "memory";

/// How a server bounds its use of key devices.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeviceLimits {
    /// Longest a signature may wait for its device (a free slot, then the answer); it must
    /// be shorter than the request time-out, so a client gets `tryLater` or 503, not 408.
    pub deadline: Duration,
    /// Most signatures in flight on one device.
    pub budget: usize,
}

/// One device's slots and state.
#[derive(Debug)]
struct DeviceState {
    slots: Arc<tokio::sync::Semaphore>,
    /// Why the device is down, when it is.
    down: Mutex<Option<String>>,
}

/// A device as the health check reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceStatus {
    /// Its name ([`Signer::device`], or [`MEMORY_DEVICE`]).
    pub name: String,
    /// Why it is down, when it is.
    pub down: Option<String>,
}

/// The devices this process signs with (see the module documentation).
#[derive(Debug, Default)]
pub struct Devices {
    limits: OnceLock<DeviceLimits>,
    states: Mutex<HashMap<String, Arc<DeviceState>>>,
}

static GLOBAL: LazyLock<Devices> = LazyLock::new(Devices::default);

/// Whether `e` says a key device is out of reach (down, or too slow): the one rule for
/// marking a device down, from a signature or a probe. A key the device does not hold, a
/// wrong or locked PIN are about one key, not the device.
#[must_use]
pub fn is_outage(e: &Error) -> bool {
    matches!(
        e,
        Error::Key(KeyError::Unavailable(_) | KeyError::Timeout(_))
    )
}

/// The name of the device `signer` signs on.
#[must_use]
pub fn device_name(signer: &dyn Signer) -> String {
    signer.device().unwrap_or_else(|| MEMORY_DEVICE.to_owned())
}

impl Devices {
    /// The process's devices: every signature made through [`super::sign_verified`].
    #[must_use]
    pub fn global() -> &'static Devices {
        &GLOBAL
    }

    /// Bounds every device from now on. Set once (by `serve`).
    ///
    /// # Errors
    /// [`Error::Internal`] when set before; [`Error::Config`] for a zero budget or deadline.
    pub fn limit(&self, limits: DeviceLimits) -> Result<()> {
        if limits.budget == 0 || limits.deadline.is_zero() {
            return Err(Error::Config(
                "device limits need a budget and a deadline above zero".into(),
            ));
        }
        self.limits
            .set(limits)
            .map_err(|_| Error::Internal("device limits were set twice".into()))
    }

    /// The limits in force, if any.
    #[must_use]
    pub fn limits(&self) -> Option<DeviceLimits> {
        self.limits.get().copied()
    }

    fn state(&self, name: &str, budget: usize) -> Arc<DeviceState> {
        let mut states = self
            .states
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Arc::clone(states.entry(name.to_owned()).or_insert_with(|| {
            Arc::new(DeviceState {
                slots: Arc::new(tokio::sync::Semaphore::new(budget)),
                down: Mutex::new(None),
            })
        }))
    }

    fn set_down(&self, name: &str, reason: Option<String>) {
        let budget = self.limits().map_or(1, |l| l.budget);
        let state = self.state(name, budget);
        let mut down = state
            .down
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if down.is_some() != reason.is_some() {
            match &reason {
                Some(r) => tracing::warn!(device = name, reason = %r, "key device marked down"),
                None => tracing::info!(device = name, "key device answers again"),
            }
        }
        *down = reason;
    }

    /// Marks `name` down (signatures on it fail at once until [`Devices::mark_up`]).
    pub fn mark_down(&self, name: &str, reason: impl Into<String>) {
        self.set_down(name, Some(reason.into()));
    }

    /// Marks `name` up again (its probe answered).
    pub fn mark_up(&self, name: &str) {
        self.set_down(name, None);
    }

    /// Every device seen so far, by name.
    #[must_use]
    pub fn status(&self) -> Vec<DeviceStatus> {
        let states = self
            .states
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut out: Vec<DeviceStatus> = states
            .iter()
            .map(|(name, s)| DeviceStatus {
                name: name.clone(),
                down: s
                    .down
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .clone(),
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    /// Signs `tbs` with `signer` (checked, as [`super::sign_verified`] does) within the
    /// limits: on a device marked down it fails at once; otherwise it waits at most the
    /// deadline for a slot and the answer, and a device that did not answer in time is
    /// marked down. The slot stays taken until the device answers, even after the caller
    /// gave up, so signatures never hold more than the budget of threads on a hung device.
    ///
    /// # Errors
    /// [`KeyError::Unavailable`] for a device that is down or busy past the deadline,
    /// [`KeyError::Timeout`] when it did not answer in time; what signing returns.
    pub async fn sign(&self, signer: Arc<dyn Signer>, tbs: Vec<u8>) -> Result<(Vec<u8>, Vec<u8>)> {
        let Some(limits) = self.limits() else {
            return super::sign_verified_now(signer, tbs).await;
        };
        let name = device_name(&*signer);
        let state = self.state(&name, limits.budget);
        if let Some(reason) = state
            .down
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
        {
            return Err(KeyError::Unavailable(format!(
                "key device {name} is down ({reason}); try again later"
            ))
            .into());
        }
        let deadline = tokio::time::Instant::now() + limits.deadline;
        let permit =
            match tokio::time::timeout_at(deadline, Arc::clone(&state.slots).acquire_owned()).await
            {
                Ok(Ok(permit)) => permit,
                _ => {
                    return Err(KeyError::Unavailable(format!(
                        "key device {name} is busy: no signing slot within {} ms",
                        limits.deadline.as_millis()
                    ))
                    .into())
                }
            };
        if signer.device().is_none() {
            // In memory: nothing to hang on.
            let signed = super::sign_verified_now(signer, tbs).await;
            drop(permit);
            return signed;
        }
        let task = tokio::spawn(async move {
            let signed = super::sign_verified_now(signer, tbs).await;
            drop(permit);
            signed
        });
        match tokio::time::timeout_at(deadline, task).await {
            Ok(Ok(signed)) => {
                if let Err(Error::Key(e @ (KeyError::Unavailable(_) | KeyError::Timeout(_)))) =
                    &signed
                {
                    self.mark_down(&name, e.to_string());
                }
                signed
            }
            Ok(Err(e)) => Err(Error::Internal(format!("signing task failed: {e}"))),
            Err(_) => {
                let reason = format!("no answer within {} ms", limits.deadline.as_millis());
                self.mark_down(&name, reason.clone());
                Err(KeyError::Timeout(format!("key device {name}: {reason}")).into())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algorithm::KeyType;
    use crate::keys::SoftwareKey;

    /// A device key whose signatures never come back (a hung device).
    struct Hung(SoftwareKey);

    impl Signer for Hung {
        fn key_type(&self) -> KeyType {
            self.0.key_type()
        }
        fn public_key_info(&self) -> &spki::SubjectPublicKeyInfoOwned {
            self.0.public_key_info()
        }
        fn sign(&self, _: &[u8]) -> std::result::Result<Vec<u8>, KeyError> {
            std::thread::sleep(Duration::from_millis(400));
            Err(KeyError::Timeout("hung".into()))
        }
        fn device(&self) -> Option<String> {
            Some("hsm-sim://hung".into())
        }
    }

    #[tokio::test]
    async fn a_hung_device_is_marked_down_and_does_not_hold_up_memory_keys() {
        let devices = Devices::default();
        devices
            .limit(DeviceLimits {
                deadline: Duration::from_millis(100),
                budget: 1,
            })
            .expect("limits");
        let key = || SoftwareKey::generate(KeyType::P256, "1234567812345678").expect("key");
        let hung: Arc<dyn Signer> = Arc::new(Hung(key()));
        let err = devices
            .sign(Arc::clone(&hung), b"tbs".to_vec())
            .await
            .expect_err("no answer");
        assert!(matches!(err, Error::Key(KeyError::Timeout(_))), "{err}");
        // Down now: the next attempt fails at once, without waiting for a slot.
        let err = devices
            .sign(Arc::clone(&hung), b"tbs".to_vec())
            .await
            .expect_err("down");
        assert!(err.to_string().contains("is down"), "{err}");
        assert_eq!(err.kind(), crate::error::ErrorKind::Unavailable);
        // Memory keys have their own budget.
        let memory: Arc<dyn Signer> = Arc::new(key());
        assert!(devices.sign(memory, b"tbs".to_vec()).await.is_ok());
        let status = devices.status();
        assert!(status
            .iter()
            .any(|d| d.name == "hsm-sim://hung" && d.down.is_some()));
        devices.mark_up("hsm-sim://hung");
        assert!(devices.status().iter().all(|d| d.down.is_none()));
        assert!(devices.limit(devices.limits().expect("set")).is_err());
    }
}
