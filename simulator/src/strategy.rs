//! Bidding strategies: the [`Strategy`] trait and the built-in ones.
//!
//! A strategy turns an advertiser's value for an impression into a bid (a price per
//! unit of attention, in atomic units). The engine calls [`Strategy::bid`] from many
//! threads at once within a round, so it takes `&self`; per-round state changes go in
//! [`Strategy::begin_round`] and [`Strategy::end_round`], which run sequentially
//! between rounds, in advertiser order.
//!
//! To add a strategy, implement the trait and hand a factory to
//! [`crate::Simulation::with_strategies`].
//!
//! # The `bne` closed form
//! First-price, one slot, `n` symmetric bidders with values i.i.d. uniform on
//! `[L, H]` and reserve `r`: with `x = (v − L)/(H − L)` and `ρ = (max(r, L) − L)/(H − L)`
//! the equilibrium bid is
//! `b(v) = L + (H − L)·(x − (xⁿ − ρⁿ)/(n·xⁿ⁻¹))` for `v ≥ max(r, L)` (no bid below it):
//! the expected highest competing value below `v`, `b(v) = v − ∫_r^v F(t)ⁿ⁻¹dt / F(v)ⁿ⁻¹`
//! with `F` uniform. With `r ≤ L` it is `L + (n − 1)/n·(v − L)`, i.e. `(n − 1)/n·v` on
//! `[0, 1]`. With fixed values (`L = H`) it is `v` (Bertrand), or `r` alone. In the
//! second-price auction and VCG truthful bidding is dominant, so `bne` bids the value.
//! In the per-conversion value model every bidder's estimate for a persona is its value
//! per conversion times the same factor `k` (see `engine`), so the auction is the
//! uniform one scaled by `k`, and `bne` scales `L`, `H` by `k` too.

use crate::config::{Config, MechanismName, StrategyName};
use crate::rng::AgentRng;

/// What a strategy knows when it bids.
#[derive(Clone, Copy, Debug)]
pub struct BidContext {
    /// The mechanism that will price the bid.
    pub mechanism: MechanismName,
    /// The reserve price per unit of attention, atomic units.
    pub reserve_atomic: u64,
    /// The number of bidders the strategy assumes (the configured advertiser count).
    pub bidders: u32,
    /// The lowest value the bidder's competitors may have for this impression (atomic).
    pub value_low_atomic: f64,
    /// The highest value the bidder's competitors may have for this impression (atomic).
    pub value_high_atomic: f64,
}

/// What an advertiser learns at the end of a round.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RoundFeedback {
    /// Impressions won.
    pub impressions: u64,
    /// Sum of its true values of the impressions won, atomic units.
    pub value_atomic: u64,
    /// What it paid (charges plus any intermediary fees), atomic units.
    pub spend_atomic: u64,
}

/// A bidding strategy.
///
/// Implementations MUST be deterministic: any randomness comes from the `rng` handed to
/// [`Strategy::begin_round`] (the advertiser's own stream for that round). `bid` MUST
/// NOT keep state (it runs concurrently); it returns 0 to stay out of an auction.
pub trait Strategy: Send + Sync {
    /// A short name for reports.
    fn name(&self) -> &str;

    /// Called before each round.
    fn begin_round(&mut self, _round: u32, _rng: &mut AgentRng) {}

    /// The bid for an impression worth `value_atomic` to the advertiser.
    fn bid(&self, value_atomic: f64, context: &BidContext) -> u64;

    /// Called after each round with what the advertiser won and paid.
    fn end_round(&mut self, _feedback: &RoundFeedback) {}
}

/// Bids the value.
#[derive(Clone, Copy, Debug, Default)]
pub struct Truthful;

impl Strategy for Truthful {
    fn name(&self) -> &str {
        "truthful"
    }
    fn bid(&self, value_atomic: f64, _context: &BidContext) -> u64 {
        value_atomic.max(0.0).round() as u64
    }
}

/// Bids `factor × value`.
#[derive(Clone, Copy, Debug)]
pub struct Shade {
    /// The factor, in (0, 1].
    pub factor: f64,
}

impl Strategy for Shade {
    fn name(&self) -> &str {
        "shade"
    }
    fn bid(&self, value_atomic: f64, _context: &BidContext) -> u64 {
        (value_atomic * self.factor).max(0.0).round() as u64
    }
}

/// The symmetric Bayes–Nash equilibrium bid (see the module docs for the formula).
#[derive(Clone, Copy, Debug, Default)]
pub struct Bne;

/// The first-price equilibrium bid for `n` bidders with values uniform on
/// `[low, high]` and reserve `reserve`; `None` below the reserve (stay out).
///
/// # Example
/// ```
/// use attn_simulator::strategy::first_price_bne;
/// // (n − 1)/n · v on [0, 1] without a reserve
/// assert!((first_price_bne(0.9, 3, 0.0, 1.0, 0.0).unwrap() - 0.6).abs() < 1e-12);
/// assert_eq!(first_price_bne(0.2, 3, 0.0, 1.0, 0.3), None);
/// ```
pub fn first_price_bne(value: f64, n: u32, low: f64, high: f64, reserve: f64) -> Option<f64> {
    let floor = reserve.max(low);
    if value < floor {
        return None;
    }
    let width = high - low;
    if width <= 0.0 || n <= 1 {
        return Some(if n <= 1 { floor.min(value) } else { value });
    }
    let x = ((value - low) / width).clamp(0.0, 1.0);
    let rho = ((floor - low) / width).clamp(0.0, 1.0);
    if x <= 0.0 {
        return Some(floor);
    }
    let n_f = f64::from(n);
    let b01 = x - (x.powi(n as i32) - rho.powi(n as i32)) / (n_f * x.powi(n as i32 - 1));
    Some(low + width * b01)
}

