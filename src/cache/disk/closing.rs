//! Closing a database without taking a thread down.
//!
//! redb commits and trims the file when a `Database` is dropped. On a damaged file that
//! close can panic inside redb (seen in CI: "entered unreachable code" in redb's
//! `btree_cursor.rs`, from `Database::drop`, while the writer dropped a damaged file to
//! rebuild it; the writer thread died and the tier never came back). Whoever holds the
//! last reference closes the file: the writer thread, or a read on the blocking pool.
//! So the close is guarded where every holder drops it: in [`CatchOnDrop`].

use std::mem::ManuallyDrop;
use std::ops::Deref;
use std::panic::AssertUnwindSafe;

use redb::Database;

/// An open database whose close never panics (see the module docs).
pub type Db = CatchOnDrop<Database>;

/// Owns a `T` and drops it inside `catch_unwind`: a panic in `T`'s `Drop` is logged
/// (one warning) instead of unwinding into the thread that let go of it.
pub struct CatchOnDrop<T>(ManuallyDrop<T>);

impl<T> CatchOnDrop<T> {
    /// Wraps `value`.
    pub fn new(value: T) -> Self {
        Self(ManuallyDrop::new(value))
    }
}

impl<T> Deref for CatchOnDrop<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> Drop for CatchOnDrop<T> {
    fn drop(&mut self) {
        // SAFETY: `self.0` is taken exactly once, here, and `self` is never used after
        // `drop` returns.
        let value = unsafe { ManuallyDrop::take(&mut self.0) };
        if std::panic::catch_unwind(AssertUnwindSafe(move || drop(value))).is_err() {
            tracing::warn!("closing the disk cache file panicked inside the database library; the file is left as is");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use super::CatchOnDrop;

    /// Panics when dropped, after counting the drop.
    struct PanicsOnDrop(Arc<AtomicUsize>);

    impl Drop for PanicsOnDrop {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
            panic!("a close that panics, as redb's can on a damaged file");
        }
    }

    #[test]
    fn a_panicking_close_stays_inside_the_wrapper_and_runs_once() {
        let drops = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&drops);
        // The last reference is dropped on another thread, as a read on the blocking
        // pool can be the last holder; that thread must finish normally.
        let shared = Arc::new(CatchOnDrop::new(PanicsOnDrop(counted)));
        let other = Arc::clone(&shared);
        drop(shared);
        let joined = std::thread::spawn(move || drop(other)).join();
        assert!(joined.is_ok(), "the panic escaped the wrapper");
        assert_eq!(drops.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn the_value_is_reachable_through_the_wrapper() {
        let wrapped = CatchOnDrop::new(vec![1, 2, 3]);
        assert_eq!(wrapped.len(), 3);
        assert_eq!(wrapped[2], 3);
    }
}
