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
            let target = AnyStore::open(&to).await?;
            let bar = progress_spinner("copying");
            let now = time::OffsetDateTime::now_utc().unix_timestamp();
            let report = copy_store(
                &source,
                &target,
                &redact_url(&from),
                now,
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
