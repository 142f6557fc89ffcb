//! The audit log: an append-only, hash-chained record of every CA operation.
//!
//! Each entry's hash is SHA-256 over the previous entry's hash and the entry's own fields,
//! so deleting, reordering or editing any entry breaks every hash after it.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The hash that precedes the first entry.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What an audit entry records. The stored (and hashed) name of each is fixed forever: a
/// renamed action would break every chain that holds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "&'static str")]
#[non_exhaustive]
pub enum AuditAction {
    /// A CA certificate is about to be signed (its serial reserved).
    CaSigning,
    /// A CA was created with its certificate.
    CaCreated,
    /// A CA's publication settings changed.
    CaConfigured,
    /// A cross certificate is about to be signed.
    CaCrossSigning,
    /// A cross certificate was committed.
    CaCrossSigned,
    /// A certificate is about to be signed (its serial reserved).
    CertSigning,
    /// A certificate was committed.
    CertSigned,
    /// A certificate was revoked.
    CertRevoked,
    /// A certificateHold was lifted.
    CertHoldReleased,
    /// A CRL is about to be signed (its number allocated).
    CrlSigning,
    /// A full CRL was recorded.
    CrlIssued,
    /// A delta CRL was recorded.
    CrlDeltaIssued,
    /// A delegated OCSP responder certificate is about to be signed.
    OcspResponderSigning,
    /// A delegated OCSP responder was recorded.
    OcspResponderIssued,
    /// An API token was created.
    TokenCreated,
    /// An API token was revoked.
    TokenRevoked,
    /// A certificate caforge did not issue was imported into the inventory.
    InventoryImported,
    /// An inventory certificate was removed.
    InventoryRemoved,
    /// The KMC recovered an escrowed encryption key.
    KmcRecover,
    /// The store was filled by `caforge db copy`.
    DbCopied,
    /// A key no CA or responder refers to (left by an issuance that was never recorded)
    /// was destroyed.
    KeyRemoved,
    /// A managed certificate was created (its deployment directory and hook).
    ManagedCreated,
    /// A managed certificate's deployment hook was set, changed or cleared.
    ManagedHookChanged,
    /// A deployment hook ran (its name, command and outcome).
    HookRan,
}

impl AuditAction {
    /// Every action.
    pub const ALL: [AuditAction; 24] = [
        AuditAction::CaSigning,
        AuditAction::CaCreated,
        AuditAction::CaConfigured,
        AuditAction::CaCrossSigning,
        AuditAction::CaCrossSigned,
        AuditAction::CertSigning,
        AuditAction::CertSigned,
        AuditAction::CertRevoked,
        AuditAction::CertHoldReleased,
        AuditAction::CrlSigning,
        AuditAction::CrlIssued,
        AuditAction::CrlDeltaIssued,
        AuditAction::OcspResponderSigning,
        AuditAction::OcspResponderIssued,
        AuditAction::TokenCreated,
        AuditAction::TokenRevoked,
        AuditAction::InventoryImported,
        AuditAction::InventoryRemoved,
        AuditAction::KmcRecover,
        AuditAction::DbCopied,
        AuditAction::KeyRemoved,
        AuditAction::ManagedCreated,
        AuditAction::ManagedHookChanged,
        AuditAction::HookRan,
    ];

    /// The stored name (`cert.signed`, …).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::CaSigning => "ca.signing",
            AuditAction::CaCreated => "ca.created",
            AuditAction::CaConfigured => "ca.configured",
            AuditAction::CaCrossSigning => "ca.cross-signing",
            AuditAction::CaCrossSigned => "ca.cross-signed",
            AuditAction::CertSigning => "cert.signing",
            AuditAction::CertSigned => "cert.signed",
            AuditAction::CertRevoked => "cert.revoked",
            AuditAction::CertHoldReleased => "cert.hold_released",
            AuditAction::CrlSigning => "crl.signing",
            AuditAction::CrlIssued => "crl.issued",
            AuditAction::CrlDeltaIssued => "crl.delta_issued",
            AuditAction::OcspResponderSigning => "ocsp.responder_signing",
            AuditAction::OcspResponderIssued => "ocsp.responder_issued",
            AuditAction::TokenCreated => "token.created",
            AuditAction::TokenRevoked => "token.revoked",
            AuditAction::InventoryImported => "inventory.imported",
            AuditAction::InventoryRemoved => "inventory.removed",
            AuditAction::KmcRecover => "kmc.recover",
            AuditAction::DbCopied => "db.copied",
            AuditAction::KeyRemoved => "key.removed",
            AuditAction::ManagedCreated => "managed.created",
            AuditAction::ManagedHookChanged => "managed.hook_changed",
            AuditAction::HookRan => "hook.ran",
        }
    }
}

impl std::fmt::Display for AuditAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for AuditAction {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        AuditAction::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| format!("unknown audit action '{s}'"))
    }
}

impl TryFrom<String> for AuditAction {
    type Error = String;

    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl From<AuditAction> for &'static str {
    fn from(a: AuditAction) -> &'static str {
        a.as_str()
    }
}

