//! What the issuance pipeline can leave behind, listed and cleaned up: a crash or refusal
//! after the durable intent leaves a reserved serial that no certificate uses, and, when a
//! key was generated for the certificate (a CA, a delegated responder), that key in its
//! custodian with nothing referring to it.

use super::Lifecycle;
use crate::audit::{AuditAction, AuditEvent};
use crate::keys::{store_of, KeyRef, DEFAULT_KEY_STORE};
use crate::Result;

/// Unreferenced keys younger than this are never removed: they may belong to an issuance
/// still in progress (generated, not yet committed).
pub const LEFTOVER_KEY_MIN_AGE_SECS: i64 = 3_600;

/// What interrupted or refused issuances left ([`Lifecycle::leftovers`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Leftovers {
    /// Serials reserved for a signature that was never committed: (issuing key identifier,
    /// serial hex). They stay reserved, so they are never used; nothing needs removing.
    pub unused_serials: Vec<(String, String)>,
    /// Keys that no CA or responder refers to, with the Unix time each was made (when the
    /// custodian knows it).
    pub unreferenced_keys: Vec<(KeyRef, Option<i64>)>,
    /// Key stores that could not be listed, and why.
    pub unlisted_stores: Vec<(String, String)>,
}

impl<S: super::lifecycle::LifecycleRoles> Lifecycle<S> {
    /// Lists the pipeline's leftovers: unused reserved serials, and keys in the default key
    /// store and every CA's key store that nothing refers to.
    ///
    /// # Errors
    /// Store failures.
    pub async fn leftovers(&self) -> Result<Leftovers> {
        let referenced = self.store.key_refs().await?;
        let mut stores = vec![DEFAULT_KEY_STORE.to_owned()];
        // Keys are compared by identity (a file's canonical path), not by how the
        // reference is spelled: `file:keys/a` and `file:./keys/a` are one key.
        let mut in_use = std::collections::HashSet::new();
        for r in &referenced {
            let s = store_of(r);
            if !stores.contains(&s) {
                stores.push(s);
            }
            if let Ok(id) = self.directory.signers().keys().identity(r) {
                in_use.insert(id);
            }
        }
        let mut out = Leftovers {
            unused_serials: self.store.unused_serials().await?,
            ..Leftovers::default()
        };
        let mut seen = std::collections::HashSet::new();
        for store in stores {
            match self.directory.signers().keys().list(&store) {
                Ok(keys) => {
                    for (key, made) in keys {
                        // A key that cannot be identified is never taken for a leftover.
                        let Ok(id) = self.directory.signers().keys().identity(&key) else {
                            continue;
                        };
                        if !in_use.contains(&id) && seen.insert(id) {
                            out.unreferenced_keys.push((key, made));
                        }
                    }
                }
                Err(e) => out.unlisted_stores.push((store, e.to_string())),
            }
        }
        Ok(out)
    }

    /// Destroys the unreferenced keys made at least `min_age_secs` ago (never younger than
    /// an issuance could take: see [`LEFTOVER_KEY_MIN_AGE_SECS`]) and returns them. Each is
    /// audited as `key.removed` before it is destroyed, so no key disappears unrecorded.
    ///
    /// # Errors
    /// Store or key custody failures (keys removed before the failure stay removed).
    pub async fn remove_leftover_keys(&self, min_age_secs: i64) -> Result<Vec<KeyRef>> {
        let now = self.clock.now().unix_timestamp();
        let mut removed = Vec::new();
        for (key, made) in self.leftovers().await?.unreferenced_keys {
            // A key of unknown age is kept: it might be in use by an issuance right now.
            if made.is_none_or(|t| now - t < min_age_secs) {
                continue;
            }
            self.store
                .append_audit(&AuditEvent {
                    at: now,
                    action: AuditAction::KeyRemoved,
                    ca: None,
                    serial: None,
                    details: serde_json::json!({"key": key.as_str(), "made": made}),
                    principal: Some(self.directory.acting().audit_name()),
                })
                .await?;
            self.directory.signers().keys().remove(&key)?;
            removed.push(key);
        }
        Ok(removed)
    }
}
