//! caforge core: everything a certificate authority *is* and *does*, with no CLI and no HTTP.
//!
//! Orchestration lives in the services of [`authority`] (composed by
//! [`authority::Services`]), each over the store roles it uses; everything else is a value
//! type or a pure function, reached through small traits at the edges
//! ([`keys::KeyProvider`], [`store::Store`], [`time::Clock`]).

pub mod algorithm;
pub mod audit;
pub mod authority;
pub mod authz;
pub mod certpolicy;
pub mod config;
pub mod dual;
mod error;
pub mod hierarchy;
pub mod inventory;
pub mod issuance;
pub mod keys;
pub mod lint;
pub mod notify;
pub mod pem;
pub mod policy;
pub mod profile;
pub mod revocation;
pub mod store;
pub mod time;
pub mod tokens;
pub mod x509;

pub use error::{Error, ErrorKind, Result};
