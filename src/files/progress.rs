//! The progress bar of a file run on a terminal (indicatif): bytes of input done, rows,
//! rows per second and the time left; bad rows printed above it as they are found.

use std::time::Instant;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::{rate, FileReport, Progress};

/// Bad rows printed one by one (the rest are counted in the summary).
const PRINTED_BAD_ROWS: u64 = 20;

/// A progress bar on stderr; draws nothing when stderr is not a terminal.
pub struct TerminalProgress {
    bar: ProgressBar,
    started: Instant,
    bad: u64,
}

impl TerminalProgress {
    /// A bar over `total_bytes` of input (a spinner when the size is unknown, e.g.
    /// stdin); `visible: false` draws nothing (`--no-progress`).
    pub fn new(total_bytes: Option<u64>, visible: bool) -> Self {
        let target = match visible {
            true => ProgressDrawTarget::stderr(),
            false => ProgressDrawTarget::hidden(),
        };
        let bar = match total_bytes {
            Some(total) => {
                let bar = ProgressBar::with_draw_target(Some(total), target);
                let style = ProgressStyle::with_template("{wide_bar} {percent:>3}% {msg} · ETA {eta}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar());
                bar.set_style(style);
                bar
            }
            None => {
                let bar = ProgressBar::with_draw_target(None, target);
                bar.set_style(
                    ProgressStyle::with_template("{spinner} {msg}")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                bar
            }
        };
        Self { bar, started: Instant::now(), bad: 0 }
    }

    /// Removes the bar.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl Progress for TerminalProgress {
    fn update(&mut self, bytes_read: u64, report: &FileReport) {
        self.bar.set_position(bytes_read);
        self.bar.set_message(format!(
            "{} rows · {:.0} rows/s · {} cached · {} bad",
            report.rows,
            rate(report.rows, self.started),
            report.cached,
            report.bad_rows
        ));
    }

    fn bad_row(&mut self, line: u64, why: &str) {
        self.bad += 1;
        if self.bad <= PRINTED_BAD_ROWS {
            self.bar.suspend(|| eprintln!("line {line}: {why}"));
        }
    }
}
