//! Daily budgets that are never overspent under concurrency, and a pacing helper
//! that spreads a budget over the day.
//!
//! A charge is first *reserved* (counted against the budget before anything is paid),
//! then *committed* when the payment succeeded, or released when it failed. The
//! check-and-reserve is one critical section, so no interleaving of concurrent
//! impressions can make `committed + reserved` exceed the limit. The section holds a
//! mutex for a few integer operations (no I/O, no `.await`), which is cheaper than a
//! lock-free scheme that also has to roll the day over atomically.

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Milliseconds in a budget day (UTC days since the epoch).
pub const DAY_MS: u64 = 86_400_000;

#[derive(Debug, Default)]
struct DayState {
    day: u64,
    committed_atomic: u64,
    reserved_atomic: u64,
}

/// A daily budget in atomic units. Days are UTC days (`now_ms / DAY_MS`); the
/// committed spend resets at midnight and in-flight reservations carry over.
///
/// # Example
/// ```
/// use attn_bidder_sdk::DailyBudget;
/// let budget = DailyBudget::new(100);
/// let now_ms = 1_700_000_000_000;
/// let reservation = budget.reserve(60, now_ms).expect("fits");
/// assert!(budget.reserve(60, now_ms).is_none()); // 60 + 60 > 100
/// reservation.commit();
/// assert_eq!(budget.spent_atomic(now_ms), 60);
/// ```
#[derive(Debug)]
pub struct DailyBudget {
    limit_atomic: u64,
    state: Mutex<DayState>,
}

/// A reserved part of a budget; released when dropped unless committed.
#[derive(Debug)]
#[must_use = "a reservation is released when dropped; call commit() once paid"]
pub struct Reservation<'a> {
    budget: &'a DailyBudget,
    amount_atomic: u64,
    committed: bool,
}

impl DailyBudget {
    /// A budget of `limit_atomic` per day.
    pub fn new(limit_atomic: u64) -> Self {
        Self {
            limit_atomic,
            state: Mutex::new(DayState::default()),
        }
    }

    /// The daily limit in atomic units.
    pub fn limit_atomic(&self) -> u64 {
        self.limit_atomic
    }

    fn state(&self, now_ms: u64) -> MutexGuard<'_, DayState> {
        // A panic while holding this lock cannot leave the counters inconsistent:
        // every update is a single assignment.
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let day = now_ms / DAY_MS;
        if day > state.day {
            state.day = day;
            state.committed_atomic = 0;
        }
        state
    }

    /// Reserves `amount_atomic` if today's budget still covers it.
    pub fn reserve(&self, amount_atomic: u64, now_ms: u64) -> Option<Reservation<'_>> {
        let mut state = self.state(now_ms);
        let used = state.committed_atomic.checked_add(state.reserved_atomic)?;
        let after = used.checked_add(amount_atomic)?;
        if after > self.limit_atomic {
            return None;
        }
        state.reserved_atomic += amount_atomic;
        debug_assert!(state.committed_atomic + state.reserved_atomic <= self.limit_atomic);
        Some(Reservation {
            budget: self,
            amount_atomic,
            committed: false,
        })
    }

    /// What was committed today.
    pub fn spent_atomic(&self, now_ms: u64) -> u64 {
        self.state(now_ms).committed_atomic
    }

    /// What can still be reserved today.
    pub fn remaining_atomic(&self, now_ms: u64) -> u64 {
        let state = self.state(now_ms);
        self.limit_atomic
            .saturating_sub(state.committed_atomic + state.reserved_atomic)
    }

    fn settle(&self, amount_atomic: u64, commit: bool) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        assert!(
            state.reserved_atomic >= amount_atomic,
            "releasing more than was reserved"
        );
        state.reserved_atomic -= amount_atomic;
        if commit {
            state.committed_atomic += amount_atomic;
        }
    }
}

impl Reservation<'_> {
    /// The amount reserved.
    pub fn amount_atomic(&self) -> u64 {
        self.amount_atomic
    }

    /// Turns the reservation into spend.
    pub fn commit(mut self) {
        self.committed = true;
        self.budget.settle(self.amount_atomic, true);
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        if !self.committed {
            self.budget.settle(self.amount_atomic, false);
        }
    }
}

