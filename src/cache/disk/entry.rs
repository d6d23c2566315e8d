//! The stored entry format: the tables of the database file, and what is stored
//! under a key (sequence number, key hash, encoded value) so that a damaged page is
//! caught on read, and what an entry weighs against the capacity.

use redb::TableDefinition;

use crate::cache::codec;

/// Stored key → sequence number (u64 LE), a hash of the key (xxh3-64 LE), then the
/// encoded value. redb does not verify page checksums on reads, so a damaged page can
/// hand back altered bytes, or another key's value: the key hash and the value's own
/// checksum catch both, and such a read is a miss that rebuilds the file.
pub(crate) const ENTRIES: TableDefinition<&str, &[u8]> = TableDefinition::new("entries");
/// Sequence number → stored key, oldest first: the eviction order.
pub(crate) const ORDER: TableDefinition<u64, &str> = TableDefinition::new("order");
/// `bytes` (sum of entry weights) and `next_seq`.
pub(crate) const META: TableDefinition<&str, u64> = TableDefinition::new("meta");

/// Bytes an entry counts for beyond its key and value (redb's per-entry overhead, an
/// estimate).
const ENTRY_OVERHEAD_BYTES: usize = 16;
/// Bytes of the sequence number stored in front of each value.
pub(crate) const SEQ_BYTES: usize = 8;
/// Bytes of the key hash stored after the sequence number.
const KEY_HASH_BYTES: usize = 8;
/// Where the encoded value starts in a stored entry.
pub(crate) const VALUE_AT: usize = SEQ_BYTES + KEY_HASH_BYTES;

/// Bytes an entry counts for against the capacity.
pub(crate) fn weight(key: &str, stored_len: usize) -> u64 {
    (key.len() + stored_len + ENTRY_OVERHEAD_BYTES) as u64
}

/// What is stored for `key`: sequence number, key hash, value.
pub(crate) fn stored_entry(seq: u64, key: &str, value: &[u8]) -> Vec<u8> {
    let mut stored = Vec::with_capacity(VALUE_AT + value.len());
    stored.extend_from_slice(&seq.to_le_bytes());
    stored.extend_from_slice(&xxhash_rust::xxh3::xxh3_64(key.as_bytes()).to_le_bytes());
    stored.extend_from_slice(value);
    stored
}

/// The value of a stored entry read under `key`; `None` when the entry is not what
/// was written for that key (a damaged page): wrong key hash or a value that fails
/// its checksum.
pub(crate) fn checked_value(key: &str, stored: &[u8]) -> Option<Vec<u8>> {
    let hash = stored.get(SEQ_BYTES..VALUE_AT)?;
    let value = stored.get(VALUE_AT..)?;
    (hash == xxhash_rust::xxh3::xxh3_64(key.as_bytes()).to_le_bytes() && codec::is_intact(value))
        .then(|| value.to_vec())
}

/// The sequence number stored in front of a value.
pub(crate) fn seq_of(stored: &[u8]) -> Option<u64> {
    stored.get(..SEQ_BYTES).and_then(|b| b.try_into().ok()).map(u64::from_le_bytes)
}
