//! L2: an embedded, crash-safe disk tier (redb, one file under `--cache-dir`).
//!
//! Reads run on the blocking pool. Writes are write-behind: they go through a bounded
//! channel to one writer thread, which commits them in batches (one fsync'd
//! transaction per batch), so a response never waits for the disk. The tier is
//! bounded in bytes; past the bound the oldest entries are evicted first (FIFO, by a
//! sequence number). A file that redb cannot open is moved aside and replaced by an
//! empty one; a directory that cannot hold the file disables the tier. Either way the
//! server keeps serving, and a log line says what happened.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, Receiver, SyncSender, TryRecvError, TrySendError};
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use redb::{Database, DatabaseError, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};
use tokio::sync::oneshot;

use super::codec;
use super::stats::{TierCounters, TierStats};
use super::tier::{Tier, TierError};

/// Stored key → sequence number (u64 LE) followed by the encoded value.
const ENTRIES: TableDefinition<&str, &[u8]> = TableDefinition::new("entries");
/// Sequence number → stored key, oldest first: the eviction order.
const ORDER: TableDefinition<u64, &str> = TableDefinition::new("order");
/// `bytes` (sum of entry weights) and `next_seq`.
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");

/// The file name inside `--cache-dir`.
pub const FILE_NAME: &str = "predictions.redb";
/// Most pending writes; more are dropped (counted) rather than delaying responses.
const QUEUE: usize = 8192;
/// Most writes committed in one transaction.
const BATCH: usize = 1024;
/// Bytes an entry counts for beyond its key and value (redb's per-entry overhead, an
/// estimate).
const ENTRY_OVERHEAD_BYTES: usize = 16;
/// Bytes of the sequence number stored in front of each value.
const SEQ_BYTES: usize = 8;

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
}

/// Where and how large.
#[derive(Debug, Clone)]
pub struct DiskConfig {
    /// Directory holding the database file; created if missing.
    pub dir: PathBuf,
    /// Most bytes of keys and values kept (estimate; the file itself may be larger).
    pub capacity_bytes: u64,
}

enum Command {
    Put { key: String, value: Vec<u8> },
    Clear { prefix: Option<String>, done: oneshot::Sender<Result<u64, DiskError>> },
    Flush(oneshot::Sender<()>),
}

/// Handle to the disk tier. Dropping it stops the writer after it commits what is
/// queued.
pub struct DiskTier {
    db: Arc<Database>,
    tx: SyncSender<Command>,
    counters: Arc<TierCounters>,
    path: PathBuf,
    capacity: u64,
}

/// Bytes an entry counts for against the capacity.
fn weight(key: &str, stored_len: usize) -> u64 {
    (key.len() + stored_len + ENTRY_OVERHEAD_BYTES) as u64
}

/// The sequence number stored in front of a value.
fn seq_of(stored: &[u8]) -> Option<u64> {
    stored.get(..SEQ_BYTES).and_then(|b| b.try_into().ok()).map(u64::from_le_bytes)
}

impl DiskTier {
    /// Opens (or creates, or rebuilds) the database and starts the writer thread.
    /// Blocking.
    ///
    /// Errors: [`DiskError`] saying why the tier cannot run (directory not creatable
    /// or not writable, file locked by another process, disk full).
    pub fn open(config: &DiskConfig) -> Result<Self, DiskError> {
        std::fs::create_dir_all(&config.dir)
            .map_err(|source| DiskError::CreateDir { dir: config.dir.clone(), source })?;
        let path = config.dir.join(FILE_NAME);
        let db = Arc::new(open_or_rebuild(&path)?);
        let counters = Arc::new(TierCounters::default());
        let (tx, rx) = mpsc::sync_channel(QUEUE);
        let (writer_db, writer_counters, capacity) = (Arc::clone(&db), Arc::clone(&counters), config.capacity_bytes);
        std::thread::Builder::new()
            .name("cache-disk-writer".into())
            .spawn(move || writer(&writer_db, &rx, capacity, &writer_counters))
            .map_err(DiskError::Spawn)?;
        Ok(Self { db, tx, counters, path, capacity })
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
        "disk"
    }

    fn is_up(&self) -> bool {
        true
    }

    fn counters(&self) -> &TierCounters {
        &self.counters
    }

    /// Reads on the blocking pool.
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Vec<u8>>, TierError>> {
        let (db, key) = (Arc::clone(&self.db), key.to_string());
        Box::pin(async move {
            let read = tokio::task::spawn_blocking(move || -> Result<Option<Vec<u8>>, redb::Error> {
                let txn = db.begin_read()?;
                let table = txn.open_table(ENTRIES)?;
                Ok(table.get(key.as_str())?.map(|v| v.value().get(SEQ_BYTES..).unwrap_or_default().to_vec()))
            })
            .await
            .map_err(|e| DiskError::ReadTask(e.to_string()))?;
            read.map_err(|e| {
                tracing::warn!(error = %e, "disk cache read failed; treating as a miss");
                TierError::from(DiskError::Storage(e))
            })
        })
    }

