//! Write marks (see [`super::OcspStore::write_mark`]): how a process notices, without a
//! query, that anybody wrote to the store. This is where the two databases differ by
//! nature: SQLite is files on this machine, PostgreSQL announces commits with `NOTIFY`.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use sqlx::postgres::{PgListener, PgPool};
use tokio::sync::Notify;

use super::WriteMark;

/// How long a write mark read from SQLite's files is reused before they are looked at
/// again. Reading the mark is two `stat` calls, which at tens of thousands of OCSP answers
/// a second were a seventh of the responder's time; reusing it for a millisecond makes
/// that nothing. The price: a commit by *another process* is seen by answers that start at
/// most this long after it (rather than at once). This process's own commits end the reuse
/// when they commit, so they are seen at once.
pub const WRITE_MARK_REUSE: Duration = Duration::from_millis(1);

/// File times are coarse (a kernel tick; a second on some file systems): a write in the
/// same tick as an earlier look can leave the time unchanged, so times newer than this are
/// not trusted and the store is read instead.
pub const WRITE_MARK_SETTLE: Duration = Duration::from_secs(2);

/// The channel PostgreSQL migration 0002's triggers announce committed writes on.
const WRITES_CHANNEL: &str = "caforge_writes";

/// A store's write marks.
#[derive(Debug)]
pub(super) enum Marks {
    /// From the SQLite database file and its WAL.
    Sqlite(FileMarks),
    /// From PostgreSQL's `LISTEN`.
    Postgres(PgMarks),
}

impl Marks {
    /// Marks of the SQLite database at `path` (None: in memory, which gives no mark).
    pub(super) fn sqlite(path: Option<PathBuf>) -> Marks {
        Marks::Sqlite(FileMarks {
            path,
            settle: WRITE_MARK_SETTLE,
            reuse: WRITE_MARK_REUSE,
            epoch: AtomicU64::new(0),
            last: Mutex::new(None),
        })
    }

    /// Marks of a PostgreSQL store.
    pub(super) fn postgres() -> Marks {
        Marks::Postgres(PgMarks {
            generation: Arc::new(AtomicU64::new(1)),
            started: AtomicBool::new(false),
            shutdown: Arc::new(Notify::new()),
        })
    }

    /// The same marks with another settle time (SQLite only).
    pub(super) fn with_settle(&self, settle: Duration) -> Marks {
        match self {
            Marks::Sqlite(f) => Marks::Sqlite(FileMarks {
                settle,
                ..f.fresh()
            }),
            Marks::Postgres(_) => Marks::postgres(),
        }
    }

    /// The same marks with another reuse time (SQLite only).
    pub(super) fn with_reuse(&self, reuse: Duration) -> Marks {
        match self {
            Marks::Sqlite(f) => Marks::Sqlite(FileMarks { reuse, ..f.fresh() }),
            Marks::Postgres(_) => Marks::postgres(),
        }
    }

    /// The current mark, or None when none can be trusted now.
    pub(super) fn current(&self, pool: &super::sql::Pool) -> Option<WriteMark> {
        match (self, pool) {
            (Marks::Sqlite(f), _) => f.current(),
            (Marks::Postgres(p), super::sql::Pool::Postgres(pool)) => p.current(pool),
            (Marks::Postgres(_), _) => None,
        }
    }

    /// This process committed a write: marks taken before are stale at once.
    pub(super) fn local_write(&self) {
        match self {
            Marks::Sqlite(f) => {
                f.epoch.fetch_add(1, Ordering::AcqRel);
            }
            Marks::Postgres(p) => {
                p.generation.fetch_add(2, Ordering::AcqRel);
            }
        }
    }
}

/// SQLite's marks: in WAL mode every commit, by any process, writes the `-wal` file, and
/// checkpoints write the database file: their inode, size and modification time make the
/// mark. A mark read is reused for `reuse` unless this process wrote since (the epoch is
/// read before the files, so a mark read across such a commit is never kept under the
/// newer epoch).
#[derive(Debug)]
pub(super) struct FileMarks {
    path: Option<PathBuf>,
    settle: Duration,
    reuse: Duration,
    /// Bumped after each of this process's commits.
    epoch: AtomicU64,
    /// The last mark read: when, under which epoch, and the mark.
    last: Mutex<Option<(Instant, u64, Option<WriteMark>)>>,
}

impl FileMarks {
    fn fresh(&self) -> FileMarks {
        FileMarks {
            path: self.path.clone(),
            settle: self.settle,
            reuse: self.reuse,
            epoch: AtomicU64::new(0),
            last: Mutex::new(None),
        }
    }

