//! The dialect seam: one statement text, run on SQLite or PostgreSQL.
//!
//! Every statement of the store is written once with `$n` parameters (SQLite reads `$n` as
//! the n-th argument too) in SQL both databases accept (`RETURNING`, `ON CONFLICT`,
//! `IS NOT DISTINCT FROM`). A [`Sql`] collects its arguments as plain values and binds them
//! to the driver of the connection it runs on; rows come back as a [`Row`] read by column
//! name or position with the same types on both. The SQLite group commit's writer runs
//! the same statements on a connection of its own, driven directly on its thread
//! ([`On::Lite`]). What really differs between the two databases —
//! how a write transaction takes the store-wide lock, how a read sees one snapshot — is
//! in [`Pool::write_tx`] and [`Pool::snapshot`], and nowhere else in this file.

use std::borrow::Cow;

use futures_util::TryStreamExt as _;
use sqlx::postgres::{PgConnection, PgPool, PgRow};
use sqlx::sqlite::{SqliteConnection, SqlitePool, SqliteRow};
use sqlx::{Decode, FromRow, Postgres, Row as _, Sqlite, Type};

use super::StoreError;

/// The advisory lock key every PostgreSQL write transaction holds ("caforge" in ASCII).
pub(super) const WRITE_LOCK: i64 = 0x0063_6166_6f72_6765;

/// Which database a store is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Dialect {
    /// Embedded SQLite.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// A value every driver decodes (`i64`, `String`, `Vec<u8>`, `bool`, options). One
/// difference: sqlx reads a `Vec<u8>` from TEXT too, rusqlite only from a BLOB.
pub(super) trait Value:
    for<'r> Decode<'r, Sqlite>
    + Type<Sqlite>
    + for<'r> Decode<'r, Postgres>
    + Type<Postgres>
    + rusqlite::types::FromSql
{
}

impl<T> Value for T where
    T: for<'r> Decode<'r, Sqlite>
        + Type<Sqlite>
        + for<'r> Decode<'r, Postgres>
        + Type<Postgres>
        + rusqlite::types::FromSql
{
}

/// A row every driver turns into the same Rust value (tuples of [`Value`]s).
pub(super) trait FromBoth:
    for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + FromLite + Send + Unpin
{
}

impl<T> FromBoth for T where
    T: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + FromLite + Send + Unpin
{
}

/// A tuple read from a [`LiteRow`], column by column.
pub(super) trait FromLite: Sized {
    /// The row's columns, in order.
    ///
    /// # Errors
    /// Too few columns, or a value of another type.
    fn from_lite(row: &LiteRow) -> Result<Self, StoreError>;
}

/// `FromLite` for tuples of the listed arities.
macro_rules! from_lite {
    ($(($($t:ident $i:tt),+))*) => {$(
        impl<$($t: Value),+> FromLite for ($($t,)+) {
            fn from_lite(row: &LiteRow) -> Result<Self, StoreError> {
                Ok(($(row.at::<$t>($i)?,)+))
            }
        }
    )*};
}

from_lite! {
    (A 0)
    (A 0, B 1)
    (A 0, B 1, C 2)
    (A 0, B 1, C 2, D 3)
    (A 0, B 1, C 2, D 3, E 4)
    (A 0, B 1, C 2, D 3, E 4, F 5)
}

/// A connection pool on either database.
#[derive(Clone, Debug)]
pub(super) enum Pool {
    /// SQLite.
    Sqlite(SqlitePool),
    /// PostgreSQL.
    Postgres(PgPool),
}

impl Pool {
    /// The pool's database.
    pub(super) fn dialect(&self) -> Dialect {
        match self {
            Pool::Sqlite(_) => Dialect::Sqlite,
            Pool::Postgres(_) => Dialect::Postgres,
        }
    }

