//! API tokens: bearer credentials for the issuance API, each with the scopes
//! ([`crate::authz::Scope`]) that say what it may do.
//!
//! A token is `cft_` followed by 32 random bytes in hex; the store keeps only its SHA-256, so
//! a database leak does not leak credentials. Comparison of the hashes is constant-time.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::authz::Scope;
use crate::keys::{random_bytes, KeyError};

/// The prefix every token starts with (lets secret scanners recognise them).
pub const TOKEN_PREFIX: &str = "cft_";

/// A token as stored (never the token itself).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    /// Row id (what `caforge token revoke` takes).
    pub id: i64,
    /// A label for humans.
    pub name: String,
    /// What it may do: the union of its scopes.
    pub scopes: Vec<Scope>,
    /// Creation time.
    pub created_at: i64,
    /// Expiry, if any.
    pub expires_at: Option<i64>,
    /// Revocation time, if revoked.
    pub revoked_at: Option<i64>,
    /// Hex SHA-256 of the token.
    #[serde(skip)]
    pub token_hash: String,
    /// How many certificates it may have issued per window, if limited.
    pub quota: Option<Quota>,
    /// The API client key it is bound to (hex SHA-256 of the SubjectPublicKeyInfo of the
    /// client's TLS certificate, [`client_key_of`]): then it is accepted only from a
    /// connection that presented a certificate for that key.
    pub client_key: Option<String>,
}

/// An issuance quota: at most `count` certificates in any `window_secs` (a sliding window).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quota {
    /// Certificates per window.
    pub count: u32,
    /// The window, in seconds.
    pub window_secs: i64,
}

impl std::fmt::Display for Quota {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let w = self.window_secs;
        if w % 86_400 == 0 {
            write!(f, "{}/{}d", self.count, w / 86_400)
        } else if w % 3_600 == 0 {
            write!(f, "{}/{}h", self.count, w / 3_600)
        } else {
            write!(f, "{}/{}s", self.count, w)
        }
    }
}

impl TokenRecord {
    /// Whether it is usable at `now`.
    pub fn is_active(&self, now: i64) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|e| now < e)
    }
}

/// A token to record.
#[derive(Clone, Debug)]
pub struct NewToken {
    /// Label.
    pub name: String,
    /// Scopes.
    pub scopes: Vec<Scope>,
    /// Creation time.
    pub created_at: i64,
    /// Expiry.
    pub expires_at: Option<i64>,
    /// Hex SHA-256 of the token.
    pub token_hash: String,
    /// Issuance quota.
    pub quota: Option<Quota>,
    /// The client key it is bound to.
    pub client_key: Option<String>,
}

/// Makes a new random token (returned once; zeroized when dropped).
///
/// # Errors
/// When the random generator fails.
pub fn generate() -> Result<Zeroizing<String>, KeyError> {
    let mut bytes = Zeroizing::new([0u8; 32]);
    random_bytes(bytes.as_mut())?;
    Ok(Zeroizing::new(format!(
        "{TOKEN_PREFIX}{}",
        hex::encode(bytes.as_ref())
    )))
}

/// The hex SHA-256 the store keeps for `token`.
pub fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The key a client certificate (DER) binds a token to: the hex SHA-256 of its
/// SubjectPublicKeyInfo, so the binding survives a renewal that keeps the key.
///
/// # Errors
/// [`crate::Error::Encoding`] when `der` is not a certificate.
pub fn client_key_of(der: &[u8]) -> crate::Result<String> {
    use der::{Decode, Encode};
    let cert = x509_cert::Certificate::from_der(der)?;
    let spki = cert.tbs_certificate().subject_public_key_info().to_der()?;
    Ok(hex::encode(Sha256::digest(spki)))
}

/// Constant-time equality of two byte strings of public length.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_prefixed_and_hashed() {
        let a = generate().expect("rng");
        let b = generate().expect("rng");
        assert_ne!(*a, *b);
        assert!(a.starts_with(TOKEN_PREFIX) && a.len() == 4 + 64);
        assert_eq!(hash(&a).len(), 64);
        assert!(!hash(&a).contains(&a[4..]));
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }

    #[test]
    fn tokens_expire() {
        let t = TokenRecord {
            id: 1,
            name: "ci".into(),
            scopes: vec![],
            created_at: 0,
            expires_at: Some(10),
            revoked_at: None,
            token_hash: String::new(),
            quota: None,
            client_key: None,
        };
        assert!(t.is_active(9) && !t.is_active(10));
    }

    #[test]
    fn quotas_read_back_in_their_largest_unit() {
        let q = |count, window_secs| Quota { count, window_secs }.to_string();
        assert_eq!(q(20, 365 * 86_400), "20/365d");
        assert_eq!(q(5, 7_200), "5/2h");
        assert_eq!(q(1, 90), "1/90s");
    }
}
