//! Key policy for subject keys: RSA of at least 2048 bits (NIST SP 800-57 / CA/B BRs
//! §6.1.5), ECDSA on P-256 or P-384, Ed25519, and SM2.

use super::PolicyError;
use crate::keys::PublicKeyDescription;

/// Largest RSA modulus accepted: what the verifier supports and what clients handle.
const MAX_RSA_BITS: usize = 8192;

/// Checks a subject public key against the key policy.
///
/// # Errors
/// [`PolicyError::WeakKey`] naming the key and the rule it breaks.
pub fn check_subject_key(key: PublicKeyDescription) -> Result<(), PolicyError> {
    match key {
        PublicKeyDescription::Rsa { bits } if bits < 2048 => Err(PolicyError::WeakKey(format!(
            "RSA key of {bits} bits is too short: at least 2048 bits are required"
        ))),
        PublicKeyDescription::Rsa { bits } if bits > MAX_RSA_BITS => Err(PolicyError::WeakKey(
            format!("RSA key of {bits} bits is larger than the supported {MAX_RSA_BITS} bits"),
        )),
        PublicKeyDescription::Rsa { bits } if bits % 8 != 0 => Err(PolicyError::WeakKey(format!(
            "RSA modulus of {bits} bits is not a multiple of 8 (CA/B BRs §6.1.5)"
        ))),
        PublicKeyDescription::P521 => Err(PolicyError::WeakKey(
            "P-521 keys are not allowed (allowed curves: P-256, P-384, SM2)".into(),
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rsa_below_2048_is_refused() {
        assert!(check_subject_key(PublicKeyDescription::Rsa { bits: 1024 }).is_err());
        assert!(check_subject_key(PublicKeyDescription::Rsa { bits: 2047 }).is_err());
        assert!(check_subject_key(PublicKeyDescription::Rsa { bits: 2048 }).is_ok());
        assert!(check_subject_key(PublicKeyDescription::Sm2).is_ok());
        assert!(check_subject_key(PublicKeyDescription::P521).is_err());
    }
}
