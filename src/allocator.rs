//! glibc `malloc` settings for inference: keep large activation buffers in the heap.
//!
//! A forward pass allocates and frees buffers of megabytes (a batch of 32 MiniLM texts'
//! feed-forward activations: ~1,600 tokens × 1,536 × 4 bytes ≈ 10 MB). glibc serves
//! such sizes with a fresh `mmap` (the threshold starts at 128 KiB and only creeps up)
//! and returns freed heap tops to the kernel past 128 KiB, so every forward pass paid
//! page faults and the kernel's zeroing of every page, on the thread the other cores
//! wait for: 5% of a batched int8 MiniLM profile (`perf`, Zen 5), and batched
//! throughput rose ~10% without it. [`keep_large_buffers`] raises the `mmap` threshold
//! to glibc's maximum (32 MiB) and the trim threshold to [`TRIM_THRESHOLD_BYTES`]: the
//! process keeps up to that much freed memory for the next pass instead of handing it
//! back (its resident size stays near its peak, as a model server's does anyway).
//!
//! Nothing is changed when `GLIBC_TUNABLES` or `MALLOC_MMAP_THRESHOLD_` /
//! `MALLOC_TRIM_THRESHOLD_` are set (the operator chose), or off glibc.

/// Largest allocation served from the heap, bytes (glibc's maximum on 64-bit).
pub const MMAP_THRESHOLD_BYTES: i32 = 32 << 20;

/// Freed memory at the top of the heap kept for reuse, bytes.
pub const TRIM_THRESHOLD_BYTES: i32 = 256 << 20;

/// Applies the settings above, once per process (idempotent). Returns whether they
/// were applied: false off glibc, or when the environment sets malloc tunables.
pub fn keep_large_buffers() -> bool {
    let chosen = ["GLIBC_TUNABLES", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_"]
        .iter()
        .any(|name| std::env::var_os(name).is_some());
    !chosen && apply()
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn apply() -> bool {
    // From glibc's <malloc.h>.
    const M_TRIM_THRESHOLD: i32 = -1;
    const M_MMAP_THRESHOLD: i32 = -3;
    extern "C" {
        fn mallopt(param: i32, value: i32) -> i32;
    }
    // SAFETY: `mallopt` only sets allocator parameters; glibc documents it as safe to
    // call at any time (it takes the arena lock). It returns 1 on success.
    unsafe {
        mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) == 1 && mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES) == 1
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn apply() -> bool {
    false
}

#[cfg(all(test, target_os = "linux", target_env = "gnu"))]
mod tests {
    /// `RUSAGE_THREAD`: the calling thread's counts (other tests run beside this one).
    const RUSAGE_THREAD: i32 = 1;

    /// Minor page faults of this thread so far.
    fn minor_faults() -> i64 {
        // SAFETY: getrusage fills the struct it is given.
        unsafe {
            let mut usage = std::mem::zeroed::<Rusage>();
            assert_eq!(getrusage(RUSAGE_THREAD, &mut usage), 0);
            usage.minflt
        }
    }

    /// `struct rusage` up to `ru_minflt` (glibc, x86-64 and aarch64 layout: two
    /// timevals, then longs), padded to the full size.
    #[repr(C)]
    struct Rusage {
        utime: [i64; 2],
        stime: [i64; 2],
        maxrss: i64,
        ixrss: i64,
        idrss: i64,
        isrss: i64,
        minflt: i64,
        rest: [i64; 9],
    }

    extern "C" {
        fn getrusage(who: i32, usage: *mut Rusage) -> i32;
    }

    #[test]
    fn a_freed_large_buffer_is_reused_without_page_faults() {
        if std::env::var_os("GLIBC_TUNABLES").is_some() {
            println!("NOT RUN: GLIBC_TUNABLES is set, so the settings are left to it");
            return;
        }
        assert!(super::keep_large_buffers());
        // Three 8 MB buffers at once, as a forward pass's activations: freed, they leave
        // 24 MB at the heap's top, which glibc's own adaptive thresholds (8 MB mmap, 16
        // MB trim after the first free) would hand back and fault in again.
        let bytes = 8 << 20;
        let pass = || {
            let buffers: Vec<Vec<u8>> = (0..3).map(|_| std::hint::black_box(vec![1u8; bytes])).collect();
            drop(buffers);
        };
        pass();
        let before = minor_faults();
        for _ in 0..4 {
            pass();
        }
        let faults = minor_faults() - before;
        let pages = (4 * 3 * bytes / 4096) as i64;
        assert!(faults < pages / 10, "{faults} page faults in 4 passes over {pages} pages");
    }
}
