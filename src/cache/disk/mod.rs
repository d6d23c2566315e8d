//! L2: an embedded, crash-safe disk tier (redb, one file under `--cache-dir`).
//!
//! Reads run on the blocking pool. Writes are write-behind: they go through a bounded
//! channel to one writer thread, which commits them in batches (one fsync'd
//! transaction per batch), so a response never waits for the disk. The tier is
//! bounded in bytes; past the bound the oldest entries are evicted first (FIFO, by a
//! sequence number).
//!
//! The tier heals itself ([`open`], [`writer`]): a damaged file, found at open or
//! while serving, is moved aside and rebuilt empty; a failing disk (full, I/O errors)
//! takes the tier down with the reason and it comes back by itself once writes
//! succeed again. A directory that cannot hold the file disables the tier. In every
//! case the server keeps serving and one log line says what happened.

pub mod closing;
pub mod entry;
#[cfg(test)]
mod faults;
pub mod open;
#[cfg(test)]
mod tests;
pub mod writer;

use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, SyncSender, TrySendError};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use futures::future::BoxFuture;
use redb::{ReadableDatabase, ReadableTableMetadata};
use tokio::sync::oneshot;

use super::codec;
use super::health::Health;
use super::stats::{TierCounters, TierStats};
use super::tier::{Tier, TierError};
use closing::Db;
use entry::{checked_value, ENTRIES, META};
use open::{is_corruption, Opener};

/// The file name inside `--cache-dir`.
pub const FILE_NAME: &str = "predictions.redb";
/// Most pending writes; more are dropped (counted) rather than delaying responses.
const QUEUE: usize = 8192;
/// Most writes committed in one transaction.
pub(crate) const BATCH: usize = 1024;

