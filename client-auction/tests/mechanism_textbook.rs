//! Textbook instances of the position auction (Edelman, Ostrovsky and Schwarz 2007;
//! Varian 2007): three advertisers value a click at 10, 4 and 2, two slots receive
//! 200 and 100 clicks. Revenue is `Σ weight × price per unit` with the weights as
//! given (here the weights are the click counts, passed as `click_weight_ppm`).

use attn_client_auction::mechanism::{self, Candidate, Evidence, Mechanism, Rules, SlotSpec};

const REQUEST_ID: [u8; 16] = [42; 16];

fn slots(weights: &[u32], reserve: u64) -> Vec<SlotSpec> {
    weights
        .iter()
        .enumerate()
        .map(|(rank, &click_weight_ppm)| SlotSpec {
            rank: rank as u32,
            click_weight_ppm,
            reserve_atomic: reserve,
        })
        .collect()
}

fn candidates(bids: &[u64]) -> Vec<Candidate> {
    bids.iter()
        .enumerate()
        .map(|(i, &price)| {
            let advertiser = [i as u8 + 1; 32];
            Candidate::any_slot(
                price,
                mechanism::tiebreak(&REQUEST_ID, &advertiser),
                advertiser,
            )
        })
        .collect()
}

/// `Σ weight × price` and the (slot, candidate, price) of every award.
fn run(mechanism: Mechanism, slots: &[SlotSpec], bids: &[u64]) -> (u64, Vec<(usize, usize, u64)>) {
    let outcome = mechanism::run(mechanism, slots, &candidates(bids), &Rules::default());
    let revenue = outcome
        .awards
        .iter()
        .map(|a| u64::from(slots[a.slot].click_weight_ppm) * a.price_atomic)
        .sum();
    let awards = outcome
        .awards
        .iter()
        .map(|a| (a.slot, a.candidate, a.price_atomic))
        .collect();
    (revenue, awards)
}

#[test]
fn truthful_gsp_earns_1000() {
    let (revenue, awards) = run(Mechanism::Gsp, &slots(&[200, 100], 0), &[10, 4, 2]);
    assert_eq!(awards, [(0, 0, 4), (1, 1, 2)]);
    assert_eq!(revenue, 1000);
}

#[test]
fn vcg_earns_800() {
    let (revenue, awards) = run(Mechanism::Vcg, &slots(&[200, 100], 0), &[10, 4, 2]);
    // The top advertiser pays its externality: (200 − 100) × 4 + 100 × 2 = 600 for
    // 200 clicks, 3 per click; the second pays 100 × 2 = 200, 2 per click.
    assert_eq!(awards, [(0, 0, 3), (1, 1, 2)]);
    assert_eq!(revenue, 800);
}

#[test]
fn gsp_with_bids_3_and_2_reproduces_vcg() {
    // The lowest envy-free equilibrium of GSP: the lower two shade to 3 and 2.
    let (revenue, awards) = run(Mechanism::Gsp, &slots(&[200, 100], 0), &[10, 3, 2]);
    assert_eq!(awards, [(0, 0, 3), (1, 1, 2)]);
    assert_eq!(revenue, 800);
    let (vcg_revenue, vcg_awards) = run(Mechanism::Vcg, &slots(&[200, 100], 0), &[10, 4, 2]);
    assert_eq!((revenue, awards), (vcg_revenue, vcg_awards));
}

#[test]
fn first_price_charges_the_bids() {
    let (revenue, awards) = run(Mechanism::FirstPrice, &slots(&[200, 100], 0), &[10, 4, 2]);
    assert_eq!(awards, [(0, 0, 10), (1, 1, 4)]);
    assert_eq!(revenue, 2400);
}

#[test]
fn second_price_on_one_slot_is_vickrey() {
    let (revenue, awards) = run(Mechanism::SecondPrice, &slots(&[200], 0), &[10, 4, 2]);
    assert_eq!(awards, [(0, 0, 4)]);
    assert_eq!(revenue, 800);
    // On one slot, VCG and second price coincide.
    assert_eq!(
        run(Mechanism::Vcg, &slots(&[200], 0), &[10, 4, 2]).1,
        awards
    );
}

#[test]
fn second_price_on_several_slots_is_gsp() {
    let slots = slots(&[200, 100], 0);
    assert_eq!(
        run(Mechanism::SecondPrice, &slots, &[10, 4, 2]),
        run(Mechanism::Gsp, &slots, &[10, 4, 2])
    );
}

#[test]
fn a_reserve_of_3_lifts_the_prices_that_fall_below_it() {
    let slots = slots(&[200, 100], 3);
    // GSP: slot 0 pays max(4, 3) = 4, slot 1 pays max(2, 3) = 3.
    assert_eq!(
        run(Mechanism::Gsp, &slots, &[10, 4, 2]),
        (1100, vec![(0, 0, 4), (1, 1, 3)])
    );
    // VCG with the reserve as the seller's value: slot 0 pays
    // (100 × 4 + 100 × max(2, 3)) / 200 = 3.5, rounded down to 3; slot 1 pays 3.
    assert_eq!(
        run(Mechanism::Vcg, &slots, &[10, 4, 2]),
        (900, vec![(0, 0, 3), (1, 1, 3)])
    );
}

#[test]
fn evidence_names_what_set_each_price() {
    let slots = slots(&[200, 100], 3);
    let candidates = candidates(&[10, 4, 2]);
    let gsp = mechanism::run(Mechanism::Gsp, &slots, &candidates, &Rules::default());
    assert_eq!(gsp.awards[0].evidence, Evidence::NextBid { candidate: 1 });
    assert_eq!(gsp.awards[1].evidence, Evidence::Reserve { slot: 1 });
    let vcg = mechanism::run(Mechanism::Vcg, &slots, &candidates, &Rules::default());
    assert_eq!(
        vcg.awards[0].evidence,
        Evidence::Externality { lower: vec![1] }
    );
    assert_eq!(vcg.awards[1].evidence, Evidence::Reserve { slot: 1 });
    let first = mechanism::run(
        Mechanism::FirstPrice,
        &slots,
        &candidates,
        &Rules::default(),
    );
    assert!(first.awards.iter().all(|a| a.evidence == Evidence::OwnBid));
}

#[test]
fn charges_are_per_impression() {
    // Weights in parts per million: 2.0 and 0.5 units of attention.
    let slots = slots(&[2_000_000, 500_000], 0);
    let outcome = mechanism::run(
        Mechanism::Gsp,
        &slots,
        &candidates(&[1_000, 401, 7]),
        &Rules::default(),
    );
    let charges: Vec<_> = outcome.awards.iter().map(|a| a.charge_atomic).collect();
    assert_eq!(charges, [802, 3]); // 401 × 2, 7 × 0.5 rounded down
    assert_eq!(outcome.revenue_atomic(&slots), 805);
}