    fn current(&self) -> Option<WriteMark> {
        self.path.as_ref()?;
        let epoch = self.epoch.load(Ordering::Acquire);
        let now = Instant::now();
        {
            let last = self.last.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((at, seen, mark)) = *last {
                if seen == epoch && now.saturating_duration_since(at) < self.reuse {
                    return mark;
                }
            }
        }
        let mark = self.read();
        if !self.reuse.is_zero() {
            *self.last.lock().unwrap_or_else(|e| e.into_inner()) = Some((now, epoch, mark));
        }
        mark
    }

    /// The mark from the files themselves: two `stat` calls.
    fn read(&self) -> Option<WriteMark> {
        let path = self.path.as_ref()?;
        let mut wal = path.clone().into_os_string();
        wal.push("-wal");
        let now = SystemTime::now();
        let mut parts = [0u128; 4];
        for (pair, file) in parts
            .chunks_exact_mut(2)
            .zip([path.as_os_str(), wal.as_os_str()])
        {
            let meta = std::fs::metadata(file).ok()?;
            let modified = meta.modified().ok()?;
            if now.duration_since(modified).ok()? < self.settle {
                return None;
            }
            let nanos = modified
                .duration_since(std::time::UNIX_EPOCH)
                .ok()?
                .as_nanos();
            pair[0] = nanos;
            pair[1] = (u128::from(meta.len()) << 64) | u128::from(file_id(&meta));
        }
        Some(WriteMark::new(parts))
    }
}

/// PostgreSQL's marks: a generation counter that a `LISTEN` connection advances on every
/// write any replica commits (the tables' `NOTIFY` triggers) and that this process
/// advances on its own commits. Even while listening; odd while not (no mark is given
/// then, because notifications may be missed), so a mark taken before a lost connection
/// never equals one taken after it.
#[derive(Debug)]
pub(super) struct PgMarks {
    generation: Arc<AtomicU64>,
    started: AtomicBool,
    shutdown: Arc<Notify>,
}

impl PgMarks {
    /// The current mark, starting the listener on first use (inside a Tokio runtime).
    fn current(&self, pool: &PgPool) -> Option<WriteMark> {
        if !self.started.swap(true, Ordering::AcqRel) {
            let Ok(runtime) = tokio::runtime::Handle::try_current() else {
                self.started.store(false, Ordering::Release);
                return None;
            };
            runtime.spawn(listen_for_writes(
                pool.clone(),
                Arc::clone(&self.generation),
                Arc::clone(&self.shutdown),
            ));
        }
        let generation = self.generation.load(Ordering::Acquire);
        generation
            .is_multiple_of(2)
            .then(|| WriteMark::new([u128::from(generation), 0, 0, 0]))
    }
}

impl Drop for PgMarks {
    fn drop(&mut self) {
        // The last handle on the store is gone: stop listening.
        self.shutdown.notify_one();
    }
}

/// Keeps a `LISTEN caforge_writes` connection, advancing `generation` by two for every
/// notification; by one (to odd) when the connection is lost and by one (to even) once it
/// listens again.
async fn listen_for_writes(pool: PgPool, generation: Arc<AtomicU64>, shutdown: Arc<Notify>) {
    loop {
        let connect = async {
            let mut listener = PgListener::connect_with(&pool).await?;
            listener.eager_reconnect(false);
            listener.listen(WRITES_CHANNEL).await?;
            Ok::<_, sqlx::Error>(listener)
        };
        let connected = tokio::select! {
            () = shutdown.notified() => return,
            c = connect => c,
        };
        let Ok(mut listener) = connected else {
            tokio::select! {
                () = shutdown.notified() => return,
                () = tokio::time::sleep(Duration::from_secs(1)) => continue,
            }
        };
        generation.fetch_add(1, Ordering::AcqRel);
        loop {
            let received = tokio::select! {
                () = shutdown.notified() => return,
                r = listener.try_recv() => r,
            };
            match received {
                Ok(Some(_)) => {
                    generation.fetch_add(2, Ordering::AcqRel);
                }
                Ok(None) | Err(_) => {
                    generation.fetch_add(1, Ordering::AcqRel);
                    break;
                }
            }
        }
    }
}

#[cfg(unix)]
fn file_id(meta: &std::fs::Metadata) -> u64 {
    use std::os::unix::fs::MetadataExt;
    meta.ino() ^ meta.dev().rotate_left(32)
}

#[cfg(not(unix))]
fn file_id(_meta: &std::fs::Metadata) -> u64 {
    0
}
