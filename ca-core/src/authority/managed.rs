//! Managed certificates: caforge keeps the key (sealed by the key custodian), renews with a
//! fresh key when the renewal window opens and hands the deployment — files and hook, which
//! are effects at the edge (`ca-server`'s deployer) — what to write.

use zeroize::Zeroizing;

use super::{IssueRequest, Issued, LeafOverrides, Lifecycle, RenewRequest, SubjectKey};
use crate::algorithm::KeyType;
use crate::audit::{AuditAction, AuditEvent};
use crate::keys::{plain_key_pem, Signer as _, SoftwareKey};
use crate::store::{CertificateRecord, ManagedRecord, ManagedState, NewManaged};
use crate::{Error, Result};

/// Longest renewal window: renewal starts at most this long before expiry.
pub const MAX_RENEWAL_WINDOW_SECS: i64 = 30 * 86_400;

/// First retry delay after a failed renewal or deployment; doubled per failure.
const RETRY_BASE_SECS: i64 = 300;
/// Longest delay between retries.
const RETRY_MAX_SECS: i64 = 6 * 3600;

/// When a certificate valid from `not_before` to `not_after` enters its renewal window: the
/// last third of its lifetime, at most [`MAX_RENEWAL_WINDOW_SECS`].
#[must_use]
pub fn renewal_starts(not_before: i64, not_after: i64) -> i64 {
    let lifetime = (not_after - not_before).max(0);
    not_after - (lifetime / 3).min(MAX_RENEWAL_WINDOW_SECS)
}

/// A managed certificate with its current certificate.
#[derive(Debug, Clone)]
pub struct Managed {
    /// The stored row.
    pub record: ManagedRecord,
    /// Its current certificate.
    pub certificate: CertificateRecord,
    /// When the current certificate enters its renewal window.
    pub renew_at: i64,
}

/// What a deployment writes: the certificate, the issuer chain (without the root) and the
/// key, as PEM.
pub struct Deployment {
    /// Certificate PEM.
    pub certificate: String,
    /// Intermediates PEM (the chain servers send).
    pub chain: String,
    /// Unencrypted PKCS#8 PEM key (written 0600).
    pub key: Zeroizing<String>,
}

impl std::fmt::Debug for Deployment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deployment").finish_non_exhaustive()
    }
}

fn retry_delay(attempts: u32) -> i64 {
    crate::notify::backoff(RETRY_BASE_SECS, RETRY_MAX_SECS, attempts)
}

impl<S: super::lifecycle::LifecycleRoles> Lifecycle<S> {
    /// Issues a managed certificate: `req` must generate the key, which is sealed by the key
    /// custodian and kept; the certificate is recorded as pending its first deployment into
    /// `deploy_dir` (then the hook `caforge.toml` allows under the name `deploy_hook`
    /// runs). The creation is audited with the directory and hook.
    ///
    /// # Errors
    /// A CSR request (caforge must hold the key to renew and deploy it), a relative
    /// deployment directory, a hook the configuration does not allow
    /// ([`Error::Forbidden`]), and everything [`super::Issuance::issue`] refuses.
    pub async fn issue_managed(
        &self,
        req: &IssueRequest,
        deploy_dir: &str,
        deploy_hook: Option<&str>,
    ) -> Result<(Issued, Managed)> {
        let SubjectKey::Generate(key_type) = req.key else {
            return Err(Error::Invalid(
                "a managed certificate needs a key caforge generates, not a CSR".into(),
            ));
        };
        if !std::path::Path::new(deploy_dir).is_absolute() {
            return Err(Error::Invalid(format!(
                "the deployment directory '{deploy_dir}' must be an absolute path"
            )));
        }
        let hook = self.allowed_hook(deploy_hook)?;
        // The key is made and sealed first: a custodian that cannot seal (no passphrase)
        // stops this before anything is issued.
        let (key, sealed) = self.sealed_key(key_type).await?;
        let overrides = LeafOverrides {
            existing_key: Some(key.public_key_info().clone()),
            ..LeafOverrides::default()
        };
        let leaf = self.issuance.sign_leaf(req, overrides).await?;
        let now = self.clock.now().unix_timestamp();
        let audit = self.managed_audit(
            AuditAction::ManagedCreated,
            &leaf.issuer,
            &leaf.signed.cert.serial.to_hex(),
            serde_json::json!({"deploy_dir": deploy_dir, "hook": hook}),
        );
        // The certificate and the managed row with its sealed key are one commit: a crash
        // leaves both or neither, never a certificate whose key is lost.
        let (certificate, record) = self
            .store
            .commit_managed(
                &leaf.signed.cert,
                &leaf.signed.issuer_key_id,
                &leaf.signed.audit,
                &NewManaged {
                    key_type: key_type.as_str().into(),
                    sealed_key: sealed,
                    deploy_dir: deploy_dir.into(),
                    deploy_hook: hook,
                    created_at: now,
                },
                &audit,
            )
            .await?;
        let issued = Issued {
            record: crate::issuance::pipeline::committed(certificate),
            der: leaf.der,
            chain: leaf.chain,
            generated_key: Some(key),
            warnings: leaf.warnings,
        };
        let managed = self.managed_view(record).await?;
        Ok((issued, managed))
    }

