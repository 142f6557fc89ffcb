//! Opening a home: configuration, database and key custody, from flags and environment.

use ca_core::authz::Principal;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context as _, Result};
use ca_core::audit::{AuditKey, Checkpoints};
use ca_core::authority::{Inventory, Services, Tokens};
use ca_core::config::Config;
use ca_core::keys::{FileKeyProvider, KeyCustody, Passphrase, Pin, Pkcs11KeyProvider};
use ca_core::store::AnyStore;
use ca_core::time::{Clock, ShiftedClock, SystemClock};

/// The environment variables that hold secrets. [`EnvSecrets::take`] reads them once, at
/// start, and removes them from the process environment: no child process (a deploy hook)
/// inherits them, and nothing later reads them again.
pub(crate) const SECRET_VARIABLES: [&str; 3] = ["CAFORGE_PASSPHRASE", "CAFORGE_PIN", "CAFORGE_DB"];

/// The secrets the environment held when caforge started.
#[derive(Debug, Default, Clone)]
pub(crate) struct EnvSecrets {
    /// `CAFORGE_PASSPHRASE`.
    pub(crate) passphrase: Option<Passphrase>,
    /// `CAFORGE_PIN`.
    pub(crate) pin: Option<Pin>,
}

impl EnvSecrets {
    /// Reads the secret variables and removes every one of [`SECRET_VARIABLES`] from the
    /// environment. Call it before any thread starts (clap has read `CAFORGE_DB` by then).
    pub(crate) fn take() -> EnvSecrets {
        let read = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let secrets = EnvSecrets {
            passphrase: read("CAFORGE_PASSPHRASE").map(Passphrase::new),
            pin: read("CAFORGE_PIN").map(Pin::new),
        };
        for name in SECRET_VARIABLES {
            std::env::remove_var(name);
        }
        secrets
    }
}

/// Global options shared by every subcommand.
#[derive(Debug)]
pub(crate) struct Globals {
    pub(crate) home: PathBuf,
    pub(crate) db: Option<String>,
    pub(crate) passphrase_file: Option<PathBuf>,
    pub(crate) pin_file: Option<PathBuf>,
    pub(crate) kmc_passphrase_file: Option<PathBuf>,
    /// Secrets from the environment (read once at start).
    pub(crate) env: EnvSecrets,
    /// The home's store, once a command opened it (its audit head is checkpointed when
    /// the command ends).
    pub(crate) opened: std::sync::OnceLock<AnyStore>,
}

impl Globals {
    pub(crate) fn config_path(&self) -> PathBuf {
        self.home.join("caforge.toml")
    }

    /// The passphrase from `--passphrase-file` or `CAFORGE_PASSPHRASE`, if any.
    pub(crate) fn passphrase(&self) -> Result<Option<Passphrase>> {
        if let Some(file) = &self.passphrase_file {
            return Ok(Some(read_secret(
                file,
                "passphrase",
                Passphrase::from_file,
            )?));
        }
        Ok(self.env.passphrase.clone())
    }

    /// The key device PIN from `--pin-file` or `CAFORGE_PIN`, if any.
    pub(crate) fn pin(&self) -> Result<Option<Pin>> {
        if let Some(file) = &self.pin_file {
            return Ok(Some(read_secret(file, "PIN", Pin::from_file)?));
        }
        Ok(self.env.pin.clone())
    }

    /// Key custody for this home: encrypted files under it, hsm-sim devices, and the
    /// PKCS#11 modules `config` allows.
    pub(crate) fn key_custody(&self, config: &Config) -> Result<KeyCustody> {
        let passphrase = self.passphrase()?;
        let kmc = self
            .kmc_passphrase_file
            .as_deref()
            .map(|f| read_secret(f, "KMC passphrase", Passphrase::from_file))
            .transpose()?;
        if let (Some(ca), Some(kmc)) = (&passphrase, &kmc) {
            if ca.expose() == kmc.expose() {
                bail!("the KMC passphrase must not be the CA passphrase");
            }
        }
        let files = FileKeyProvider::new(&self.home, passphrase);
        Ok(with_devices(
            KeyCustody::new(Arc::new(files)).with_escrow(kmc),
            self.pin()?,
            config,
        ))
    }

