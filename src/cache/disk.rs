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

use redb::{Database, DatabaseError, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};
use tokio::sync::oneshot;

use super::{TierCounters, TierStats};

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
    Clear { prefix: Option<String>, done: oneshot::Sender<Result<u64, String>> },
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
    (key.len() + stored_len + 16) as u64
}

impl DiskTier {
    /// Opens (or creates, or rebuilds) the database and starts the writer thread.
    /// Blocking.
    ///
    /// Errors: a message saying why the tier cannot run (directory not creatable or
    /// not writable, file locked by another process, disk full).
    pub fn open(config: &DiskConfig) -> Result<Self, String> {
        std::fs::create_dir_all(&config.dir).map_err(|e| format!("cannot create {}: {e}", config.dir.display()))?;
        let path = config.dir.join(FILE_NAME);
        let db = Arc::new(open_or_rebuild(&path)?);
        let counters = Arc::new(TierCounters::default());
        let (tx, rx) = mpsc::sync_channel(QUEUE);
        let (writer_db, writer_counters, capacity) = (Arc::clone(&db), Arc::clone(&counters), config.capacity_bytes);
        std::thread::Builder::new()
            .name("cache-disk-writer".into())
            .spawn(move || writer(&writer_db, &rx, capacity, &writer_counters))
            .map_err(|e| format!("cannot start the disk writer: {e}"))?;
        Ok(Self { db, tx, counters, path, capacity })
    }

    /// This tier's counters.
    pub fn counters(&self) -> &TierCounters {
        &self.counters
    }

    /// Reads the encoded value of `key`, if present.
    pub async fn get(&self, key: &str) -> Option<Vec<u8>> {
        let (db, key_owned) = (Arc::clone(&self.db), key.to_string());
        let read = tokio::task::spawn_blocking(move || -> Result<Option<Vec<u8>>, redb::Error> {
            let txn = db.begin_read()?;
            let table = txn.open_table(ENTRIES)?;
            Ok(table.get(key_owned.as_str())?.map(|v| v.value().get(8..).unwrap_or_default().to_vec()))
        })
        .await;
        match read {
            Ok(Ok(value)) => value,
            Ok(Err(e)) => {
                self.counters.errors.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(error = %e, "disk cache read failed; treating as a miss");
                None
            }
            Err(_) => None,
        }
    }

    /// Queues a write; never blocks. A full queue drops the write (counted as an error).
    pub fn put(&self, key: String, value: Vec<u8>) {
        match self.tx.try_send(Command::Put { key, value }) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.counters.errors.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Deletes every entry, or those whose key starts with `prefix`; returns how many.
    /// Ordered after every write queued before it.
    ///
    /// Errors: the transaction failed.
    pub async fn clear(&self, prefix: Option<String>) -> Result<u64, String> {
        let (done, wait) = oneshot::channel();
        self.tx.send(Command::Clear { prefix, done }).map_err(|_| "disk writer stopped".to_string())?;
        wait.await.map_err(|_| "disk writer stopped".to_string())?
    }

    /// Waits until every write queued so far is committed.
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Command::Flush(done)).is_ok() {
            let _ = wait.await;
        }
    }

    /// Counters, entry count and bytes.
    pub async fn stats(&self) -> TierStats {
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
    }
}

/// Opens the database, moving an unreadable file aside and starting empty.
fn open_or_rebuild(path: &Path) -> Result<Database, String> {
    match open_checked(path) {
        Ok(db) => Ok(db),
        Err(OpenError::Fatal(message)) => Err(message),
        Err(OpenError::Corrupt(reason)) => {
            let aside = path.with_extension(format!("corrupt-{}", super::codec::now_ms()));
            tracing::warn!(
                path = %path.display(),
                moved_to = %aside.display(),
                reason = %reason,
                "disk cache file is unreadable; moving it aside and rebuilding an empty cache"
            );
            if std::fs::rename(path, &aside).is_err() {
                std::fs::remove_file(path).map_err(|e| format!("cannot remove corrupt {}: {e}", path.display()))?;
            }
            open_checked(path).map_err(|e| match e {
                OpenError::Fatal(m) | OpenError::Corrupt(m) => m,
            })
        }
    }
}

enum OpenError {
    /// The file is damaged: rebuild it.
    Corrupt(String),
    /// The environment prevents the tier (permissions, lock, space): disable it.
    Fatal(String),
}

fn open_checked(path: &Path) -> Result<Database, OpenError> {
    // redb is expected to return errors for damaged files; a panic is treated the same.
    let opened = std::panic::catch_unwind(|| Database::create(path))
        .map_err(|_| OpenError::Corrupt("the database library panicked while opening the file".into()))?;
    let db = match opened {
        Ok(db) => db,
        Err(DatabaseError::DatabaseAlreadyOpen) => {
            return Err(OpenError::Fatal(format!("{} is in use by another process", path.display())))
        }
        Err(DatabaseError::Storage(redb::StorageError::Io(e))) if e.kind() != std::io::ErrorKind::InvalidData => {
            return Err(OpenError::Fatal(format!("cannot open {}: {e}", path.display())))
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
        Err(redb::Error::Io(e)) => Err(OpenError::Fatal(format!("cannot write {}: {e}", path.display()))),
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
                    let _ = done.send(clear(db, prefix.as_deref()).map_err(|e| e.to_string()));
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
                let mut stored = Vec::with_capacity(8 + value.len());
                stored.extend_from_slice(&seq.to_le_bytes());
                stored.extend_from_slice(&value);
                let old = entries.insert(key.as_str(), stored.as_slice())?.map(|g| g.value().to_vec());
                if let Some(old) = old {
                    bytes = bytes.saturating_sub(weight(&key, old.len()));
                    if let Some(old_seq) = old.get(..8).and_then(|b| b.try_into().ok()).map(u64::from_le_bytes) {
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
            counters.errors.fetch_add(count, Ordering::Relaxed);
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
                    let seq = value.get(..8).and_then(|b| b.try_into().ok()).map(u64::from_le_bytes);
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