    /// Where a statement runs: any connection of the pool.
    pub(super) fn on(&self) -> On<'_> {
        match self {
            Pool::Sqlite(p) => On::SqlitePool(p),
            Pool::Postgres(p) => On::PgPool(p),
        }
    }

    /// A read transaction: every statement in it sees one snapshot.
    ///
    /// SQLite's deferred transaction reads one snapshot from its first statement (WAL);
    /// PostgreSQL's default isolation gives each statement its own, so it asks for
    /// REPEATABLE READ.
    pub(super) async fn snapshot(&self) -> Result<Tx<'static>, StoreError> {
        Ok(match self {
            Pool::Sqlite(p) => Tx::Sqlite(p.begin().await?),
            Pool::Postgres(p) => {
                let mut tx = p.begin().await?;
                sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                    .execute(&mut *tx)
                    .await?;
                Tx::Postgres(tx)
            }
        })
    }

    /// A write transaction holding the store-wide write lock from its start, so that
    /// writers are serialised across every process on the database: SQLite's
    /// `BEGIN IMMEDIATE`, PostgreSQL's transaction-scoped advisory lock [`WRITE_LOCK`].
    pub(super) async fn write_tx(&self) -> Result<Tx<'static>, StoreError> {
        Ok(match self {
            Pool::Sqlite(p) => Tx::Sqlite(p.begin_with("BEGIN IMMEDIATE").await?),
            Pool::Postgres(p) => {
                let mut tx = p.begin().await?;
                lock_for_writing(&mut tx).await?;
                Tx::Postgres(tx)
            }
        })
    }
}

/// Takes the store-wide write lock inside a PostgreSQL transaction.
pub(super) async fn lock_for_writing(conn: &mut PgConnection) -> Result<(), StoreError> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(WRITE_LOCK)
        .execute(conn)
        .await?;
    Ok(())
}

/// An open transaction on either database.
pub(super) enum Tx<'c> {
    /// SQLite.
    Sqlite(sqlx::Transaction<'c, Sqlite>),
    /// PostgreSQL.
    Postgres(sqlx::Transaction<'c, Postgres>),
}

impl Tx<'_> {
    /// Where a statement runs: inside this transaction.
    pub(super) fn on(&mut self) -> On<'_> {
        match self {
            Tx::Sqlite(tx) => On::Sqlite(tx),
            Tx::Postgres(tx) => On::Postgres(tx),
        }
    }

    /// Commits.
    pub(super) async fn commit(self) -> Result<(), StoreError> {
        match self {
            Tx::Sqlite(tx) => tx.commit().await?,
            Tx::Postgres(tx) => tx.commit().await?,
        }
        Ok(())
    }

    /// Rolls back now (a dropped transaction is rolled back only at the connection's next
    /// use, holding the write lock until then).
    pub(super) async fn rollback(self) -> Result<(), StoreError> {
        match self {
            Tx::Sqlite(tx) => tx.rollback().await?,
            Tx::Postgres(tx) => tx.rollback().await?,
        }
        Ok(())
    }
}