    /// The name of the hook `caforge.toml` allows as `hook`, for a managed certificate's
    /// row.
    fn allowed_hook(&self, hook: Option<&str>) -> Result<Option<String>> {
        hook.map(|h| self.hooks.named(h).map(|(name, _)| name.to_owned()))
            .transpose()
    }

    /// An audit entry about a managed certificate whose certificate CA `ca` issued with
    /// `serial` (hex).
    fn managed_audit(
        &self,
        action: AuditAction,
        ca: &str,
        serial: &str,
        details: serde_json::Value,
    ) -> AuditEvent {
        AuditEvent::about_certificate(
            self.clock.now().unix_timestamp(),
            action,
            ca,
            serial,
            self.directory.acting().audit_name(),
            details,
        )
    }

    /// Sets or clears `m`'s deployment hook (a name `caforge.toml` allows); audited with
    /// the old and new hook.
    ///
    /// # Errors
    /// A hook the configuration does not allow ([`Error::Forbidden`]); store failures.
    pub async fn set_managed_hook(&self, m: &Managed, hook: Option<&str>) -> Result<()> {
        let hook = self.allowed_hook(hook)?;
        let audit = self.managed_audit(
            AuditAction::ManagedHookChanged,
            &m.certificate.issuer_name,
            &m.certificate.serial.to_hex(),
            serde_json::json!({
                "managed": m.record.id,
                "from": m.record.deploy_hook,
                "to": hook,
            }),
        );
        Ok(self
            .store
            .set_managed_hook(m.record.id, hook.as_deref(), &audit)
            .await?)
    }

    /// The hook to run after deploying `m`, as (name, command), with the command from the
    /// configuration: the row only names it.
    ///
    /// # Errors
    /// [`Error::Forbidden`] when the configuration does not allow the hook `m` names.
    pub fn deploy_hook(&self, m: &Managed) -> Result<Option<(String, String)>> {
        m.record
            .deploy_hook
            .as_deref()
            .map(|h| {
                self.hooks
                    .resolve(h)
                    .map(|(name, command)| (name.to_owned(), command.to_owned()))
            })
            .transpose()
    }

    /// Records that `m`'s hook `name` (`command`) ran, and how it ended.
    ///
    /// # Errors
    /// Store failures.
    pub async fn hook_ran(
        &self,
        m: &Managed,
        name: &str,
        command: &str,
        outcome: std::result::Result<(), &str>,
    ) -> Result<()> {
        let audit = self.managed_audit(
            AuditAction::HookRan,
            &m.certificate.issuer_name,
            &m.certificate.serial.to_hex(),
            serde_json::json!({
                "managed": m.record.id,
                "hook": name,
                "command": command,
                "ok": outcome.is_ok(),
                "error": outcome.err(),
            }),
        );
        self.store.append_audit(&audit).await?;
        Ok(())
    }

    /// A new key of `key_type` and its sealed form.
    async fn sealed_key(&self, key_type: KeyType) -> Result<(SoftwareKey, Vec<u8>)> {
        let key = tokio::task::spawn_blocking(move || {
            SoftwareKey::generate(key_type, crate::algorithm::DEFAULT_SM2_ID)
        })
        .await
        .map_err(|e| Error::Internal(format!("key generation task failed: {e}")))??;
        let sealed = self.directory.signers().keys().seal(&key)?;
        Ok((key, sealed))
    }

    async fn managed_view(&self, record: ManagedRecord) -> Result<Managed> {
        let certificate = self.store.certificate_by_id(record.certificate_id).await?;
        Ok(Managed {
            renew_at: renewal_starts(certificate.not_before, certificate.not_after),
            certificate,
            record,
        })
    }