/// An event to be appended (the store assigns sequence number and hashes).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct AuditEvent {
    /// When it happened (Unix seconds).
    pub at: i64,
    /// What happened.
    pub action: AuditAction,
    /// The CA involved, by name.
    pub ca: Option<String>,
    /// The certificate serial involved.
    pub serial: Option<String>,
    /// Further facts as JSON (never key material).
    pub details: serde_json::Value,
    /// Who acted ([`crate::authz::Principal::audit_name`]): every new entry names one;
    /// `None` only in entries written before caforge recorded principals.
    #[serde(default)]
    pub principal: Option<String>,
}

/// An event as stored, with its place in the chain.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct AuditRecord {
    /// Position in the log, from 1.
    pub seq: i64,
    /// The event.
    #[serde(flatten)]
    pub event: AuditEvent,
    /// The previous record's hash.
    pub prev_hash: String,
    /// This record's hash.
    pub hash: String,
}

/// Computes the chained hash of `event` at `seq` after `prev_hash`.
pub fn chain_hash(prev_hash: &str, seq: i64, event: &AuditEvent) -> String {
    let mut h = Sha256::new();
    h.update(prev_hash.as_bytes());
    h.update(seq.to_be_bytes());
    h.update(event.at.to_be_bytes());
    for field in [
        Some(event.action.as_str()),
        event.ca.as_deref(),
        event.serial.as_deref(),
    ] {
        match field {
            Some(s) => {
                h.update([1u8]);
                h.update((s.len() as u64).to_be_bytes());
                h.update(s.as_bytes());
            }
            None => h.update([0u8]),
        }
    }
    let details = event.details.to_string();
    h.update((details.len() as u64).to_be_bytes());
    h.update(details.as_bytes());
    // Entries from before principals were recorded hash as they always did; a principal,
    // once there, is covered, so removing or changing it breaks the chain.
    if let Some(p) = &event.principal {
        h.update([1u8]);
        h.update((p.len() as u64).to_be_bytes());
        h.update(p.as_bytes());
    }
    hex::encode(h.finalize())
}

/// A break in the chain.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("audit log broken at entry {seq}: {reason}")]
pub struct AuditBroken {
    /// The first bad entry.
    pub seq: i64,
    /// What is wrong with it.
    pub reason: String,
}

/// Checks a whole log, in sequence order.
///
/// # Errors
/// [`AuditBroken`] at the first entry whose link or hash does not match.
pub fn verify_chain(records: &[AuditRecord]) -> Result<usize, AuditBroken> {
    let mut prev = GENESIS_HASH.to_owned();
    for (i, r) in records.iter().enumerate() {
        let expected_seq = i as i64 + 1;
        if r.seq != expected_seq {
            return Err(AuditBroken {
                seq: r.seq,
                reason: format!("expected entry {expected_seq}"),
            });
        }
        if r.prev_hash != prev {
            return Err(AuditBroken {
                seq: r.seq,
                reason: "previous-hash link does not match".into(),
            });
        }
        if chain_hash(&prev, r.seq, &r.event) != r.hash {
            return Err(AuditBroken {
                seq: r.seq,
                reason: "entry hash does not match its contents".into(),
            });
        }
        prev = r.hash.clone();
    }
    Ok(records.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(seq: i64, prev: &str, action: AuditAction) -> AuditRecord {
        let event = AuditEvent {
            at: 1,
            action,
            ca: None,
            serial: None,
            details: serde_json::json!({}),
            principal: Some("operator:test".into()),
        };
        let hash = chain_hash(prev, seq, &event);
        AuditRecord {
            seq,
            event,
            prev_hash: prev.into(),
            hash,
        }
    }

    #[test]
    fn detects_edits_and_gaps() {
        let a = rec(1, GENESIS_HASH, AuditAction::CertSigning);
        let b = rec(2, &a.hash, AuditAction::CertSigned);
        assert_eq!(verify_chain(&[a.clone(), b.clone()]), Ok(2));
        let mut edited = b.clone();
        edited.event.action = AuditAction::CertRevoked;
        assert!(verify_chain(&[a.clone(), edited]).is_err());
        for principal in [None, Some("token:2".to_owned())] {
            let mut other = b.clone();
            other.event.principal = principal;
            assert!(
                verify_chain(&[a.clone(), other]).is_err(),
                "principal covered"
            );
        }
        assert!(verify_chain(std::slice::from_ref(&b)).is_err());
    }

    #[test]
    fn action_names_round_trip_and_unknown_ones_are_refused() {
        for a in AuditAction::ALL {
            assert_eq!(a.as_str().parse::<AuditAction>(), Ok(a));
            let json = serde_json::to_string(&a).expect("json");
            assert_eq!(json, format!("\"{}\"", a.as_str()));
            assert_eq!(serde_json::from_str::<AuditAction>(&json).expect("back"), a);
        }
        assert!("cert.frobnicated".parse::<AuditAction>().is_err());
    }
}
