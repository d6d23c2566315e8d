use std::io;
use std::sync::{Arc, Mutex};

use tracing_subscriber::fmt::MakeWriter;

use super::*;

/// A fixed timestamp, so two formats' lines compare whole.
#[derive(Clone)]
struct Fixed;

impl FormatTime for Fixed {
    fn format_time(&self, w: &mut Writer<'_>) -> fmt::Result {
        w.write_str("2026-12-01T08:25:01.123456Z")
    }
}

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;

    fn make_writer(&'a self) -> Captured {
        self.clone()
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

#[derive(Debug, thiserror::Error)]
#[error("outer \u{1b}[31mfailure")]
struct Outer(#[source] Inner);

#[derive(Debug, thiserror::Error)]
#[error("inner cause\u{9b}")]
struct Inner;

/// Every kind of field, level, span nesting and escape the server's lines carry.
fn emit() {
    tracing::info!(target: "sentiserve::http", id = %"c8133541-2832", method = %"POST", path = %"/analyze", status = 200u64, latency_us = 121u64, "finished processing request");
    tracing::warn!(count = -3i64, ratio = 0.25f64, ok = true, name = "quoted \"str\"", list = ?vec![1, 2], "plain");
    tracing::error!(
        r#type = "raw",
        big = u128::MAX,
        "message with \u{1b}[2J escape, \u{85} C1, a bell \u{7} and DEL \u{7f}; é ok"
    );
    tracing::debug!("no fields");
    tracing::trace!(only = 1u64);
    let error = Outer(Inner);
    tracing::error!(error = &error as &(dyn std::error::Error + 'static), "with sources");
    tracing::error!(error = &Inner as &(dyn std::error::Error + 'static), "without sources");
    let outer = tracing::info_span!("request", model = "bench", n = 2u64);
    let _outer = outer.enter();
    let empty = tracing::info_span!("empty");
    let _empty = empty.enter();
    tracing::info!(message = "message as a field", after = 1u64);
    tracing::info!(log.target = "bridged::target", log.module_path = "m", log.line = 7u64, "from the log crate");
}

#[test]
fn lines_equal_the_default_formats_without_colours() {
    let theirs = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(theirs.clone())
        .with_ansi(false)
        .with_timer(Fixed)
        .with_max_level(Level::TRACE)
        .finish();
    tracing::subscriber::with_default(subscriber, emit);
    let ours = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(ours.clone())
        .with_ansi(false)
        .with_max_level(Level::TRACE)
        .fmt_fields(PlainFields)
        .event_format(PlainText::with_timer(Fixed))
        .finish();
    tracing::subscriber::with_default(subscriber, emit);
    let (theirs, ours) = (theirs.text(), ours.text());
    assert_eq!(theirs.lines().count(), 9, "{theirs}");
    for (a, b) in theirs.lines().zip(ours.lines()) {
        assert_eq!(b, a);
    }
    assert_eq!(ours, theirs);
    // The escapes happened (both formats), and the field forms are as documented.
    assert!(ours.contains("message with \\x1b[2J escape, \\u{85} C1, a bell \\x07 and DEL \\x7f; é ok"), "{ours}");
    assert!(ours.contains(" status=200 latency_us=121\n"), "{ours}");
    assert!(ours.contains("error=outer \\x1b[31mfailure error.sources=[inner cause\\u{9b}]"), "{ours}");
    assert!(ours.contains("request{model=\"bench\" n=2}:empty: "), "{ours}");
}

#[test]
fn integers_are_written_in_full() {
    let mut out = String::new();
    for value in [0, 7, 10, 1_234_567_890, u64::MAX] {
        write_u64(&mut Writer::new(&mut out), value).unwrap();
        out.push(' ');
    }
    assert_eq!(out, format!("0 7 10 1234567890 {} ", u64::MAX));
}
