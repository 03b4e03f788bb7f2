//! Sign-in throttling: tokens are 256 bits, so guessing one is hopeless, but a flood of wrong
//! tokens should still be slowed, counted and visible. Past `FAILURE_BURST` failed sign-ins
//! (refilling `FAILURES_PER_MINUTE` a minute) every sign-in waits until the budget refills:
//! 429 with `Retry-After`. Bearer tokens on the API are not affected.

use crate::error::{ApiError, ErrorCode};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use parking_lot::Mutex;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

const FAILURE_BURST: u32 = 10;
const FAILURES_PER_MINUTE: u32 = 10;

pub struct SignIns {
    failures: DefaultDirectRateLimiter,
    blocked_until: Mutex<Option<Instant>>,
    failed: AtomicU64,
    throttled: AtomicU64,
}

impl Default for SignIns {
    fn default() -> Self {
        let per_minute = NonZeroU32::new(FAILURES_PER_MINUTE).expect("non-zero");
        let burst = NonZeroU32::new(FAILURE_BURST).expect("non-zero");
        Self {
            failures: RateLimiter::direct(Quota::per_minute(per_minute).allow_burst(burst)),
            blocked_until: Mutex::new(None),
            failed: AtomicU64::new(0),
            throttled: AtomicU64::new(0),
        }
    }
}

impl SignIns {
    /// Whether a sign-in may be tried now; 429 naming the wait otherwise.
    pub fn admit(&self) -> Result<(), ApiError> {
        let mut blocked = self.blocked_until.lock();
        match *blocked {
            Some(until) if until > Instant::now() => {
                self.throttled.fetch_add(1, Ordering::Relaxed);
                let wait = until.saturating_duration_since(Instant::now()).as_secs().max(1);
                Err(ApiError::new(
                    ErrorCode::TooManyRequests,
                    format!("too many failed sign-ins: sign-in is paused; retry after {wait} s"),
                ))
            }
            _ => {
                *blocked = None;
                Ok(())
            }
        }
    }

    /// Counts a failed sign-in; past the budget, sign-in pauses until it refills.
    pub fn failed(&self) {
        self.failed.fetch_add(1, Ordering::Relaxed);
        if let Err(not_until) = self.failures.check() {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            *self.blocked_until.lock() = Some(Instant::now() + wait.max(Duration::from_secs(1)));
        }
    }

    /// Failed sign-ins since start (`observatory_login_failures_total`).
    pub fn failures(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }

    /// Sign-ins refused while paused.
    pub fn throttled(&self) -> u64 {
        self.throttled.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_past_the_burst_pause_sign_in() {
        let s = SignIns::default();
        for _ in 0..FAILURE_BURST {
            s.admit().unwrap();
            s.failed();
        }
        s.admit().unwrap();
        s.failed(); // one more than the burst
        let e = s.admit().unwrap_err();
        assert_eq!(e.code, ErrorCode::TooManyRequests);
        assert!(e.message.contains("retry after"), "{}", e.message);
        assert_eq!((s.failures(), s.throttled()), (u64::from(FAILURE_BURST) + 1, 1));
    }
}
