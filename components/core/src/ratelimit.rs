//! Per-project rate limits (SPEC §4 "Rate limits"): a token bucket per project and kind (assign, submit)
//! with the **debt model**. The bucket refills at `rate` tokens per second up to a capacity of one second's
//! worth (at least 1 token). A request of cost N is admitted whenever the bucket is not in debt (holds more
//! than 0 tokens) and takes N tokens, possibly driving the level below zero; while the level is ≤ 0 every
//! request is refused with 429 and `retry_after` = the whole seconds until the level is positive again.
//!
//! So a bulk larger than the bucket is admitted once and then pays its debt off over time — task_tracker
//! refused every such bulk forever — while the long-run rate still never exceeds `rate`.
//!
//! [`Bucket`] is pure arithmetic over a small serialisable state; [`admit`], [`in_debt`] and [`charge`]
//! load and store it through the key-value store (loss-tolerant state: a lost bucket starts full again).
//! Read-modify-write on the key-value store is not atomic across hosts, so under concurrency a limit is
//! approximate (a few extra admissions), never stricter than configured.

use crate::error::ApiError;
use crate::platform::Kv;
use serde::{Deserialize, Serialize};

/// Levels within this of zero count as zero (rates like 0.1/s accumulate rounding error).
const EPSILON: f64 = 1e-9;

/// Which of a project's limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// `assign_rate`: claims per second.
    Assign,
    /// `submit_rate`: submitted tasks per second (a bulk of N counts N).
    Submit,
}

impl Limit {
    fn name(self) -> &'static str {
        match self {
            Self::Assign => "assign",
            Self::Submit => "submit",
        }
    }
}

/// The key-value key of a project's bucket.
pub fn key(limit: Limit, project: i64) -> String {
    format!("ratelimit:{}:{project}", limit.name())
}

/// A bucket's state: its level (negative = debt) at Unix second `at`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Bucket {
    pub tokens: f64,
    pub at: i64,
}

/// The most a bucket holds at `rate`: one second's worth, and at least one token.
pub fn capacity(rate: f64) -> f64 {
    rate.max(1.0)
}

impl Bucket {
    /// A full bucket.
    pub fn full(rate: f64, now: i64) -> Self {
        Self { tokens: capacity(rate), at: now }
    }

    /// Adds what accrued since `at` (a clock that went backwards adds nothing), capped at the capacity.
    pub fn refill(&mut self, rate: f64, now: i64) {
        let elapsed = (now - self.at).max(0) as f64;
        self.tokens = (self.tokens + rate * elapsed).min(capacity(rate));
        self.at = self.at.max(now);
    }

    /// Not in debt: holds more than zero tokens.
    pub fn available(&self) -> bool {
        self.tokens > EPSILON
    }

    /// Whole seconds until the level is positive again (0 when it already is).
    pub fn retry_after(&self, rate: f64) -> f64 {
        if self.available() || rate <= 0.0 {
            return 0.0;
        }
        ((-self.tokens) / rate + EPSILON).floor() + 1.0
    }

    /// Refills, then admits a request of `cost` tokens when not in debt (taking them, possibly into debt);
    /// else `Err(retry_after)`.
    pub fn admit(&mut self, rate: f64, cost: f64, now: i64) -> Result<(), f64> {
        self.refill(rate, now);
        if !self.available() {
            return Err(self.retry_after(rate));
        }
        self.tokens -= cost;
        Ok(())
    }
}

fn load(kv: &dyn Kv, key: &str, rate: f64, now: i64) -> Result<Bucket, ApiError> {
    Ok(kv.get(key)?.and_then(|bytes| serde_json::from_slice(&bytes).ok()).unwrap_or_else(|| Bucket::full(rate, now)))
}

fn store(kv: &dyn Kv, key: &str, bucket: &Bucket) -> Result<(), ApiError> {
    kv.set(key, &serde_json::to_vec(bucket).map_err(ApiError::internal)?)
}

fn too_many(retry_after: f64) -> ApiError {
    ApiError::TooManyRequests { retry_after }
}

/// Admits a request of `cost` against a project's limit, or 429 with `retry_after`. A rate of 0 (or less)
/// is unlimited and touches nothing.
pub fn admit(kv: &dyn Kv, limit: Limit, project: i64, rate: f64, cost: u64, now: i64) -> Result<(), ApiError> {
    if rate <= 0.0 || cost == 0 {
        return Ok(());
    }
    let key = key(limit, project);
    let mut bucket = load(kv, &key, rate, now)?;
    let outcome = bucket.admit(rate, cost as f64, now);
    store(kv, &key, &bucket)?;
    outcome.map_err(too_many)
}

/// `Some(retry_after)` when a project's bucket is in debt (nothing is written); `None` when a request
/// would be admitted. For claims, which learn their project only after choosing a task.
pub fn in_debt(kv: &dyn Kv, limit: Limit, project: i64, rate: f64, now: i64) -> Result<Option<f64>, ApiError> {
    if rate <= 0.0 {
        return Ok(None);
    }
    let mut bucket = load(kv, &key(limit, project), rate, now)?;
    bucket.refill(rate, now);
    Ok((!bucket.available()).then(|| bucket.retry_after(rate)))
}

