//! The crate-level error: every module's error wrapped, with a [`ErrorKind`] that front ends
//! map to exit codes and HTTP statuses (the mapping lives in the front ends, not here).

use crate::issuance::CsrError;
use crate::keys::KeyError;
use crate::lint::LintFailure;
use crate::policy::PolicyError;
use crate::profile::{InvalidProfile, UnknownProfile};
use crate::store::StoreError;

/// Broad classes of failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The request is not acceptable (bad input, policy).
    Rejected,
    /// Something named does not exist.
    NotFound,
    /// The request conflicts with existing state.
    Conflict,
    /// Credentials are missing or wrong.
    Unauthorized,
    /// A dependency (database, key device) is unavailable.
    Unavailable,
    /// A bug or an unexpected failure.
    Internal,
    /// A limit (a token's issuance quota) is used up for now.
    Exhausted,
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
    /// A request that is invalid for a reason not covered above.
    #[error("{0}")]
    Invalid(String),
    /// Encoding failed (a bug or an out-of-range value).
    #[error("encoding: {0}")]
    Encoding(String),
    /// Missing, unknown, expired or revoked credentials (API tokens).
    #[error("unauthorized: {0}")]
    Unauthorized(String),
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
            Error::Key(KeyError::WrongPassphrase { .. } | KeyError::MissingPassphrase) => {
                ErrorKind::Unauthorized
            }
            // A key the server cannot use right now is not the client's doing: the device
            // is down, slow, failing, locked or missing the key.
            Error::Key(
                KeyError::Io { .. }
                | KeyError::Signing(_)
                | KeyError::Unavailable(_)
                | KeyError::Timeout(_)
                | KeyError::Device(_)
                | KeyError::PinIncorrect(_)
                | KeyError::PinLocked(_)
                | KeyError::MissingPin(_)
                | KeyError::NotFound(_),
            ) => ErrorKind::Unavailable,
            Error::Key(_) => ErrorKind::Rejected,
            Error::Store(StoreError::NotFound(_)) => ErrorKind::NotFound,
            Error::Store(StoreError::Conflict(_)) => ErrorKind::Conflict,
            Error::Store(StoreError::Database(_)) => ErrorKind::Unavailable,
            Error::Store(_) => ErrorKind::Internal,
            Error::Policy(_)
            | Error::Csr(_)
            | Error::Profile(_)
            | Error::UnknownProfile(_)
            | Error::Config(_)
            | Error::Invalid(_) => ErrorKind::Rejected,
            Error::Unauthorized(_) => ErrorKind::Unauthorized,
            Error::Lint(_) | Error::Encoding(_) | Error::BadSignature => ErrorKind::Internal,
            Error::QuotaExceeded { .. } => ErrorKind::Exhausted,
        }
    }
}

/// Result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
