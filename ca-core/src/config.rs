//! `caforge.toml`, the home's configuration file.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::profile::{ProfileConfig, Profiles};
use crate::{Error, Result};

/// The configuration file, validated with `deny_unknown_fields`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Database URL (`sqlite:caforge.db`, relative to the home); `--db` overrides it.
    pub database: Option<String>,
    /// Per-profile overrides.
    #[serde(default)]
    pub profiles: BTreeMap<String, ProfileConfig>,
    /// Certificate policies by name (`[policies.NAME]`), for profiles and CA flags.
    #[serde(default)]
    pub policies: BTreeMap<String, crate::certpolicy::PolicyConfig>,
    /// `caforge serve` settings.
    #[serde(default)]
    pub server: ServerSettings,
    /// Expiry notifications (webhooks, thresholds).
    #[serde(default)]
    pub notify: crate::notify::NotifySettings,
    /// Deployment hooks managed certificates may run, by name: the only commands caforge
    /// runs. A managed certificate's row names one; the command comes from here.
    #[serde(default)]
    pub hooks: Hooks,
    /// Key custody: what key devices caforge may load.
    #[serde(default)]
    pub keys: KeySettings,
}

/// The `[keys]` table.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct KeySettings {
    /// PKCS#11 modules (absolute paths) caforge may load. A CA's key reference naming any
    /// other module is refused before the module is opened: the database names keys, the
    /// configuration decides what code runs.
    pub pkcs11_modules: Vec<std::path::PathBuf>,
}

/// The `[hooks]` table: name → shell command (run with `sh -c` in the deployment
/// directory, with a cleared environment; see `ca_ops::managed`).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Hooks(BTreeMap<String, String>);

/// Longest hook name.
const MAX_HOOK_NAME: usize = 64;

impl Hooks {
    /// Hooks from (name, command) pairs.
    ///
    /// # Errors
    /// [`Error::Config`] for a bad name or an empty command.
    pub fn new(hooks: impl IntoIterator<Item = (String, String)>) -> Result<Hooks> {
        let hooks = Hooks(hooks.into_iter().collect());
        hooks.validate()?;
        Ok(hooks)
    }

    fn validate(&self) -> Result<()> {
        for (name, command) in &self.0 {
            if name.is_empty()
                || name.len() > MAX_HOOK_NAME
                || !name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
            {
                return Err(Error::Config(format!(
                    "[hooks]: '{name}' is not a hook name (1 to {MAX_HOOK_NAME} letters, digits, '-', '_' or '.')"
                )));
            }
            if command.trim().is_empty() {
                return Err(Error::Config(format!(
                    "[hooks]: hook '{name}' has no command"
                )));
            }
        }
        Ok(())
    }

    /// The hook named `name`, as (name, command): what a managed certificate may be given.
    ///
    /// # Errors
    /// [`Error::Forbidden`] when the configuration allows no hook of that name.
    pub fn named(&self, name: &str) -> Result<(&str, &str)> {
        match self.0.get_key_value(name) {
            Some((name, command)) => Ok((name, command)),
            None => Err(self.refusal(name)),
        }
    }

    /// The allowed hook a managed certificate's row names, as (name, command): by name,
    /// or — for rows made before hooks were named — by its exact command.
    ///
    /// # Errors
    /// [`Error::Forbidden`] when the configuration allows no such hook.
    pub fn resolve(&self, named: &str) -> Result<(&str, &str)> {
        if let Ok(found) = self.named(named) {
            return Ok(found);
        }
        match self.0.iter().find(|(_, c)| c.as_str() == named) {
            Some((name, command)) => Ok((name, command)),
            None => Err(self.refusal(named)),
        }
    }

    fn refusal(&self, named: &str) -> Error {
        let allowed: Vec<&str> = self.0.keys().map(String::as_str).collect();
        Error::Forbidden(format!(
            "deploy hook '{named}' is not allowed by caforge.toml [hooks] ({})",
            if allowed.is_empty() {
                "which allows none".to_owned()
            } else {
                format!("allowed: {}", allowed.join(", "))
            }
        ))
    }
}

