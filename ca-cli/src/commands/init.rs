//! `caforge init`: create the home.

use anyhow::{bail, Context as _, Result};
use ca_core::config::{Config, DEFAULT_CONFIG};

use crate::context::Globals;

/// Arguments of `caforge init`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Output format of the result.
    #[arg(long, value_enum, default_value_t)]
    format: crate::output::Format,
}

/// Creates `caforge.toml`, `keys/` (0700) and the migrated database. Refuses to touch an
/// existing home.
/// `listen`, when given, becomes `[server] listen`: the address the home's certificates
/// name (quickstart), so a later `caforge serve` serves the URLs they carry.
pub(crate) async fn init_home(g: &Globals, listen: Option<&str>) -> Result<String> {
    let config_path = g.config_path();
    if config_path.exists() {
        bail!("{} is already a caforge home", g.home.display());
    }
    let keys = g.home.join("keys");
    std::fs::create_dir_all(&keys).with_context(|| format!("creating {}", keys.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&g.home, std::fs::Permissions::from_mode(0o700))?;
        std::fs::set_permissions(&keys, std::fs::Permissions::from_mode(0o700))?;
    }
    // The database the home was made on is the one it uses from then on: a `--db` (or
    // CAFORGE_DB) URL is recorded, or later commands would silently open an empty SQLite.
    let text = match &g.db {
        Some(db) => DEFAULT_CONFIG.replacen(
            DEFAULT_DATABASE_LINE,
            &format!("database = {}", toml::Value::String(db.clone())),
            1,
        ),
        None => DEFAULT_CONFIG.to_owned(),
    };
    let text = match listen {
        Some(listen) => text.replacen(
            DEFAULT_LISTEN_LINES,
            &format!(
                "[server]\nlisten = {}",
                toml::Value::String(listen.to_owned())
            ),
            1,
        ),
        None => text,
    };
    let config = Config::parse(&text)?;
    let url = g.database_url(&config);
    // The database, migrated, and the home's audit key.
    g.open_store(&url).await?;
    // 0600: the database URL may carry a password.
    ca_core::keys::write_private_file(&config_path, text.as_bytes(), false)
        .with_context(|| format!("writing {}", config_path.display()))?;
    Ok(url)
}

/// The lines of [`DEFAULT_CONFIG`] that open `[server]` and show its listen address.
const DEFAULT_LISTEN_LINES: &str = "# [server]\n# listen = \"127.0.0.1:8080\"";

/// The line of [`DEFAULT_CONFIG`] that names the database.
const DEFAULT_DATABASE_LINE: &str = "database = \"sqlite:caforge.db\"";

pub(crate) async fn run(g: &Globals, args: Args) -> Result<()> {
    let url = init_home(g, None).await?;
    if args.format == crate::output::Format::Json {
        return crate::output::print_json(&serde_json::json!({
            "home": g.home.display().to_string(),
            "config": g.config_path().display().to_string(),
            "database": ca_core::store::redact_url(&url),
            "keys": g.home.join("keys").display().to_string(),
            "audit_key": g.audit_key_path().display().to_string(),
        }));
    }
    println!("initialised caforge home {}", g.home.display());
    println!("  config:   {}", g.config_path().display());
    println!("  database: {}", ca_core::store::redact_url(&url));
    println!("  keys:     {}", g.home.join("keys").display());
    println!("  audit:    {}", g.audit_key_path().display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_configuration_names_its_database_on_the_line_init_replaces() {
        assert_eq!(DEFAULT_CONFIG.matches(DEFAULT_DATABASE_LINE).count(), 1);
        assert_eq!(DEFAULT_CONFIG.matches(DEFAULT_LISTEN_LINES).count(), 1);
    }
}
