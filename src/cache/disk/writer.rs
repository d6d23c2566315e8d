//! The writer thread: batches puts into transactions, runs clears and flushes in
//! order, and keeps the tier healthy.
//!
//! - Damage found while serving (a read or write reports corruption, or redb panics):
//!   the file is moved aside and rebuilt empty, once, with one log line.
//! - An environment failure (disk full, I/O error): the tier goes down with the reason
//!   (`GET /cache` shows it, reads and writes skip it), one log line, and the thread
//!   reopens the file with a growing back-off until a write succeeds again, then logs
//!   that the tier is back. redb refuses every write after an I/O error until the
//!   database is reopened, so reopening is the only way back.

use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError, TryRecvError};
use std::sync::Arc;
use std::time::Duration;

use redb::{Database, ReadableTable, ReadableTableMetadata};

use super::entry::{seq_of, stored_entry, weight, ENTRIES, META, ORDER};
use super::open::{is_corruption, OpenError};
use super::{Command, DiskError, Shared, BATCH};
use crate::cache::health::Backoff;
use crate::cache::stats::TierCounters;

/// Waits before reopening a tier that went down: 250 ms, doubled after each failed
/// attempt up to 30 s.
pub const RETRY: Backoff = Backoff { first: Duration::from_millis(250), max: Duration::from_secs(30) };

/// Runs `f`, turning a panic inside redb into a corruption error.
pub fn catch<T>(f: impl FnOnce() -> Result<T, redb::Error>) -> Result<T, redb::Error> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
        .unwrap_or_else(|_| Err(redb::Error::Corrupted("the database library panicked".into())))
}

/// The thread's loop.
pub(crate) fn run(shared: &Shared, rx: &Receiver<Command>, capacity: u64) {
    let mut puts: Vec<(String, Vec<u8>)> = Vec::new();
    loop {
        let first = if shared.is_up() {
            match rx.recv() {
                Ok(command) => command,
                Err(_) => break,
            }
        } else {
            match rx.recv_timeout(shared.health.retry_delay()) {
                Ok(command) => command,
                Err(RecvTimeoutError::Timeout) => {
                    if !reopen(shared) {
                        shared.health.retry_failed();
                    }
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => break,
            }
        };
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
                    commit(shared, &mut puts, capacity);
                    let result = match shared.database() {
                        Some(db) => catch(|| clear(&db, prefix.as_deref())).map_err(|e| {
                            failed(shared, &e);
                            DiskError::from(e)
                        }),
                        None => Err(DiskError::Down(shared.down_reason().unwrap_or_default())),
                    };
                    let _ = done.send(result);
                }
                Command::Flush(done) => {
                    commit(shared, &mut puts, capacity);
                    let _ = done.send(());
                }
                Command::Damaged(reason) => rebuild(shared, &reason),
            }
        }
        commit(shared, &mut puts, capacity);
    }
}

/// Commits the queued puts if the tier is up (else drops them, counted).
fn commit(shared: &Shared, puts: &mut Vec<(String, Vec<u8>)>, capacity: u64) {
    let Some(db) = shared.database() else {
        shared.counters.error(puts.len() as u64);
        puts.clear();
        return;
    };
    if let Err(e) = commit_puts(&db, puts, capacity, &shared.counters) {
        drop(db);
        failed(shared, &e);
    }
}

/// Reacts to a failed operation: rebuild on damage, go down on an environment error.
fn failed(shared: &Shared, error: &redb::Error) {
    if is_corruption(error) {
        rebuild(shared, &error.to_string());
    } else {
        shared.go_down(error.to_string());
    }
}

/// Moves a damaged file aside and opens an empty one (down with the reason if that
/// fails; the retry loop takes over).
fn rebuild(shared: &Shared, reason: &str) {
    if shared.take_database(reason).is_none() {
        return; // already down: the retry loop reopens (and rebuilds) it
    }
    let outcome = shared.opener.quarantine(reason).and_then(|_| shared.opener.open_or_rebuild());
    match outcome {
        Ok(db) => shared.set_up(Arc::new(db)),
        Err(e) => shared.go_down(e.to_string()),
    }
}

/// One reopen attempt of a tier that is down. Returns whether it is up again.
fn reopen(shared: &Shared) -> bool {
    match shared.opener.open_checked() {
        Ok(db) => {
            shared.set_up(Arc::new(db));
            true
        }
        Err(OpenError::Corrupt(reason)) => {
            let outcome = shared.opener.quarantine(&reason).and_then(|_| shared.opener.open_or_rebuild());
            match outcome {
                Ok(db) => {
                    shared.set_up(Arc::new(db));
                    true
                }
                Err(_) => false,
            }
        }
        Err(OpenError::Fatal(_)) => false,
    }
}

/// Commits the queued puts in one transaction, evicting the oldest entries past the
/// byte bound. A panic inside redb is reported as corruption.
fn commit_puts(
    db: &Database,
    puts: &mut Vec<(String, Vec<u8>)>,
    capacity: u64,
    counters: &TierCounters,
) -> Result<(), redb::Error> {
    if puts.is_empty() {
        return Ok(());
    }
    let count = puts.len() as u64;
    let mut evicted = 0u64;
    let result = catch(|| -> Result<(), redb::Error> {
        let txn = db.begin_write()?;
        {
            let mut entries = txn.open_table(ENTRIES)?;
            let mut order = txn.open_table(ORDER)?;
            let mut meta = txn.open_table(META)?;
            let mut bytes = meta.get("bytes")?.map_or(0, |v| v.value());
            let mut seq = meta.get("next_seq")?.map_or(0, |v| v.value());
            for (key, value) in puts.drain(..) {
                let stored = stored_entry(seq, &key, &value);
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
    });
    match result {
        Ok(()) => {
            counters.writes.fetch_add(count, Ordering::Relaxed);
            counters.evictions.fetch_add(evicted, Ordering::Relaxed);
            Ok(())
        }
        Err(e) => {
            puts.clear();
            counters.error(count);
            Err(e)
        }
    }
}

/// Deletes every entry, or those whose key starts with `prefix`.
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
