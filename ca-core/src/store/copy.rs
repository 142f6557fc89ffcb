//! Copying a whole store to another (`caforge db copy`): a lab CA on SQLite moved into
//! production on PostgreSQL, or back.
//!
//! Both backends hold the same tables with the same columns; the copy goes table by table in
//! foreign-key order, every row as it is (ids, serials, the audit chain's hashes), read in
//! one snapshot of the source and written in one transaction on the target, which must be
//! empty. Values are converted by the *target's* column types (INTEGER/BIGINT, TEXT,
//! BLOB/BYTEA). Afterwards PostgreSQL's id sequences are moved past the copied ids.

use futures_util::TryStreamExt as _;
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, Sqlite};

use super::{AnyStore, AuditStore as _, StoreError};
use crate::audit::{verify_chain, AuditEvent};

/// The tables, parents before children (the `cas` rows by id: parents come first).
pub const TABLES: &[&str] = &[
    "cas",
    "serials",
    "certificates",
    "audit",
    "crl_numbers",
    "crls",
    "crl_parts",
    "blocked_keys",
    "ocsp_responders",
    "ocsp_responses",
    "api_tokens",
    "certificate_pairs",
    "kmc_escrow",
    "certificate_successions",
    "scheduled_revocations",
    "cross_certificates",
    "inventory",
    "notifications",
    "token_issuances",
    "managed_certificates",
];

/// Rows per INSERT statement (well under both databases' parameter limits).
const BATCH_PARAMS: usize = 8_000;

/// What a column holds, by the target's declared type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Int,
    Text,
    Bytes,
}

/// One value in flight.
#[derive(Clone, Debug)]
enum Value {
    Int(Option<i64>),
    Text(Option<String>),
    Bytes(Option<Vec<u8>>),
}

/// Rows copied per table, in copy order.
#[derive(Clone, Debug, Default)]
pub struct CopyReport {
    /// (table, rows).
    pub tables: Vec<(String, u64)>,
    /// Entries in the target's audit log after the copy, all verified.
    pub audit_entries: usize,
}

impl CopyReport {
    /// Rows copied in all.
    #[must_use]
    pub fn total(&self) -> u64 {
        self.tables.iter().map(|(_, n)| n).sum()
    }
}

fn kind_of(declared: &str) -> Result<Kind, StoreError> {
    let t = declared.to_ascii_lowercase();
    if t.contains("int") {
        Ok(Kind::Int)
    } else if t.contains("text") || t.contains("char") {
        Ok(Kind::Text)
    } else if t.contains("blob") || t == "bytea" {
        Ok(Kind::Bytes)
    } else {
        Err(StoreError::Corrupt(format!(
            "column type '{declared}' is not one caforge copies"
        )))
    }
}

/// Columns of `table` in `store`, with their kinds.
async fn columns(store: &AnyStore, table: &str) -> Result<Vec<(String, Kind)>, StoreError> {
    let raw: Vec<(String, String)> = match store {
        AnyStore::Sqlite(s) => {
            sqlx::query_as("SELECT name, type FROM pragma_table_info(?) ORDER BY cid")
                .bind(table)
                .fetch_all(s.pool())
                .await?
        }
        AnyStore::Postgres(p) => {
            sqlx::query_as(
                "SELECT column_name::TEXT, data_type::TEXT FROM information_schema.columns
                  WHERE table_schema = current_schema() AND table_name = $1
                  ORDER BY ordinal_position",
            )
            .bind(table)
            .fetch_all(p.pool())
            .await?
        }
    };
    if raw.is_empty() {
        return Err(StoreError::Corrupt(format!("table {table} is missing")));
    }
    raw.into_iter()
        .map(|(name, declared)| Ok((name, kind_of(&declared)?)))
        .collect()
}

fn sqlite_value(row: &SqliteRow, i: usize, kind: Kind) -> Result<Value, sqlx::Error> {
    Ok(match kind {
        Kind::Int => Value::Int(row.try_get(i)?),
        Kind::Text => Value::Text(row.try_get(i)?),
        Kind::Bytes => Value::Bytes(row.try_get(i)?),
    })
}