/// Why the disk tier cannot run, or an operation failed.
#[derive(Debug, thiserror::Error)]
pub enum DiskError {
    /// The cache directory cannot be created.
    #[error("cannot create {dir}: {source}")]
    CreateDir {
        /// The directory.
        dir: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Another process holds the file's lock.
    #[error("{0} is in use by another process")]
    InUse(PathBuf),
    /// The file cannot be opened (permissions, space).
    #[error("cannot open {path}: {source}")]
    Open {
        /// The database file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file cannot be written (permissions, space).
    #[error("cannot write {path}: {source}")]
    Write {
        /// The database file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A damaged file could not be moved aside or removed.
    #[error("cannot remove the damaged {path}: {source}")]
    RemoveDamaged {
        /// The database file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file is still unreadable after it was rebuilt.
    #[error("{path} is unreadable: {reason}")]
    Damaged {
        /// The database file.
        path: PathBuf,
        /// What the database library said.
        reason: String,
    },
    /// A read, write or transaction failed.
    #[error("disk cache: {0}")]
    Storage(#[from] redb::Error),
    /// A read task panicked or was cancelled.
    #[error("a disk cache read did not complete: {0}")]
    ReadTask(String),
    /// The writer thread is gone.
    #[error("the disk cache writer stopped")]
    WriterStopped,
    /// The writer thread could not start.
    #[error("cannot start the disk cache writer: {0}")]
    Spawn(std::io::Error),
    /// The tier is down (disk full, I/O errors) and retrying in the background.
    #[error("the disk cache tier is down: {0}")]
    Down(String),
}

/// Where and how large.
#[derive(Debug, Clone)]
pub struct DiskConfig {
    /// Directory holding the database file; created if missing.
    pub dir: PathBuf,
    /// Most bytes of keys and values kept (estimate; the file itself may be larger).
    pub capacity_bytes: u64,
}

/// Work for the writer thread.
pub(crate) enum Command {
    Put {
        key: String,
        value: Vec<u8>,
    },
    Clear {
        prefix: Option<String>,
        done: oneshot::Sender<Result<u64, DiskError>>,
    },
    Flush(oneshot::Sender<()>),
    /// A read found the file damaged: rebuild it.
    Damaged(String),
}

/// The name of this tier in `GET /cache`, logs and errors.
const TIER: &str = "disk";

/// What the handle and the writer thread share.
pub(crate) struct Shared {
    /// The open database; `None` while the tier is down.
    db: RwLock<Option<Arc<Db>>>,
    /// Up or down, why, and when the writer tries to reopen.
    pub(crate) health: Health,
    pub(crate) counters: TierCounters,
    pub(crate) opener: Opener,
}

impl Shared {
    fn new(db: Db, opener: Opener) -> Self {
        Self {
            db: RwLock::new(Some(Arc::new(db))),
            health: Health::up(TIER, opener.path().display().to_string(), writer::RETRY),
            counters: TierCounters::default(),
            opener,
        }
    }

    pub(crate) fn is_up(&self) -> bool {
        self.health.is_up()
    }

    /// The open database, if the tier is up.
    pub(crate) fn database(&self) -> Option<Arc<Db>> {
        self.db.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Why the tier is down, if it is.
    pub(crate) fn down_reason(&self) -> Option<String> {
        self.health.reason()
    }

    /// Takes the database out (the tier is down while it is rebuilt); `None` when it
    /// was already down.
    pub(crate) fn take_database(&self, reason: &str) -> Option<Arc<Db>> {
        let mut db = self.db.write().unwrap_or_else(|p| p.into_inner());
        let taken = db.take()?;
        self.health.pause(format!("rebuilding a damaged file: {reason}"));
        Some(taken)
    }

    /// Marks the tier down (logged once per outage); the writer retries reopening.
    pub(crate) fn go_down(&self, reason: String) {
        let mut db = self.db.write().unwrap_or_else(|p| p.into_inner());
        self.health.mark_down(reason);
        *db = None;
    }

    /// Puts a freshly opened database in service.
    pub(crate) fn set_up(&self, opened: Arc<Db>) {
        let mut db = self.db.write().unwrap_or_else(|p| p.into_inner());
        *db = Some(opened);
        self.health.mark_up();
    }
}

/// Handle to the disk tier. Dropping it stops the writer after it commits what is
/// queued.
pub struct DiskTier {
    shared: Arc<Shared>,
    tx: SyncSender<Command>,
    path: PathBuf,
    capacity: u64,
    writer: Option<std::thread::JoinHandle<()>>,
}

impl DiskTier {
    /// Opens (or creates, or rebuilds) the database and starts the writer thread.
    /// Blocking.
    ///
    /// Errors: [`DiskError`] saying why the tier cannot run (directory not creatable
    /// or not writable, file locked by another process, disk full).
    pub fn open(config: &DiskConfig) -> Result<Self, DiskError> {
        Self::open_with(config, None, open::READ_CACHE_BYTES)
    }

    /// [`DiskTier::open`] with a storage wrapper (tests inject I/O errors) and redb's
    /// page-cache size.
    ///
    /// Errors: as [`DiskTier::open`].
    pub fn open_with(
        config: &DiskConfig,
        backend: Option<open::BackendFactory>,
        read_cache_bytes: usize,
    ) -> Result<Self, DiskError> {
        std::fs::create_dir_all(&config.dir)
            .map_err(|source| DiskError::CreateDir { dir: config.dir.clone(), source })?;
        let path = config.dir.join(FILE_NAME);
        let opener = Opener { path: path.clone(), read_cache_bytes, backend };
        let db = opener.open_or_rebuild()?;
        let shared = Arc::new(Shared::new(db, opener));
        let (tx, rx) = mpsc::sync_channel(QUEUE);
        let (writer_shared, capacity) = (Arc::clone(&shared), config.capacity_bytes);
        let writer = std::thread::Builder::new()
            .name("cache-disk-writer".into())
            .spawn(move || writer::run(&writer_shared, &rx, capacity))
            .map_err(DiskError::Spawn)?;
        Ok(Self { shared, tx, path, capacity: config.capacity_bytes, writer: Some(writer) })
    }

    /// Commits what is queued, stops the writer and closes the file (blocking).
    pub fn close(mut self) {
        let (tx, _) = mpsc::sync_channel(1);
        drop(std::mem::replace(&mut self.tx, tx));
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }

    /// The database file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Sends a command to the writer and waits for its answer.
    async fn ask<T>(&self, command: impl FnOnce(oneshot::Sender<T>) -> Command) -> Result<T, DiskError> {
        let (done, wait) = oneshot::channel();
        self.tx.send(command(done)).map_err(|_| DiskError::WriterStopped)?;
        wait.await.map_err(|_| DiskError::WriterStopped)
    }
}

impl Tier for DiskTier {
    fn name(&self) -> &'static str {
        TIER
    }

    fn is_up(&self) -> bool {
        self.shared.is_up()
    }

    fn counters(&self) -> &TierCounters {
        &self.shared.counters
    }

    /// Reads on the blocking pool. A read that finds the file damaged (or a panic in
    /// redb) has the writer rebuild it, and is a miss.
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Vec<u8>>, TierError>> {
        let Some(db) = self.shared.database() else {
            return Box::pin(async { Ok(None) });
        };
        let key = key.to_string();
        Box::pin(async move {
            let read = tokio::task::spawn_blocking(move || {
                writer::catch(|| -> Result<Option<Vec<u8>>, redb::Error> {
                    let txn = db.begin_read()?;
                    let table = txn.open_table(ENTRIES)?;
                    let Some(stored) = table.get(key.as_str())? else { return Ok(None) };
                    checked_value(&key, stored.value()).map(Some).ok_or_else(|| {
                        redb::Error::Corrupted(format!("the entry stored under {key} is not the one written for it"))
                    })
                })
            })
            .await
            .map_err(|e| TierError::backend(TIER, DiskError::ReadTask(e.to_string())))?;
            read.map_err(|e| {
                if is_corruption(&e) {
                    let _ = self.tx.try_send(Command::Damaged(e.to_string()));
                } else {
                    tracing::debug!(error = %e, "disk cache read failed; treating as a miss");
                }
                TierError::backend(TIER, DiskError::Storage(e))
            })
        })
    }

    /// Queues a write; never blocks. A full queue drops the write (counted as an
    /// error). The value carries its own expiry, so `ttl` is not needed.
    fn put(&self, key: &str, value: Vec<u8>, _ttl: Option<Duration>) {
        match self.tx.try_send(Command::Put { key: key.to_string(), value }) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => self.shared.counters.error(1),
        }
    }

    /// Ordered after every write queued before it.
    fn clear<'a>(&'a self, model: Option<&'a str>) -> BoxFuture<'a, Result<Option<u64>, TierError>> {
        let prefix = model.map(codec::model_prefix);
        Box::pin(async move {
            let removed = self.ask(|done| Command::Clear { prefix, done }).await.and_then(|cleared| cleared);
            removed.map(Some).map_err(|e| TierError::backend(TIER, e))
        })
    }

    fn flush(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let _ = self.ask(Command::Flush).await;
        })
    }

    fn stats(&self) -> BoxFuture<'_, TierStats> {
        Box::pin(async move {
            let mut stats = self.shared.counters.snapshot(TIER, self.shared.is_up());
            stats.location = Some(self.path.display().to_string());
            stats.capacity_bytes = Some(self.capacity);
            let Some(db) = self.shared.database() else {
                stats.up = false;
                stats.error = self.shared.down_reason();
                return stats;
            };
            let sizes = tokio::task::spawn_blocking(move || {
                writer::catch(|| -> Result<(u64, u64), redb::Error> {
                    let txn = db.begin_read()?;
                    let entries = txn.open_table(ENTRIES)?.len()?;
                    let bytes = txn.open_table(META)?.get("bytes")?.map_or(0, |v| v.value());
                    Ok((entries, bytes))
                })
            })
            .await;
            match sizes {
                Ok(Ok((entries, bytes))) => {
                    stats.entries = Some(entries);
                    stats.bytes = Some(bytes);
                }
                Ok(Err(e)) => stats.error = Some(e.to_string()),
                Err(e) => stats.error = Some(e.to_string()),
            }
            stats
        })
    }
}
