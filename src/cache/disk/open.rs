//! Opening the database file: integrity-checked, and rebuilt empty when damaged.
//!
//! Every way a file can be damaged (truncation, overwritten or zeroed pages, garbage,
//! a header from elsewhere) ends the same way: the file is moved aside as
//! `predictions.corrupt-<ms>`, an empty database takes its place, and one log line
//! says so. redb's integrity check on open verifies the checksum of every committed
//! page, so damage is found at open instead of as a panic on a later read; a panic
//! inside redb is caught and treated as damage too.

use std::ops::Bound;
use std::path::{Path, PathBuf};

use redb::{Database, DatabaseError};

use super::closing::Db;
use super::entry::{ENTRIES, META, ORDER};
use super::DiskError;
use crate::cache::codec;

/// Bytes of pages redb keeps in memory for this file (the OS page cache does the rest).
pub const READ_CACHE_BYTES: usize = 16 * 1024 * 1024;

/// Makes the storage a database lives on: the file itself, or (in tests) a wrapper
/// that injects I/O errors.
pub type BackendFactory = std::sync::Arc<dyn Fn(std::fs::File) -> Box<dyn redb::StorageBackend> + Send + Sync>;

/// How the database file is opened.
#[derive(Clone)]
pub struct Opener {
    /// The database file.
    pub path: PathBuf,
    /// redb's page cache, bytes.
    pub read_cache_bytes: usize,
    /// Storage wrapper (tests); `None`: the plain file.
    pub backend: Option<BackendFactory>,
}

/// Why a file could not be opened.
pub enum OpenError {
    /// The file is damaged: move it aside and rebuild.
    Corrupt(String),
    /// The environment prevents the tier (permissions, lock, space): it stays down.
    Fatal(DiskError),
}

/// Whether an I/O error means damaged content rather than the environment.
fn is_damage(error: &std::io::Error) -> bool {
    matches!(error.kind(), std::io::ErrorKind::InvalidData | std::io::ErrorKind::UnexpectedEof)
}

/// Whether a redb error means the file's content is damaged (rebuild) rather than the
/// environment failing (disk full, permissions: retry later).
pub fn is_corruption(error: &redb::Error) -> bool {
    match error {
        redb::Error::Corrupted(_) => true,
        redb::Error::Io(e) => is_damage(e),
        _ => false,
    }
}

impl Opener {
    /// Opens (or creates) the file with an integrity check and proves it writable.
    pub fn open_checked(&self) -> Result<Db, OpenError> {
        let opened = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.create()))
            .map_err(|_| OpenError::Corrupt("the database library panicked while opening the file".into()))?;
        let db = match opened {
            Ok(db) => Db::new(db),
            Err(DatabaseError::DatabaseAlreadyOpen) => {
                return Err(OpenError::Fatal(DiskError::InUse(self.path.clone())))
            }
            Err(DatabaseError::Storage(redb::StorageError::Io(source))) if !is_damage(&source) => {
                return Err(OpenError::Fatal(DiskError::Open { path: self.path.clone(), source }))
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
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(check)) {
            Ok(Ok(())) => Ok(db),
            Ok(Err(redb::Error::Io(source))) if !is_damage(&source) => {
                Err(OpenError::Fatal(DiskError::Write { path: self.path.clone(), source }))
            }
            Ok(Err(e)) if is_corruption(&e) => Err(OpenError::Corrupt(e.to_string())),
            Ok(Err(e)) => Err(OpenError::Fatal(DiskError::Storage(e))),
            Err(_) => Err(OpenError::Corrupt("the database library panicked while checking the file".into())),
        }
    }

    fn create(&self) -> Result<Database, DatabaseError> {
        let mut builder = Database::builder();
        builder.set_check_integrity_on_open(true).set_cache_size(self.read_cache_bytes);
        match &self.backend {
            None => builder.create(&self.path),
            Some(factory) => {
                let file =
                    std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&self.path)?;
                builder.create_with_backend(BoxedBackend(factory(file)))
            }
        }
    }

    /// Opens the file, moving a damaged one aside and starting empty.
    ///
    /// Errors: [`DiskError`] when the environment prevents the tier, or the rebuilt
    /// file is still unreadable.
    pub fn open_or_rebuild(&self) -> Result<Db, DiskError> {
        match self.open_checked() {
            Ok(db) => Ok(db),
            Err(OpenError::Fatal(error)) => Err(error),
            Err(OpenError::Corrupt(reason)) => {
                self.quarantine(&reason)?;
                self.open_checked().map_err(|e| match e {
                    OpenError::Fatal(error) => error,
                    OpenError::Corrupt(reason) => DiskError::Damaged { path: self.path.clone(), reason },
                })
            }
        }
    }

    /// Moves the damaged file aside (or removes it) and logs one line.
    ///
    /// Errors: [`DiskError::RemoveDamaged`].
    pub fn quarantine(&self, reason: &str) -> Result<PathBuf, DiskError> {
        let aside = self.path.with_extension(format!("corrupt-{}", codec::now_ms()));
        tracing::warn!(
            path = %self.path.display(),
            moved_to = %aside.display(),
            reason = %reason,
            "disk cache file is damaged; moved it aside and rebuilding an empty cache"
        );
        if std::fs::rename(&self.path, &aside).is_err() {
            std::fs::remove_file(&self.path)
                .map_err(|source| DiskError::RemoveDamaged { path: self.path.clone(), source })?;
        }
        Ok(aside)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// A boxed backend as a backend (redb takes `impl StorageBackend`).
#[derive(Debug)]
struct BoxedBackend(Box<dyn redb::StorageBackend>);

impl redb::StorageBackend for BoxedBackend {
    fn len(&self) -> Result<u64, std::io::Error> {
        self.0.len()
    }
    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), std::io::Error> {
        self.0.read(offset, out)
    }
    fn set_len(&self, len: u64) -> Result<(), std::io::Error> {
        self.0.set_len(len)
    }
    fn sync_data(&self) -> Result<(), std::io::Error> {
        self.0.sync_data()
    }
    fn write(&self, offset: u64, data: &[u8]) -> Result<(), std::io::Error> {
        self.0.write(offset, data)
    }
    fn close(&self) -> Result<(), std::io::Error> {
        self.0.close()
    }
    fn try_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, redb::BackendError> {
        self.0.try_lock_range(start, end)
    }
    fn try_lock_shared_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, redb::BackendError> {
        self.0.try_lock_shared_range(start, end)
    }
    fn lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), redb::BackendError> {
        self.0.lock_range(start, end)
    }
    fn lock_shared_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), redb::BackendError> {
        self.0.lock_shared_range(start, end)
    }
    fn unlock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), redb::BackendError> {
        self.0.unlock_range(start, end)
    }
    fn query_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, redb::BackendError> {
        self.0.query_lock_range(start, end)
    }
}
