//! `caforge init`: create the home.

use anyhow::{bail, Context as _, Result};
use ca_core::config::{Config, DEFAULT_CONFIG};
use ca_core::store::AnyStore;

use crate::context::Globals;

/// Arguments of `caforge init`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {}

/// Creates `caforge.toml`, `keys/` (0700) and the migrated database. Refuses to touch an
/// existing home.
pub(crate) async fn init_home(g: &Globals) -> Result<String> {
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
    let config = Config::parse(DEFAULT_CONFIG)?;
    let url = g.database_url(&config);
    AnyStore::open(&url).await?;
    std::fs::write(&config_path, DEFAULT_CONFIG)
        .with_context(|| format!("writing {}", config_path.display()))?;
    Ok(url)
}

pub(crate) async fn run(g: &Globals, _args: Args) -> Result<()> {
    let url = init_home(g).await?;
    println!("initialised caforge home {}", g.home.display());
    println!("  config:   {}", g.config_path().display());
    println!("  database: {}", ca_core::store::redact_url(&url));
    println!("  keys:     {}", g.home.join("keys").display());
    Ok(())
}
