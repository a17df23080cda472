//! Unit tests of the mechanisms' internals; the textbook instances and the property
//! tests of the public API live in `client-auction/tests/mechanism_*.rs`.

use proptest::prelude::*;

use super::*;

fn candidate(price: u64, id: u8) -> Candidate {
    let advertiser = [id; 32];
    Candidate::any_slot(price, tiebreak(&[0; 16], &advertiser), advertiser)
}

fn slot(rank: u32, weight: u32, reserve: u64) -> SlotSpec {
    SlotSpec {
        rank,
        click_weight_ppm: weight,
        reserve_atomic: reserve,
    }
}

#[test]
fn tiebreak_is_sha256_of_request_id_and_advertiser() {
    // SHA-256 of 48 zero bytes.
    assert_eq!(
        hex::encode(tiebreak(&[0; 16], &[0; 32])),
        "17b0761f87b081d5cf10757ccc89f12be355c70e2e29df288b65b30710dcbcd1"
    );
    assert_ne!(tiebreak(&[0; 16], &[1; 32]), tiebreak(&[1; 16], &[1; 32]));
}

#[test]
fn reserve_is_the_largest_floor() {
    assert_eq!(reserve_atomic(None, None, None), 0);
    assert_eq!(reserve_atomic(Some(3), None, Some(5)), 5);
    assert_eq!(reserve_atomic(Some(9), Some(4), Some(5)), 9);
}

#[test]
fn equal_prices_are_ordered_by_hash_not_position() {
    let a = candidate(5, 1);
    let b = candidate(5, 2);
    let first = if a.tiebreak < b.tiebreak { 0 } else { 1 };
    for (pair, expected) in [([a, b], first), ([b, a], 1 - first)] {
        let outcome = run(
            Mechanism::SecondPrice,
            &[slot(0, 1_000_000, 0)],
            &pair,
            &Rules::default(),
        );
        assert_eq!(outcome.awards[0].candidate, expected);
        assert_eq!(outcome.awards[0].price_atomic, 5);
    }
}

#[test]
fn top_k_keeps_the_best_in_order() {
    let candidates: Vec<_> = [4u64, 9, 1, 7, 7, 3]
        .iter()
        .enumerate()
        .map(|(i, &p)| candidate(p, i as u8))
        .collect();
    let mut out = [0usize; 3];
    assert_eq!(top_k(&candidates, &mut out), 3);
    assert_eq!(candidates[out[0]].price_atomic, 9);
    assert_eq!(candidates[out[1]].price_atomic, 7);
    assert_eq!(candidates[out[2]].price_atomic, 7);
    assert!(candidates[out[1]].tiebreak < candidates[out[2]].tiebreak);
    let mut many = [0usize; 10];
    assert_eq!(top_k(&candidates, &mut many), 6);
    assert_eq!(candidates[many[5]].price_atomic, 1);
}

#[test]
fn slots_fill_by_weight_then_rank() {
    // Slot 0 is light; slots 1 and 2 weigh the same and rank 1 beats rank 2.
    let slots = [
        slot(0, 100_000, 0),
        slot(2, 500_000, 0),
        slot(1, 500_000, 0),
    ];
    let candidates = [candidate(9, 1), candidate(8, 2), candidate(7, 3)];
    let outcome = run(
        Mechanism::FirstPrice,
        &slots,
        &candidates,
        &Rules::default(),
    );
    let won: Vec<_> = outcome
        .awards
        .iter()
        .map(|a| (a.slot, a.candidate))
        .collect();
    assert_eq!(won, [(2, 0), (1, 1), (0, 2)]);
}

#[test]
fn one_slot_per_advertiser_unless_allowed() {
    let slots = [slot(0, 2_000_000, 0), slot(1, 1_000_000, 0)];
    let candidates = [candidate(10, 1), candidate(9, 1), candidate(3, 2)];
    let outcome = run(Mechanism::Gsp, &slots, &candidates, &Rules::default());
    let won: Vec<_> = outcome
        .awards
        .iter()
        .map(|a| (a.candidate, a.price_atomic))
        .collect();
    // Advertiser 1's second bid neither wins nor sets its price.
    assert_eq!(won, [(0, 3), (2, 0)]);
    let allowed = Rules {
        one_slot_per_advertiser: false,
    };
    let outcome = run(Mechanism::Gsp, &slots, &candidates, &allowed);
    let won: Vec<_> = outcome
        .awards
        .iter()
        .map(|a| (a.candidate, a.price_atomic))
        .collect();
    assert_eq!(won, [(0, 9), (1, 3)]);
}

