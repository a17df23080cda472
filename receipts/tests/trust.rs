//! Trust weighting: signed statements, personalised EigenTrust, and the Sybil test.
#![allow(missing_docs)]

use std::sync::Arc;

use attn_receipts::issuance::{ReceiptDraft, issue_receipt};
use attn_receipts::reputation::{ReputationView, Window, build_proof, verify_proof};
use attn_receipts::trust::{
    EigenTrustParams, ReputationPolicy, TrustNetwork, TrustWeighted, eigentrust,
};
use attn_receipts::*;
use proptest::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;

const NOW_MS: u64 = 1_700_000_000_000;

fn key(i: u16) -> AdvertiserKey {
    let [a, b] = i.to_le_bytes();
    let mut secret = [7u8; 32];
    secret[0] = a;
    secret[1] = b;
    AdvertiserKey::from_secret_bytes(&secret)
}

fn statement(
    truster: &AdvertiserKey,
    trustee: &AdvertiserKey,
    weight_ppm: u32,
    at_ms: u64,
) -> Signed<TrustStatement> {
    Signed::sign(
        truster,
        &TrustStatement {
            truster: truster.public_key(),
            trustee: trustee.public_key(),
            weight_ppm,
            issued_at_ms: at_ms,
        },
    )
}

/// Honest advertisers 0..6 (0 and 1 are the verifier's seeds) in a ring with chords;
/// a farm of keys 100..100+farm that all trust each other and the honest ones.
fn statements(farm: u16) -> Vec<Signed<TrustStatement>> {
    let mut statements = Vec::new();
    for i in 0..6 {
        statements.push(statement(&key(i), &key((i + 1) % 6), 800_000, 1));
        statements.push(statement(&key(i), &key((i + 3) % 6), 300_000, 1));
    }
    for a in 100..100 + farm {
        for b in 100..100 + farm {
            if a != b {
                statements.push(statement(&key(a), &key(b), 1_000_000, 1));
            }
        }
        statements.push(statement(&key(a), &key(0), 1_000_000, 1));
    }
    statements
}

fn seeds() -> Vec<PublicKey> {
    vec![key(0).public_key(), key(1).public_key()]
}

fn network(farm: u16) -> TrustNetwork {
    TrustNetwork::compute(&seeds(), &statements(farm), &EigenTrustParams::default())
        .expect("network")
}

/// A verified view of a persona holding `per_issuer` receipts of `value_atomic` from
/// each of `issuers`.
fn view(
    issuers: &[AdvertiserKey],
    per_issuer: usize,
    value_atomic: u64,
    seed: u64,
) -> ReputationView {
    let mut rng = StdRng::seed_from_u64(seed);
    let persona = PersonaKey::from_secret_bytes(&[seed as u8; 32]);
    let receipts: Vec<_> = issuers
        .iter()
        .flat_map(|issuer| std::iter::repeat_n(issuer, per_issuer))
        .map(|issuer| {
            let draft = ReceiptDraft::new(
                persona.public_key(),
                ReceiptKind::Conversion,
                value_atomic,
                NOW_MS - 10,
            );
            issue_receipt(issuer, draft, &mut rng).expect("receipt")
        })
        .collect();
    let proof = build_proof(
        &persona,
        &receipts,
        Window::ending_at(NOW_MS, 1_000),
        &mut rng,
    )
    .expect("proof");
    verify_proof(&proof, NOW_MS, &mut rng).expect("view")
}

#[test]
fn seeds_weigh_one_and_honest_advertisers_they_reach_weigh_more_than_zero() {
    let network = network(4);
    for i in 0..2 {
        assert_eq!(network.weight(&key(i).public_key()), 1.0);
    }
    for i in 2..6 {
        let weight = network.weight(&key(i).public_key());
        assert!(weight > 0.0 && weight <= 1.0, "advertiser {i}: {weight}");
    }
    let total: f64 = network.weights().map(|(k, _)| network.trust(k)).sum();
    assert!((total - 1.0).abs() < 1e-9);
}

#[test]
fn a_sybil_persona_scores_zero_however_many_receipts_it_holds() {
    let policy = TrustWeighted::new(network(8));
    let farm: Vec<AdvertiserKey> = (100..108).map(key).collect();
    for (per_issuer, value_atomic) in [(1, 10), (16, 1_000_000), (120, u32::MAX.into())] {
        let sybil = view(&farm, per_issuer, value_atomic, 3);
        assert_eq!(sybil.counts.total() as usize, farm.len() * per_issuer);
        assert!(sybil.issuers.iter().all(|entry| entry.bracket > 0));
        assert_eq!(
            policy.score(&sybil),
            0.0,
            "{per_issuer} receipts per farm key"
        );
    }
}

