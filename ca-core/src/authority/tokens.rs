//! API tokens as a service of their own ([`Tokens`]): create, authenticate, list, revoke,
//! and issuance quotas. It takes only the store roles it uses (tokens, quotas, and CAs to
//! check a token's scope), not the whole store, and no keys.

use std::future::Future;
use std::sync::Arc;

use zeroize::Zeroizing;

use crate::audit::AuditEvent;
use crate::authz::{Principal, Scope};
use crate::store::{CaStore, QuotaStore, TokenStore};
use crate::time::Clock;
use crate::tokens::{self, NewToken, Quota, TokenRecord};
use crate::{Error, Result};

/// A token to create.
#[derive(Clone, Debug)]
pub struct TokenRequest {
    /// A label for humans.
    pub name: String,
    /// What it may do (at least one scope; CA names in them may be ids, and are stored as
    /// names).
    pub scopes: Vec<Scope>,
    /// Lifetime in seconds (None: until revoked).
    pub lifetime: Option<i64>,
    /// Issuance quota (None: unlimited).
    pub quota: Option<Quota>,
    /// The API client certificate (DER) whose key it is bound to, if any.
    pub client_certificate: Option<Vec<u8>>,
}

/// The API token service.
pub struct Tokens<S> {
    store: S,
    clock: Arc<dyn Clock>,
    acting: Principal,
}

impl<S> std::fmt::Debug for Tokens<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens").finish_non_exhaustive()
    }
}

impl<S: TokenStore + QuotaStore + CaStore> Tokens<S> {
    /// The service over `store`, with time from `clock`, recording its actions as
    /// `acting`'s.
    pub fn new(store: S, clock: Arc<dyn Clock>, acting: Principal) -> Self {
        Tokens {
            store,
            clock,
            acting,
        }
    }

    /// Creates a token; the returned secret is shown once and only its hash is stored.
    ///
    /// # Errors
    /// Unknown CAs or profiles, an empty scope, store failures.
    pub async fn create(&self, req: &TokenRequest) -> Result<(TokenRecord, Zeroizing<String>)> {
        if req.name.trim().is_empty() || req.name.len() > 64 {
            return Err(Error::Invalid(
                "token name must be 1 to 64 characters".into(),
            ));
        }
        if req.scopes.is_empty() {
            return Err(Error::Invalid("a token needs at least one scope".into()));
        }
        let mut scopes = Vec::with_capacity(req.scopes.len());
        for scope in &req.scopes {
            let mut scope = scope.normalized()?;
            for ca in &mut scope.cas {
                if ca != "*" {
                    *ca = self.store.find_ca(ca).await?.name;
                }
            }
            scopes.push(scope);
        }
        if let Some(l) = req.lifetime {
            if l <= 0 {
                return Err(Error::Invalid("token lifetime must be positive".into()));
            }
        }
        if let Some(q) = req.quota {
            if q.count == 0 || q.window_secs <= 0 {
                return Err(Error::Invalid(
                    "a quota needs at least one certificate per positive window (e.g. 20/365d)"
                        .into(),
                ));
            }
        }
        let secret = tokens::generate()?;
        let now = self.clock.now().unix_timestamp();
        let new = NewToken {
            name: req.name.clone(),
            scopes,
            created_at: now,
            expires_at: req.lifetime.map(|l| now.saturating_add(l)),
            token_hash: tokens::hash(&secret),
            quota: req.quota,
            client_key: req
                .client_certificate
                .as_deref()
                .map(tokens::client_key_of)
                .transpose()
                .map_err(|_| {
                    Error::Invalid(
                        "the client certificate is not a DER or PEM X.509 certificate".into(),
                    )
                })?,
        };
        let audit = AuditEvent {
            at: now,
            action: crate::audit::AuditAction::TokenCreated,
            ca: None,
            serial: None,
            details: serde_json::json!({
                "name": new.name, "scopes": new.scopes, "expires_at": new.expires_at,
                "quota": new.quota.map(|q| q.to_string()), "client_key": new.client_key,
            }),
            principal: Some(self.acting.audit_name()),
        };
        let record = self.store.create_token(&new, &audit).await?;
        Ok((record, secret))
    }