/// The `[server]` table: settings of the HTTP responder (`caforge serve`); flags override.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSettings {
    /// Address of the public listener: OCSP, CRLs, CA certificates, `/healthz`, `/metrics`
    /// (plain HTTP, as RFC 5019 and relying parties expect).
    pub listen: String,
    /// Address of the issuance API's own listener (HTTPS, per `[server.tls]`); none: the
    /// API is not served unless `api_on_public`.
    pub api_listen: Option<String>,
    /// Also serve the API on the public listener, in plain HTTP (a lab on loopback only:
    /// bearer tokens then cross the wire in the clear).
    pub api_on_public: bool,
    /// The API listener's TLS.
    pub tls: ApiTls,
    /// Largest request body accepted (bytes); larger gets 413.
    pub max_body_bytes: usize,
    /// Whole-request timeout (seconds); slower gets 408.
    pub request_timeout_secs: u64,
    /// Time a client has to send a request's headers, and the longest an idle keep-alive
    /// connection is kept (seconds); slower clients are disconnected.
    pub header_timeout_secs: u64,
    /// Most connections served at once; further clients wait in the listen backlog.
    pub max_connections: usize,
    /// How long after a revocation a CRL is due again (seconds): the server's background
    /// signer signs it when a fetch or its refresh finds it due.
    pub crl_revocation_delay_secs: i64,
    /// Most signatures (OCSP, CRL, issuance) in flight on one key device at once (this
    /// process's memory, for file keys, counts as one device); further requests wait, at
    /// most `device_timeout_secs`.
    pub max_concurrent_signings: usize,
    /// Longest a signature waits for its key device (a slot, then the answer) before the
    /// client gets `tryLater` / 503 with Retry-After; a device that did not answer is
    /// marked down until a health probe reaches it again. Below `request_timeout_secs`.
    pub device_timeout_secs: u64,
    /// Seconds between health checks (devices, store, disk, CRLs); `/healthz` answers from
    /// the last one at once.
    pub health_interval_secs: u64,
    /// Free disk beside a SQLite database (MiB) below which the server reports degraded.
    pub min_free_disk_mib: u64,
    /// Seconds between background refreshes: due revocations, managed certificates,
    /// delegated OCSP responders (issued here, never on a request), CRLs, and pre-signed
    /// OCSP responses when `presign` is on. 0 disables the background task; then run
    /// `caforge maintain` on a schedule, or delegated OCSP answers tryLater once its
    /// responder expires.
    pub refresh_interval_secs: u64,
    /// Pre-sign OCSP responses for every certificate in the background (RFC 5019).
    pub presign: bool,
    /// Roots whose keys the server may load. Every other root stays offline: the server
    /// serves the CRLs and OCSP answers its operator made ahead of time (`caforge crl`,
    /// `caforge ocsp presign`) or its delegated responder signs, and never loads its key.
    pub online_roots: Vec<String>,
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            listen: "127.0.0.1:8080".into(),
            max_body_bytes: 64 * 1024,
            request_timeout_secs: 10,
            header_timeout_secs: 5,
            max_connections: 1024,
            crl_revocation_delay_secs: 0,
            max_concurrent_signings: 16,
            device_timeout_secs: 3,
            health_interval_secs: 2,
            min_free_disk_mib: 64,
            refresh_interval_secs: 60,
            presign: false,
            online_roots: Vec::new(),
            api_listen: None,
            api_on_public: false,
            tls: ApiTls::default(),
        }
    }
}