/// Where one statement runs: a pool, or a connection (inside a transaction).
pub(super) enum On<'c> {
    /// The group commit's own SQLite connection, driven directly on the writer's thread
    /// (no hop to a driver thread per statement and per row).
    Lite(&'c mut rusqlite::Connection),
    /// Any connection of a SQLite pool.
    SqlitePool(&'c SqlitePool),
    /// Any connection of a PostgreSQL pool.
    PgPool(&'c PgPool),
    /// This SQLite connection.
    Sqlite(&'c mut SqliteConnection),
    /// This PostgreSQL connection.
    Postgres(&'c mut PgConnection),
}

impl On<'_> {
    /// The same place, borrowed again for one more statement.
    pub(super) fn again(&mut self) -> On<'_> {
        match self {
            On::Lite(c) => On::Lite(c),
            On::SqlitePool(p) => On::SqlitePool(p),
            On::PgPool(p) => On::PgPool(p),
            On::Sqlite(c) => On::Sqlite(c),
            On::Postgres(c) => On::Postgres(c),
        }
    }
}

/// One argument of a statement.
#[derive(Clone, Debug)]
pub(super) enum Arg<'a> {
    /// An integer (or NULL).
    Int(Option<i64>),
    /// Text (or NULL).
    Text(Option<Cow<'a, str>>),
    /// Bytes (or NULL).
    Bytes(Option<Cow<'a, [u8]>>),
    /// A boolean.
    Bool(bool),
}

/// `From<$t> for Arg` for each `$t => |v| expression` given.
macro_rules! arg_from {
    ($($t:ty => |$v:ident| $e:expr),* $(,)?) => {
        $(impl<'a> From<$t> for Arg<'a> {
            fn from($v: $t) -> Self {
                $e
            }
        })*
    };
}

arg_from! {
    i64 => |v| Arg::Int(Some(v)),
    Option<i64> => |v| Arg::Int(v),
    bool => |v| Arg::Bool(v),
    &'a str => |v| Arg::Text(Some(Cow::Borrowed(v))),
    &'a String => |v| Arg::Text(Some(Cow::Borrowed(v))),
    String => |v| Arg::Text(Some(Cow::Owned(v))),
    Option<&'a str> => |v| Arg::Text(v.map(Cow::Borrowed)),
    &'a Option<String> => |v| Arg::Text(v.as_deref().map(Cow::Borrowed)),
    Option<String> => |v| Arg::Text(v.map(Cow::Owned)),
    &'a [u8] => |v| Arg::Bytes(Some(Cow::Borrowed(v))),
    &'a Vec<u8> => |v| Arg::Bytes(Some(Cow::Borrowed(v))),
    Vec<u8> => |v| Arg::Bytes(Some(Cow::Owned(v))),
    Option<&'a [u8]> => |v| Arg::Bytes(v.map(Cow::Borrowed)),
}

/// One statement and its arguments.
#[derive(Clone, Debug)]
#[must_use = "a statement does nothing until it is run"]
pub(super) struct Sql<'a> {
    text: Cow<'static, str>,
    args: Vec<Arg<'a>>,
}

/// A statement written in the source.
pub(super) fn sql<'a>(text: &'static str) -> Sql<'a> {
    Sql {
        text: Cow::Borrowed(text),
        args: Vec::new(),
    }
}

/// A statement put together at run time (from constants and placeholders only: never
/// from a value, which is always an argument).
pub(super) fn sql_built<'a>(text: String) -> Sql<'a> {
    Sql {
        // A batch's statement binds thousands: room for one argument per mark at once.
        args: Vec::with_capacity(text.bytes().filter(|&b| b == b'$').count()),
        text: Cow::Owned(text),
    }
}

/// The number of rows a statement changed.
#[derive(Debug)]
pub(super) struct Changed(pub(super) u64);

/// Binds `$args` to the driver query `$q`.
macro_rules! bind_all {
    ($q:expr, $args:expr) => {{
        let mut q = $q;
        for a in &$args {
            q = match a {
                Arg::Int(v) => q.bind(*v),
                Arg::Text(v) => q.bind(v.as_deref()),
                Arg::Bytes(v) => q.bind(v.as_deref()),
                Arg::Bool(v) => q.bind(*v),
            };
        }
        q
    }};
}

/// Runs `$method` of the bound query on `$on`, mapping the rows with `$wrap`.
macro_rules! run {
    ($self:ident, $on:ident, $method:ident, $wrap:expr) => {{
        let (text, args) = $self.text_for(&$on)?;
        match $on {
            // Read through `all`, which takes it before this.
            On::Lite(_) => Err(off_path()),
            On::SqlitePool(p) => {
                let q = bind_all!(sqlx::query::<Sqlite>(sqlx::AssertSqlSafe(text)), args);
                $wrap(q.$method(p).await, Row::Sqlite)
            }
            On::Sqlite(c) => {
                let q = bind_all!(sqlx::query::<Sqlite>(sqlx::AssertSqlSafe(text)), args);
                $wrap(q.$method(c).await, Row::Sqlite)
            }
            On::PgPool(p) => {
                let q = bind_all!(sqlx::query::<Postgres>(sqlx::AssertSqlSafe(text)), args);
                $wrap(q.$method(p).await, Row::Postgres)
            }
            On::Postgres(c) => {
                let q = bind_all!(sqlx::query::<Postgres>(sqlx::AssertSqlSafe(text)), args);
                $wrap(q.$method(c).await, Row::Postgres)
            }
        }
    }};
}

