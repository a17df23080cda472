//! Property tests of the mechanisms over random instances: the guarantees every
//! outcome keeps, VCG's truthfulness, GSP ≥ VCG, invariance to the order of the bids,
//! and agreement with brute-force reference implementations on small instances.

use std::collections::HashSet;

use attn_client_auction::mechanism::{
    self, Candidate, Evidence, Mechanism, Outcome, Rules, SlotSpec,
};
use proptest::prelude::*;

const REQUEST_ID: [u8; 16] = [9; 16];
const CASES: u32 = 512;

#[derive(Clone, Debug)]
struct Instance {
    slots: Vec<SlotSpec>,
    candidates: Vec<Candidate>,
    rules: Rules,
}

fn advertiser(id: u8) -> [u8; 32] {
    let mut key = [0u8; 32];
    key[0] = id;
    key[31] = 0xA5;
    key
}

fn candidate(price: u64, id: u8, eligible: u32) -> Candidate {
    let advertiser = advertiser(id);
    Candidate {
        price_atomic: price,
        tiebreak: mechanism::tiebreak(&REQUEST_ID, &advertiser),
        advertiser,
        eligible,
    }
}

/// Options for random instances.
#[derive(Clone, Copy)]
struct Shape {
    /// Candidates may name only some slots.
    masks: bool,
    /// Each slot has its own reserve (else one reserve for all).
    per_slot_reserves: bool,
    /// Advertisers may send several bids.
    repeat_advertisers: bool,
    slots_max: usize,
    candidates_max: usize,
}

const GENERAL: Shape = Shape {
    masks: true,
    per_slot_reserves: true,
    repeat_advertisers: true,
    slots_max: 5,
    candidates_max: 14,
};

fn instance(shape: Shape) -> impl Strategy<Value = Instance> {
    let slot = (1u32..=10_000_000, 0u64..40);
    let bid = (
        0u64..120,
        0u8..if shape.repeat_advertisers { 6 } else { 200 },
        prop_oneof![3 => Just(Candidate::ANY_SLOT), 1 => any::<u32>()],
    );
    (
        prop::collection::vec(slot, 1..=shape.slots_max),
        prop::collection::vec(bid, 0..=shape.candidates_max),
        any::<bool>(),
    )
        .prop_map(move |(slots, bids, one_slot)| {
            let common_reserve = slots[0].1;
            let slots = slots
                .iter()
                .enumerate()
                .map(|(rank, &(weight, reserve))| SlotSpec {
                    rank: rank as u32,
                    click_weight_ppm: weight,
                    reserve_atomic: if shape.per_slot_reserves {
                        reserve
                    } else {
                        common_reserve
                    },
                })
                .collect();
            // One bid per (advertiser, price): equal keys would let the index decide.
            let mut seen = HashSet::new();
            let mut next_id = 0u8;
            let candidates = bids
                .into_iter()
                .filter_map(|(price, id, mask)| {
                    let id = if shape.repeat_advertisers {
                        id
                    } else {
                        next_id += 1;
                        next_id
                    };
                    let mask = if shape.masks {
                        mask
                    } else {
                        Candidate::ANY_SLOT
                    };
                    seen.insert((price, id)).then(|| candidate(price, id, mask))
                })
                .collect();
            Instance {
                slots,
                candidates,
                rules: Rules {
                    one_slot_per_advertiser: one_slot,
                },
            }
        })
}

fn mechanism_strategy() -> impl Strategy<Value = Mechanism> {
    prop::sample::select(Mechanism::ALL.to_vec())
}

fn run(mechanism: Mechanism, instance: &Instance) -> Outcome {
    mechanism::run(
        mechanism,
        &instance.slots,
        &instance.candidates,
        &instance.rules,
    )
}

/// Total surplus `Σ w (b − r)` of the best assignment by exhaustive search, leaving
/// out the candidates `excluded` returns true for.
fn best_surplus(instance: &Instance, excluded: &dyn Fn(usize) -> bool) -> u128 {
    fn search(
        instance: &Instance,
        excluded: &dyn Fn(usize) -> bool,
        slot: usize,
        used: &mut Vec<usize>,
    ) -> u128 {
        if slot == instance.slots.len() {
            return 0;
        }
        let spec = instance.slots[slot];
        let mut best = search(instance, excluded, slot + 1, used);
        for (i, c) in instance.candidates.iter().enumerate() {
            let clashes = used.iter().any(|&u| {
                u == i
                    || (instance.rules.one_slot_per_advertiser
                        && instance.candidates[u].advertiser == c.advertiser)
            });
            if excluded(i)
                || clashes
                || c.eligible & (1 << slot) == 0
                || c.price_atomic < spec.reserve_atomic
            {
                continue;
            }
            used.push(i);
            let surplus = u128::from(spec.click_weight_ppm)
                * u128::from(c.price_atomic - spec.reserve_atomic)
                + search(instance, excluded, slot + 1, used);
            used.pop();
            best = best.max(surplus);
        }
        best
    }
    search(instance, excluded, 0, &mut Vec::new())
}

