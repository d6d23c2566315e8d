//! The server's plain-text log lines, byte for byte what `tracing-subscriber`'s default
//! (`Full`) format writes without colours, for less work per line:
//!
//! `2026-12-01T08:25:01.123456Z  INFO span{a=1}: target: message key=value …`
//!
//! The default format paints the level, target and every field name through
//! `nu_ansi_term` even when colours are off, and escapes the message one `char` at a
//! time through a `fmt::Write` trait object; on a cache hit the request's log line
//! cost as much as the rest of the request's routing (`perf`, `examples/hit_inproc.rs`).
//! Here the fixed parts are written as strings, integers without `fmt`, and the
//! message is escaped in runs. The escaping is the default's: ESC, BEL, BS, FF, DEL
//! and the C1 controls (U+0080–U+009F) in a message or an error's text become `\x1b`,
//! `\u{9b}` and so on, so a client-chosen string cannot inject terminal sequences.
//!
//! Events bridged from the `log` crate (their fields `log.target`, …) are handed to the
//! default format, which reads their real target from those fields.

use std::fmt::{self, Write};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::{Format, Full, Writer};
use tracing_subscriber::fmt::time::FormatTime;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

use crate::log_time::CachedSecondTime;

/// The event format (`tracing_subscriber::fmt().event_format(PlainText::default())`,
/// with [`PlainFields`] as the field format and colours off), timestamps by `T`.
pub struct PlainText<T = CachedSecondTime> {
    timer: T,
    /// For events bridged from the `log` crate.
    bridged: Format<Full, T>,
}

impl Default for PlainText {
    fn default() -> Self {
        Self::with_timer(CachedSecondTime)
    }
}

impl<T: FormatTime + Clone> PlainText<T> {
    /// The format with timestamps by `timer`.
    pub fn with_timer(timer: T) -> Self {
        Self { timer: timer.clone(), bridged: Format::default().with_timer(timer).with_ansi(false) }
    }
}

impl<S, N, T> FormatEvent<S, N> for PlainText<T>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    T: FormatTime,
{
    fn format_event(&self, ctx: &FmtContext<'_, S, N>, mut writer: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        let meta = event.metadata();
        if meta.fields().field("log.target").is_some() {
            return self.bridged.format_event(ctx, writer, event);
        }
        if self.timer.format_time(&mut writer).is_err() {
            writer.write_str("<unknown time>")?;
        }
        writer.write_str(match *meta.level() {
            Level::TRACE => " TRACE ",
            Level::DEBUG => " DEBUG ",
            Level::INFO => "  INFO ",
            Level::WARN => "  WARN ",
            Level::ERROR => " ERROR ",
        })?;
        if let Some(scope) = ctx.event_scope() {
            let mut seen = false;
            for span in scope.from_root() {
                writer.write_str(span.metadata().name())?;
                seen = true;
                let extensions = span.extensions();
                if let Some(fields) = extensions.get::<FormattedFields<N>>() {
                    if !fields.is_empty() {
                        writer.write_char('{')?;
                        writer.write_str(fields)?;
                        writer.write_char('}')?;
                    }
                }
                writer.write_char(':')?;
            }
            if seen {
                writer.write_char(' ')?;
            }
        }
        writer.write_str(meta.target())?;
        writer.write_str(": ")?;
        ctx.format_fields(writer.by_ref(), event)?;
        writer.write_char('\n')
    }
}

/// The field format: `message key=value …`, values as `Debug` writes them (strings
/// quoted), as the default's.
#[derive(Debug, Default, Clone, Copy)]
pub struct PlainFields;

impl<'writer> FormatFields<'writer> for PlainFields {
    fn format_fields<R: RecordFields>(&self, writer: Writer<'writer>, fields: R) -> fmt::Result {
        let mut visitor = PlainVisitor { writer, empty: true, result: Ok(()) };
        fields.record(&mut visitor);
        visitor.result
    }
}

struct PlainVisitor<'a> {
    writer: Writer<'a>,
    /// Nothing written yet (no space before the first field).
    empty: bool,
    result: fmt::Result,
}

