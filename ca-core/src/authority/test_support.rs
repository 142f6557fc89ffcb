//! Test-only key custody: keys in memory whose signatures can be made to fail, to test what
//! the services do when a custodian misbehaves, and fixtures built on it. Compiled only
//! under `#[cfg(test)]` (see `authority.rs`): its `expect`s are test code, on fixed inputs.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crate::algorithm::KeyType;
use crate::authority::{
    IssueRequest, Issued, NewCaRequest, RsaSm2PairRequest, Services, SubjectKey,
};
use crate::keys::{KeyError, KeyProvider, KeyRef, Signer, SoftwareKey};
use crate::profile::ProfileName;
use crate::profile::Profiles;
use crate::revocation::CaSettings;
use crate::store::AnyStore;
use crate::time::SystemClock;

/// A key that signs correctly until `broken` is set, then returns garbage: a faulty
/// custodian (test-only; keys live in memory).
pub(crate) struct Faulty {
    key: Arc<SoftwareKey>,
    broken: Arc<AtomicBool>,
    broken_type: Arc<Mutex<Option<KeyType>>>,
}

impl Signer for Faulty {
    fn key_type(&self) -> KeyType {
        self.key.key_type()
    }
    fn public_key_info(&self) -> &spki::SubjectPublicKeyInfoOwned {
        self.key.public_key_info()
    }
    fn sign(&self, message: &[u8]) -> std::result::Result<Vec<u8>, KeyError> {
        let type_broken = *self
            .broken_type
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            == Some(self.key.key_type());
        if self.broken.load(Ordering::SeqCst) || type_broken {
            return Ok(vec![0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01]);
        }
        self.key.sign(message)
    }
    fn sm2_id(&self) -> Option<&str> {
        self.key.sm2_id()
    }
    // As the key it wraps: the faulty-signer tests then cover both the in-place path
    // (elliptic curves) and the blocking pool (RSA).
    fn signs_briefly_in_memory(&self) -> bool {
        self.key.signs_briefly_in_memory()
    }
}

#[derive(Default)]
pub(crate) struct MemoryKeys {
    keys: Mutex<HashMap<String, Arc<SoftwareKey>>>,
    /// Every key signs garbage while set.
    pub(crate) broken: Arc<AtomicBool>,
    /// Keys of this type sign garbage.
    pub(crate) broken_type: Arc<Mutex<Option<KeyType>>>,
}

impl MemoryKeys {
    /// How many keys are held.
    pub(crate) fn held(&self) -> usize {
        self.keys
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .len()
    }

    fn signer(&self, key: Arc<SoftwareKey>) -> Box<dyn Signer> {
        Box::new(Faulty {
            key,
            broken: self.broken.clone(),
            broken_type: self.broken_type.clone(),
        })
    }
}

impl KeyProvider for MemoryKeys {
    fn generate(
        &self,
        _store: &str,
        key_type: KeyType,
        label: &str,
        sm2_id: &str,
    ) -> std::result::Result<(KeyRef, Box<dyn Signer>), KeyError> {
        let key = Arc::new(SoftwareKey::generate(key_type, sm2_id)?);
        self.keys
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(label.to_owned(), key.clone());
        Ok((KeyRef::new(format!("memory:{label}")), self.signer(key)))
    }
    fn load(&self, key_ref: &KeyRef, _: &str) -> std::result::Result<Box<dyn Signer>, KeyError> {
        let label = key_ref.as_str().trim_start_matches("memory:");
        let key = self
            .keys
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(label)
            .cloned();
        key.map(|k| self.signer(k))
            .ok_or_else(|| KeyError::Rejected(format!("no key {label}")))
    }
    fn remove(&self, key_ref: &KeyRef) -> std::result::Result<(), KeyError> {
        let label = key_ref.as_str().trim_start_matches("memory:");
        self.keys
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(label);
        Ok(())
    }
}

