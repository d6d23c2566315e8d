//! The log lines' timestamp: UTC, RFC 3339 with microseconds
//! (`2026-12-01T08:25:01.123456Z`), the format `tracing-subscriber`'s default
//! `SystemTime` writes, with the date and time of day formatted once a second per
//! thread instead of once a line (a tenth of a cache hit's logging cost went to the
//! calendar arithmetic and `fmt` calls of that default).

use std::cell::RefCell;
use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::FormatTime;

/// `YYYY-MM-DDTHH:MM:SS`: 19 bytes.
const PREFIX_BYTES: usize = 19;

thread_local! {
    /// The last second formatted on this thread, and its prefix.
    static PREFIX: RefCell<(u64, [u8; PREFIX_BYTES])> = const { RefCell::new((u64::MAX, [0; PREFIX_BYTES])) };
}

/// The timer for `tracing_subscriber::fmt().with_timer(…)`.
#[derive(Debug, Clone, Copy, Default)]
pub struct CachedSecondTime;

impl FormatTime for CachedSecondTime {
    fn format_time(&self, w: &mut Writer<'_>) -> fmt::Result {
        let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        let mut line = [0u8; PREFIX_BYTES + 8];
        timestamp(since_epoch, &mut line);
        // Only ASCII digits and separators were written.
        w.write_str(std::str::from_utf8(&line).map_err(|_| fmt::Error)?)
    }
}

/// Writes `since_epoch` (time since 1970-01-01T00:00:00Z) as
/// `YYYY-MM-DDTHH:MM:SS.ffffffZ` into `out`.
fn timestamp(since_epoch: Duration, out: &mut [u8; PREFIX_BYTES + 8]) {
    let seconds = since_epoch.as_secs();
    PREFIX.with_borrow_mut(|(cached, prefix)| {
        if *cached != seconds {
            *prefix = date_time(seconds);
            *cached = seconds;
        }
        out[..PREFIX_BYTES].copy_from_slice(prefix);
    });
    out[PREFIX_BYTES] = b'.';
    let mut micros = since_epoch.subsec_micros();
    for digit in out[PREFIX_BYTES + 1..PREFIX_BYTES + 7].iter_mut().rev() {
        *digit = b'0' + (micros % 10) as u8;
        micros /= 10;
    }
    out[PREFIX_BYTES + 7] = b'Z';
}

/// `YYYY-MM-DDTHH:MM:SS` of `seconds` since the Unix epoch, UTC (proleptic Gregorian;
/// the civil-from-days algorithm of H. Hinnant, "chrono-Compatible Low-Level Date
/// Algorithms"). Years past 9999 wrap their digits; log lines will not see them.
fn date_time(seconds: u64) -> [u8; PREFIX_BYTES] {
    let days = seconds / 86_400;
    let of_day = seconds % 86_400;
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z % 146_097;
    let year_of_era = (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 { shifted_month + 3 } else { shifted_month - 9 };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    let mut out = *b"0000-00-00T00:00:00";
    let mut put = |at: usize, width: usize, mut value: u64| {
        for digit in out[at..at + width].iter_mut().rev() {
            *digit = b'0' + (value % 10) as u8;
            value /= 10;
        }
    };
    put(0, 4, year);
    put(5, 2, month);
    put(8, 2, day);
    put(11, 2, of_day / 3_600);
    put(14, 2, of_day % 3_600 / 60);
    put(17, 2, of_day % 60);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: u64, micros: u32) -> String {
        let mut out = [0u8; PREFIX_BYTES + 8];
        timestamp(Duration::new(seconds, micros * 1_000), &mut out);
        String::from_utf8(out.to_vec()).unwrap()
    }

    #[test]
    fn dates_across_leap_days_centuries_and_the_epoch() {
        // Expected values from Python's datetime.fromtimestamp(t, UTC).
        assert_eq!(at(0, 0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(at(951_782_400, 7), "2000-02-29T00:00:00.000007Z");
        assert_eq!(at(1_709_210_096, 123_456), "2024-02-29T12:34:56.123456Z");
        assert_eq!(at(1_764_606_301, 999_999), "2025-12-01T16:25:01.999999Z");
        assert_eq!(at(4_102_444_799, 500_000), "2099-12-31T23:59:59.500000Z");
    }

    #[test]
    fn the_cached_second_is_replaced_when_the_second_changes() {
        assert_eq!(at(1_709_210_096, 1), "2024-02-29T12:34:56.000001Z");
        assert_eq!(at(1_709_210_097, 2), "2024-02-29T12:34:57.000002Z");
        assert_eq!(at(1_709_210_096, 3), "2024-02-29T12:34:56.000003Z");
    }

    #[test]
    fn the_timer_writes_the_format_of_tracing_subscribers_default() {
        let mut ours = String::new();
        CachedSecondTime.format_time(&mut Writer::new(&mut ours)).unwrap();
        let mut theirs = String::new();
        tracing_subscriber::fmt::time::SystemTime.format_time(&mut Writer::new(&mut theirs)).unwrap();
        assert_eq!(ours.len(), theirs.len(), "{ours} / {theirs}");
        // Same shape, and ours (taken first) no later to the minute.
        let shape = |s: &str| s.bytes().map(|b| if b.is_ascii_digit() { b'9' } else { b }).collect::<Vec<_>>();
        assert_eq!(shape(&ours), shape(&theirs), "{ours} / {theirs}");
        assert!(ours[..16] <= theirs[..16], "taken first: {ours} / {theirs}");
    }
}