    pub(crate) fn config(&self) -> Result<Config> {
        let path = self.config_path();
        if !path.exists() {
            bail!(
                "no caforge home at {} (run `caforge init` or pass --home DIR)",
                self.home.display()
            );
        }
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        Config::parse(&text).with_context(|| format!("in {}", path.display()))
    }

    /// The database URL: `--db`, else the configuration's, else `sqlite:caforge.db`;
    /// relative SQLite paths are relative to the home.
    pub(crate) fn database_url(&self, config: &Config) -> String {
        let url = self
            .db
            .clone()
            .or_else(|| config.database.clone())
            .unwrap_or_else(|| "sqlite:caforge.db".to_owned());
        match url.strip_prefix("sqlite:") {
            Some(p) if p != ":memory:" && !Path::new(p).is_absolute() => {
                format!("sqlite:{}", self.home.join(p).display())
            }
            _ => url,
        }
    }

    /// The home's audit key file (0600; shared by every server of one PostgreSQL database).
    pub(crate) fn audit_key_path(&self) -> PathBuf {
        self.home.join("audit.key")
    }

    /// The home's audit checkpoint file (operators keep a copy elsewhere too).
    pub(crate) fn checkpoints_path(&self) -> PathBuf {
        self.home.join("audit.checkpoints")
    }

    /// The home's audit checkpoints, keyed with its audit key.
    pub(crate) fn checkpoints(&self) -> Result<Checkpoints> {
        Ok(Checkpoints::new(
            self.checkpoints_path(),
            AuditKey::read(&self.audit_key_path())?,
        ))
    }

    /// Opens the store at `url` with the home's audit key. A home without one gets a new
    /// key, unless the log is keyed already (by another home sharing the database, whose
    /// `audit.key` this home must be given).
    pub(crate) async fn open_store(&self, url: &str) -> Result<AnyStore> {
        let store = AnyStore::open(url).await?;
        Ok(ca_core::audit::with_home_key(
            store,
            &self.audit_key_path(),
            self.checkpoints_path(),
            self.now()?,
        )
        .await?)
    }

    /// The home's own store (`--db` or the configuration's), remembered for the audit
    /// checkpoint when the command ends.
    pub(crate) async fn home_store(&self, config: &Config) -> Result<AnyStore> {
        let store = self.open_store(&self.database_url(config)).await?;
        let _ = self.opened.set(store.clone());
        Ok(store)
    }

    /// Checkpoints the audit head of the store this command opened, if any; a failure is a
    /// warning (the command's own outcome stands).
    pub(crate) async fn checkpoint_audit(&self) {
        let Some(store) = self.opened.get() else {
            return;
        };
        let result = async {
            ca_core::audit::checkpoint_head(store, &self.checkpoints()?, self.now()?).await?;
            anyhow::Ok(())
        }
        .await;
        if let Err(e) = result {
            eprintln!("warning: the audit log's head was not checkpointed: {e:#}");
        }
    }

    /// Opens the services over this home, acting for the local operator.
    pub(crate) async fn services(&self) -> Result<Services<AnyStore>> {
        self.services_acting(Principal::local_operator()).await
    }

    /// Opens the services over this home, recording their own actions as `acting`'s
    /// (`serve` acts as the server).
    pub(crate) async fn services_acting(&self, acting: Principal) -> Result<Services<AnyStore>> {
        let config = self.config()?;
        let profiles = config.profiles()?;
        let store = self.home_store(&config).await?;
        Ok(Services::new(
            store,
            Arc::new(self.key_custody(&config)?),
            clock()?,
            profiles,
            config.hooks.clone(),
            acting,
        ))
    }

