//! The crate-level error: every module's error wrapped, with a [`ErrorKind`] that front ends
//! map to exit codes and HTTP statuses (the mapping lives in the front ends, not here).

use crate::issuance::CsrError;
use crate::keys::KeyError;
use crate::lint::LintFailure;
use crate::policy::PolicyError;
use crate::profile::{InvalidProfile, UnknownProfile};
use crate::store::StoreError;

/// Broad classes of failure. Every front end renders a kind the same way (the HTTP status,
/// the OCSP response status, the CLI's exit code); the tables live in the front ends and
/// the README.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The request is not acceptable (bad input, policy).
    Rejected,
    /// Something named does not exist.
    NotFound,
    /// The request conflicts with existing state.
    Conflict,
    /// Credentials are missing or wrong.
    Unauthorized,
    /// The credentials are good but do not cover what was asked.
    Forbidden,
    /// A limit (a token's issuance quota) is used up for now.
    Exhausted,
    /// A dependency (database, key device) is unavailable.
    Unavailable,
    /// A bug or an unexpected failure.
    Internal,
}

impl ErrorKind {
    /// Every kind, in the order of the README's table.
    pub const ALL: [ErrorKind; 8] = [
        ErrorKind::Rejected,
        ErrorKind::NotFound,
        ErrorKind::Conflict,
        ErrorKind::Unauthorized,
        ErrorKind::Forbidden,
        ErrorKind::Exhausted,
        ErrorKind::Unavailable,
        ErrorKind::Internal,
    ];

    /// A short name (`rejected`, `not-found`, …), as used in problem types.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Rejected => "rejected",
            ErrorKind::NotFound => "not-found",
            ErrorKind::Conflict => "conflict",
            ErrorKind::Unauthorized => "unauthorized",
            ErrorKind::Forbidden => "forbidden",
            ErrorKind::Exhausted => "exhausted",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Internal => "internal",
        }
    }

    /// The kind of the first error in `error`'s chain (it and its sources) that caforge
    /// classifies, if any.
    #[must_use]
    pub fn of(error: &(dyn std::error::Error + 'static)) -> Option<ErrorKind> {
        let mut next = Some(error);
        while let Some(e) = next {
            if let Some(e) = e.downcast_ref::<Error>() {
                return Some(e.kind());
            }
            if let Some(e) = e.downcast_ref::<StoreError>() {
                return Some(e.kind());
            }
            if let Some(e) = e.downcast_ref::<KeyError>() {
                return Some(e.kind());
            }
            next = e.source();
        }
        None
    }
}

/// Any caforge failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Keys.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// Storage.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Policy.
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// CSR parsing / proof of possession.
    #[error(transparent)]
    Csr(#[from] CsrError),
    /// A lint stopped issuance.
    #[error(transparent)]
    Lint(#[from] LintFailure),
    /// Profile configuration.
    #[error(transparent)]
    Profile(#[from] InvalidProfile),
    /// Unknown profile name.
    #[error(transparent)]
    UnknownProfile(#[from] UnknownProfile),
    /// Configuration file problems.
    #[error("configuration: {0}")]
    Config(String),
    /// A CA or OCSP responder certificate was asked to be renewed: CAs roll over and
    /// responders are rotated instead.
    #[error("{serial} is a {profile} certificate: it is not renewed (CAs roll over, responders are rotated)")]
    NotRenewable {
        /// Its serial (hex).
        serial: String,
        /// What it was issued as.
        profile: &'static str,
    },
    /// A request that is invalid for a reason not covered above.
    #[error("{0}")]
    Invalid(String),
    /// Something the request needs is not ready yet (a delegated OCSP responder that
    /// maintenance has not issued): not the caller's doing; asking again later may work.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// Encoding failed (a bug or an out-of-range value).
    #[error("encoding: {0}")]
    Encoding(String),
    /// Missing, unknown, expired or revoked credentials (API tokens).
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// Good credentials that do not cover the request (a token outside its scope).
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// A fault inside caforge (a poisoned lock, a failed random generator, a task that
    /// died): not the caller's doing.
    #[error("internal error: {0}")]
    Internal(String),
    /// The signature produced by a signer did not verify (faulty key custodian).
    #[error("the signer produced an invalid signature; nothing was issued")]
    BadSignature,
    /// An API token's issuance quota is used up until `frees_at`.
    #[error("issuance quota of token {token} ({quota}) is used up; the next certificate can be issued at {frees_at_text}")]
    QuotaExceeded {
        /// Token id.
        token: i64,
        /// The quota, e.g. `20/365d`.
        quota: String,
        /// When a slot frees up (Unix seconds).
        frees_at: i64,
        /// The same as RFC 3339.
        frees_at_text: String,
    },
}

impl From<der::Error> for Error {
    fn from(e: der::Error) -> Self {
        Error::Encoding(e.to_string())
    }
}

impl Error {
    /// The class of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Key(e) => e.kind(),
            Error::Store(e) => e.kind(),
            Error::Policy(_)
            | Error::Csr(_)
            | Error::Profile(_)
            | Error::UnknownProfile(_)
            | Error::Config(_)
            | Error::NotRenewable { .. }
            | Error::Invalid(_) => ErrorKind::Rejected,
            Error::Unauthorized(_) => ErrorKind::Unauthorized,
            Error::Unavailable(_) => ErrorKind::Unavailable,
            Error::Forbidden(_) => ErrorKind::Forbidden,
            Error::Lint(_) | Error::Encoding(_) | Error::BadSignature | Error::Internal(_) => {
                ErrorKind::Internal
            }
            Error::QuotaExceeded { .. } => ErrorKind::Exhausted,
        }
    }
}

impl KeyError {
    /// Its class, as front ends report it.
    #[must_use]
    pub fn kind(&self) -> ErrorKind {
        match self {
            KeyError::WrongPassphrase { .. } | KeyError::MissingPassphrase => {
                ErrorKind::Unauthorized
            }
            // A key the server cannot use right now is not the client's doing: the device
            // is down, slow, failing, locked or missing the key.
            KeyError::Io { .. }
            | KeyError::Signing(_)
            | KeyError::Unavailable(_)
            | KeyError::Timeout(_)
            | KeyError::Device(_)
            | KeyError::PinIncorrect(_)
            | KeyError::PinLocked(_)
            | KeyError::MissingPin(_)
            | KeyError::NotFound(_) => ErrorKind::Unavailable,
            KeyError::NotAllowed(_) => ErrorKind::Forbidden,
            _ => ErrorKind::Rejected,
        }
    }
}

/// Result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