    /// Every managed certificate with its current certificate.
    ///
    /// # Errors
    /// Store failures.
    pub async fn managed(&self) -> Result<Vec<Managed>> {
        let mut out = Vec::new();
        for record in self.store.list_managed().await? {
            out.push(self.managed_view(record).await?);
        }
        Ok(out)
    }

    /// Managed certificates with work to do now: renewal (the window opened) or a
    /// deployment that is pending or due for a retry. A revoked current certificate is
    /// renewed at once.
    ///
    /// # Errors
    /// Store failures.
    pub async fn managed_due(&self) -> Result<Vec<Managed>> {
        let now = self.clock.now().unix_timestamp();
        Ok(self
            .managed()
            .await?
            .into_iter()
            .filter(|m| {
                let retry_due = m.record.next_attempt_at <= now;
                match m.record.state {
                    ManagedState::Deployed => self.needs_renewal(m, now),
                    ManagedState::Pending | ManagedState::Failed => retry_due,
                }
            })
            .collect())
    }

    /// Whether `m`'s current certificate should be replaced at `now`.
    #[must_use]
    pub fn needs_renewal(&self, m: &Managed, now: i64) -> bool {
        now >= m.renew_at || m.certificate.is_revoked()
    }

    /// Renews `m` with a fresh key (a rekey linked to its predecessor, which stays valid
    /// until it expires), seals the new key and marks the result pending deployment.
    ///
    /// # Errors
    /// Everything [`Lifecycle::renew`] refuses; the caller records the failure with
    /// [`Lifecycle::managed_attempted`].
    pub async fn renew_managed(&self, m: &Managed) -> Result<Managed> {
        let key_type: KeyType = m
            .record
            .key_type
            .parse()
            .map_err(|e| Error::Invalid(format!("managed key type: {e}")))?;
        let (key, sealed) = self.sealed_key(key_type).await?;
        // The successor, the link and the managed row's switch to it and its sealed key
        // are one commit.
        self.renew_with(
            &RenewRequest {
                serial: m.certificate.serial.to_hex(),
                ca: Some(m.certificate.issuer_ca_id.to_string()),
                ..RenewRequest::default()
            },
            Some(key),
            Some((m.record.id, sealed)),
        )
        .await?;
        let record = self
            .store
            .list_managed()
            .await?
            .into_iter()
            .find(|r| r.id == m.record.id)
            .ok_or_else(|| Error::Invalid("managed certificate vanished".into()))?;
        self.managed_view(record).await
    }

    /// What to write for `m`'s current certificate (the key unsealed).
    ///
    /// # Errors
    /// Key custody failures (a wrong passphrase), store failures.
    pub async fn managed_deployment(&self, m: &Managed) -> Result<Deployment> {
        let key: SoftwareKey = self
            .directory
            .signers()
            .keys()
            .unseal(&m.record.sealed_key, crate::algorithm::DEFAULT_SM2_ID)?;
        let issuer = self.store.ca_by_id(m.certificate.issuer_ca_id).await?;
        let chain = self.directory.chain_records(&issuer).await?;
        // Servers send the intermediates; the root is what clients already trust.
        let n = chain.len().saturating_sub(1).max(1);
        Ok(Deployment {
            certificate: crate::pem::certificate(&m.certificate.der)?,
            chain: crate::pem::certificates(chain.iter().take(n).map(|c| c.cert_der.as_slice()))?,
            key: plain_key_pem(&key)?,
        })
    }

    /// Records the outcome of renewing or deploying `m`: deployed, or failed with `error`
    /// and retried later with exponential backoff.
    ///
    /// # Errors
    /// Store failures.
    pub async fn managed_attempted(&self, m: &Managed, error: Option<&str>) -> Result<()> {
        let now = self.clock.now().unix_timestamp();
        let retry_at = match error {
            None => now,
            Some(_) => now.saturating_add(retry_delay(m.record.attempts)),
        };
        Ok(self
            .store
            .managed_attempted(m.record.id, error, retry_at, now)
            .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_is_the_last_third_capped_at_thirty_days() {
        const DAY: i64 = 86_400;
        assert_eq!(renewal_starts(0, 90 * DAY), 60 * DAY);
        assert_eq!(renewal_starts(0, 3 * DAY), 2 * DAY);
        assert_eq!(renewal_starts(0, 398 * DAY), 368 * DAY);
        assert_eq!(retry_delay(0), 300);
        assert_eq!(retry_delay(1), 600);
        assert_eq!(retry_delay(20), 6 * 3600);
    }
}