impl<'a> Sql<'a> {
    /// Adds the next argument (`$1`, `$2`, … in order).
    pub(super) fn bind(mut self, value: impl Into<Arg<'a>>) -> Self {
        self.args.push(value.into());
        self
    }

    /// Runs it; returns how many rows it changed.
    ///
    /// # Errors
    /// Database errors.
    pub(super) async fn execute(self, on: On<'_>) -> Result<Changed, StoreError> {
        let (text, args) = self.text_for(&on)?;
        if let On::Lite(c) = on {
            let mut statement = c.prepare_cached(&text)?;
            lite_bind(&mut statement, &args)?;
            return Ok(Changed(statement.raw_execute()? as u64));
        }
        let text = sqlx::AssertSqlSafe(text);
        let n = match on {
            On::Lite(_) => return Err(off_path()),
            On::SqlitePool(p) => bind_all!(sqlx::query::<Sqlite>(text), args)
                .execute(p)
                .await?
                .rows_affected(),
            On::Sqlite(c) => bind_all!(sqlx::query::<Sqlite>(text), args)
                .execute(c)
                .await?
                .rows_affected(),
            On::PgPool(p) => bind_all!(sqlx::query::<Postgres>(text), args)
                .execute(p)
                .await?
                .rows_affected(),
            On::Postgres(c) => bind_all!(sqlx::query::<Postgres>(text), args)
                .execute(c)
                .await?
                .rows_affected(),
        };
        Ok(Changed(n))
    }

    /// Every row.
    ///
    /// # Errors
    /// Database errors.
    pub(super) async fn all(self, on: On<'_>) -> Result<Vec<Row>, StoreError> {
        fn wrap<R>(
            r: Result<Vec<R>, sqlx::Error>,
            f: fn(R) -> Row,
        ) -> Result<Vec<Row>, StoreError> {
            Ok(r?.into_iter().map(f).collect())
        }
        if let On::Lite(c) = on {
            let (text, args) = plain_marks(self.text, self.args)?;
            return lite_rows(c, &text, &args);
        }
        run!(self, on, fetch_all, wrap)
    }

    /// The first row, if any.
    ///
    /// # Errors
    /// Database errors.
    pub(super) async fn optional(self, on: On<'_>) -> Result<Option<Row>, StoreError> {
        fn wrap<R>(
            r: Result<Option<R>, sqlx::Error>,
            f: fn(R) -> Row,
        ) -> Result<Option<Row>, StoreError> {
            Ok(r?.map(f))
        }
        if let On::Lite(_) = on {
            return Ok(self.all(on).await?.into_iter().next());
        }
        run!(self, on, fetch_optional, wrap)
    }

    /// The one row it returns.
    ///
    /// # Errors
    /// Database errors; a statement that returns no row.
    pub(super) async fn one(self, on: On<'_>) -> Result<Row, StoreError> {
        fn wrap<R>(r: Result<R, sqlx::Error>, f: fn(R) -> Row) -> Result<Row, StoreError> {
            Ok(f(r?))
        }
        if let On::Lite(_) = on {
            return self
                .all(on)
                .await?
                .into_iter()
                .next()
                .ok_or_else(|| StoreError::Corrupt("a statement returned no row".into()));
        }
        run!(self, on, fetch_one, wrap)
    }

    /// The first column of the one row it returns.
    ///
    /// # Errors
    /// Database errors; no row; a column of another type.
    pub(super) async fn scalar<T: Value>(self, on: On<'_>) -> Result<T, StoreError> {
        self.one(on).await?.at(0)
    }