impl Strategy for Bne {
    fn name(&self) -> &str {
        "bne"
    }
    fn bid(&self, value_atomic: f64, context: &BidContext) -> u64 {
        match context.mechanism {
            MechanismName::FirstPrice => first_price_bne(
                value_atomic,
                context.bidders,
                context.value_low_atomic,
                context.value_high_atomic,
                context.reserve_atomic as f64,
            )
            .map_or(0, |bid| bid.round() as u64),
            MechanismName::SecondPrice | MechanismName::Vcg | MechanismName::Gsp => {
                value_atomic.max(0.0).round() as u64
            }
        }
    }
}

/// An epsilon-greedy bandit over shading factors: each round it plays one factor (a
/// random one with probability `epsilon`, otherwise the one with the best mean surplus
/// per round so far, untried ones first), and learns the round's surplus
/// (value won − spend).
#[derive(Clone, Debug)]
pub struct Learning {
    factors: Vec<f64>,
    epsilon: f64,
    totals: Vec<f64>,
    pulls: Vec<u64>,
    current: usize,
}

impl Learning {
    /// A bandit over `factors`.
    pub fn new(factors: Vec<f64>, epsilon: f64) -> Self {
        let arms = factors.len();
        Self {
            factors,
            epsilon,
            totals: vec![0.0; arms],
            pulls: vec![0; arms],
            current: 0,
        }
    }

    /// The factor played this round.
    pub fn current_factor(&self) -> f64 {
        self.factors[self.current]
    }

    fn best_arm(&self) -> usize {
        if let Some(untried) = self.pulls.iter().position(|p| *p == 0) {
            return untried;
        }
        let mut best = 0;
        let mut best_mean = f64::NEG_INFINITY;
        for (arm, (total, pulls)) in self.totals.iter().zip(&self.pulls).enumerate() {
            let mean = total / *pulls as f64;
            if mean > best_mean {
                best_mean = mean;
                best = arm;
            }
        }
        best
    }
}

impl Strategy for Learning {
    fn name(&self) -> &str {
        "learning"
    }
    fn begin_round(&mut self, _round: u32, rng: &mut AgentRng) {
        let explore = rng.bernoulli(self.epsilon);
        let random_arm = rng.below(self.factors.len() as u64) as usize;
        self.current = if explore { random_arm } else { self.best_arm() };
    }
    fn bid(&self, value_atomic: f64, _context: &BidContext) -> u64 {
        (value_atomic * self.factors[self.current]).max(0.0).round() as u64
    }
    fn end_round(&mut self, feedback: &RoundFeedback) {
        let surplus = feedback.value_atomic as f64 - feedback.spend_atomic as f64;
        self.totals[self.current] += surplus;
        self.pulls[self.current] += 1;
    }
}

/// The built-in strategy named in the config, for advertiser `_advertiser`.
pub fn built_in(config: &Config, _advertiser: u32) -> Box<dyn Strategy> {
    let advertisers = &config.advertisers;
    match advertisers.strategy {
        StrategyName::Truthful => Box::new(Truthful),
        StrategyName::Bne => Box::new(Bne),
        StrategyName::Shade => Box::new(Shade {
            factor: advertisers.shade,
        }),
        StrategyName::Learning => Box::new(Learning::new(
            advertisers.learning.factors.clone(),
            advertisers.learning.epsilon,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bne_matches_the_textbook_cases() {
        for n in 2..6u32 {
            let v = 0.8;
            let b = first_price_bne(v, n, 0.0, 1.0, 0.0).unwrap();
            assert!((b - v * f64::from(n - 1) / f64::from(n)).abs() < 1e-12);
        }
        // With a reserve: b(v) = v − (vⁿ − rⁿ)/(n vⁿ⁻¹); at v = r the bid is r.
        let b = first_price_bne(0.5, 2, 0.0, 1.0, 0.5).unwrap();
        assert!((b - 0.5).abs() < 1e-12);
        let b = first_price_bne(1.0, 2, 0.0, 1.0, 0.5).unwrap();
        assert!((b - (1.0 - (1.0 - 0.25) / 2.0)).abs() < 1e-12);
        // Shifted support: L + (n − 1)/n (v − L).
        let b = first_price_bne(3.0, 2, 1.0, 5.0, 0.0).unwrap();
        assert!((b - 2.0).abs() < 1e-12);
        // Monotone in the value.
        let mut last = 0.0;
        for i in 0..=100 {
            let bid = first_price_bne(f64::from(i) / 100.0, 4, 0.0, 1.0, 0.2).unwrap_or(0.0);
            assert!(bid >= last);
            last = bid;
        }
    }

    #[test]
    fn learning_exploits_the_best_arm() {
        let mut rng = crate::rng::Streams::new(3)
            .stream(crate::rng::StreamName::Strategy)
            .agent(0, 0);
        let mut bandit = Learning::new(vec![0.5, 1.0], 0.0);
        for round in 0..4 {
            bandit.begin_round(round, &mut rng);
            let surplus = if bandit.current_factor() < 0.7 { 10 } else { 1 };
            bandit.end_round(&RoundFeedback {
                impressions: 1,
                value_atomic: surplus,
                spend_atomic: 0,
            });
        }
        bandit.begin_round(9, &mut rng);
        assert_eq!(bandit.current_factor(), 0.5);
    }
}
