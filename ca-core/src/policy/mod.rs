//! Issuance policy: SAN rules, validity caps, key policy and name constraints.
//!
//! Every check here is a pure function over values; the services call them before any
//! serial is reserved, so a refused request changes nothing.

mod keys;
mod names;
mod san;
mod subject;
mod validity;

pub use keys::check_subject_key;
pub use names::{
    below, check_name_constraints, subject_names, IpSubnet, NameConstraintSet, Subtrees,
};
pub use san::{check_san_count, SubjectAltName, MAX_SANS, MAX_URI_LEN};
pub use subject::{
    attribute_type, check_common_names_in_sans, check_subject, DEFAULT_SUBJECT_ATTRIBUTES,
    MAX_SUBJECT_ATTRIBUTES,
};
pub use validity::{ca_validity, leaf_validity, tls_server_max_days, ValidityPlan, MAX_CA_DAYS};

/// A request that policy refuses.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum PolicyError {
    /// A SAN is malformed or not allowed.
    #[error("invalid SAN '{san}': {reason}")]
    InvalidSan {
        /// The SAN as given.
        san: String,
        /// Why it is refused.
        reason: String,
    },
    /// The profile needs a SAN and none was given.
    #[error("profile {0} requires at least one SAN")]
    MissingSan(String),
    /// Requested validity exceeds the cap.
    #[error("validity of {requested} days exceeds the {profile} maximum of {max} days ({why})")]
    ValidityTooLong {
        /// Requested days.
        requested: u32,
        /// The cap.
        max: u32,
        /// The profile.
        profile: String,
        /// Where the cap comes from.
        why: String,
    },
    /// Zero or absurd validity.
    #[error("validity must be at least 1 day")]
    ValidityTooShort,
    /// The subject key is not acceptable.
    #[error("{0}")]
    WeakKey(String),
    /// A name constraint given for a new CA is not valid.
    #[error("invalid name constraint '{constraint}': {reason}")]
    InvalidNameConstraint {
        /// The constraint as given.
        constraint: String,
        /// Why it is refused.
        reason: String,
    },
    /// A name falls outside the issuing CA's name constraints.
    #[error("name '{name}' violates the name constraints of CA '{ca}': {reason}")]
    NameConstraint {
        /// The offending name.
        name: String,
        /// The constraining CA.
        ca: String,
        /// Which rule it breaks.
        reason: String,
    },
    /// The issuer can no longer issue (expired or not yet valid).
    #[error("{0}")]
    IssuerNotValid(String),
    /// More SANs than a certificate may carry.
    #[error("{0} SANs requested (at most {max})", max = san::MAX_SANS)]
    TooManySans(usize),
    /// The subject DN breaks the profile's rules.
    #[error("{0}")]
    Subject(String),
    /// The certificate's policies would not validate under its chain of CAs.
    #[error("{0}")]
    CertificatePolicy(String),
    /// A root asked to sign an end-entity certificate it is not configured to sign.
    #[error("CA '{0}' is a root: roots sign CAs, CRLs and OCSP responders, not end entities; issue under an intermediate, or allow it with `caforge ca configure {0} --allow-leaves true`")]
    LeafFromRoot(String),
}