/// Slots in position order.
fn positions(slots: &[SlotSpec]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..slots.len()).collect();
    order.sort_by_key(|&i| {
        (
            std::cmp::Reverse(slots[i].click_weight_ppm),
            slots[i].rank,
            i,
        )
    });
    order
}

/// GSP by the letter: slots in position order, each scanning every candidate.
fn reference_greedy(mechanism: Mechanism, instance: &Instance) -> Vec<(usize, usize, u64)> {
    let candidates = &instance.candidates;
    let mut ranked: Vec<usize> = (0..candidates.len()).collect();
    ranked.sort_by(|&a, &b| {
        candidates[b]
            .price_atomic
            .cmp(&candidates[a].price_atomic)
            .then(candidates[a].tiebreak.cmp(&candidates[b].tiebreak))
            .then(a.cmp(&b))
    });
    let same = |a: usize, b: usize| {
        a == b
            || (instance.rules.one_slot_per_advertiser
                && candidates[a].advertiser == candidates[b].advertiser)
    };
    let mut winners: Vec<usize> = Vec::new();
    let mut awards = Vec::new();
    for slot in positions(&instance.slots) {
        let reserve = instance.slots[slot].reserve_atomic;
        let mut remaining = ranked.iter().copied().filter(|&c| {
            candidates[c].eligible & (1 << slot) != 0 && !winners.iter().any(|&w| same(w, c))
        });
        let Some(winner) = remaining.next() else {
            continue;
        };
        if candidates[winner].price_atomic < reserve {
            continue;
        }
        let price = if mechanism == Mechanism::FirstPrice {
            candidates[winner].price_atomic
        } else {
            remaining
                .find(|&c| !same(c, winner))
                .map_or(0, |c| candidates[c].price_atomic)
                .max(reserve)
        };
        winners.push(winner);
        awards.push((slot, winner, price));
    }
    awards
}

