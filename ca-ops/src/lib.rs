//! What caforge does beyond signing and serving HTTP, shared by the CLI (`caforge probe`,
//! `maintain`, `notify run`, `issue --managed`) and the server's scheduled refresh:
//! probing TLS endpoints ([`probe`]), deploying managed certificates ([`managed`]),
//! delivering expiry webhooks ([`notify`]), and the small outgoing HTTP client they use
//! ([`http_client`]).

pub mod http_client;
pub mod managed;
pub mod notify;
pub mod probe;