/// Even pacing: by any time of day, at most the elapsed share of the day's budget
/// (plus a slack) may have been spent. Pure: `now_ms` is a parameter.
///
/// # Example
/// ```
/// use attn_bidder_sdk::{Pacing, DAY_MS};
/// let pacing = Pacing { slack_ppm: 0 };
/// let midnight = 20_000 * DAY_MS;
/// assert_eq!(pacing.target_atomic(1_000, midnight + DAY_MS / 4), 250);
/// assert!(pacing.allows(1_000, 200, midnight + DAY_MS / 4));
/// assert!(!pacing.allows(1_000, 250, midnight + DAY_MS / 4));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pacing {
    /// Spend allowed ahead of the even schedule, in parts per million of the daily
    /// budget (e.g. 20,000 lets a bidder run 2% of the day's budget ahead).
    pub slack_ppm: u32,
}

impl Default for Pacing {
    fn default() -> Self {
        Self { slack_ppm: 20_000 }
    }
}

impl Pacing {
    /// The most that should have been spent by `now_ms` out of `daily_atomic`.
    pub fn target_atomic(&self, daily_atomic: u64, now_ms: u64) -> u64 {
        let elapsed = u128::from(now_ms % DAY_MS);
        let slack = u128::from(self.slack_ppm) * u128::from(DAY_MS) / 1_000_000;
        let share = (elapsed + slack).min(u128::from(DAY_MS));
        let target = u128::from(daily_atomic) * share / u128::from(DAY_MS);
        u64::try_from(target).unwrap_or(daily_atomic)
    }

    /// Whether a bidder that spent `spent_atomic` today may keep bidding now.
    pub fn allows(&self, daily_atomic: u64, spent_atomic: u64, now_ms: u64) -> bool {
        spent_atomic < self.target_atomic(daily_atomic, now_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::sync::Arc;

    #[test]
    fn a_dropped_reservation_is_released() {
        let budget = DailyBudget::new(10);
        {
            let _reservation = budget.reserve(10, 0).expect("fits");
            assert_eq!(budget.remaining_atomic(0), 0);
        }
        assert_eq!(budget.remaining_atomic(0), 10);
        assert_eq!(budget.spent_atomic(0), 0);
    }

    #[test]
    fn spend_resets_at_midnight_and_reservations_carry_over() {
        let budget = DailyBudget::new(10);
        budget.reserve(6, 5).expect("fits").commit();
        let in_flight = budget.reserve(4, 5).expect("fits");
        assert!(budget.reserve(1, DAY_MS - 1).is_none());
        assert_eq!(budget.remaining_atomic(DAY_MS), 6);
        in_flight.commit();
        assert_eq!(budget.spent_atomic(DAY_MS), 4);
    }

    #[test]
    fn concurrent_reservations_never_exceed_the_limit() {
        let budget = Arc::new(DailyBudget::new(1_000));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let budget = Arc::clone(&budget);
                std::thread::spawn(move || {
                    let mut won = 0u64;
                    for _ in 0..500 {
                        if let Some(reservation) = budget.reserve(3, 7) {
                            reservation.commit();
                            won += 3;
                        }
                    }
                    won
                })
            })
            .collect();
        let total: u64 = threads.into_iter().map(|t| t.join().expect("thread")).sum();
        assert_eq!(total, 999);
        assert_eq!(budget.spent_atomic(7), 999);
    }

    proptest! {
        #[test]
        fn pacing_target_is_monotonic_within_a_day_and_bounded(
            daily in 0u64..u64::MAX / 2,
            a in 0u64..DAY_MS,
            b in 0u64..DAY_MS,
            slack in 0u32..1_000_000,
        ) {
            let pacing = Pacing { slack_ppm: slack };
            let (early, late) = (a.min(b), a.max(b));
            prop_assert!(pacing.target_atomic(daily, early) <= pacing.target_atomic(daily, late));
            prop_assert!(pacing.target_atomic(daily, late) <= daily);
        }
    }
}