fn utility(outcome: &Outcome, slots: &[SlotSpec], bidder: usize, value: u64) -> (i128, i128) {
    outcome
        .awards
        .iter()
        .find(|a| a.candidate == bidder)
        .map_or((0, 0), |a| {
            let weight = i128::from(slots[a.slot].click_weight_ppm);
            (
                weight * (i128::from(value) - i128::from(a.price_atomic)),
                weight,
            )
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn every_outcome_keeps_the_guarantees(mechanism in mechanism_strategy(), instance in instance(GENERAL)) {
        let outcome = run(mechanism, &instance);
        let mut slots_seen = HashSet::new();
        let mut advertisers_seen = HashSet::new();
        for award in &outcome.awards {
            let bid = instance.candidates[award.candidate];
            let slot = instance.slots[award.slot];
            prop_assert!(award.price_atomic <= bid.price_atomic, "pays more than its bid: {award:?}");
            prop_assert!(award.price_atomic >= slot.reserve_atomic, "below the reserve: {award:?}");
            prop_assert!(bid.eligible & (1 << award.slot) != 0, "took a slot it did not bid for");
            prop_assert!(slots_seen.insert(award.slot), "slot awarded twice");
            if instance.rules.one_slot_per_advertiser {
                prop_assert!(advertisers_seen.insert(bid.advertiser), "advertiser won twice");
            }
            prop_assert_eq!(
                u128::from(award.charge_atomic),
                u128::from(award.price_atomic) * u128::from(slot.click_weight_ppm) / 1_000_000
            );
            match &award.evidence {
                Evidence::OwnBid => prop_assert_eq!(mechanism, Mechanism::FirstPrice),
                Evidence::NextBid { candidate } => {
                    prop_assert_eq!(instance.candidates[*candidate].price_atomic, award.price_atomic);
                    prop_assert!(*candidate != award.candidate);
                }
                Evidence::Reserve { slot } => {
                    prop_assert_eq!(*slot, award.slot);
                    prop_assert_eq!(award.price_atomic, instance.slots[*slot].reserve_atomic);
                }
                Evidence::Externality { lower } => {
                    prop_assert_eq!(mechanism, Mechanism::Vcg);
                    prop_assert!(!lower.is_empty() && lower.len() <= mechanism::EXTERNALITY_CANDIDATES_MAX);
                    prop_assert!(!lower.contains(&award.candidate));
                }
            }
        }
    }

    #[test]
    fn greedy_mechanisms_match_the_reference(mechanism in prop::sample::select(vec![Mechanism::FirstPrice, Mechanism::SecondPrice, Mechanism::Gsp]), instance in instance(GENERAL)) {
        let outcome = run(mechanism, &instance);
        let awards: Vec<_> = outcome.awards.iter().map(|a| (a.slot, a.candidate, a.price_atomic)).collect();
        prop_assert_eq!(awards, reference_greedy(mechanism, &instance));
    }

    /// VCG's allocation is welfare-optimal and each price is the externality, both
    /// checked against exhaustive search.
    #[test]
    fn vcg_matches_exhaustive_search(instance in prop_oneof![
        instance(Shape { slots_max: 3, candidates_max: 7, ..GENERAL }),
        instance(Shape { slots_max: 4, candidates_max: 7, masks: false, per_slot_reserves: false, ..GENERAL }),
    ]) {
        let outcome = run(Mechanism::Vcg, &instance);
        let candidates = &instance.candidates;
        let surplus = |slot: usize, c: usize| {
            let spec = instance.slots[slot];
            u128::from(spec.click_weight_ppm) * u128::from(candidates[c].price_atomic - spec.reserve_atomic)
        };
        let best = best_surplus(&instance, &|_| false);
        let achieved: u128 = outcome.awards.iter().map(|a| surplus(a.slot, a.candidate)).sum();
        prop_assert_eq!(achieved, best);
        for award in &outcome.awards {
            let winner = candidates[award.candidate];
            let without = best_surplus(&instance, &|i| {
                i == award.candidate
                    || (instance.rules.one_slot_per_advertiser && candidates[i].advertiser == winner.advertiser)
            });
            let spec = instance.slots[award.slot];
            let weight = u128::from(spec.click_weight_ppm);
            let payment = weight * u128::from(spec.reserve_atomic) + without - (best - surplus(award.slot, award.candidate));
            prop_assert_eq!(u128::from(award.price_atomic), payment / weight);
        }
    }

    /// No bidder gains `weight × (value − price)` by bidding anything but its value.
    /// Prices are rounded down to whole atomic units per unit, which can favour a
    /// bidder by less than one atomic unit per unit of weight, so a misreport may
    /// gain at most `weight − 1` (in ppm × atomic units) over the exact VCG utility.
    #[test]
    fn vcg_is_truthful(
        instance in prop_oneof![
            instance(Shape { repeat_advertisers: false, ..GENERAL }),
            instance(Shape { repeat_advertisers: false, masks: false, per_slot_reserves: false, ..GENERAL }),
        ],
        pick in any::<prop::sample::Index>(),
        misreport in 0u64..160,
    ) {
        prop_assume!(!instance.candidates.is_empty());
        let bidder = pick.index(instance.candidates.len());
        let value = instance.candidates[bidder].price_atomic;
        let truthful = run(Mechanism::Vcg, &instance);
        let (honest, _) = utility(&truthful, &instance.slots, bidder, value);
        prop_assert!(honest >= 0);
        let mut lying = instance.clone();
        lying.candidates[bidder].price_atomic = misreport;
        let (gained, weight) = utility(&run(Mechanism::Vcg, &lying), &lying.slots, bidder, value);
        prop_assert!(
            gained <= honest + (weight - 1).max(0),
            "bidding {misreport} instead of {value} raised utility from {honest} to {gained}"
        );
    }

    /// On the same bids GSP charges every slot at least what VCG charges (one
    /// reserve for all slots and every bid eligible everywhere, so both allocate the
    /// same way).
    #[test]
    fn gsp_prices_are_at_least_vcg_prices(instance in instance(Shape { masks: false, per_slot_reserves: false, slots_max: 8, candidates_max: 24, ..GENERAL })) {
        let gsp = run(Mechanism::Gsp, &instance);
        let vcg = run(Mechanism::Vcg, &instance);
        prop_assert_eq!(gsp.awards.len(), vcg.awards.len());
        for (g, v) in gsp.awards.iter().zip(&vcg.awards) {
            prop_assert_eq!((g.slot, g.candidate), (v.slot, v.candidate));
            prop_assert!(g.price_atomic >= v.price_atomic, "GSP {g:?} below VCG {v:?}");
        }
    }

    /// Permuting the candidates permutes the indices in the outcome and nothing else.
    #[test]
    fn outcomes_do_not_depend_on_the_order_of_bids(
        mechanism in mechanism_strategy(),
        (instance, permutation) in instance(GENERAL).prop_flat_map(|instance| {
            let order: Vec<usize> = (0..instance.candidates.len()).collect();
            (Just(instance), Just(order).prop_shuffle())
        }),
    ) {
        // permuted[j] = original[permutation[j]]
        let mut permuted = instance.clone();
        permuted.candidates = permutation.iter().map(|&i| instance.candidates[i]).collect();
        let original = run(mechanism, &instance);
        let mut mapped = run(mechanism, &permuted);
        for award in &mut mapped.awards {
            award.candidate = permutation[award.candidate];
            match &mut award.evidence {
                Evidence::NextBid { candidate } => *candidate = permutation[*candidate],
                Evidence::Externality { lower } => {
                    for c in lower.iter_mut() {
                        *c = permutation[*c];
                    }
                }
                Evidence::OwnBid | Evidence::Reserve { .. } => {}
            }
        }
        prop_assert_eq!(mapped, original);
    }
}
