//! Copying a whole store to another (`caforge db copy`): a lab CA on SQLite moved into
//! production on PostgreSQL, or back.
//!
//! Both backends hold the same tables with the same columns; the copy goes table by table in
//! foreign-key order, every row as it is (ids, serials, the audit chain's hashes), read in
//! one snapshot of the source and written in one transaction on the target, which must be
//! empty. Values are converted by the *target's* column types (INTEGER/BIGINT, TEXT,
//! BLOB/BYTEA). Afterwards PostgreSQL's id sequences are moved past the copied ids.

use super::sql::{sql, sql_built, Arg, Dialect, Row};
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

/// Columns of `table` in `store`, with their kinds (how a database lists its columns is
/// its own).
async fn columns(store: &AnyStore, table: &str) -> Result<Vec<(String, Kind)>, StoreError> {
    let query = match store.pool.dialect() {
        Dialect::Sqlite => sql("SELECT name, type FROM pragma_table_info($1) ORDER BY cid"),
        Dialect::Postgres => sql(
            "SELECT column_name::TEXT, data_type::TEXT FROM information_schema.columns
              WHERE table_schema = current_schema() AND table_name = $1
              ORDER BY ordinal_position",
        ),
    };
    let raw: Vec<(String, String)> = query.bind(table).all_as(store.pool.on()).await?;
    if raw.is_empty() {
        return Err(StoreError::Corrupt(format!("table {table} is missing")));
    }
    raw.into_iter()
        .map(|(name, declared)| Ok((name, kind_of(&declared)?)))
        .collect()
}

/// Column `i` of `row` as a value of `kind`.
fn value(row: &Row, i: usize, kind: Kind) -> Result<Value, StoreError> {
    Ok(match kind {
        Kind::Int => Value::Int(row.at(i)?),
        Kind::Text => Value::Text(row.at(i)?),
        Kind::Bytes => Value::Bytes(row.at(i)?),
    })
}

/// An INSERT of `rows` rows into `table`.
fn insert_sql(table: &str, cols: &[(String, Kind)], rows: usize) -> String {
    let names: Vec<&str> = cols.iter().map(|(n, _)| n.as_str()).collect();
    let row = format!("({})", vec!["?"; cols.len()].join(", "));
    super::sql::values_list(
        &format!("INSERT INTO {table} ({})", names.join(", ")),
        &row,
        rows,
        1,
    )
}

/// Inserts `rows` into `table` inside the target's transaction.
async fn insert(
    target: &mut super::sql::Tx<'_>,
    table: &str,
    cols: &[(String, Kind)],
    rows: &[Vec<Value>],
) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut q = sql_built(insert_sql(table, cols, rows.len()));
    for v in rows.iter().flatten() {
        q = q.bind(match v {
            Value::Int(x) => Arg::Int(*x),
            Value::Text(x) => Arg::from(x),
            Value::Bytes(x) => Arg::Bytes(x.as_deref().map(std::borrow::Cow::Borrowed)),
        });
    }
    q.execute(target.on()).await?;
    Ok(())
}

/// Copies every row of `from` (described in the audit trail as `from_label`, which must
/// hold no secret: redact URLs first) into `to`, which must hold no CA, certificate, token
/// or audit entry; appends one `db.copied` audit entry at `at` by `by` on the target, then verifies
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
    by: &crate::authz::Principal,
    progress: &mut (dyn FnMut(&str, u64) + Send),
) -> Result<CopyReport, StoreError> {
    let audit = &AuditEvent {
        at,
        action: crate::audit::AuditAction::DbCopied,
        ca: None,
        serial: None,
        details: serde_json::json!({"from": from_label, "from_backend": from.backend()}),
        principal: Some(by.audit_name()),
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

    let mut target = to.pool.write_tx().await?;
    for table in ["cas", "certificates", "api_tokens", "audit"] {
        let n: i64 = sql_built(format!("SELECT COUNT(*) FROM {table}"))
            .scalar(target.on())
            .await?;
        if n > 0 {
            return Err(StoreError::Conflict(format!(
                "the target database is not empty ({n} rows in {table}); copy only into a new database"
            )));
        }
    }

    // Every table from one snapshot of the source, streamed into the target in batches.
    let mut source = from.pool.snapshot().await?;
    let mut report = CopyReport::default();
    for (table, cols) in &plan {
        let mut batch: Vec<Vec<Value>> = Vec::new();
        let mut copied = 0u64;
        let mut rows = sql_built(select_sql(table, cols)).stream(source.on())?;
        while let Some(row) = rows.next().await? {
            let values = cols
                .iter()
                .enumerate()
                .map(|(i, (_, k))| value(&row, i, *k))
                .collect::<Result<Vec<_>, _>>()?;
            batch.push(values);
            if batch.len() * cols.len() >= BATCH_PARAMS {
                insert(&mut target, table, cols, &batch).await?;
                copied += batch.len() as u64;
                batch.clear();
                progress(table, copied);
            }
        }
        drop(rows);
        insert(&mut target, table, cols, &batch).await?;
        copied += batch.len() as u64;
        progress(table, copied);
        report.tables.push(((*table).to_owned(), copied));
    }
    source.commit().await?;

    if to.pool.dialect() == Dialect::Postgres {
        // New rows must not take the copied ids.
        for (table, cols) in &plan {
            if cols.iter().any(|(n, _)| n == "id") {
                sql_built(format!(
                    "SELECT setval(pg_get_serial_sequence('{table}', 'id'), \
                     COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)"
                ))
                .execute(target.on())
                .await?;
            }
        }
    }
    super::batch::append_audit(target.on(), to.audit_key(), audit).await?;
    to.commit(target).await?;
    report.audit_entries = verify_chain(&to.audit_log().await?, to.audit_key())
        .map_err(|e| StoreError::Corrupt(format!("copied audit log: {e}")))?
        .entries;
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
    fn placeholders_are_numbered() {
        let cols = vec![("a".to_owned(), Kind::Int), ("b".to_owned(), Kind::Text)];
        assert_eq!(
            insert_sql("t", &cols, 2),
            "INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4)"
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