fn pg_value(row: &PgRow, i: usize, kind: Kind) -> Result<Value, sqlx::Error> {
    Ok(match kind {
        Kind::Int => Value::Int(row.try_get(i)?),
        Kind::Text => Value::Text(row.try_get(i)?),
        Kind::Bytes => Value::Bytes(row.try_get(i)?),
    })
}

/// An INSERT of `rows` rows into `table` with placeholders in the target's style.
fn insert_sql(table: &str, cols: &[(String, Kind)], rows: usize, postgres: bool) -> String {
    let names: Vec<&str> = cols.iter().map(|(n, _)| n.as_str()).collect();
    let mut sql = format!("INSERT INTO {table} ({}) VALUES ", names.join(", "));
    let mut n = 0;
    for r in 0..rows {
        if r > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for c in 0..cols.len() {
            if c > 0 {
                sql.push_str(", ");
            }
            n += 1;
            if postgres {
                sql.push_str(&format!("${n}"));
            } else {
                sql.push('?');
            }
        }
        sql.push(')');
    }
    sql
}

/// The open write transaction on the target.
enum TargetTx {
    Sqlite(sqlx::Transaction<'static, Sqlite>),
    Postgres(super::postgres::WriteTx),
}

impl TargetTx {
    async fn insert(
        &mut self,
        table: &str,
        cols: &[(String, Kind)],
        rows: &[Vec<Value>],
    ) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        // The same binding for either database's query type.
        macro_rules! insert {
            ($tx:expr, $postgres:expr) => {{
                let sql = insert_sql(table, cols, rows.len(), $postgres);
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                for v in rows.iter().flatten() {
                    q = match v {
                        Value::Int(x) => q.bind(*x),
                        Value::Text(x) => q.bind(x.clone()),
                        Value::Bytes(x) => q.bind(x.clone()),
                    };
                }
                q.execute($tx).await?;
            }};
        }
        match self {
            TargetTx::Sqlite(tx) => insert!(&mut **tx, false),
            TargetTx::Postgres(tx) => insert!(&mut **tx, true),
        }
        Ok(())
    }

    async fn count(&mut self, table: &str) -> Result<i64, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}"));
        Ok(match self {
            TargetTx::Sqlite(tx) => sqlx::query_scalar(sql).fetch_one(&mut **tx).await?,
            TargetTx::Postgres(tx) => sqlx::query_scalar(sql).fetch_one(&mut **tx).await?,
        })
    }
}