impl ServerSettings {
    /// Checks that the time-outs fit together.
    ///
    /// # Errors
    /// [`Error::Config`] when the device time-out is zero or not below the request
    /// time-out (a client would then get 408 rather than `tryLater` or 503), or the health
    /// interval is zero.
    pub fn validate(&self) -> Result<()> {
        if self.device_timeout_secs == 0 || self.device_timeout_secs >= self.request_timeout_secs {
            return Err(Error::Config(format!(
                "[server] device_timeout_secs ({}) must be at least 1 and below request_timeout_secs ({})",
                self.device_timeout_secs, self.request_timeout_secs
            )));
        }
        if self.health_interval_secs == 0 || self.max_concurrent_signings == 0 {
            return Err(Error::Config(
                "[server] health_interval_secs and max_concurrent_signings must be at least 1"
                    .into(),
            ));
        }
        Ok(())
    }
}

/// The `[server.tls]` table: the API listener's certificate, from the operator's files or
/// issued by caforge for itself, and optional client certificates (mTLS).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct ApiTls {
    /// The certificate chain (PEM, leaf first); reloaded when the file changes.
    pub cert_file: Option<String>,
    /// Its private key (PKCS#8 or SEC1 PEM, unencrypted: keep it 0600).
    pub key_file: Option<String>,
    /// Instead of files: the RSA or ECDSA CA that issues the listener's certificate (a
    /// managed certificate, renewed by the server's refresh and picked up at once).
    pub issue_from: Option<String>,
    /// The names of the issued certificate (DNS names or IP addresses).
    pub names: Vec<String>,
    /// CA certificates (PEM) API clients' certificates must chain to: when set, a client
    /// certificate is required, and each token must be bound to its key.
    pub client_ca_file: Option<String>,
}

/// The file `caforge init` writes.
pub const DEFAULT_CONFIG: &str = r#"# caforge configuration (see README.md).

# Storage. Relative sqlite paths are relative to this directory; --db / CAFORGE_DB override.
# Several servers sharing one CA use PostgreSQL: database = "postgres://caforge@db.example/caforge"
database = "sqlite:caforge.db"

# Expiry reminders: each webhook gets a JSON POST per certificate (issued or imported) at
# each threshold, once; failed deliveries are retried with backoff (`caforge notify status`).
#
# [notify]
# webhooks = ["http://127.0.0.1:9000/caforge"]
# thresholds_days = [30, 15, 7, 1]

# Profile overrides. tls-server follows the CA/B Forum BR §6.3.2 schedule (200 days from
# 2026-03-15, 100 from 2027-03-15, 47 from 2029-03-15) unless max_days is set here, which a
# private deployment whose clients do not enforce the BRs may do.
#
# [profiles.tls-server]
# default_days = 90
# max_days = 397
# subject_attributes = ["CN", "O", "OU", "C", "ST", "L"]   # default: also STREET, DC, UID, SERIALNUMBER
# policies = ["dv"]                # certificatePolicies: names from [policies] or dotted OIDs

# Certificate policies (RFC 5280 §4.2.1.4) by name, for profiles and for
# `ca create-… --policy NAME`. A tls-server profile may carry a CPS URI, not a user notice
# (CA/B BR §7.1.2.7.9).
#
# [policies.dv]
# oid = "2.23.140.1.2.1"           # CA/B Forum domain-validated
# [policies.lab]
# oid = "1.3.6.1.4.1.55555.1.1"
# cps = "https://pki.lab.example/cps"
# notice = "Lab certificates: not for production"

# The HTTP responder (`caforge serve`): OCSP, CRLs, CA certificates.
# [server]
# listen = "127.0.0.1:8080"
# max_body_bytes = 65536
# request_timeout_secs = 10
# header_timeout_secs = 5          # slow or idle clients are disconnected after this
# max_connections = 1024
# crl_revocation_delay_secs = 0    # re-sign CRLs this long after a revocation
# max_concurrent_signings = 16     # per key device
# device_timeout_secs = 3          # then tryLater / 503; below request_timeout_secs
# health_interval_secs = 2         # /healthz answers from the last check
# min_free_disk_mib = 64           # less beside the SQLite file: degraded
# refresh_interval_secs = 60       # background work: CRLs, OCSP responders, renewals
# presign = false                  # pre-sign OCSP responses for every certificate
# online_roots = []                # roots whose keys serve may load (others stay offline)
# api_listen = "127.0.0.1:8443"    # the issuance API's own HTTPS listener (none: no API)
# api_on_public = false            # also serve the API on `listen` in plain HTTP (labs only)
#
# The API listener's certificate: the operator's files (reloaded when they change) ...
# [server.tls]
# cert_file = "/etc/caforge/api-fullchain.pem"
# key_file = "/etc/caforge/api-key.pem"
# ... or one caforge issues for itself from an RSA/ECDSA CA and renews:
# issue_from = "issuing"
# names = ["ca.lab.example", "127.0.0.1"]
# client_ca_file = "/etc/caforge/api-clients.pem"   # mTLS: client certificates required

