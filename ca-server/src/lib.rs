//! caforge's HTTP OCSP/CRL/AIA responder and issuance API.
//!
//! A placeholder until the server issue lands: it names the crate in the workspace so that
//! the layout in DESIGN.md holds from the start.

#![forbid(unsafe_code)]

/// The crate's version, for `/healthz` once the server exists.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
