//! The server's log writer: a request pays one short lock and a copy of its formatted
//! line; a writer thread writes the lines out in batches.
//!
//! `tracing-appender`'s non-blocking writer hands each line to its thread through a
//! channel and wakes the thread (a futex call) for nearly every line, and the thread
//! makes one `write` per line. Under a cache-hit load that was a tenth of the
//! server's CPU (`perf`, `make bench`'s hit path). Here lines are appended to a shared
//! buffer; the thread is woken only when it sleeps with nothing to write (so a lone
//! line is written at once), and after each write it waits [`COALESCE`] for more
//! lines instead, so a busy server's lines go out together in one `write` per batch
//! with no wake-up at all. Nothing is dropped: past [`MAX_PENDING_BYTES`] waiting, the
//! line's own thread writes the batch itself. Order is kept. Dropping the
//! [`FlushGuard`] writes out what is pending.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

/// How long the writer thread lets lines gather after a write, while lines keep
/// coming (the most a line waits under load).
pub const COALESCE: Duration = Duration::from_millis(2);

/// Bytes waiting past which a logging thread writes the batch itself (the writer
/// thread is behind; lines are never dropped).
pub const MAX_PENDING_BYTES: usize = 8 << 20;

/// Largest emptied batch buffer kept for the next batch, bytes (a burst's bigger
/// buffer is freed).
pub const MAX_SPARE_BYTES: usize = 1 << 20;

/// Where the batches go: stderr, or (tests) any writer.
type Sink = Box<dyn Write + Send>;

/// The output and the emptied buffer of the last batch written to it.
struct Output {
    sink: Sink,
    /// Swapped in for the pending lines when a batch is taken, so that appending
    /// lines reuses its capacity instead of growing a new buffer from nothing (and
    /// faulting in fresh pages) every batch.
    spare: Vec<u8>,
}

struct Shared {
    /// Lines not yet written.
    pending: Mutex<Vec<u8>>,
    /// The output; held while a batch is taken and written, so batches keep their
    /// order whoever writes them.
    output: Mutex<Output>,
    /// Set while the writer thread waits for a line (only then does a line wake it).
    idle: AtomicBool,
    wake: Condvar,
    stop: AtomicBool,
}

impl Shared {
    fn pending(&self) -> MutexGuard<'_, Vec<u8>> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes what is pending and writes it (returns whether there was anything).
    fn write_batch(&self) -> bool {
        let mut output = self.output.lock().unwrap_or_else(|p| p.into_inner());
        let Output { sink, spare } = &mut *output;
        let mut batch = std::mem::take(spare);
        std::mem::swap(&mut batch, &mut *self.pending());
        let written = !batch.is_empty();
        if written {
            // Nowhere to report a failing stderr; the lines are lost, as with eprintln!.
            let _ = sink.write_all(&batch).and_then(|()| sink.flush());
            batch.clear();
        }
        if batch.capacity() <= MAX_SPARE_BYTES {
            *spare = batch;
        }
        written
    }
}

/// A `MakeWriter` for `tracing_subscriber::fmt` whose writes append to the batch.
#[derive(Clone)]
pub struct BatchedWriter {
    shared: Arc<Shared>,
}