    /// The first column of the first row, if there is a row.
    ///
    /// # Errors
    /// Database errors; a column of another type.
    pub(super) async fn scalar_opt<T: Value>(self, on: On<'_>) -> Result<Option<T>, StoreError> {
        self.optional(on).await?.map(|r| r.at(0)).transpose()
    }

    /// Every row as a `T` (a tuple of the columns, in order).
    ///
    /// # Errors
    /// Database errors; columns of other types.
    pub(super) async fn all_as<T: FromBoth>(self, on: On<'_>) -> Result<Vec<T>, StoreError> {
        self.all(on).await?.iter().map(Row::to).collect()
    }

    /// The first row as a `T`, if any.
    ///
    /// # Errors
    /// Database errors; columns of other types.
    pub(super) async fn optional_as<T: FromBoth>(
        self,
        on: On<'_>,
    ) -> Result<Option<T>, StoreError> {
        self.optional(on).await?.as_ref().map(Row::to).transpose()
    }

    /// The one row as a `T`.
    ///
    /// # Errors
    /// Database errors; no row; columns of other types.
    pub(super) async fn one_as<T: FromBoth>(self, on: On<'_>) -> Result<T, StoreError> {
        self.one(on).await?.to()
    }

    /// Hands every row to `each` as it arrives (no row list is held, except on the group
    /// commit's own SQLite connection, which reads them all first), stopping at the first
    /// error `each` returns.
    ///
    /// # Errors
    /// Database errors, or `each`'s.
    pub(super) async fn each(
        self,
        on: On<'_>,
        each: &mut (dyn FnMut(Row) -> Result<(), StoreError> + Send),
    ) -> Result<(), StoreError> {
        let mut rows = self.stream(on)?;
        while let Some(row) = rows.next().await? {
            each(row)?;
        }
        Ok(())
    }

    /// The rows as they arrive.
    pub(super) fn stream<'c>(self, on: On<'c>) -> Result<Rows<'c>, StoreError> {
        let (text, args) = self.text_for(&on)?;
        if let On::Lite(c) = on {
            return Ok(Rows::Lite(lite_rows(c, &text, &args)?.into_iter()));
        }
        let text = sqlx::AssertSqlSafe(text);
        Ok(match on {
            On::Lite(_) => return Err(off_path()),
            On::SqlitePool(p) => {
                Rows::Sqlite(bind_all!(sqlx::query::<Sqlite>(text), args).fetch(p))
            }
            On::Sqlite(c) => Rows::Sqlite(bind_all!(sqlx::query::<Sqlite>(text), args).fetch(c)),
            On::PgPool(p) => {
                Rows::Postgres(bind_all!(sqlx::query::<Postgres>(text), args).fetch(p))
            }
            On::Postgres(c) => {
                Rows::Postgres(bind_all!(sqlx::query::<Postgres>(text), args).fetch(c))
            }
        })
    }

    /// The text and arguments to hand the driver of `on`: as written for PostgreSQL,
    /// with [`plain_marks`] for SQLite.
    fn text_for(self, on: &On<'_>) -> Result<(Cow<'static, str>, Vec<Arg<'a>>), StoreError> {
        match on {
            On::Lite(_) | On::SqlitePool(_) | On::Sqlite(_) => plain_marks(self.text, self.args),
            On::PgPool(_) | On::Postgres(_) => Ok((self.text, self.args)),
        }
    }
}