#[test]
fn a_slot_below_its_reserve_stays_empty_and_the_reserve_is_evidence() {
    let slots = [slot(0, 2_000_000, 12), slot(1, 1_000_000, 5)];
    let candidates = [candidate(10, 1), candidate(4, 2)];
    for mechanism in [Mechanism::Gsp, Mechanism::Vcg] {
        let outcome = run(mechanism, &slots, &candidates, &Rules::default());
        assert_eq!(outcome.awards.len(), 1, "{mechanism:?}");
        let award = &outcome.awards[0];
        assert_eq!((award.slot, award.candidate, award.price_atomic), (1, 0, 5));
        assert_eq!(award.evidence, Evidence::Reserve { slot: 1 });
        assert_eq!(award.charge_atomic, 5);
    }
}

#[test]
fn eligibility_masks_restrict_slots() {
    let slots = [slot(0, 2_000_000, 0), slot(1, 1_000_000, 0)];
    let mut only_second = candidate(10, 1);
    only_second.eligible = 0b10;
    let candidates = [only_second, candidate(6, 2), candidate(2, 3)];
    let gsp = run(Mechanism::Gsp, &slots, &candidates, &Rules::default());
    let won: Vec<_> = gsp
        .awards
        .iter()
        .map(|a| (a.slot, a.candidate, a.price_atomic))
        .collect();
    // Slot 0: 10 may not take it, so 6 wins and 2 is its runner-up; slot 1: 10 wins
    // against the remaining 2.
    assert_eq!(won, [(0, 1, 2), (1, 0, 2)]);
    let vcg = run(Mechanism::Vcg, &slots, &candidates, &Rules::default());
    let won: Vec<_> = vcg
        .awards
        .iter()
        .map(|a| (a.slot, a.candidate, a.price_atomic))
        .collect();
    // Without candidate 1, slot 0 goes to 2 (welfare 2·2): it pays 4/2 = 2 per unit.
    // Without candidate 0, candidate 2 takes slot 1 (welfare 1·2): 0 pays 2.
    assert_eq!(won, [(0, 1, 2), (1, 0, 2)]);
    assert_eq!(
        vcg.awards[0].evidence,
        Evidence::Externality { lower: vec![2] }
    );
}

#[test]
fn prices_above_the_maximum_are_ignored() {
    let candidates = [
        candidate(PRICE_ATOMIC_MAX + 1, 1),
        candidate(7, 2),
        candidate(3, 3),
    ];
    let outcome = run(
        Mechanism::SecondPrice,
        &[slot(0, CLICK_WEIGHT_PPM_MAX, 0)],
        &candidates,
        &Rules::default(),
    );
    assert_eq!(outcome.awards[0].candidate, 1);
    assert_eq!(outcome.awards[0].price_atomic, 3);
    let top = [
        candidate(PRICE_ATOMIC_MAX, 1),
        candidate(PRICE_ATOMIC_MAX, 2),
    ];
    let outcome = run(
        Mechanism::Vcg,
        &[slot(0, CLICK_WEIGHT_PPM_MAX, 0)],
        &top,
        &Rules::default(),
    );
    assert_eq!(outcome.awards[0].charge_atomic, PRICE_ATOMIC_MAX * 10);
}

#[test]
#[should_panic(expected = "exceed SLOTS_MAX")]
fn more_than_slots_max_is_refused() {
    let slots: Vec<_> = (0..=SLOTS_MAX as u32)
        .map(|r| slot(r, 1_000_000, 0))
        .collect();
    run(
        Mechanism::Gsp,
        &slots,
        &[candidate(1, 1)],
        &Rules::default(),
    );
}

#[test]
#[should_panic(expected = "exceed CANDIDATES_MAX")]
fn more_than_candidates_max_is_refused() {
    let candidates = vec![candidate(1, 1); CANDIDATES_MAX + 1];
    run(
        Mechanism::Gsp,
        &[slot(0, 1_000_000, 0)],
        &candidates,
        &Rules::default(),
    );
}

#[test]
#[should_panic(expected = "click weight")]
fn a_zero_click_weight_is_refused() {
    run(
        Mechanism::Vcg,
        &[slot(0, 0, 0)],
        &[candidate(1, 1)],
        &Rules::default(),
    );
}

fn uniform_instance() -> impl Strategy<Value = (Vec<SlotSpec>, Vec<Candidate>, bool)> {
    (
        prop::collection::vec(1u32..=CLICK_WEIGHT_PPM_MAX, 1..=6),
        0u64..50,
        prop::collection::vec((0u64..200, 0u8..12), 0..14),
        any::<bool>(),
    )
        .prop_map(|(weights, reserve, bids, one_slot)| {
            let slots = weights
                .iter()
                .enumerate()
                .map(|(i, &w)| slot(i as u32, w, reserve))
                .collect();
            let candidates = bids
                .iter()
                .map(|&(price, id)| candidate(price, id))
                .collect();
            (slots, candidates, one_slot)
        })
}

