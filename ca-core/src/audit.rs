//! The audit log: an append-only, hash-chained record of every CA operation.
//!
//! Each entry's hash is SHA-256 over the previous entry's hash and the entry's own fields,
//! so deleting, reordering or editing any entry breaks every hash after it.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The hash that precedes the first entry.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// An event to be appended (the store assigns sequence number and hashes).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct AuditEvent {
    /// When it happened (Unix seconds).
    pub at: i64,
    /// What happened: `ca.create`, `cert.signing`, `cert.signed`, …
    pub action: String,
    /// The CA involved, by name.
    pub ca: Option<String>,
    /// The certificate serial involved.
    pub serial: Option<String>,
    /// Further facts as JSON (never key material).
    pub details: serde_json::Value,
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

    fn rec(seq: i64, prev: &str, action: &str) -> AuditRecord {
        let event = AuditEvent {
            at: 1,
            action: action.into(),
            ca: None,
            serial: None,
            details: serde_json::json!({}),
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
        let a = rec(1, GENESIS_HASH, "a");
        let b = rec(2, &a.hash, "b");
        assert_eq!(verify_chain(&[a.clone(), b.clone()]), Ok(2));
        let mut edited = b.clone();
        edited.event.action = "x".into();
        assert!(verify_chain(&[a.clone(), edited]).is_err());
        assert!(verify_chain(std::slice::from_ref(&b)).is_err());
    }
}
