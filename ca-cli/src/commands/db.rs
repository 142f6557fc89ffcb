//! `caforge db`: the database itself — schema migrations, and copying a whole CA from one
//! database to another (a lab CA on SQLite into production on PostgreSQL).

use anyhow::{bail, Result};
use ca_core::config::Config;
use ca_core::store::copy::copy_store;
use ca_core::store::{redact_url, AnyStore};

use crate::context::Globals;
use crate::output::{print_json, progress_spinner, Format};

/// Database subcommands.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum DbCommand {
    /// Bring the schema of the home's database (or `--db URL`) up to date.
    ///
    /// Every command migrates the database it opens; this one does only that, and says
    /// what it did — run it once before starting upgraded servers on a shared database.
    Migrate {
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Copy everything (CAs, certificates, revocations, CRLs, tokens, escrow, the audit log)
    /// into a new, empty database.
    ///
    /// Rows are copied as they are, in one snapshot of the source and one transaction on the
    /// target; the target's audit log then verifies and records the copy. CA keys are not in
    /// the database: the home's keys/ (or the key stores named by the CAs) must stay
    /// reachable. SQLite paths are taken as given (relative to the current directory).
    Copy {
        /// The source database URL (default: the home's database).
        #[arg(long)]
        from: Option<String>,
        /// The target database URL (`postgres://…` or `sqlite:PATH`); must be empty.
        #[arg(long)]
        to: String,
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// List what interrupted or refused issuances left behind: reserved serials no
    /// certificate uses (they stay reserved, never reused) and keys no CA or OCSP responder
    /// refers to.
    ///
    /// With `--remove`, destroys the unreferenced keys made at least `--older-than` ago
    /// (default 1h: a younger key may belong to an issuance still in progress); each removal
    /// is audited.
    Leftovers {
        /// Destroy the unreferenced keys old enough.
        #[arg(long)]
        remove: bool,
        /// Minimum age of a key to destroy (`1h`, `2d`, …).
        #[arg(long, default_value = "1h", value_parser = crate::duration::parse_seconds)]
        older_than: i64,
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
}

/// The home's database URL, or the default one when there is no home (with `--db`).
fn home_database(g: &Globals) -> Result<String> {
    let config = if g.config_path().exists() {
        g.config()?
    } else if g.db.is_some() {
        Config::default()
    } else {
        g.config()?
    };
    Ok(g.database_url(&config))
}

pub(crate) async fn run(g: &Globals, cmd: DbCommand) -> Result<()> {
    match cmd {
        DbCommand::Leftovers {
            remove,
            older_than,
            format,
        } => {
            if remove && g.db.is_some() {
                bail!("--remove works on the home's own database only: keys in the home are referred to by it, not by the database --db names");
            }
            let services = g.services().await?;
            let removed = if remove {
                services.lifecycle.remove_leftover_keys(older_than).await?
            } else {
                Vec::new()
            };
            let left = services.lifecycle.leftovers().await?;
            match format {
                Format::Json => print_json(&serde_json::json!({
                    "unused_serials": left.unused_serials.iter().map(|(kid, serial)| serde_json::json!({"issuer_key_id": kid, "serial": serial})).collect::<Vec<_>>(),
                    "unreferenced_keys": left.unreferenced_keys.iter().map(|(k, made)| serde_json::json!({"key": k.as_str(), "made": made})).collect::<Vec<_>>(),
                    "removed_keys": removed.iter().map(|k| k.as_str()).collect::<Vec<_>>(),
                    "unlisted_stores": left.unlisted_stores.iter().map(|(s, e)| serde_json::json!({"store": s, "error": e})).collect::<Vec<_>>(),
                }))?,
                Format::Text => {
                    for (kid, serial) in &left.unused_serials {
                        println!("unused serial {serial} (reserved under key id {kid})");
                    }
                    for (key, _) in &left.unreferenced_keys {
                        println!("unreferenced key {key}");
                    }
                    for key in &removed {
                        println!("removed key {key}");
                    }
                    for (store, error) in &left.unlisted_stores {
                        println!("cannot list {store}: {error}");
                    }
                    println!(
                        "{} unused serial(s), {} unreferenced key(s), {} removed",
                        left.unused_serials.len(),
                        left.unreferenced_keys.len(),
                        removed.len()
                    );
                }
            }
            Ok(())
        }
        DbCommand::Migrate { format } => {
            let url = home_database(g)?;
            let store = AnyStore::open(&url).await?;
            let version = store.schema_version().await?;
            let applied = store.migrations_applied();
            match format {
                Format::Text if applied.is_empty() => println!(
                    "{} at {}: schema already at version {version}",
                    store.backend(),
                    redact_url(&url)
                ),
                Format::Text => println!(
                    "{} at {}: applied migration(s) {}; schema now at version {version}",
                    store.backend(),
                    redact_url(&url),
                    applied
                        .iter()
                        .map(i64::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                Format::Json => print_json(&serde_json::json!({
                    "backend": store.backend(),
                    "url": redact_url(&url),
                    "applied": applied,
                    "version": version,
                }))?,
            }
            Ok(())
        }
        DbCommand::Copy { from, to, format } => {
            let from = match from {
                Some(f) => f,
                None => home_database(g)?,
            };
            if from == to {
                bail!("--from and --to name the same database");
            }
            let source = AnyStore::open(&from).await?;
            let target = g.open_store(&to).await?;
            let bar = progress_spinner("copying");
            let now = time::OffsetDateTime::now_utc().unix_timestamp();
            let report = copy_store(
                &source,
                &target,
                &redact_url(&from),
                now,
                &ca_core::authz::Principal::local_operator(),
                &mut |table, rows| {
                    bar.set_message(format!("{table}: {rows} rows"));
                    bar.tick();
                },
            )
            .await;
            bar.finish_and_clear();
            let report = report?;
            let entries = report.audit_entries;
            match format {
                Format::Text => {
                    for (table, rows) in &report.tables {
                        println!("{table:<18} {rows:>10}");
                    }
                    println!(
                        "copied {} rows from {} ({}) to {} ({}); audit log intact: {entries} entries",
                        report.total(),
                        redact_url(&from),
                        source.backend(),
                        redact_url(&to),
                        target.backend()
                    );
                }
                Format::Json => print_json(&serde_json::json!({
                    "from": redact_url(&from),
                    "to": redact_url(&to),
                    "tables": report.tables.iter().map(|(t, n)| serde_json::json!({"table": t, "rows": n})).collect::<Vec<_>>(),
                    "rows": report.total(),
                    "audit_entries": entries,
                }))?,
            }
            Ok(())
        }
    }
}