/// A clock that tests move forward (Unix seconds).
pub(crate) struct StepClock(pub(crate) std::sync::atomic::AtomicI64);

impl StepClock {
    /// A clock at the system's now.
    pub(crate) fn now() -> Arc<StepClock> {
        Arc::new(StepClock(std::sync::atomic::AtomicI64::new(
            time::OffsetDateTime::now_utc().unix_timestamp(),
        )))
    }

    /// Moves the clock `secs` forward.
    pub(crate) fn advance(&self, secs: i64) {
        self.0.fetch_add(secs, Ordering::SeqCst);
    }
}

impl crate::time::Clock for StepClock {
    fn now(&self) -> time::OffsetDateTime {
        time::OffsetDateTime::from_unix_timestamp(self.0.load(Ordering::SeqCst))
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
    }
}

/// The services over an in-memory SQLite store with keys in `keys`, holding no CA yet.
pub(crate) async fn memory_services(keys: Arc<MemoryKeys>) -> Services<AnyStore> {
    memory_services_at(keys, Arc::new(SystemClock)).await
}

/// [`memory_services`] on `clock`.
pub(crate) async fn memory_services_at(
    keys: Arc<MemoryKeys>,
    clock: Arc<dyn crate::time::Clock>,
) -> Services<AnyStore> {
    // Invariant: an in-memory SQLite database always opens (no file, no input).
    let store = AnyStore::open("sqlite::memory:").await.expect("store");
    Services::new(
        store,
        keys,
        clock,
        // Invariant: the built-in profiles of an empty configuration are valid.
        Profiles::from_config(&Default::default(), &Default::default()).expect("profiles"),
        crate::config::Hooks::default(),
        crate::authz::Principal::Operator("test".into()),
    )
}

/// A TLS server pair for `pair.example` with generated keys, under `rsa_ca` and `sm2_ca`.
pub(crate) fn rsa_sm2_pair(rsa_ca: &str, sm2_ca: &str) -> RsaSm2PairRequest {
    RsaSm2PairRequest {
        rsa_ca: rsa_ca.into(),
        sm2_ca: sm2_ca.into(),
        rsa_key: SubjectKey::Generate(KeyType::P256),
        sm2_key: SubjectKey::Generate(KeyType::Sm2),
        subject: Some("CN=pair.example".into()),
        sans: vec!["dns:pair.example".into()],
        profile: ProfileName::TlsServer,
        days: None,
    }
}

/// Issues a tls-client certificate `CN=leaf` (generated P-256 key, `days` days) under `ca`.
pub(crate) async fn client_leaf(a: &Services<AnyStore>, ca: &str, days: u32) -> Issued {
    a.issuance
        .issue(&IssueRequest {
            ca: ca.into(),
            key: SubjectKey::Generate(KeyType::P256),
            subject: Some("CN=leaf".into()),
            sans: vec![],
            profile: ProfileName::TlsClient,
            days: Some(days),
            principal: crate::authz::Principal::Operator("test".into()),
        })
        .await
        // Invariant: the callers' CAs exist and tls-client needs no SAN.
        .expect("leaf")
}

/// Asserts that `err` is the refusal of lint `lint`.
pub(crate) fn assert_lint_refused(err: &crate::Error, lint: &str) {
    assert!(
        matches!(err, crate::Error::Lint(f) if f.lint == lint),
        "expected lint {lint} to refuse, got: {err}"
    );
}

pub(crate) fn ca(name: &str) -> NewCaRequest {
    NewCaRequest {
        name: name.into(),
        subject: None,
        key_type: KeyType::P256,
        days: None,
        path_len: None,
        sm2_id: None,
        name_constraints: Default::default(),
        policies: Default::default(),
        // Most tests issue leaves straight from their root; the refusal has its own test.
        settings: CaSettings {
            allow_leaves: true,
            ..CaSettings::default()
        },
        key_store: None,
    }
}
