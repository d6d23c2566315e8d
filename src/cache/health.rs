//! The up/down state of a cache tier that can fail and recover by itself (disk,
//! Redis): whether it serves (read lock-free on the request path), why not, how long
//! to wait before the next attempt to bring it back (a doubling back-off), and one log
//! line per transition.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// The pauses between attempts to bring a tier back: `first`, doubled after each
/// failed attempt up to `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The first pause, and the pause again once the tier is back up.
    pub first: Duration,
    /// The longest pause.
    pub max: Duration,
}

/// Why the tier is down.
#[derive(Debug)]
enum State {
    Up,
    Down {
        /// Shown in `GET /cache`.
        reason: String,
        /// A planned pause (a rebuild): coming back up is not logged.
        quiet: bool,
    },
}

/// What changes together under the lock.
#[derive(Debug)]
struct Inner {
    state: State,
    /// The pause before the next attempt.
    retry: Duration,
}

/// A tier's health. Cheap to read ([`Health::is_up`]); transitions take a lock.
#[derive(Debug)]
pub struct Health {
    tier: &'static str,
    location: String,
    backoff: Backoff,
    up: AtomicBool,
    inner: Mutex<Inner>,
}

impl Health {
    /// A tier `tier` at `location` (for log lines) that starts up.
    pub fn up(tier: &'static str, location: String, backoff: Backoff) -> Self {
        Self::with_state(tier, location, backoff, State::Up)
    }

    /// A tier that starts down because of `reason` (connecting); its first coming up
    /// is logged, its staying down is not.
    pub fn down(tier: &'static str, location: String, backoff: Backoff, reason: impl Into<String>) -> Self {
        Self::with_state(tier, location, backoff, State::Down { reason: reason.into(), quiet: false })
    }

