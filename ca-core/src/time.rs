//! The [`Clock`]: the only source of "now" in caforge.

use time::OffsetDateTime;

/// A source of the current time. Tests use [`FixedClock`] to issue "in the future".
pub trait Clock: Send + Sync {
    /// The current time, truncated to whole seconds (certificates have second precision).
    fn now(&self) -> OffsetDateTime;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        truncate(OffsetDateTime::now_utc())
    }
}

/// A clock stopped at one instant.
#[derive(Debug, Clone, Copy)]
pub struct FixedClock(pub OffsetDateTime);

impl Clock for FixedClock {
    fn now(&self) -> OffsetDateTime {
        truncate(self.0)
    }
}

fn truncate(t: OffsetDateTime) -> OffsetDateTime {
    t.replace_nanosecond(0).unwrap_or(t)
}

/// The system clock moved by a fixed offset: for rehearsing what happens in the future
/// (expiry reminders, renewal windows, grace periods) against a copy of a CA. Anything it
/// signs carries the shifted times.
#[derive(Debug, Clone, Copy)]
pub struct ShiftedClock(pub time::Duration);

impl Clock for ShiftedClock {
    fn now(&self) -> OffsetDateTime {
        truncate(OffsetDateTime::now_utc() + self.0)
    }
}