/// A statement as SQLite binds it fastest: every `$n` outside quotes becomes a plain `?`,
/// and the arguments follow in the order the marks appear (repeated where a `$n` is).
/// sqlx finds the number of a named parameter through SQLite's name lookup, a linear scan,
/// so binding `$n` marks costs time quadratic in their number (a group commit's insert
/// binds thousands); plain `?` marks are bound in one pass.
fn plain_marks<'a>(
    text: Cow<'static, str>,
    args: Vec<Arg<'a>>,
) -> Result<(Cow<'static, str>, Vec<Arg<'a>>), StoreError> {
    if !text.contains('$') {
        return Ok((text, args));
    }
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut order: Vec<usize> = Vec::with_capacity(args.len());
    let (mut i, mut copied, mut quote) = (0, 0, None);
    while i < bytes.len() {
        let b = bytes[i];
        i += 1;
        match quote {
            // A doubled quote ('it''s') closes and reopens: the same to this scan.
            Some(q) if b == q => quote = None,
            Some(_) => {}
            None if b == b'\'' || b == b'"' => quote = Some(b),
            None if b == b'$' && bytes.get(i).is_some_and(u8::is_ascii_digit) => {
                let start = i;
                while bytes.get(i).is_some_and(u8::is_ascii_digit) {
                    i += 1;
                }
                let n: usize = text[start..i]
                    .parse()
                    .map_err(|_| StoreError::Internal("a statement's parameter number".into()))?;
                out.push_str(&text[copied..start - 1]);
                out.push('?');
                copied = i;
                order.push(n);
            }
            None => {}
        }
    }
    out.push_str(&text[copied..]);
    let in_order = order.len() == args.len() && order.iter().enumerate().all(|(k, &n)| n == k + 1);
    let args = if in_order {
        args
    } else {
        order
            .iter()
            .map(|&n| {
                n.checked_sub(1)
                    .and_then(|k| args.get(k))
                    .cloned()
                    .ok_or_else(|| {
                        StoreError::Internal(format!(
                            "a statement uses ${n} but has {} arguments",
                            args.len()
                        ))
                    })
            })
            .collect::<Result<_, _>>()?
    };
    Ok((Cow::Owned(out), args))
}

/// A statement on the writer's own connection that reached a driver's path (each method
/// takes that connection first).
fn off_path() -> StoreError {
    StoreError::Internal("a statement on the writer's connection went down a driver's path".into())
}

/// Binds `args` to the `?` marks of `statement`, in order.
fn lite_bind(statement: &mut rusqlite::Statement<'_>, args: &[Arg<'_>]) -> Result<(), StoreError> {
    statement.clear_bindings();
    for (i, a) in args.iter().enumerate() {
        let i = i + 1;
        match a {
            Arg::Int(v) => statement.raw_bind_parameter(i, v)?,
            Arg::Text(v) => statement.raw_bind_parameter(i, v.as_deref())?,
            Arg::Bytes(v) => statement.raw_bind_parameter(i, v.as_deref())?,
            Arg::Bool(v) => statement.raw_bind_parameter(i, v)?,
        }
    }
    Ok(())
}

/// Runs a statement on the writer's own SQLite connection; every row it returns.
fn lite_rows(
    conn: &mut rusqlite::Connection,
    text: &str,
    args: &[Arg<'_>],
) -> Result<Vec<Row>, StoreError> {
    let mut statement = conn.prepare_cached(text)?;
    lite_bind(&mut statement, args)?;
    let columns: std::sync::Arc<[String]> = statement
        .column_names()
        .into_iter()
        .map(str::to_owned)
        .collect();
    let width = columns.len();
    let mut rows = statement.raw_query();
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let values = (0..width)
            .map(|i| row.get::<_, rusqlite::types::Value>(i))
            .collect::<Result<_, _>>()?;
        out.push(Row::Lite(LiteRow {
            columns: columns.clone(),
            values,
        }));
    }
    Ok(out)
}

/// A row read on the writer's own SQLite connection.
pub(super) struct LiteRow {
    columns: std::sync::Arc<[String]>,
    values: Vec<rusqlite::types::Value>,
}

impl LiteRow {
    /// The column at `index` (0-based).
    fn at<T: Value>(&self, index: usize) -> Result<T, StoreError> {
        let value = self.values.get(index).ok_or_else(|| {
            StoreError::Corrupt(format!(
                "a row of {} columns has no column {index}",
                self.values.len()
            ))
        })?;
        T::column_result(value.into())
            .map_err(|e| StoreError::Corrupt(format!("column {index}: {e}")))
    }