    /// The API token service over this home's database (no keys needed).
    pub(crate) async fn tokens(&self) -> Result<Tokens<AnyStore>> {
        let config = self.config()?;
        let store = self.home_store(&config).await?;
        Ok(Tokens::new(store, clock()?, Principal::local_operator()))
    }

    /// The inventory and notification service over this home's database (no keys needed).
    pub(crate) async fn inventory(&self) -> Result<Inventory<AnyStore>> {
        let config = self.config()?;
        let store = self.home_store(&config).await?;
        Ok(Inventory::new(store, clock()?, Principal::local_operator()))
    }

    /// "Now" as every command sees it (see [`clock`]), in Unix seconds.
    pub(crate) fn now(&self) -> Result<i64> {
        Ok(clock()?.now().unix_timestamp())
    }
}

/// The environment variable that shifts caforge's clock (e.g. `40d`, `-2h`, `3600`).
pub(crate) const CLOCK_SHIFT_ENV: &str = "CAFORGE_DANGER_CLOCK_SHIFT";

/// The clock: the system's, unless [`CLOCK_SHIFT_ENV`] moves it to rehearse the future
/// (expiry reminders, renewal windows) on a test CA. A shifted clock is announced on stderr
/// because everything signed with it carries shifted times.
pub(crate) fn clock() -> Result<Arc<dyn Clock>> {
    let Ok(shift) = std::env::var(CLOCK_SHIFT_ENV) else {
        return Ok(Arc::new(SystemClock));
    };
    let (sign, magnitude) = match shift.trim().strip_prefix('-') {
        Some(rest) => (-1, rest.to_owned()),
        None => (1, shift.trim().trim_start_matches('+').to_owned()),
    };
    let secs = if magnitude.chars().all(|c| c.is_ascii_digit()) && !magnitude.is_empty() {
        magnitude
            .parse::<i64>()
            .map_err(|_| anyhow::anyhow!("{CLOCK_SHIFT_ENV}: '{shift}' is too large"))?
    } else {
        crate::duration::parse_seconds(&magnitude)
            .map_err(|e| anyhow::anyhow!("{CLOCK_SHIFT_ENV}: {e}"))?
    };
    static ANNOUNCED: std::sync::Once = std::sync::Once::new();
    ANNOUNCED.call_once(|| {
        eprintln!(
            "warning: {CLOCK_SHIFT_ENV} moves caforge's clock by {}{secs}s",
            if sign < 0 { "-" } else { "+" }
        )
    });
    Ok(Arc::new(ShiftedClock(time::Duration::seconds(sign * secs))))
}

/// `custody` with the device custodians (hsm-sim, PKCS#11 modules `config` allows)
/// added, using `pin`.
pub(crate) fn with_devices(custody: KeyCustody, pin: Option<Pin>, config: &Config) -> KeyCustody {
    custody
        .with(
            "hsm-sim",
            Arc::new(hsm_sim::HsmSimKeyProvider::new(pin.clone())),
        )
        .with(
            "pkcs11",
            Arc::new(Pkcs11KeyProvider::new(
                pin,
                config.keys.pkcs11_modules.clone(),
            )),
        )
}

/// Reads a secret from the file the operator named. A file that cannot be read is the
/// operator's input, refused with its path and cause (not a key device fault); an empty one
/// is reported as its reader reports it.
fn read_secret<T>(
    file: &Path,
    what: &str,
    read: impl FnOnce(&Path) -> std::result::Result<T, ca_core::keys::KeyError>,
) -> Result<T> {
    match read(file) {
        Err(ca_core::keys::KeyError::Io { source, .. }) => Err(ca_core::Error::Invalid(format!(
            "cannot read the {what} file {}: {source}",
            file.display()
        ))
        .into()),
        other => Ok(other?),
    }
}
