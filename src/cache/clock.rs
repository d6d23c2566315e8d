//! The clock of cache expiry and of the registry's idle unload: wall-clock
//! milliseconds since the Unix epoch that advance with tokio's clock.
//!
//! The wall time is read once (the first call), and later readings add tokio's
//! monotonic time elapsed since. In production that is the system's monotonic clock,
//! so a stepped wall clock (NTP) does not expire or revive entries; replicas, which
//! share absolute expiry times through Redis, agree to within their clocks' offset at
//! start. Under tokio's paused clock (`tokio::time::pause`, `advance`), tests move
//! TTLs and idle timers deterministically, without sleeping.

use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The wall time (ms since epoch) and the monotonic instant of the first reading.
static ANCHOR: OnceLock<(Duration, Instant)> = OnceLock::new();

/// Now, in ms since the Unix epoch.
pub fn now_ms() -> u64 {
    let &(wall, at) =
        ANCHOR.get_or_init(|| (SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default(), Instant::now()));
    // A paused runtime's clock may stand before the anchor (it was paused earlier
    // than another thread first read this clock): count back, do not saturate.
    let now = tokio::time::Instant::now().into_std();
    let wall_now = match now.checked_duration_since(at) {
        Some(ahead) => wall + ahead,
        None => wall.saturating_sub(at.duration_since(now)),
    };
    wall_now.as_millis() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_at_the_wall_clock() {
        let wall = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;
        assert!(now_ms().abs_diff(wall) < 60_000);
    }

    #[tokio::test(start_paused = true)]
    async fn advances_with_tokios_clock() {
        let before = now_ms();
        tokio::time::advance(Duration::from_secs(3600)).await;
        let after = now_ms();
        assert!(after - before >= 3_600_000, "{before} → {after}");
        assert!(after - before < 3_660_000, "{before} → {after}");
    }
}