    /// The column named `col`.
    fn get<T: Value>(&self, col: &str) -> Result<T, StoreError> {
        let index = self
            .columns
            .iter()
            .position(|c| c == col)
            .ok_or_else(|| StoreError::Corrupt(format!("no column '{col}'")))?;
        self.at(index)
    }
}

/// Rows arriving from either database ([`Sql::stream`]).
pub(super) enum Rows<'c> {
    /// The writer's own SQLite connection (read in full).
    Lite(std::vec::IntoIter<Row>),
    /// SQLite.
    Sqlite(futures_util::stream::BoxStream<'c, Result<SqliteRow, sqlx::Error>>),
    /// PostgreSQL.
    Postgres(futures_util::stream::BoxStream<'c, Result<PgRow, sqlx::Error>>),
}

impl Rows<'_> {
    /// The next row, or None after the last.
    ///
    /// # Errors
    /// Database errors.
    pub(super) async fn next(&mut self) -> Result<Option<Row>, StoreError> {
        Ok(match self {
            Rows::Lite(rows) => rows.next(),
            Rows::Sqlite(s) => s.try_next().await?.map(Row::Sqlite),
            Rows::Postgres(s) => s.try_next().await?.map(Row::Postgres),
        })
    }
}

/// A result row from either database.
pub(super) enum Row {
    /// The writer's own SQLite connection.
    Lite(LiteRow),
    /// SQLite.
    Sqlite(SqliteRow),
    /// PostgreSQL.
    Postgres(PgRow),
}

impl Row {
    /// The column named `col`.
    ///
    /// # Errors
    /// No such column, or a value of another type.
    pub(super) fn get<T: Value>(&self, col: &str) -> Result<T, StoreError> {
        Ok(match self {
            Row::Lite(r) => r.get(col)?,
            Row::Sqlite(r) => r.try_get(col)?,
            Row::Postgres(r) => r.try_get(col)?,
        })
    }

    /// The column at `index` (0-based).
    ///
    /// # Errors
    /// No such column, or a value of another type.
    pub(super) fn at<T: Value>(&self, index: usize) -> Result<T, StoreError> {
        Ok(match self {
            Row::Lite(r) => r.at(index)?,
            Row::Sqlite(r) => r.try_get(index)?,
            Row::Postgres(r) => r.try_get(index)?,
        })
    }

    /// The whole row as a `T`.
    ///
    /// # Errors
    /// Columns of other types.
    pub(super) fn to<T: FromBoth>(&self) -> Result<T, StoreError> {
        Ok(match self {
            Row::Lite(r) => T::from_lite(r)?,
            Row::Sqlite(r) => T::from_row(r)?,
            Row::Postgres(r) => T::from_row(r)?,
        })
    }
}

/// `{head} VALUES {row}, {row}, …` with `rows` copies of `row`, whose `?` marks become
/// numbered parameters `$1`, `$2`, … in order, continuing from `first`.
pub(super) fn values_list(head: &str, row: &str, rows: usize, first: usize) -> String {
    let mut out = String::with_capacity(head.len() + 8 + rows * (row.len() * 2 + 2));
    out.push_str(head);
    out.push_str(" VALUES ");
    let mut n = first;
    for i in 0..rows {
        if i > 0 {
            out.push_str(", ");
        }
        for ch in row.chars() {
            if ch == '?' {
                out.push('$');
                out.push_str(&n.to_string());
                n += 1;
            } else {
                out.push(ch);
            }
        }
    }
    out
}