impl PlainVisitor<'_> {
    /// Whether `field` is written; writes the separating space and `name=` when it is
    /// not the message.
    fn begin(&mut self, field: &Field) -> bool {
        let name = field.name();
        if self.result.is_err() || name.starts_with("log.") {
            return false;
        }
        if !std::mem::replace(&mut self.empty, false) {
            self.result = self.writer.write_char(' ');
        }
        if name != "message" {
            let name = name.strip_prefix("r#").unwrap_or(name);
            self.result =
                self.result.and_then(|()| self.writer.write_str(name)).and_then(|()| self.writer.write_char('='));
        }
        self.result.is_ok()
    }
}

impl Visit for PlainVisitor<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if self.begin(field) {
            self.result = if field.name() == "message" {
                write!(Escaping(&mut self.writer), "{value:?}")
            } else {
                write!(self.writer, "{value:?}")
            };
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            if self.begin(field) {
                self.result = Escaping(&mut self.writer).write_str(value);
            }
        } else {
            self.record_debug(field, &value);
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        if field.name() == "message" {
            return self.record_debug(field, &value);
        }
        if self.begin(field) {
            self.result = write_u64(&mut self.writer, value);
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        if field.name() == "message" {
            return self.record_debug(field, &value);
        }
        if self.begin(field) {
            if value < 0 {
                self.result = self.writer.write_char('-');
            }
            self.result = self.result.and_then(|()| write_u64(&mut self.writer, value.unsigned_abs()));
        }
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        if field.name() == "message" {
            return self.record_debug(field, &value);
        }
        if self.begin(field) {
            self.result = self.writer.write_str(if value { "true" } else { "false" });
        }
    }

    /// `name=error name.sources=[source, its source, …]`, the error and each source
    /// escaped (the default's form).
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        let Some(source) = value.source() else {
            return self.record_debug(field, &format_args!("{}", Escaped(value)));
        };
        let name = field.name();
        self.record_debug(field, &format_args!("{} {name}.sources={}", Escaped(value), Sources(source)));
    }
}

/// `value` written in decimal, without `fmt`'s machinery.
fn write_u64(writer: &mut Writer<'_>, mut value: u64) -> fmt::Result {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            break;
        }
    }
    // ASCII digits only.
    writer.write_str(std::str::from_utf8(&digits[at..]).map_err(|_| fmt::Error)?)
}

/// A writer that escapes terminal control characters (see the module doc) and passes
/// runs of anything else through whole.
struct Escaping<'a, W: Write>(&'a mut W);

impl<W: Write> Write for Escaping<'_, W> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        // Nothing below DEL but these four needs escaping; non-ASCII takes the slow path.
        if s.bytes().all(|b| b < 0x7f && !matches!(b, 0x1b | 0x07 | 0x08 | 0x0c)) {
            return self.0.write_str(s);
        }
        let mut run = 0;
        for (at, ch) in s.char_indices() {
            let escaped = match ch {
                '\x1b' => "\\x1b",
                '\x07' => "\\x07",
                '\x08' => "\\x08",
                '\x0c' => "\\x0c",
                '\x7f' => "\\x7f",
                '\u{80}'..='\u{9f}' => "",
                _ => continue,
            };
            self.0.write_str(&s[run..at])?;
            if escaped.is_empty() {
                write!(self.0, "\\u{{{:x}}}", ch as u32)?;
            } else {
                self.0.write_str(escaped)?;
            }
            run = at + ch.len_utf8();
        }
        self.0.write_str(&s[run..])
    }
}

/// `Display` of an error, escaped.
struct Escaped<'a>(&'a (dyn std::error::Error + 'static));

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(Escaping(f), "{}", self.0)
    }
}

/// An error and its sources as a list of escaped `Display`s: `[a, b]`.
struct Sources<'a>(&'a (dyn std::error::Error + 'static));

impl fmt::Display for Sources<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut list = f.debug_list();
        let mut current = Some(self.0);
        while let Some(error) = current {
            list.entry(&format_args!("{}", Escaped(error)));
            current = error.source();
        }
        list.finish()
    }
}

#[cfg(test)]
mod tests;
