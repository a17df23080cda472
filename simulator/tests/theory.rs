//! The engine, running the product's mechanisms, against auction theory.
//!
//! Tolerances come from the number of auctions: a per-auction revenue or welfare lies
//! in [0, 1], so its standard deviation is at most ½ and the mean of `N` independent
//! auctions is within `4 · ½ / √N` of its expectation except with probability < 10⁻⁴.

mod common;

use attn_simulator::config::{MechanismName, StrategyName, ValueModel};
use attn_simulator::strategy::{BidContext, Strategy};
use attn_simulator::theory::{expected_revenue_uniform, expected_welfare_uniform};
use attn_simulator::{Config, Simulation};

const USERS: u64 = 6_000;
const ROUNDS: u32 = 2;

fn textbook(
    mechanism: MechanismName,
    strategy: StrategyName,
    bidders: u32,
    reserve: f64,
) -> Config {
    let mut config = Config {
        seed: 20_250,
        rounds: ROUNDS,
        ..Config::default()
    };
    config.users.count = USERS;
    config.users.opportunities_per_round = 2;
    config.users.block_probability = 0.0;
    config.auction.mechanism = mechanism;
    config.auction.reserve = reserve;
    config.advertisers.count = bidders;
    config.advertisers.value_model = ValueModel::PerImpression;
    config.advertisers.strategy = strategy;
    config.validate().expect("valid");
    config
}

struct Measured {
    revenue: f64,
    welfare: f64,
    surplus: f64,
    tolerance: f64,
}

fn measure(config: Config) -> Measured {
    let simulation = common::run(config);
    let totals = simulation.totals();
    let n = totals.auctions as f64;
    Measured {
        revenue: totals.revenue_atomic as f64 / 1e6 / n,
        welfare: totals.welfare_atomic as f64 / 1e6 / n,
        surplus: totals.advertiser_surplus_atomic() as f64 / 1e6 / n,
        tolerance: 4.0 * 0.5 / n.sqrt(),
    }
}

#[test]
fn second_price_truthful_and_first_price_bne_match_the_closed_forms() {
    for reserve in [0.0, 0.3] {
        for n in [2u32, 4] {
            let expected = expected_revenue_uniform(n, 0.0, 1.0, reserve);
            for (mechanism, strategy) in [
                (MechanismName::SecondPrice, StrategyName::Truthful),
                (MechanismName::FirstPrice, StrategyName::Bne),
            ] {
                let m = measure(textbook(mechanism, strategy, n, reserve));
                assert!(
                    (m.revenue - expected).abs() < m.tolerance,
                    "{mechanism:?} n={n} r={reserve}: revenue {} vs {expected} ± {}",
                    m.revenue,
                    m.tolerance
                );
                let welfare = expected_welfare_uniform(n, 0.0, 1.0, reserve);
                assert!(
                    (m.welfare - welfare).abs() < m.tolerance,
                    "{mechanism:?} n={n} r={reserve}: welfare {} vs {welfare}",
                    m.welfare
                );
            }
        }
    }
}

#[test]
fn more_bidders_raise_revenue_and_welfare_and_lower_bidder_surplus() {
    let markets: Vec<Measured> = [2u32, 4, 8]
        .iter()
        .map(|n| {
            measure(textbook(
                MechanismName::SecondPrice,
                StrategyName::Truthful,
                *n,
                0.0,
            ))
        })
        .collect();
    for pair in markets.windows(2) {
        let (fewer, more) = (&pair[0], &pair[1]);
        let tolerance = fewer.tolerance + more.tolerance;
        assert!(more.revenue > fewer.revenue + tolerance);
        assert!(more.welfare > fewer.welfare + tolerance);
        assert!(more.surplus < fewer.surplus - tolerance);
    }
}

/// Bids a fixed price whatever the value (to build textbook instances).
struct FixedBid(u64);

impl Strategy for FixedBid {
    fn name(&self) -> &str {
        "fixed"
    }
    fn bid(&self, _value_atomic: f64, _context: &BidContext) -> u64 {
        self.0
    }
}

fn fixed_bids(mechanism: MechanismName) -> Simulation {
    let mut config = textbook(mechanism, StrategyName::Truthful, 3, 0.0);
    config.users.count = 200;
    config.auction.slots = 2;
    config.auction.click_weights = Some(vec![1.0, 0.5]);
    config.validate().expect("valid");
    let bids = [10_000_000u64, 4_000_000, 2_000_000];
    let mut simulation =
        Simulation::with_strategies(config, |a| Box::new(FixedBid(bids[a as usize])))
            .expect("simulation");
    while !simulation.finished() {
        simulation.step().expect("round");
    }
    simulation
}

#[test]
fn gsp_and_vcg_on_the_textbook_instance() {
    // Bids 10, 4, 2 for slots with click weights 1 and ½:
    // GSP charges 4·1 + 2·½ = 5; VCG charges (4·½ + 2·½) + 2·½ = 4.
    let gsp = fixed_bids(MechanismName::Gsp);
    let vcg = fixed_bids(MechanismName::Vcg);
    let auctions = gsp.totals().auctions;
    assert_eq!(gsp.totals().revenue_atomic, auctions * 5_000_000);
    assert_eq!(vcg.totals().revenue_atomic, auctions * 4_000_000);
    assert!(gsp.totals().revenue_atomic >= vcg.totals().revenue_atomic);
    // The same allocation, so the same welfare; the top bidder pays 4 vs 3.
    assert_eq!(gsp.totals().welfare_atomic, vcg.totals().welfare_atomic);
    let gsp_spend = gsp.advertiser_spend_atomic();
    let vcg_spend = vcg.advertiser_spend_atomic();
    assert_eq!(
        gsp_spend,
        vec![auctions * 4_000_000, auctions * 1_000_000, 0]
    );
    assert_eq!(
        vcg_spend,
        vec![auctions * 3_000_000, auctions * 1_000_000, 0]
    );
}
