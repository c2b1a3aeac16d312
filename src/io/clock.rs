//! The wall clock, read here and nowhere in the core: findings and health
//! events are stamped with it, and the core formats what it is given.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::core::time;

/// `2026-11-28T10:52:42.123456Z` for the current time.
pub fn now_micros() -> String {
    let d = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    time::format_micros(d.as_secs(), d.subsec_micros())
}

/// Seconds since the epoch, as audit stamps count them.
pub fn unix_secs() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

/// Microseconds since the epoch.
pub fn unix_micros() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros() as u64)
}
