//! In-memory fixed-window rate limiting (per account, per client address). Each instance counts
//! on its own: behind a load balancer the effective limit is per instance.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Counts hits per key within a window.
#[derive(Debug)]
pub struct RateLimiter {
    limit: u32,
    window: Duration,
    hits: Mutex<HashMap<String, (Instant, u32)>>,
}

impl RateLimiter {
    pub fn new(limit: u32, window: Duration) -> Self {
        Self {
            limit,
            window,
            hits: Mutex::new(HashMap::new()),
        }
    }

    /// Records a hit for `key`; `Err(seconds)` when the key is over its limit.
    pub fn hit(&self, key: &str) -> Result<(), u64> {
        let now = Instant::now();
        let Ok(mut hits) = self.hits.lock() else {
            return Ok(());
        };
        if hits.len() > 100_000 {
            let window = self.window;
            hits.retain(|_, (start, _)| now.duration_since(*start) < window);
        }
        let entry = hits.entry(key.to_owned()).or_insert((now, 0));
        if now.duration_since(entry.0) >= self.window {
            *entry = (now, 0);
        }
        if entry.1 >= self.limit {
            let wait = self.window.saturating_sub(now.duration_since(entry.0));
            return Err(wait.as_secs().max(1));
        }
        entry.1 += 1;
        Ok(())
    }

    /// Forgets `key` (after a successful sign-in).
    pub fn reset(&self, key: &str) {
        if let Ok(mut hits) = self.hits.lock() {
            hits.remove(key);
        }
    }
}

/// Sign-in failures of one account from one client address, the two together: after `free`
/// failures each attempt waits 1 s, then 2 s, 4 s… (doubling per failure, up to `max_delay`)
/// after the last failure. A success forgets the pair. A stranger's failures from their
/// address never delay the owner signing in from another one.
#[derive(Debug)]
pub struct LoginThrottle {
    free: u32,
    max_delay: Duration,
    failures: Mutex<HashMap<String, (u32, Instant)>>,
}

impl LoginThrottle {
    pub fn new(free: u32, max_delay: Duration) -> Self {
        Self {
            free,
            max_delay,
            failures: Mutex::new(HashMap::new()),
        }
    }

    fn key(account: &str, address: &str) -> String {
        format!("{account}\u{0}{address}")
    }

    fn delay(&self, failures: u32) -> Duration {
        if failures < self.free {
            return Duration::ZERO;
        }
        let exp = (failures - self.free).min(30);
        Duration::from_secs(1u64 << exp).min(self.max_delay)
    }

    /// `Err(seconds)` while the pair must still wait.
    pub fn check(&self, account: &str, address: &str) -> Result<(), u64> {
        let Ok(map) = self.failures.lock() else {
            return Ok(());
        };
        match map.get(&Self::key(account, address)) {
            Some((n, last)) => {
                let wait = self.delay(*n).saturating_sub(last.elapsed());
                if wait.is_zero() {
                    Ok(())
                } else {
                    Err(wait.as_secs_f64().ceil().max(1.0) as u64)
                }
            }
            None => Ok(()),
        }
    }

    /// Records a failure of the pair.
    pub fn failed(&self, account: &str, address: &str) {
        let Ok(mut map) = self.failures.lock() else {
            return;
        };
        if map.len() > 100_000 {
            let keep = self.max_delay * 2;
            map.retain(|_, (_, last)| last.elapsed() < keep);
        }
        let e = map
            .entry(Self::key(account, address))
            .or_insert((0, Instant::now()));
        e.0 = e.0.saturating_add(1);
        e.1 = Instant::now();
    }

    /// Forgets the pair (after a successful sign-in).
    pub fn succeeded(&self, account: &str, address: &str) {
        if let Ok(mut map) = self.failures.lock() {
            map.remove(&Self::key(account, address));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_delay_only_their_own_pair_and_the_delay_grows() {
        let t = LoginThrottle::new(2, Duration::from_secs(60));
        for _ in 0..2 {
            assert!(t.check("a@x", "1.1.1.1").is_ok());
            t.failed("a@x", "1.1.1.1");
        }
        assert_eq!(t.check("a@x", "1.1.1.1"), Err(1));
        t.failed("a@x", "1.1.1.1");
        assert_eq!(t.check("a@x", "1.1.1.1"), Err(2));
        for _ in 0..10 {
            t.failed("a@x", "1.1.1.1");
        }
        assert_eq!(t.check("a@x", "1.1.1.1"), Err(60), "capped");
        assert!(t.check("a@x", "2.2.2.2").is_ok(), "another address");
        assert!(t.check("b@x", "1.1.1.1").is_ok(), "another account");
        t.succeeded("a@x", "1.1.1.1");
        assert!(t.check("a@x", "1.1.1.1").is_ok());
    }

    #[test]
    fn the_limit_is_enforced_then_reset() {
        let limiter = RateLimiter::new(2, Duration::from_secs(60));
        assert!(limiter.hit("a").is_ok());
        assert!(limiter.hit("a").is_ok());
        let wait = limiter.hit("a").expect_err("limited");
        assert!((1..=60).contains(&wait));
        assert!(limiter.hit("b").is_ok());
        limiter.reset("a");
        assert!(limiter.hit("a").is_ok());
    }
}
