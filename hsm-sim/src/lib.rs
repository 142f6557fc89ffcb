//! hsm-sim: caforge's HSM simulator and its client library.
//!
//! A placeholder until the key-custody issue lands.

#![forbid(unsafe_code)]

/// The crate's version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
