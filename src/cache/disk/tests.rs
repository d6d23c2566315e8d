//! The disk tier under damage and a full disk: a corruption matrix at open and while
//! serving, and an injected `ENOSPC` that takes the tier down and lets it come back.

use std::io::{Seek, SeekFrom, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use super::faults::DiskFull;
use super::*;
use crate::model::{Logits, Prediction};

const ENTRIES_WRITTEN: usize = 400;
const WAIT: Duration = Duration::from_secs(30);
/// redb's page size on these machines (the OS page size).
const PAGE: usize = 4096;

fn config(dir: &Path) -> DiskConfig {
    DiskConfig { dir: dir.to_path_buf(), capacity_bytes: 1 << 30 }
}

fn key(i: usize) -> String {
    format!("m:v{}:fp:{i:032x}", codec::FORMAT_VERSION)
}

fn value(i: usize) -> Vec<u8> {
    let logits: Vec<f32> = (0..64).map(|j| (i * 64 + j) as f32).collect();
    codec::encode(&Prediction { logits: Logits::from(logits), truncated: false }, 0)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

/// A database file holding `ENTRIES_WRITTEN` entries.
fn pristine(dir: &Path, rt: &tokio::runtime::Runtime) -> Vec<u8> {
    let tier = DiskTier::open(&config(dir)).unwrap();
    for i in 0..ENTRIES_WRITTEN {
        tier.put(&key(i), value(i), None);
    }
    rt.block_on(tier.flush());
    tier.close();
    std::fs::read(dir.join(FILE_NAME)).unwrap()
}

fn moved_aside(dir: &Path) -> bool {
    std::fs::read_dir(dir).unwrap().flatten().any(|e| e.file_name().to_string_lossy().contains("corrupt-"))
}

/// Bytes from the start of the file to its first all-zero page: where redb put the
/// header and the live B-tree pages (the rest of a fresh file is preallocated space).
fn live_extent(file: &[u8]) -> usize {
    file.chunks(PAGE).position(|page| page.iter().all(|b| *b == 0)).map_or(file.len(), |p| p * PAGE)
}

/// Deterministic bytes that are not a database.
fn garbage(len: usize, seed: u32) -> Vec<u8> {
    (0..len as u32).map(|i| (i.wrapping_add(seed).wrapping_mul(2_654_435_761) >> 13) as u8).collect()
}

/// A way of damaging a file's bytes.
type Damage = Box<dyn Fn(&mut Vec<u8>)>;

/// Every way of damaging a file of `len` bytes whose live pages end at `live`:
/// truncations, overwrites of several sizes, zeroed pages, all garbage, empty. Most
/// offsets fall among the live pages, where damage matters.
fn damages(len: usize, live: usize) -> Vec<(String, Damage)> {
    let mut out: Vec<(String, Damage)> = Vec::new();
    for at in [1, 100, 511, 4096, live / 4, live / 2, live - 1, len / 2, len - 4096, len - 1] {
        out.push((format!("truncated at {at}"), Box::new(move |f: &mut Vec<u8>| f.truncate(at))));
    }
    for at in [0, 512, 4096, live / 3, live / 2, 2 * live / 3, live - 8192, len / 2] {
        for size in [1, 64, 4096, 65_536] {
            out.push((
                format!("{size} bytes overwritten at {at}"),
                Box::new(move |f: &mut Vec<u8>| {
                    let end = (at + size).min(f.len());
                    f[at..end].copy_from_slice(&garbage(end - at, at as u32));
                }),
            ));
        }
    }
    for page in [0, 1, 2, live / PAGE / 3, live / PAGE / 2, live / PAGE - 1, len / PAGE - 1] {
        out.push((
            format!("page {page} zeroed"),
            Box::new(move |f: &mut Vec<u8>| {
                let (start, end) = (page * PAGE, ((page + 1) * PAGE).min(f.len()));
                f[start..end].fill(0);
            }),
        ));
    }
    out.push(("all garbage".into(), Box::new(move |f: &mut Vec<u8>| *f = garbage(f.len(), 7))));
    out.push(("empty".into(), Box::new(|f: &mut Vec<u8>| f.clear())));
    out
}

/// Reads every key: each answer is a miss or exactly what was written, never a wrong
/// value or a panic.
fn check_reads(tier: &DiskTier, rt: &tokio::runtime::Runtime, what: &str) -> usize {
    let mut found = 0;
    for i in 0..ENTRIES_WRITTEN {
        if let Ok(Some(bytes)) = rt.block_on(tier.get(&key(i))) {
            assert_eq!(bytes, value(i), "{what}: entry {i} came back altered");
            found += 1;
        }
    }
    found
}

/// The tier serves: a new entry is written and read back.
fn check_serving(tier: &DiskTier, rt: &tokio::runtime::Runtime, what: &str) {
    tier.put("fresh", value(9_999), None);
    rt.block_on(tier.flush());
    assert!(tier.is_up(), "{what}: tier down: {:?}", tier.shared.down_reason());
    assert_eq!(rt.block_on(tier.get("fresh")).unwrap(), Some(value(9_999)), "{what}: the tier does not serve");
}

#[test]
fn every_damaged_file_is_moved_aside_or_proven_intact_and_the_tier_serves() {
    let rt = runtime();
    let source = tempfile::tempdir().unwrap();
    let file = pristine(source.path(), &rt);
    let mut rebuilt = 0;
    let cases = damages(file.len(), live_extent(&file));
    for (what, damage) in &cases {
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = file.clone();
        damage(&mut bytes);
        std::fs::write(dir.path().join(FILE_NAME), &bytes).unwrap();
        let tier = DiskTier::open(&config(dir.path())).unwrap_or_else(|e| panic!("{what}: open failed: {e}"));
        let found = check_reads(&tier, &rt, what);
        if moved_aside(dir.path()) {
            rebuilt += 1;
            assert_eq!(found, 0, "{what}: a rebuilt tier starts empty");
        } else if bytes.is_empty() {
            // redb takes an empty file for a new database: nothing to move aside.
            assert_eq!(found, 0, "{what}: an empty file holds nothing");
        } else {
            assert_eq!(found, ENTRIES_WRITTEN, "{what}: a file that passed the integrity check lost entries");
        }
        check_serving(&tier, &rt, what);
        tier.close();
    }
    // Damage to live pages is the common case: most of the matrix must be caught.
    assert!(rebuilt * 2 > cases.len(), "only {rebuilt} of {} damaged files were detected", cases.len());
}

#[test]
fn damage_while_serving_never_serves_a_wrong_value_and_the_tier_recovers() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let tier = DiskTier::open_with(&config(dir.path()), None, 0).unwrap();
    for i in 0..ENTRIES_WRITTEN {
        tier.put(&key(i), value(i), None);
    }
    rt.block_on(tier.flush());
    let live = live_extent(&std::fs::read(dir.path().join(FILE_NAME)).unwrap());
    // Overwrite the middle third of the live pages behind the database's back.
    let mut file = std::fs::OpenOptions::new().write(true).open(dir.path().join(FILE_NAME)).unwrap();
    file.seek(SeekFrom::Start((live / 3) as u64)).unwrap();
    file.write_all(&garbage(live / 3, 3)).unwrap();
    file.sync_all().unwrap();
    drop(file);

    let found = check_reads(&tier, &rt, "damaged while serving");
    assert!(found < ENTRIES_WRITTEN, "the damage must be visible to reads");
    // A read that hit the damage had the writer rebuild the file; wait for it.
    let deadline = Instant::now() + WAIT;
    while !(moved_aside(dir.path()) && tier.is_up()) {
        assert!(Instant::now() < deadline, "the damaged file was never moved aside");
        std::thread::sleep(Duration::from_millis(10));
    }
    check_serving(&tier, &rt, "after the rebuild");
    tier.close();
}

#[test]
fn a_full_disk_takes_the_tier_down_with_the_reason_and_it_comes_back() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let full = DiskFull::default();
    let tier = DiskTier::open_with(&config(dir.path()), Some(full.factory()), open::READ_CACHE_BYTES).unwrap();
    for i in 0..10 {
        tier.put(&key(i), value(i), None);
    }
    rt.block_on(tier.flush());
    assert_eq!(rt.block_on(tier.stats()).writes, 10);

    full.set(true);
    for i in 10..20 {
        tier.put(&key(i), value(i), None);
    }
    rt.block_on(tier.flush());
    let stats = rt.block_on(tier.stats());
    assert!(!stats.up, "{stats:?}");
    let reason = stats.error.clone().unwrap_or_default();
    assert!(reason.contains("No space left") || reason.contains("os error 28"), "{reason}");
    assert!(!tier.is_up(), "the front skips a down tier");
    assert!(stats.errors >= 10, "{stats:?}");

    // Space returns: the writer reopens the file by itself.
    full.set(false);
    let deadline = Instant::now() + WAIT;
    while !tier.is_up() {
        assert!(Instant::now() < deadline, "the tier never came back: {:?}", tier.shared.down_reason());
        std::thread::sleep(Duration::from_millis(10));
    }
    for i in 0..10 {
        assert_eq!(rt.block_on(tier.get(&key(i))).unwrap(), Some(value(i)), "entry {i} written before the outage");
    }
    check_serving(&tier, &rt, "after the outage");
    assert!(rt.block_on(tier.stats()).up);
    tier.close();
}
