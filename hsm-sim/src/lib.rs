//! hsm-sim: a simulated hardware security module for caforge's test labs and drills, and
//! the client caforge uses to keep CA keys in it.
//!
//! The device (`hsm-sim serve`) holds tokens in slots; each token has a label, a user PIN
//! and an SO PIN, and key pairs whose private halves never leave it. Its
//! [`protocol`] is a small, versioned, length-prefixed subset of PKCS#11's operations. State
//! persists encrypted at rest ([`state`]). Faults (latency, random failures, failure after N
//! operations, dropped connections) can be switched on at start and at runtime.
//!
//! caforge uses [`provider::HsmSimKeyProvider`] for `hsm-sim://` key URIs.

pub mod client;
pub mod protocol;
pub mod provider;
pub mod server;
pub mod state;

pub use client::{Client, ClientError, Endpoint};
pub use provider::{HsmSimKeyProvider, HsmSimUri};