    fn with_state(tier: &'static str, location: String, backoff: Backoff, state: State) -> Self {
        let up = matches!(state, State::Up);
        Self {
            tier,
            location,
            backoff,
            up: AtomicBool::new(up),
            inner: Mutex::new(Inner { state, retry: backoff.first }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether the tier serves.
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    /// Why the tier is down; `None` while it is up.
    pub fn reason(&self) -> Option<String> {
        match &self.lock().state {
            State::Up => None,
            State::Down { reason, .. } => Some(reason.clone()),
        }
    }

    /// Takes the tier down because of `reason`. Logged when the tier was up or only
    /// paused, and when the reason changes (a tier that starts down as "connecting"
    /// logs its first failure: a wrong password, a closed port); the same reason
    /// again is not logged. Returns whether the tier was up.
    pub fn mark_down(&self, reason: impl Into<String>) -> bool {
        let reason = reason.into();
        let mut inner = self.lock();
        let (was_up, announce) = match &inner.state {
            State::Up => (true, true),
            State::Down { quiet, reason: previous } => (false, *quiet || *previous != reason),
        };
        if announce {
            tracing::warn!(
                tier = self.tier,
                location = %self.location,
                error = %reason,
                retry_ms = inner.retry.as_millis() as u64,
                "{} cache tier is down; reads and writes skip it while it retries in the background",
                self.tier
            );
        }
        inner.state = State::Down { reason, quiet: false };
        self.up.store(false, Ordering::Relaxed);
        was_up
    }

    /// Takes the tier down for planned work (a rebuild) without an outage log line;
    /// coming back up is not logged either. Returns whether the tier was up.
    pub fn pause(&self, reason: impl Into<String>) -> bool {
        let mut inner = self.lock();
        let was_up = matches!(inner.state, State::Up);
        if was_up {
            inner.state = State::Down { reason: reason.into(), quiet: true };
            self.up.store(false, Ordering::Relaxed);
        }
        was_up
    }

    /// Puts the tier back in service (logged after an outage) and resets the back-off.
    /// Returns whether it was down.
    pub fn mark_up(&self) -> bool {
        let mut inner = self.lock();
        let was_down = match &inner.state {
            State::Up => false,
            State::Down { quiet, .. } => {
                if !quiet {
                    tracing::info!(tier = self.tier, location = %self.location, "{} cache tier is up", self.tier);
                }
                true
            }
        };
        inner.state = State::Up;
        inner.retry = self.backoff.first;
        self.up.store(true, Ordering::Relaxed);
        was_down
    }

    /// How long to wait before the next attempt to bring the tier back.
    pub fn retry_delay(&self) -> Duration {
        self.lock().retry
    }

    /// Records a failed attempt: the next pause doubles, up to the back-off's `max`.
    /// Returns the pause before the next attempt.
    pub fn retry_failed(&self) -> Duration {
        let mut inner = self.lock();
        inner.retry = (inner.retry * 2).min(self.backoff.max);
        inner.retry
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BACKOFF: Backoff = Backoff { first: Duration::from_millis(100), max: Duration::from_millis(350) };

    fn health() -> Health {
        Health::up("test", "here".into(), BACKOFF)
    }

    #[test]
    fn a_tier_goes_down_with_its_reason_and_comes_back_up() {
        let health = health();
        assert!(health.is_up());
        assert_eq!(health.reason(), None);
        assert!(health.mark_down("disk full"), "it was up");
        assert!(!health.is_up());
        assert_eq!(health.reason().as_deref(), Some("disk full"));
        assert!(!health.mark_down("still full"), "already down");
        assert_eq!(health.reason().as_deref(), Some("still full"), "the latest reason is shown");
        assert!(health.mark_up(), "it was down");
        assert!(health.is_up());
        assert_eq!(health.reason(), None);
        assert!(!health.mark_up(), "already up");
    }

    /// The log lines `f` writes, one string per line.
    fn logged(f: impl FnOnce()) -> Vec<String> {
        #[derive(Clone, Default)]
        struct Lines(std::sync::Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Lines {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let lines = Lines::default();
        let writer = lines.clone();
        let subscriber = tracing_subscriber::fmt().with_ansi(false).with_writer(move || writer.clone()).finish();
        tracing::subscriber::with_default(subscriber, f);
        let text = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
        text.lines().map(str::to_string).collect()
    }

    #[test]
    fn the_first_failure_and_every_change_are_logged_once() {
        let lines = logged(|| {
            let health = Health::down("redis", "redis://***@127.0.0.1:1/0".into(), BACKOFF, "connecting");
            health.mark_down("WRONGPASS invalid username-password pair");
            health.mark_down("WRONGPASS invalid username-password pair");
            health.mark_down("Connection refused (os error 111)");
            health.mark_down("Connection refused (os error 111)");
            health.mark_up();
            health.mark_up();
            health.mark_down("Connection refused (os error 111)");
        });
        assert_eq!(lines.len(), 4, "{lines:#?}");
        assert!(lines[0].contains("WARN") && lines[0].contains("WRONGPASS"), "{}", lines[0]);
        assert!(lines[0].contains("redis://***@127.0.0.1:1/0"), "{}", lines[0]);
        assert!(lines[1].contains("Connection refused"), "{}", lines[1]);
        assert!(lines[2].contains("INFO") && lines[2].contains("is up"), "{}", lines[2]);
        assert!(lines[3].contains("WARN") && lines[3].contains("Connection refused"), "{}", lines[3]);
    }

    #[test]
    fn the_back_off_doubles_up_to_its_max_and_resets_when_up() {
        let health = health();
        assert_eq!(health.retry_delay(), BACKOFF.first);
        health.mark_down("unreachable");
        assert_eq!(health.retry_failed(), Duration::from_millis(200));
        assert_eq!(health.retry_failed(), Duration::from_millis(350), "capped");
        assert_eq!(health.retry_failed(), Duration::from_millis(350));
        assert_eq!(health.retry_delay(), Duration::from_millis(350));
        health.mark_up();
        assert_eq!(health.retry_delay(), BACKOFF.first, "a new outage starts from the first pause");
    }

    #[test]
    fn a_tier_may_start_down_and_a_pause_only_takes_an_up_tier_down() {
        let connecting = Health::down("test", "there".into(), BACKOFF, "connecting");
        assert!(!connecting.is_up());
        assert_eq!(connecting.reason().as_deref(), Some("connecting"));
        assert!(!connecting.pause("rebuilding"), "a pause does not hide an outage");
        assert_eq!(connecting.reason().as_deref(), Some("connecting"));
        assert!(connecting.mark_up());

        let health = health();
        assert!(health.pause("rebuilding a damaged file"));
        assert!(!health.is_up());
        assert_eq!(health.reason().as_deref(), Some("rebuilding a damaged file"));
        assert!(!health.mark_down("the rebuild failed"), "already down");
        assert_eq!(health.reason().as_deref(), Some("the rebuild failed"));
        assert!(health.mark_up());
    }
}
