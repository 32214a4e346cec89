//! One monotonic clock shared by the whole pipeline.
//!
//! Stages run on different threads (the audio callback, the recognizer's
//! thread, tokio tasks); the tracer subtracts timestamps taken in all of them.
//! A [`Timestamp`] is a duration since the pipeline's [`Clock`] epoch, so it is
//! `Copy`, totally ordered, serializable, and cheap to take on a hot path.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// The pipeline's monotonic clock. Copy it into every stage; all copies agree.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    epoch: Instant,
}

impl Clock {
    /// A clock whose epoch is now.
    #[must_use]
    pub fn start() -> Self {
        Self { epoch: Instant::now() }
    }

    /// The time elapsed since the epoch.
    #[must_use]
    pub fn now(&self) -> Timestamp {
        Timestamp::from_duration(self.epoch.elapsed())
    }

    /// Converts an [`Instant`] taken elsewhere (for example by a device
    /// callback) into this clock's time base. Instants before the epoch map
    /// to zero.
    #[must_use]
    pub fn at(&self, instant: Instant) -> Timestamp {
        Timestamp::from_duration(instant.saturating_duration_since(self.epoch))
    }
}

/// A point on the pipeline clock, in nanoseconds since its epoch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(u64);

impl Timestamp {
    /// The clock's epoch.
    pub const ZERO: Self = Self(0);

    /// A timestamp this long after the epoch (saturating at ~584 years).
    #[must_use]
    pub fn from_duration(since_epoch: Duration) -> Self {
        Self(u64::try_from(since_epoch.as_nanos()).unwrap_or(u64::MAX))
    }

    /// A timestamp this many nanoseconds after the epoch.
    #[must_use]
    pub const fn from_nanos(nanos: u64) -> Self {
        Self(nanos)
    }

    /// Nanoseconds since the epoch.
    #[must_use]
    pub const fn as_nanos(self) -> u64 {
        self.0
    }

    /// The time since the epoch.
    #[must_use]
    pub const fn since_epoch(self) -> Duration {
        Duration::from_nanos(self.0)
    }

    /// How long after `earlier` this is; `None` if `earlier` is later.
    #[must_use]
    pub fn checked_since(self, earlier: Self) -> Option<Duration> {
        self.0.checked_sub(earlier.0).map(Duration::from_nanos)
    }

    /// This timestamp moved later by `by` (saturating).
    #[must_use]
    pub fn plus(self, by: Duration) -> Self {
        Self(self.0.saturating_add(u64::try_from(by.as_nanos()).unwrap_or(u64::MAX)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_of_a_clock_share_one_epoch() {
        let clock = Clock::start();
        let copy = clock;
        let a = clock.now();
        let b = copy.now();
        let c = clock.now();
        assert!(a <= b && b <= c, "{a:?} {b:?} {c:?}");
    }

    #[test]
    fn instants_before_the_epoch_clamp_to_zero() {
        let before = Instant::now();
        let clock = Clock::start();
        assert_eq!(clock.at(before), Timestamp::ZERO);
        let later = clock.epoch + Duration::from_millis(7);
        assert_eq!(clock.at(later), Timestamp::from_nanos(7_000_000));
    }

    #[test]
    fn differences_are_checked() {
        let a = Timestamp::from_nanos(1_000);
        let b = a.plus(Duration::from_micros(3));
        assert_eq!(b.checked_since(a), Some(Duration::from_micros(3)));
        assert_eq!(a.checked_since(b), None);
        assert_eq!(b.since_epoch(), Duration::from_nanos(4_000));
    }

    #[test]
    fn serializes_as_plain_nanoseconds() {
        let t = Timestamp::from_nanos(42);
        assert_eq!(serde_json::to_string(&t).ok().as_deref(), Some("42"));
    }
}
