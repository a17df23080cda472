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
    // At the Sybil-bounded damping no key of the farm reaches the weight cap of 1
    // (at 0.85 they do, and then more keys lift the farm's weight towards its uncapped
    // total, which `at_sybil_bounded_damping_…` bounds).
    let bounded = |mut config: Config| {
        config.trust.damping = attn_receipts::trust::DAMPING_SYBIL_BOUNDED;
        config
    };
    let farms: Vec<_> = [50u64, 500, 5_000]
        .iter()
        .map(|personas| common::run(bounded(market(Weighting::Eigentrust, 2, *personas, 2))))
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
    let more_keys = common::run(bounded(market(Weighting::Eigentrust, 2, 50, 8)));
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

/// The attack-edge sweep's market (`scenarios/sybil-attack-edges.sweep.toml`) at a
/// tenth of its size: 20 advertisers, 3 seeds, four farms of two keys whose bots are
/// a sixth of the personas.
fn attack_market(weighting: Weighting, attack_edges: u32, seed: u64) -> Config {
    let mut config = Config::from_toml(
        r#"
rounds = 4
[auction]
mechanism = "gsp"
slots = 3
click_weights = [1.0, 0.6, 0.35]
reserve = 0.005
[users]
count = 2000
[advertisers]
count = 20
value_model = "per-conversion"
value = { dist = "lognormal", mu = 3.0, sigma = 0.5 }
[sybil]
farms = 4
personas_per_farm = 100
keys_per_farm = 2
"#,
    )
    .expect("valid");
    config.seed = seed;
    config.trust.weighting = weighting;
    config.sybil.attack_edges = attack_edges;
    config.trust.damping = attn_receipts::trust::DAMPING_SYBIL_BOUNDED;
    config.validate().expect("valid");
    config
}

fn sybil_share(simulation: &attn_simulator::Simulation) -> f64 {
    let totals = simulation.totals();
    totals.sybil_revenue_atomic as f64 / totals.revenue_atomic as f64
}

/// The trust the farm's honest endorsers send it, in seed units: the sum over its
/// attack edges of the endorser's trust over the mean seed trust, times the share of
/// the endorser's statements the edge carries.
fn attack_inflow(simulation: &attn_simulator::Simulation, farm: u32) -> f64 {
    let graph = simulation.trust_graph();
    let trust =
        attn_simulator::reputation::issuer_trust(simulation.config(), graph).expect("trust");
    let seed_mean =
        graph.seeds.iter().map(|s| trust[*s as usize]).sum::<f64>() / graph.seeds.len() as f64;
    let honest = simulation.config().advertisers.count;
    let keys = simulation.config().sybil.keys_per_farm;
    let farm_keys = honest + farm * keys..honest + (farm + 1) * keys;
    let mut out = vec![0.0; graph.nodes];
    for (from, _, weight) in &graph.edges {
        out[*from as usize] += weight;
    }
    graph
        .edges
        .iter()
        .filter(|(from, to, _)| *from < honest && farm_keys.contains(to))
        .map(|(from, _, weight)| trust[*from as usize] / seed_mean * weight / out[*from as usize])
        .sum()
}

#[test]
fn at_sybil_bounded_damping_trust_weighting_never_pays_farms_more_than_no_weighting_and_grows_at_most_linearly()
 {
    let damping = attn_receipts::trust::DAMPING_SYBIL_BOUNDED;
    for seed in [1, 2] {
        let mut per_inflow_first = None;
        for attack_edges in [0, 1, 2, 4, 8] {
            let naive = common::run(attack_market(Weighting::None, attack_edges, seed));
            let weighted = common::run(attack_market(Weighting::Eigentrust, attack_edges, seed));
            let (naive_share, share) = (sybil_share(&naive), sybil_share(&weighted));
            assert!(
                share <= naive_share,
                "seed {seed}, {attack_edges} attack edges: Sybil share {share} with trust \
                 weighting, {naive_share} without"
            );
            // Each farm weighs at most d/(1 − d) times what its endorsers send it.
            for (farm, weight) in weighted.farm_trust().iter().enumerate() {
                let bound = damping / (1.0 - damping) * attack_inflow(&weighted, farm as u32);
                assert!(
                    *weight <= bound * (1.0 + 1e-9),
                    "seed {seed}, {attack_edges} edges, farm {farm}: weight {weight} > {bound}"
                );
            }
            if attack_edges == 0 {
                assert_eq!(share, 0.0);
                continue;
            }
            // At most proportional growth: the share per unit of trust sent over the
            // attack edges stays within 1.5 times its value at one edge (it rises a
            // little because the honest advertisers the farms draw trust from weigh
            // less; 1.3 times at most in this market).
            let inflow: f64 = (0..4).map(|farm| attack_inflow(&weighted, farm)).sum();
            let per_inflow = share / inflow;
            let first = *per_inflow_first.get_or_insert(per_inflow);
            eprintln!(
                "seed {seed} k {attack_edges}: share {share:.4} naive {naive_share:.4} inflow {inflow:.4} per inflow {per_inflow:.4}"
            );
            assert!(
                per_inflow <= first * 1.5,
                "seed {seed}, {attack_edges} edges: share {share}, {per_inflow} per unit of \
                 attack inflow, {first} with one edge"
            );
        }
    }
}
