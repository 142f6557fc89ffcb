//! One module per subcommand: parse → call ca-core → render.

pub(crate) mod audit;
pub(crate) mod bench;
pub(crate) mod ca;
pub(crate) mod cert;
pub(crate) mod crl;
pub(crate) mod db;
pub(crate) mod dual;
pub(crate) mod init;
pub(crate) mod inventory;
pub(crate) mod issue;
pub(crate) mod maintain;
pub(crate) mod managed;
pub(crate) mod notify;
pub(crate) mod ocsp;
pub(crate) mod probe;
pub(crate) mod quickstart;
pub(crate) mod renew;
pub(crate) mod revoke;
pub(crate) mod serve;
pub(crate) mod token;