# Deployment hooks managed certificates may run (`issue --managed --deploy-hook NAME`):
# the only commands caforge runs, with a cleared environment (PATH, HOME, LANG, LC_ALL,
# LC_CTYPE, TZ, USER, LOGNAME and CAFORGE_DEPLOY_DIR, CAFORGE_SERIAL, CAFORGE_SUBJECT), in
# the deployment directory.
# [hooks]
# reload-nginx = "systemctl reload nginx"

# Key devices caforge may load: a CA whose key names another PKCS#11 module is refused.
# [keys]
# pkcs11_modules = ["/usr/lib/softhsm/libsofthsm2.so"]
"#;

impl Config {
    /// Parses configuration text.
    ///
    /// # Errors
    /// [`Error::Config`] with the parser's position, or invalid profile settings.
    pub fn parse(text: &str) -> Result<Config> {
        let cfg: Config = toml::from_str(text).map_err(|e| Error::Config(e.to_string()))?;
        cfg.profiles()?;
        cfg.notify.validate().map_err(Error::Config)?;
        cfg.hooks.validate()?;
        if let Some(m) = cfg.keys.pkcs11_modules.iter().find(|m| !m.is_absolute()) {
            return Err(Error::Config(format!(
                "[keys] pkcs11_modules: '{}' must be an absolute path",
                m.display()
            )));
        }
        Ok(cfg)
    }

    /// The profiles this configuration defines.
    ///
    /// # Errors
    /// Invalid profile settings.
    pub fn profiles(&self) -> Result<Profiles> {
        Ok(Profiles::from_config(
            &self.profiles,
            &self.policy_catalog()?,
        )?)
    }

    /// The certificate policies the `[policies]` table names.
    ///
    /// # Errors
    /// [`Error::Config`] naming the entry that is not valid.
    pub fn policy_catalog(&self) -> Result<crate::certpolicy::PolicyCatalog> {
        crate::certpolicy::PolicyCatalog::from_config(&self.policies).map_err(Error::Config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_config_parses() {
        let cfg = Config::parse(DEFAULT_CONFIG).expect("parses");
        assert_eq!(cfg.database.as_deref(), Some("sqlite:caforge.db"));
        assert!(Config::parse("bogus = 1").is_err());
    }

    #[test]
    fn hooks_resolve_by_name_or_exact_command_only() {
        let cfg = Config::parse("[hooks]\nreload = \"systemctl reload nginx\"\n").expect("parses");
        assert_eq!(
            cfg.hooks.resolve("reload").expect("by name"),
            ("reload", "systemctl reload nginx")
        );
        assert_eq!(
            cfg.hooks
                .resolve("systemctl reload nginx")
                .expect("legacy row"),
            ("reload", "systemctl reload nginx")
        );
        assert!(
            cfg.hooks.named("systemctl reload nginx").is_err(),
            "a new row names a hook"
        );
        let refused = cfg.hooks.resolve("rm -rf /").expect_err("not allowed");
        assert!(matches!(refused, Error::Forbidden(_)), "{refused}");
        assert!(Config::parse("[hooks]\n\"a b\" = \"true\"\n").is_err());
        assert!(Config::parse("[hooks]\nx = \" \"\n").is_err());
        assert!(Config::parse("[keys]\npkcs11_modules = [\"lib.so\"]\n").is_err());
    }
}