/// Stops the writer thread and writes out what is pending, when dropped.
pub struct FlushGuard {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

/// A writer to stderr and its guard (keep the guard until exit).
///
/// Errors: the writer thread could not be spawned.
pub fn stderr() -> std::io::Result<(BatchedWriter, FlushGuard)> {
    to(Box::new(std::io::stderr()))
}

/// A writer to `sink` and its guard.
///
/// Errors: the writer thread could not be spawned.
pub fn to(sink: Sink) -> std::io::Result<(BatchedWriter, FlushGuard)> {
    let shared = Arc::new(Shared {
        pending: Mutex::new(Vec::with_capacity(64 << 10)),
        output: Mutex::new(Output { sink, spare: Vec::with_capacity(64 << 10) }),
        idle: AtomicBool::new(false),
        wake: Condvar::new(),
        stop: AtomicBool::new(false),
    });
    let worker = Arc::clone(&shared);
    let thread = std::thread::Builder::new().name("log-writer".into()).spawn(move || run(&worker))?;
    Ok((BatchedWriter { shared: Arc::clone(&shared) }, FlushGuard { shared, thread: Some(thread) }))
}

/// The writer thread (see the module docs).
fn run(shared: &Shared) {
    while !shared.stop.load(Ordering::Acquire) {
        if shared.write_batch() {
            std::thread::sleep(COALESCE);
            continue;
        }
        let pending = shared.pending();
        shared.idle.store(true, Ordering::SeqCst);
        // A line appended before `idle` was set is seen here; one appended after it
        // wakes us.
        let pending = if pending.is_empty() && !shared.stop.load(Ordering::Acquire) {
            shared.wake.wait(pending).unwrap_or_else(|p| p.into_inner())
        } else {
            pending
        };
        shared.idle.store(false, Ordering::SeqCst);
        drop(pending);
    }
    shared.write_batch();
}

impl Drop for FlushGuard {
    fn drop(&mut self) {
        {
            let _pending = self.shared.pending();
            self.shared.stop.store(true, Ordering::Release);
            self.shared.wake.notify_all();
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        self.shared.write_batch();
    }
}

impl Write for BatchedWriter {
    fn write(&mut self, line: &[u8]) -> std::io::Result<usize> {
        let mut pending = self.shared.pending();
        pending.extend_from_slice(line);
        let over = pending.len() > MAX_PENDING_BYTES;
        if self.shared.idle.load(Ordering::SeqCst) || self.shared.stop.load(Ordering::Acquire) {
            self.shared.wake.notify_one();
        }
        drop(pending);
        if over || self.shared.stop.load(Ordering::Acquire) {
            self.shared.write_batch();
        }
        Ok(line.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for BatchedWriter {
    type Writer = BatchedWriter;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sink the test reads back.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Captured {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    #[test]
    fn a_lone_line_is_written_without_waiting_for_more() {
        let sink = Captured::default();
        let (mut writer, _guard) = to(Box::new(sink.clone())).unwrap();
        writer.write_all(b"one line\n").unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while sink.text().is_empty() {
            assert!(std::time::Instant::now() < deadline, "the line was never written");
            std::thread::yield_now();
        }
        assert_eq!(sink.text(), "one line\n");
    }

    #[test]
    fn lines_from_many_threads_all_arrive_whole_and_in_each_threads_order() {
        let sink = Captured::default();
        let (writer, guard) = to(Box::new(sink.clone())).unwrap();
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let mut writer = writer.clone();
                std::thread::spawn(move || {
                    for i in 0..5000 {
                        writer.write_all(format!("thread {t} line {i}\n").as_bytes()).unwrap();
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        drop(guard);
        let text = sink.text();
        let mut next = [0usize; 4];
        for line in text.lines() {
            let words: Vec<&str> = line.split(' ').collect();
            let (t, i): (usize, usize) = (words[1].parse().unwrap(), words[3].parse().unwrap());
            assert_eq!(i, next[t], "thread {t} out of order: {line}");
            next[t] += 1;
        }
        assert_eq!(next, [5000; 4], "every line arrives once");
    }

    #[test]
    fn dropping_the_guard_writes_what_is_pending() {
        let sink = Captured::default();
        let (mut writer, guard) = to(Box::new(sink.clone())).unwrap();
        for i in 0..1000 {
            writer.write_all(format!("{i}\n").as_bytes()).unwrap();
        }
        drop(guard);
        assert_eq!(sink.text().lines().count(), 1000);
        writer.write_all(b"after the guard\n").unwrap();
        assert!(sink.text().ends_with("after the guard\n"), "a line after shutdown is written by its thread");
    }
}
