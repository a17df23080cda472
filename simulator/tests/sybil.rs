//! Sybil farms against the trust weighting.

mod common;

use attn_simulator::Config;
use attn_simulator::config::Weighting;

fn market(weighting: Weighting, attack_edges: u32, personas_per_farm: u64, keys: u32) -> Config {
    let mut config = Config::from_toml(
        r#"
seed = 5
rounds = 3
[users]
count = 2000
[advertisers]
count = 10
value_model = "per-conversion"
value = { dist = "uniform", low = 50, high = 150 }
[sybil]
farms = 1
"#,
    )
    .expect("valid");
    config.trust.weighting = weighting;
    config.sybil.attack_edges = attack_edges;
    config.sybil.personas_per_farm = personas_per_farm;
    config.sybil.keys_per_farm = keys;
    config.validate().expect("valid");
    config
}

#[test]
fn trust_weighting_pays_a_farm_without_attack_edges_nothing() {
    let weighted = common::run(market(Weighting::Eigentrust, 0, 400, 2));
    assert_eq!(weighted.farm_trust(), vec![0.0]);
    assert_eq!(weighted.totals().sybil_revenue_atomic, 0);
    assert!(weighted.totals().honest_revenue_atomic > 0);

    let naive = common::run(market(Weighting::None, 0, 400, 2));
    let share = naive.totals().sybil_revenue_atomic as f64 / naive.totals().revenue_atomic as f64;
    // 400 of 2,400 personas: without trust they earn like (or better than) users.
    assert!(share > 0.1, "Sybil share without trust weighting: {share}");
    // Bots never convert: paying them lowers the advertisers' return.
    assert!(
        naive.totals().advertiser_surplus_atomic() < weighted.totals().advertiser_surplus_atomic()
    );
}

/// `|a − b| ≤ 1e-9 · max(|a|, |b|)`: equal up to the order of float sums.
fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs())
}

#[test]
fn a_farms_total_trust_does_not_grow_with_its_personas_or_keys() {
    let farms: Vec<_> = [50u64, 500, 5_000]
        .iter()
        .map(|personas| common::run(market(Weighting::Eigentrust, 2, *personas, 2)))
        .collect();
    let trust = farms[0].farm_trust()[0];
    assert!(trust > 0.0, "attack edges give the farm some trust");
    let budget = farms[0].farm_weighted_receipts()[0];
    let saturation = farms[0].config().reputation.saturation;
    for farm in &farms {
        let personas = farm.config().sybil.personas_per_farm;
        assert_eq!(farm.farm_trust(), vec![trust], "{personas} personas");
        // The trust mass credited to the farm's personas is the same budget, however
        // many personas share it…
        let weighted = farm.farm_weighted_receipts()[0];
        assert!(
            close(weighted, budget),
            "{personas} personas: weighted receipts {weighted} vs {budget}"
        );
        // …so their scores sum to at most budget / saturation.
        let scores = farm.farm_scores()[0];
        assert!(
            scores <= budget / saturation * (1.0 + 1e-9),
            "{personas} personas: scores {scores} > {}",
            budget / saturation
        );
    }
    // Once the budget is spread thinner than saturation (500 personas here), ten
    // times more personas earn no more: bids are proportional to the score, and
    // rounding each price down can only lose.
    assert!(budget / saturation < 500.0, "budget {budget}");
    let revenue: Vec<u64> = farms.iter().map(|f| f.farm_revenue_atomic()[0]).collect();
    assert!(revenue[1] > 0, "{revenue:?}");
    assert!(
        revenue[2] as f64 <= revenue[1] as f64 * 1.001,
        "10× personas: revenue {revenue:?}"
    );
    // More keys share the same inflow of trust.
    let more_keys = common::run(market(Weighting::Eigentrust, 2, 50, 8));
    assert!(
        close(more_keys.farm_trust()[0], trust),
        "8 keys: trust {} vs {trust}",
        more_keys.farm_trust()[0]
    );
    assert!(close(more_keys.farm_weighted_receipts()[0], budget));
}

#[test]
fn an_untrusted_farm_takes_nothing_from_honest_users() {
    // With budgets that bind, a farm nobody endorses must not even dilute the budget
    // advertisers pace over their audience: honest users earn exactly what they earn
    // in the same market without the farm.
    let mut with_farm = market(Weighting::Eigentrust, 0, 3_000, 2);
    with_farm.advertisers.budget = 20.0;
    let mut without_farm = with_farm.clone();
    without_farm.sybil.farms = 0;
    let (with_farm, without_farm) = (common::run(with_farm), common::run(without_farm));
    let spend = without_farm.advertiser_spend_atomic();
    assert!(
        spend.iter().any(|s| *s > 19_000_000),
        "budgets should bind: {spend:?}"
    );
    assert_eq!(with_farm.totals().sybil_revenue_atomic, 0);
    assert_eq!(
        with_farm.totals().honest_revenue_atomic,
        without_farm.totals().honest_revenue_atomic
    );
    assert_eq!(spend, with_farm.advertiser_spend_atomic());
}