proptest! {
    /// The closed form of the position auction and the exact assignment agree on
    /// every instance where both apply.
    #[test]
    fn closed_form_vcg_matches_the_assignment((slots, candidates, one_slot) in uniform_instance()) {
        let rules = Rules { one_slot_per_advertiser: one_slot };
        let context = Context::new(&slots, &candidates, &rules);
        let selection = Selection::select(&context);
        prop_assert!(selection.is_uniform());
        let mut closed = Vec::new();
        vcg_position_auction(&context, &selection, &mut closed);
        let mut exact = Vec::new();
        vcg_assignment(&context, &selection, &mut exact);
        // The same winners in the same slots at the same prices: the assignment's
        // tie-break picks the assortative allocation among equal-welfare ones.
        let prices = |awards: &[WinnerAward]| -> Vec<(usize, usize, u64)> {
            awards.iter().map(|a| (a.slot, a.candidate, a.price_atomic)).collect()
        };
        prop_assert_eq!(prices(&closed), prices(&exact));
        let welfare = |awards: &[WinnerAward]| -> u128 {
            awards.iter().map(|a| u128::from(slots[a.slot].click_weight_ppm) * u128::from(candidates[a.candidate].price_atomic)).sum()
        };
        prop_assert_eq!(welfare(&closed), welfare(&exact));
    }

    /// The per-slot lists agree with the shared list when every slot's list is the
    /// shared one: greedy and assignment give the same outcome on both paths.
    #[test]
    fn per_slot_path_matches_shared_path((slots, candidates, one_slot) in uniform_instance()) {
        let rules = Rules { one_slot_per_advertiser: one_slot };
        let context = Context::new(&slots, &candidates, &rules);
        let shared = Selection::select(&context);
        let mut per_slot = Selection::select(&context);
        per_slot.force_per_slot(slots.len());
        prop_assert!(!per_slot.is_uniform());
        for mechanism in [Mechanism::FirstPrice, Mechanism::Gsp] {
            let (mut a, mut b) = (Vec::new(), Vec::new());
            greedy(&context, &shared, mechanism, &mut a);
            greedy(&context, &per_slot, mechanism, &mut b);
            prop_assert_eq!(a, b);
        }
        let (mut a, mut b) = (Vec::new(), Vec::new());
        vcg_assignment(&context, &shared, &mut a);
        vcg_assignment(&context, &per_slot, &mut b);
        prop_assert_eq!(a, b);
    }
}

/// One slot and bids with repeated advertisers, equal prices, prices past
/// [`PRICE_ATOMIC_MAX`] and bids that may not take the slot.
fn single_slot_instance() -> impl Strategy<Value = (SlotSpec, Vec<Candidate>, bool)> {
    let bid = (
        prop_oneof![9 => 0u64..200, 1 => Just(PRICE_ATOMIC_MAX + 1)],
        0u8..6,
        prop_oneof![6 => Just(Candidate::ANY_SLOT), 1 => Just(1u32), 1 => Just(0u32), 1 => Just(2u32)],
    );
    (
        1u32..=CLICK_WEIGHT_PPM_MAX,
        0u64..50,
        prop::collection::vec(bid, 1..24),
        any::<bool>(),
    )
        .prop_map(|(weight, reserve, bids, one_slot)| {
            let candidates = bids
                .iter()
                .map(|&(price, id, eligible)| Candidate {
                    eligible,
                    ..candidate(price, id)
                })
                .collect();
            (slot(0, weight, reserve), candidates, one_slot)
        })
}

proptest! {
    /// The single-slot path gives exactly what the general path (selection lists,
    /// then greedy) gives: winner, price, charge and evidence.
    #[test]
    fn the_single_slot_path_matches_the_general_path(
        (slot, candidates, one_slot) in single_slot_instance()
    ) {
        let rules = Rules { one_slot_per_advertiser: one_slot };
        let slots = [slot];
        for mechanism in [Mechanism::FirstPrice, Mechanism::SecondPrice, Mechanism::Gsp] {
            let context = Context::new(&slots, &candidates, &rules);
            let mut general = Vec::new();
            greedy(&context, &Selection::select(&context), mechanism, &mut general);
            let mut fast = Vec::new();
            single_slot(&slots[0], &candidates, &rules, mechanism, &mut fast);
            prop_assert_eq!(&fast, &general, "{:?}", mechanism);
            prop_assert_eq!(run(mechanism, &slots, &candidates, &rules).awards, general);
        }
    }
}