#[test]
fn receipts_of_an_untrusted_issuer_add_nothing() {
    let policy = TrustWeighted::new(network(8));
    let honest = [key(2), key(3)];
    let mixed = [key(2), key(3), key(100), key(101)];
    let earned = policy.score(&view(&honest, 2, 5_000, 4));
    let padded = policy.score(&view(&mixed, 2, 5_000, 4));
    assert!(earned > 0.0);
    assert_eq!(earned, padded);
}

#[test]
fn a_bigger_farm_gains_nothing_either() {
    // However many keys the farm has, nobody reachable trusts them.
    for farm in [2, 16] {
        let network = network(farm);
        for k in 100..100 + farm {
            assert_eq!(network.weight(&key(k).public_key()), 0.0);
            assert_eq!(network.trust(&key(k).public_key()), 0.0);
        }
    }
}

#[test]
fn an_attack_edge_lets_some_trust_in_and_a_revocation_takes_it_back() -> Result<()> {
    let mut statements = statements(4);
    statements.push(statement(&key(3), &key(100), 100_000, 5));
    let params = EigenTrustParams::default();
    let fooled = TrustNetwork::compute(&seeds(), &statements, &params)?;
    assert!(fooled.weight(&key(100).public_key()) > 0.0);
    assert!(fooled.weight(&key(101).public_key()) > 0.0);
    // The latest statement per pair wins: a weight of 0 revokes.
    statements.push(statement(&key(3), &key(100), 0, 6));
    let revoked = TrustNetwork::compute(&seeds(), &statements, &params)?;
    assert_eq!(revoked.weight(&key(100).public_key()), 0.0);
    // An older statement does not override a newer one, in any order.
    statements.reverse();
    let reordered = TrustNetwork::compute(&seeds(), &statements, &params)?;
    assert_eq!(reordered.weight(&key(100).public_key()), 0.0);
    Ok(())
}

#[test]
fn a_forged_statement_is_refused_by_index() {
    let mut statements = statements(0);
    let honest = statement(&key(100), &key(101), 1_000_000, 1);
    // Claims to be advertiser 0 trusting the farm, but signed by the farm.
    let forged = Signed::<TrustStatement>::from_parts(
        honest.body().to_vec(),
        key(0).public_key(),
        honest.signature_bytes(),
    )
    .expect("shape");
    statements.insert(3, forged);
    assert!(matches!(
        TrustNetwork::compute(&seeds(), &statements, &EigenTrustParams::default()),
        Err(Error::BadSignatures { indices, .. }) if indices == vec![3]
    ));
}

#[test]
fn the_policy_plugs_in_behind_pointers_and_trait_objects() {
    let policy = TrustWeighted::new(network(2));
    let honest = view(&[key(0), key(4)], 1, 200, 5);
    let direct = policy.score(&honest);
    assert!(direct > 0.0);
    let shared = Arc::new(policy.clone());
    let boxed: Box<dyn ReputationPolicy> = Box::new(policy.clone());
    assert_eq!(shared.score(&honest), direct);
    let borrowed: &dyn ReputationPolicy = &policy;
    assert_eq!(borrowed.score(&honest), direct);
    assert_eq!(boxed.score(&honest), direct);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// On any graph: trust sums to 1, is never negative, and a node no seed reaches
    /// by a path of positive edges has exactly 0.
    #[test]
    fn trust_stays_inside_what_the_seeds_reach(
        nodes in 1usize..40,
        raw_edges in prop::collection::vec((0u32..40, 0u32..40, 0.0f64..2.0), 0..120),
        raw_seeds in prop::collection::vec(0u32..40, 1..4),
    ) {
        let n = nodes as u32;
        let edges: Vec<_> = raw_edges.into_iter().map(|(a, b, w)| (a % n, b % n, w)).collect();
        let seeds: Vec<_> = raw_seeds.into_iter().map(|s| s % n).collect();
        let trust = eigentrust(nodes, &edges, &seeds, &EigenTrustParams::default())?;
        let total: f64 = trust.iter().sum();
        prop_assert!((total - 1.0).abs() < 1e-9, "total {}", total);
        let mut reached = vec![false; nodes];
        let mut frontier: Vec<usize> = seeds.iter().map(|s| *s as usize).collect();
        while let Some(node) = frontier.pop() {
            if std::mem::replace(&mut reached[node], true) {
                continue;
            }
            for &(from, to, weight) in &edges {
                if from as usize == node && weight > 0.0 && from != to {
                    frontier.push(to as usize);
                }
            }
        }
        for (node, t) in trust.iter().enumerate() {
            prop_assert!(*t >= 0.0);
            if !reached[node] {
                prop_assert_eq!(*t, 0.0, "node {} is unreachable", node);
            }
        }
    }
}