    /// Queues a write; never blocks. A full queue drops the write (counted as an
    /// error). The value carries its own expiry, so `ttl` is not needed.
    fn put(&self, key: &str, value: Vec<u8>, _ttl: Option<Duration>) {
        match self.tx.try_send(Command::Put { key: key.to_string(), value }) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => self.counters.error(1),
        }
    }

    /// Ordered after every write queued before it.
    fn clear<'a>(&'a self, model: Option<&'a str>) -> BoxFuture<'a, Result<Option<u64>, TierError>> {
        let prefix = model.map(codec::model_prefix);
        Box::pin(async move { Ok(Some(self.ask(|done| Command::Clear { prefix, done }).await??)) })
    }

    fn flush(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let _ = self.ask(Command::Flush).await;
        })
    }

    fn stats(&self) -> BoxFuture<'_, TierStats> {
        Box::pin(async move {
            let db = Arc::clone(&self.db);
            let sizes = tokio::task::spawn_blocking(move || -> Result<(u64, u64), redb::Error> {
                let txn = db.begin_read()?;
                let entries = txn.open_table(ENTRIES)?.len()?;
                let bytes = txn.open_table(META)?.get("bytes")?.map_or(0, |v| v.value());
                Ok((entries, bytes))
            })
            .await;
            let mut stats = self.counters.snapshot("disk", true);
            stats.location = Some(self.path.display().to_string());
            stats.capacity_bytes = Some(self.capacity);
            match sizes {
                Ok(Ok((entries, bytes))) => {
                    stats.entries = Some(entries);
                    stats.bytes = Some(bytes);
                }
                Ok(Err(e)) => {
                    stats.up = false;
                    stats.error = Some(e.to_string());
                }
                Err(e) => stats.error = Some(e.to_string()),
            }
            stats
        })
    }
}

/// Opens the database, moving an unreadable file aside and starting empty.
fn open_or_rebuild(path: &Path) -> Result<Database, DiskError> {
    match open_checked(path) {
        Ok(db) => Ok(db),
        Err(OpenError::Fatal(error)) => Err(error),
        Err(OpenError::Corrupt(reason)) => {
            let aside = path.with_extension(format!("corrupt-{}", codec::now_ms()));
            tracing::warn!(
                path = %path.display(),
                moved_to = %aside.display(),
                reason = %reason,
                "disk cache file is unreadable; moving it aside and rebuilding an empty cache"
            );
            if std::fs::rename(path, &aside).is_err() {
                std::fs::remove_file(path)
                    .map_err(|source| DiskError::RemoveDamaged { path: path.to_path_buf(), source })?;
            }
            open_checked(path).map_err(|e| match e {
                OpenError::Fatal(error) => error,
                OpenError::Corrupt(reason) => DiskError::Damaged { path: path.to_path_buf(), reason },
            })
        }
    }
}

enum OpenError {
    /// The file is damaged: rebuild it.
    Corrupt(String),
    /// The environment prevents the tier (permissions, lock, space): disable it.
    Fatal(DiskError),
}

fn open_checked(path: &Path) -> Result<Database, OpenError> {
    // redb is expected to return errors for damaged files; a panic is treated the same.
    let opened = std::panic::catch_unwind(|| Database::create(path))
        .map_err(|_| OpenError::Corrupt("the database library panicked while opening the file".into()))?;
    let db = match opened {
        Ok(db) => db,
        Err(DatabaseError::DatabaseAlreadyOpen) => return Err(OpenError::Fatal(DiskError::InUse(path.to_path_buf()))),
        Err(DatabaseError::Storage(redb::StorageError::Io(source)))
            if !matches!(source.kind(), std::io::ErrorKind::InvalidData | std::io::ErrorKind::UnexpectedEof) =>
        {
            return Err(OpenError::Fatal(DiskError::Open { path: path.to_path_buf(), source }))
        }
        Err(e) => return Err(OpenError::Corrupt(e.to_string())),
    };
    // Create the tables (a no-op when present) and prove the file is writable.
    let check = || -> Result<(), redb::Error> {
        let txn = db.begin_write()?;
        txn.open_table(ENTRIES)?;
        txn.open_table(ORDER)?;
        txn.open_table(META)?;
        txn.commit()?;
        Ok(())
    };
    match check() {
        Ok(()) => Ok(db),
        Err(redb::Error::Io(source))
            if !matches!(source.kind(), std::io::ErrorKind::InvalidData | std::io::ErrorKind::UnexpectedEof) =>
        {
            Err(OpenError::Fatal(DiskError::Write { path: path.to_path_buf(), source }))
        }
        Err(e) => Err(OpenError::Corrupt(e.to_string())),
    }
}

