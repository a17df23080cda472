//! Budgets, money conservation and real cryptography.

mod common;

use attn_simulator::config::CryptoMode;

#[test]
fn budgets_bind_and_are_never_exceeded() {
    let mut config = common::busy_market();
    config.advertisers.budget = 0.5;
    let simulation = common::run(config);
    let spend = simulation.advertiser_spend_atomic();
    assert!(spend.iter().all(|s| *s <= 500_000), "{spend:?}");
    assert!(
        spend.iter().any(|s| *s > 400_000),
        "budgets should bind: {spend:?}"
    );
    let totals = simulation.totals();
    assert_eq!(
        totals.revenue_atomic + totals.bundler_margin_atomic,
        totals.advertiser_spend_atomic
    );
    assert_eq!(
        totals.honest_revenue_atomic + totals.sybil_revenue_atomic,
        totals.revenue_atomic
    );
}

#[test]
fn real_crypto_signs_everything_and_changes_no_outcome() {
    let mut config = common::busy_market();
    config.users.count = 60;
    config.sybil.personas_per_farm = 10;
    config.rounds = 2;
    let modelled = common::run(config.clone());
    config.crypto = CryptoMode::Real;
    let real = common::run(config);
    let (m, r) = (modelled.totals(), real.totals());
    assert_eq!(m.signatures, 0);
    // Bids, impressions, conversion receipts, minted receipts and trust statements.
    assert!(r.signatures > r.impressions + r.conversions && r.verifications == r.signatures);
    let mut r_without = r.clone();
    r_without.signatures = 0;
    r_without.verifications = 0;
    assert_eq!(&r_without, m);
}