    /// The token record for a presented bearer token.
    ///
    /// # Errors
    /// [`Error::Unauthorized`] for unknown, malformed, expired or revoked tokens, and for a
    /// token bound to a client key presented without a certificate for that key, or without
    /// any binding where `client_required` (one message for all, so callers learn nothing
    /// about which).
    pub async fn authenticate(
        &self,
        presented: &str,
        client_key: Option<&str>,
        client_required: bool,
    ) -> Result<TokenRecord> {
        let denied = || Error::Unauthorized("invalid or expired token".into());
        if !presented.starts_with(tokens::TOKEN_PREFIX) || presented.len() > 128 {
            return Err(denied());
        }
        let digest = tokens::hash(presented);
        let record = self
            .store
            .token_by_hash(&digest)
            .await?
            .ok_or_else(denied)?;
        let now = self.clock.now().unix_timestamp();
        if !tokens::constant_time_eq(record.token_hash.as_bytes(), digest.as_bytes())
            || !record.is_active(now)
        {
            return Err(denied());
        }
        // A token belongs to the client key it is bound to; where clients must present
        // certificates, every token must be bound, and to the one presented.
        match (&record.client_key, client_key) {
            (Some(bound), Some(presented)) if bound == presented => {}
            (None, _) if !client_required => {}
            _ => return Err(denied()),
        }
        Ok(record)
    }

    /// Runs `issue` (an issuance for API token `token`) within the token's quota: a slot is
    /// reserved before it runs (atomically, so concurrent requests cannot overdraw it),
    /// bound to the certificate `certificate_id` names after, and given back when issuance
    /// fails. Without a quota, `issue` just runs.
    ///
    /// # Errors
    /// [`Error::QuotaExceeded`] (saying when a slot frees up; `issue` does not run), and
    /// whatever `issue` returns.
    pub async fn within_quota<T>(
        &self,
        token: &TokenRecord,
        issue: impl Future<Output = Result<T>>,
        certificate_id: impl FnOnce(&T) -> i64,
    ) -> Result<T> {
        let Some(quota) = token.quota else {
            return issue.await;
        };
        let now = self.clock.now().unix_timestamp();
        let reservation = match self
            .store
            .reserve_quota(token.id, quota.count, quota.window_secs, now)
            .await?
        {
            Ok(id) => id,
            Err(frees_at) => {
                return Err(Error::QuotaExceeded {
                    token: token.id,
                    quota: quota.to_string(),
                    frees_at,
                    frees_at_text: crate::notify::rfc3339(frees_at),
                })
            }
        };
        match issue.await {
            Ok(issued) => {
                self.store
                    .settle_quota(reservation, Some(certificate_id(&issued)))
                    .await?;
                Ok(issued)
            }
            Err(e) => {
                self.store.settle_quota(reservation, None).await?;
                Err(e)
            }
        }
    }

    /// How much of its quota `token` has used now (None: no quota).
    ///
    /// # Errors
    /// Store errors.
    pub async fn quota_used(&self, token: &TokenRecord) -> Result<Option<u32>> {
        let Some(q) = token.quota else {
            return Ok(None);
        };
        let now = self.clock.now().unix_timestamp();
        Ok(Some(
            self.store
                .quota_used(token.id, now.saturating_sub(q.window_secs))
                .await?,
        ))
    }

    /// All tokens (hashes are not shown).
    ///
    /// # Errors
    /// Store errors.
    pub async fn list(&self) -> Result<Vec<TokenRecord>> {
        Ok(self.store.list_tokens().await?)
    }

    /// Revokes token `id`; requests with it fail from now on.
    ///
    /// # Errors
    /// Unknown or already revoked token.
    pub async fn revoke(&self, id: i64) -> Result<TokenRecord> {
        let now = self.clock.now().unix_timestamp();
        let audit = AuditEvent {
            at: now,
            action: crate::audit::AuditAction::TokenRevoked,
            ca: None,
            serial: None,
            details: serde_json::json!({ "id": id }),
            principal: Some(self.acting.audit_name()),
        };
        Ok(self.store.revoke_token(id, now, &audit).await?)
    }
}