/// The writer thread: batches puts into transactions; clears and flushes in order.
fn writer(db: &Database, rx: &Receiver<Command>, capacity: u64, counters: &TierCounters) {
    let mut puts: Vec<(String, Vec<u8>)> = Vec::new();
    while let Ok(first) = rx.recv() {
        let mut commands = vec![first];
        while commands.len() < BATCH {
            match rx.try_recv() {
                Ok(c) => commands.push(c),
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
            }
        }
        for command in commands {
            match command {
                Command::Put { key, value } => puts.push((key, value)),
                Command::Clear { prefix, done } => {
                    commit_puts(db, &mut puts, capacity, counters);
                    let _ = done.send(clear(db, prefix.as_deref()).map_err(DiskError::from));
                }
                Command::Flush(done) => {
                    commit_puts(db, &mut puts, capacity, counters);
                    let _ = done.send(());
                }
            }
        }
        commit_puts(db, &mut puts, capacity, counters);
    }
}

fn commit_puts(db: &Database, puts: &mut Vec<(String, Vec<u8>)>, capacity: u64, counters: &TierCounters) {
    if puts.is_empty() {
        return;
    }
    let count = puts.len() as u64;
    let mut evicted = 0u64;
    let result = (|| -> Result<(), redb::Error> {
        let txn = db.begin_write()?;
        {
            let mut entries = txn.open_table(ENTRIES)?;
            let mut order = txn.open_table(ORDER)?;
            let mut meta = txn.open_table(META)?;
            let mut bytes = meta.get("bytes")?.map_or(0, |v| v.value());
            let mut seq = meta.get("next_seq")?.map_or(0, |v| v.value());
            for (key, value) in puts.drain(..) {
                let mut stored = Vec::with_capacity(SEQ_BYTES + value.len());
                stored.extend_from_slice(&seq.to_le_bytes());
                stored.extend_from_slice(&value);
                let old = entries.insert(key.as_str(), stored.as_slice())?.map(|g| g.value().to_vec());
                if let Some(old) = old {
                    bytes = bytes.saturating_sub(weight(&key, old.len()));
                    if let Some(old_seq) = seq_of(&old) {
                        order.remove(old_seq)?;
                    }
                }
                order.insert(seq, key.as_str())?;
                bytes += weight(&key, stored.len());
                seq += 1;
            }
            while bytes > capacity {
                let Some(oldest) = order.pop_first()?.map(|(_, k)| k.value().to_string()) else {
                    bytes = 0;
                    break;
                };
                let removed = entries.remove(oldest.as_str())?.map(|g| g.value().len());
                if let Some(len) = removed {
                    bytes = bytes.saturating_sub(weight(&oldest, len));
                    evicted += 1;
                }
            }
            meta.insert("bytes", bytes)?;
            meta.insert("next_seq", seq)?;
        }
        txn.commit()?;
        Ok(())
    })();
    match result {
        Ok(()) => {
            counters.writes.fetch_add(count, Ordering::Relaxed);
            counters.evictions.fetch_add(evicted, Ordering::Relaxed);
        }
        Err(e) => {
            puts.clear();
            counters.error(count);
            tracing::warn!(error = %e, dropped = count, "disk cache write failed; entries were not persisted");
        }
    }
}

fn clear(db: &Database, prefix: Option<&str>) -> Result<u64, redb::Error> {
    let txn = db.begin_write()?;
    let removed;
    {
        let mut entries = txn.open_table(ENTRIES)?;
        let mut order = txn.open_table(ORDER)?;
        let mut meta = txn.open_table(META)?;
        match prefix {
            None => {
                removed = entries.len()?;
                entries.retain(|_, _| false)?;
                order.retain(|_, _| false)?;
                meta.insert("bytes", 0)?;
            }
            Some(prefix) => {
                let mut victims: Vec<(String, usize, Option<u64>)> = Vec::new();
                for item in entries.range(prefix..)? {
                    let (key, value) = item?;
                    if !key.value().starts_with(prefix) {
                        break;
                    }
                    let value = value.value();
                    let seq = seq_of(value);
                    victims.push((key.value().to_string(), value.len(), seq));
                }
                let mut bytes = meta.get("bytes")?.map_or(0, |v| v.value());
                for (key, len, seq) in &victims {
                    entries.remove(key.as_str())?;
                    if let Some(seq) = seq {
                        order.remove(*seq)?;
                    }
                    bytes = bytes.saturating_sub(weight(key, *len));
                }
                meta.insert("bytes", bytes)?;
                removed = victims.len() as u64;
            }
        }
    }
    txn.commit()?;
    Ok(removed)
}