/// Copies every row of `from` (described in the audit trail as `from_label`, which must
/// hold no secret: redact URLs first) into `to`, which must hold no CA, certificate, token
/// or audit entry; appends one `db.copied` audit entry at `at` on the target, then verifies
/// the target's whole audit chain. `progress` is called with (table, rows copied so far).
///
/// # Errors
/// [`StoreError::Conflict`] when the target is not empty or the two schemas differ;
/// database errors (the target is then unchanged: one transaction); [`StoreError::Corrupt`]
/// when the copied audit chain does not verify.
pub async fn copy_store(
    from: &AnyStore,
    to: &AnyStore,
    from_label: &str,
    at: i64,
    progress: &mut (dyn FnMut(&str, u64) + Send),
) -> Result<CopyReport, StoreError> {
    let audit = &AuditEvent {
        at,
        action: "db.copied".into(),
        ca: None,
        serial: None,
        details: serde_json::json!({"from": from_label, "from_backend": from.backend()}),
    };
    // The plan: the target's columns, which the source must have too.
    let mut plan = Vec::with_capacity(TABLES.len());
    for table in TABLES {
        let target = columns(to, table).await?;
        let source = columns(from, table).await?;
        let mut a: Vec<&str> = target.iter().map(|(n, _)| n.as_str()).collect();
        let mut b: Vec<&str> = source.iter().map(|(n, _)| n.as_str()).collect();
        a.sort_unstable();
        b.sort_unstable();
        if a != b {
            return Err(StoreError::Conflict(format!(
                "table {table} has different columns in the two databases ({} vs {}); \
                 run `caforge db migrate` on both with the same caforge version",
                b.join(","),
                a.join(",")
            )));
        }
        plan.push((*table, target));
    }

    let mut target = match to {
        AnyStore::Sqlite(s) => TargetTx::Sqlite(s.pool().begin_with("BEGIN IMMEDIATE").await?),
        AnyStore::Postgres(p) => TargetTx::Postgres(p.write_tx().await?),
    };
    for table in ["cas", "certificates", "api_tokens", "audit"] {
        let n = target.count(table).await?;
        if n > 0 {
            return Err(StoreError::Conflict(format!(
                "the target database is not empty ({n} rows in {table}); copy only into a new database"
            )));
        }
    }

    // Every table from one open source transaction `$src`, row values read by `$value`.
    macro_rules! copy_tables {
        ($src:ident, $value:ident) => {{
            let mut report = CopyReport::default();
            for (table, cols) in &plan {
                let sql = select_sql(table, cols);
                let mut rows = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch(&mut *$src);
                let mut batch = Vec::new();
                let mut copied = 0u64;
                while let Some(row) = rows.try_next().await? {
                    let values = cols
                        .iter()
                        .enumerate()
                        .map(|(i, (_, k))| $value(&row, i, *k))
                        .collect::<Result<Vec<_>, _>>()?;
                    batch.push(values);
                    if batch.len() * cols.len() >= BATCH_PARAMS {
                        target.insert(table, cols, &batch).await?;
                        copied += batch.len() as u64;
                        batch.clear();
                        progress(table, copied);
                    }
                }
                target.insert(table, cols, &batch).await?;
                copied += batch.len() as u64;
                progress(table, copied);
                report.tables.push(((*table).to_owned(), copied));
            }
            $src.commit().await?;
            report
        }};
    }
    let report = match from {
        AnyStore::Sqlite(s) => {
            // A deferred transaction reads one snapshot (WAL) from its first SELECT on.
            let mut src = s.pool().begin().await?;
            copy_tables!(src, sqlite_value)
        }
        AnyStore::Postgres(p) => {
            let mut src = p.pool().begin().await?;
            sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                .execute(&mut *src)
                .await?;
            copy_tables!(src, pg_value)
        }
    };

    match target {
        TargetTx::Sqlite(mut tx) => {
            super::sqlite::append_audit_in(&mut tx, audit).await?;
            tx.commit().await?;
        }
        TargetTx::Postgres(mut tx) => {
            // New rows must not take the copied ids.
            for (table, cols) in &plan {
                if cols.iter().any(|(n, _)| n == "id") {
                    let sql = format!(
                        "SELECT setval(pg_get_serial_sequence('{table}', 'id'), \
                         COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)"
                    );
                    sqlx::query(sqlx::AssertSqlSafe(sql))
                        .execute(&mut *tx)
                        .await?;
                }
            }
            super::postgres::append_audit_in(&mut tx, audit).await?;
            tx.commit().await?;
        }
    }
    let mut report = report;
    report.audit_entries = verify_chain(&to.audit_log().await?)
        .map_err(|e| StoreError::Corrupt(format!("copied audit log: {e}")))?;
    Ok(report)
}

fn select_sql(table: &str, cols: &[(String, Kind)]) -> String {
    let names: Vec<&str> = cols.iter().map(|(n, _)| n.as_str()).collect();
    format!("SELECT {} FROM {table} ORDER BY 1", names.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_follow_the_target() {
        let cols = vec![("a".to_owned(), Kind::Int), ("b".to_owned(), Kind::Text)];
        assert_eq!(
            insert_sql("t", &cols, 2, true),
            "INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4)"
        );
        assert_eq!(
            insert_sql("t", &cols, 1, false),
            "INSERT INTO t (a, b) VALUES (?, ?)"
        );
    }

    #[test]
    fn column_kinds() {
        assert_eq!(kind_of("INTEGER").unwrap(), Kind::Int);
        assert_eq!(kind_of("bigint").unwrap(), Kind::Int);
        assert_eq!(kind_of("TEXT").unwrap(), Kind::Text);
        assert_eq!(kind_of("bytea").unwrap(), Kind::Bytes);
        assert_eq!(kind_of("BLOB").unwrap(), Kind::Bytes);
        assert!(kind_of("REAL").is_err());
    }
}