/// Takes `cost` tokens unconditionally (after a claim that [`in_debt`] allowed).
pub fn charge(kv: &dyn Kv, limit: Limit, project: i64, rate: f64, cost: u64, now: i64) -> Result<(), ApiError> {
    if rate <= 0.0 || cost == 0 {
        return Ok(());
    }
    let key = key(limit, project);
    let mut bucket = load(kv, &key, rate, now)?;
    bucket.refill(rate, now);
    bucket.tokens -= cost as f64;
    store(kv, &key, &bucket)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::MemoryKv;

    #[test]
    fn single_requests_run_at_the_rate() {
        let mut bucket = Bucket::full(2.0, 100);
        assert_eq!(bucket.tokens, 2.0);
        assert_eq!(bucket.admit(2.0, 1.0, 100), Ok(()));
        assert_eq!(bucket.admit(2.0, 1.0, 100), Ok(()));
        assert_eq!(bucket.admit(2.0, 1.0, 100), Err(1.0), "the bucket is empty: wait one second");
        assert_eq!(bucket.admit(2.0, 1.0, 101), Ok(()));
        assert_eq!(bucket.admit(2.0, 1.0, 101), Ok(()));
        assert!(bucket.admit(2.0, 1.0, 101).is_err());
        // A long pause refills only up to the capacity.
        bucket.refill(2.0, 10_000);
        assert_eq!(bucket.tokens, 2.0);
    }

    #[test]
    fn a_bulk_larger_than_the_bucket_is_admitted_once_then_pays_its_debt() {
        let rate = 10.0;
        let mut bucket = Bucket::full(rate, 0);
        assert_eq!(bucket.admit(rate, 1000.0, 0), Ok(()), "admitted although 1000 > capacity 10");
        assert_eq!(bucket.tokens, -990.0);
        // In debt: refused, told to come back when the debt is repaid (990 / 10 = 99 s, +1 to be positive).
        assert_eq!(bucket.admit(rate, 1.0, 0), Err(100.0));
        assert_eq!(bucket.admit(rate, 1.0, 50), Err(50.0));
        assert_eq!(bucket.admit(rate, 1.0, 99), Err(1.0));
        assert_eq!(bucket.admit(rate, 1000.0, 100), Ok(()), "admitted again once the level is positive");
    }

    #[test]
    fn slow_rates_still_admit_and_say_when() {
        let rate = 0.1;
        let mut bucket = Bucket::full(rate, 0);
        assert_eq!(capacity(rate), 1.0);
        assert_eq!(bucket.admit(rate, 1.0, 0), Ok(()));
        assert_eq!(bucket.admit(rate, 1.0, 0), Err(1.0), "level 0 → positive after one second");
        assert_eq!(bucket.admit(rate, 1.0, 1), Ok(()));
        assert_eq!(bucket.admit(rate, 1.0, 1), Err(10.0), "level -0.9 → positive after 10 s");
        assert!(bucket.admit(rate, 1.0, 10).is_err());
        assert_eq!(bucket.admit(rate, 1.0, 11), Ok(()));
        // Over 1000 s at 0.1/s at most ~100 (+ capacity) requests get through.
        let mut bucket = Bucket::full(rate, 0);
        let admitted = (0..1000).filter(|t| bucket.admit(rate, 1.0, *t).is_ok()).count();
        assert!((99..=102).contains(&admitted), "{admitted}");
    }

    #[test]
    fn a_clock_going_backwards_adds_nothing() {
        let mut bucket = Bucket { tokens: -5.0, at: 100 };
        bucket.refill(1.0, 50);
        assert_eq!(bucket, Bucket { tokens: -5.0, at: 100 });
    }

    #[test]
    fn buckets_live_in_the_key_value_store_per_project_and_kind() {
        let kv = MemoryKv::default();
        admit(&kv, Limit::Submit, 7, 5.0, 20, 0).unwrap();
        match admit(&kv, Limit::Submit, 7, 5.0, 1, 0) {
            Err(ApiError::TooManyRequests { retry_after }) => assert_eq!(retry_after, 4.0),
            other => panic!("{other:?}"),
        }
        assert_eq!(in_debt(&kv, Limit::Submit, 7, 5.0, 0).unwrap(), Some(4.0));
        assert_eq!(in_debt(&kv, Limit::Submit, 7, 5.0, 4).unwrap(), None);
        // Other projects and the other kind are independent.
        admit(&kv, Limit::Submit, 8, 5.0, 1, 0).unwrap();
        admit(&kv, Limit::Assign, 7, 5.0, 1, 0).unwrap();
        let stored: Bucket = serde_json::from_slice(&kv.get(&key(Limit::Submit, 7)).unwrap().unwrap()).unwrap();
        assert_eq!(stored, Bucket { tokens: -15.0, at: 0 });
        // Rate 0 is unlimited and stores nothing.
        for _ in 0..100 {
            admit(&kv, Limit::Assign, 9, 0.0, 1000, 0).unwrap();
        }
        assert_eq!(kv.get(&key(Limit::Assign, 9)).unwrap(), None);
        // charge takes tokens without asking.
        charge(&kv, Limit::Assign, 10, 1.0, 3, 0).unwrap();
        assert_eq!(in_debt(&kv, Limit::Assign, 10, 1.0, 0).unwrap(), Some(3.0));
        // A corrupt value starts a full bucket.
        kv.set(&key(Limit::Assign, 11), b"garbage").unwrap();
        assert_eq!(in_debt(&kv, Limit::Assign, 11, 1.0, 0).unwrap(), None);
    }
}