/// `$first, $first+1, …` (`count` parameters) for an `IN (…)` list.
pub(super) fn param_list(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_lists_number_their_parameters_in_order() {
        assert_eq!(
            values_list("INSERT INTO t (a, b, c)", "(?, 'x', ?)", 2, 1),
            "INSERT INTO t (a, b, c) VALUES ($1, 'x', $2), ($3, 'x', $4)"
        );
        assert_eq!(param_list(3, 3), "$3, $4, $5");
    }

    fn ints(args: &[Arg<'_>]) -> Vec<Option<i64>> {
        args.iter()
            .map(|a| match a {
                Arg::Int(v) => *v,
                _ => None,
            })
            .collect()
    }

    /// The writer's own connection reads rows and reports errors as the drivers do.
    #[tokio::test]
    async fn the_writer_connection_reads_rows_and_reports_errors_by_kind() {
        let mut conn = rusqlite::Connection::open_in_memory().expect("open");
        let mut on = On::Lite(&mut conn);
        sql("CREATE TABLE t (k TEXT PRIMARY KEY, n INTEGER, b BLOB)")
            .execute(on.again())
            .await
            .expect("create");
        let put = |k: &'static str, n: i64| {
            sql("INSERT INTO t VALUES ($1, $2, $3)")
                .bind(k)
                .bind(n)
                .bind(None::<&[u8]>)
        };
        assert_eq!(put("a", 1).execute(on.again()).await.expect("insert").0, 1);
        put("b", 2).execute(on.again()).await.expect("insert");
        // A uniqueness rule is a conflict, not a database fault.
        let dup = put("a", 3).execute(on.again()).await;
        assert!(matches!(dup, Err(StoreError::Conflict(_))), "{dup:?}");
        let rows: Vec<(String, i64, Option<Vec<u8>>)> =
            sql("SELECT k, n, b FROM t WHERE n >= $1 ORDER BY $2, k")
                .bind(1)
                .bind(1)
                .all_as(on.again())
                .await
                .expect("read");
        assert_eq!(rows, [("a".into(), 1, None), ("b".into(), 2, None)]);
        let row = sql("SELECT k, n FROM t WHERE k = $1")
            .bind("b")
            .one(on.again())
            .await
            .expect("one");
        assert_eq!(row.get::<String>("k").expect("k"), "b");
        assert_eq!(row.at::<i64>(1).expect("n"), 2);
        // A value of another type, or a column that is not there, is a corrupt row.
        assert!(matches!(row.at::<i64>(0), Err(StoreError::Corrupt(_))));
        assert!(matches!(row.get::<i64>("z"), Err(StoreError::Corrupt(_))));
        let none = sql("SELECT k FROM t WHERE k = $1")
            .bind("z")
            .optional(on.again())
            .await
            .expect("optional");
        assert!(none.is_none());
        let bad = sql("SELECT nope FROM t")
            .all(on.again())
            .await
            .map(|r| r.len());
        assert!(matches!(bad, Err(StoreError::Database(_))), "{bad:?}");
    }

    #[test]
    fn sqlite_gets_plain_marks_with_arguments_in_mark_order() {
        let args = || vec![Arg::from(10), Arg::from(20), Arg::from(30)];
        let (text, bound) = plain_marks("SELECT $1, $2 WHERE x = $3".into(), args()).unwrap();
        assert_eq!(text, "SELECT ?, ? WHERE x = ?");
        assert_eq!(ints(&bound), [Some(10), Some(20), Some(30)]);
        // Out of order and repeated; quoted text keeps its '$1'.
        let (text, bound) = plain_marks(
            "SELECT '$1', \"$2\", $3 WHERE a = $1 OR b = $1".into(),
            args(),
        )
        .unwrap();
        assert_eq!(text, "SELECT '$1', \"$2\", ? WHERE a = ? OR b = ?");
        assert_eq!(ints(&bound), [Some(30), Some(10), Some(10)]);
        // A mark without its argument is a fault of the statement, not a NULL.
        let err = plain_marks("SELECT $4".into(), args()).unwrap_err();
        assert!(matches!(err, StoreError::Internal(_)), "{err:?}");
        let (text, _) = plain_marks("SELECT 1".into(), args()).unwrap();
        assert_eq!(text, "SELECT 1");
    }
}
