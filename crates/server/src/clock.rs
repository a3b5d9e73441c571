//! The driver's clock. Only driver code reads it; the router gets the time as an argument.

use std::time::{SystemTime, UNIX_EPOCH};

/// Now, in UNIX milliseconds.
pub fn unix_ms() -> u64 {
    // A clock before 1970 is a broken host; treat it as the epoch rather than failing calls.
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}
