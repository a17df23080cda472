//! Verification of an impression against the bid this bidder made and the price
//! evidence the client sent with it. Pure: no clock, no I/O.
//!
//! What is checked, in order:
//! 1. the impression names this bid (its envelope hash), this advertiser, the
//!    persona that signed the request, a slot of the request the bid covers, the
//!    bid's creative, and the request's currency;
//! 2. the charge is at most the bid's price times the slot's click weight (no winner
//!    pays more than it bid);
//! 3. the evidence justifies the charge for the request's mechanism:
//!    - *own bid* (first price): the charge is the bid's price times the weight;
//!    - *runner-up bid* (second price, GSP): a bid signed by another advertiser for
//!      the same request, at most this bid's price, whose price times the weight is
//!      the charge;
//!    - *floor request*: the very request envelope this bidder answered, whose floor
//!      for the slot (the higher of the slot's and the request's) times the weight is
//!      the charge;
//!    - *lower bids* (VCG): signed bids of distinct other advertisers for the same
//!      request, none above this bid; the charge must not exceed the externality
//!      those bids prove (below).
//!
//! Amounts are compared in atomic units. A charge is `price * weight / 10^6`, which
//! the client may round either way; both roundings are accepted.
//!
//! VCG bound: with the slots from the won one on in position order (click weight
//! descending, then rank), weights `w_k ≥ … ≥ w_{K-1}` and `w_K = 0`, and the lower
//! bids' prices sorted down `b_1 ≥ b_2 ≥ …`, each raised to the highest floor of those
//! slots (a floor is the user's own bid for a slot), the winner of slot `k` imposes the externality
//! `Σ_{j=k}^{K-1} (w_j − w_{j+1}) · b_{j−k+1}` on the bidders below it (Edelman,
//! Ostrovsky and Schwarz 2007; Varian 2007). The charge may be the floor's instead
//! when the floor is higher. For the position auction (every bid eligible for every
//! slot) this bounds the exact VCG charge from above, so honest charges pass and an
//! invented one above it does not; with per-slot eligibility the bound is the same
//! formula and is not proven tight.

use attn_receipts::{
    Bid, BidRequest, Digest32, Impression, Mechanism, PriceEvidence, PublicKey, RequestId,
    SignatureBatch, Signed,
};

use crate::error::{Error, Result};

/// What the SDK remembers of a bid it made, to verify the impression that may follow.
#[derive(Clone, Debug)]
pub struct BidRecord {
    /// The request answered (already verified).
    pub request: BidRequest,
    /// Hash of the request envelope.
    pub request_hash: Digest32,
    /// The bid made.
    pub bid: Bid,
    /// Hash of the signed bid envelope.
    pub bid_hash: Digest32,
}

fn mismatch(field: &'static str, reason: impl Into<String>) -> Error {
    Error::ImpressionMismatch {
        field,
        reason: reason.into(),
    }
}

fn refused(reason: impl Into<String>) -> Error {
    Error::BadEvidence(reason.into())
}

/// `price_atomic * weight_ppm / 10^6`, rounded down and up.
pub fn charge_bounds(price_atomic: u64, weight_ppm: u32) -> (u64, u64) {
    let product = u128::from(price_atomic) * u128::from(weight_ppm);
    let down = product / 1_000_000;
    let up = product.div_ceil(1_000_000);
    (
        u64::try_from(down).unwrap_or(u64::MAX),
        u64::try_from(up).unwrap_or(u64::MAX),
    )
}

fn charged_exactly(charge_atomic: u64, price_atomic: u64, weight_ppm: u32) -> bool {
    let (down, up) = charge_bounds(price_atomic, weight_ppm);
    charge_atomic == down || charge_atomic == up
}

/// Verifies `impression` (already signature-checked) against `record` and
/// `evidence` (whose hash the caller checked against the impression), and returns
/// the charge in atomic units of `scale`.
pub fn verify_impression(
    record: &BidRecord,
    advertiser: &PublicKey,
    impression: &Impression,
    evidence: &PriceEvidence,
    scale: u32,
) -> Result<u64> {
    let request = &record.request;
    if impression.advertiser != *advertiser {
        return Err(mismatch("advertiser", "names another advertiser"));
    }
    if impression.request_id != request.request_id || record.bid.request_id != request.request_id {
        return Err(mismatch("request_id", "another request"));
    }
    if impression.bid_hash != record.bid_hash {
        return Err(mismatch("bid_hash", "not the bid this bidder made"));
    }
    if impression.persona != request.persona {
        return Err(mismatch("persona", "not the persona that asked for bids"));
    }
    let slot = request
        .slot(&impression.slot_id)
        .ok_or_else(|| mismatch("slot_id", "not a slot of the request"))?;
    if !record.bid.covers(&slot.slot_id) {
        return Err(mismatch("slot_id", "the bid does not cover this slot"));
    }
    if impression.creative_id != record.bid.creative.creative_id {
        return Err(mismatch("creative_id", "not the creative bid"));
    }
    if impression.charge.currency() != request.currency {
        return Err(mismatch("charge", "not in the request's currency"));
    }
    let charge_atomic = impression.charge.to_atomic(scale)?;
    let own_price = record.bid.price.to_atomic(scale)?;
    let weight = slot.click_weight_ppm;
    let (_, own_max) = charge_bounds(own_price, weight);
    if charge_atomic > own_max {
        return Err(refused(format!(
            "charge {charge_atomic} exceeds the bid {own_max} (atomic units)"
        )));
    }
    match evidence_kind(evidence) {
        Kind::OwnBid => {
            if request.mechanism != Mechanism::FirstPrice {
                return Err(evidence_err_mechanism("own bid", request.mechanism));
            }
            if !charged_exactly(charge_atomic, own_price, weight) {
                return Err(refused("first price charge is not the bid's price"));
            }
        }
        Kind::RunnerUp(signed) => {
            if !matches!(request.mechanism, Mechanism::SecondPrice | Mechanism::Gsp) {
                return Err(evidence_err_mechanism("runner-up bid", request.mechanism));
            }
            let runner_up = open_other_bid(signed, request.request_id, advertiser)?;
            let price = runner_up.price.to_atomic(scale)?;
            if runner_up.price.currency() != request.currency || price > own_price {
                return Err(refused(
                    "runner-up bid is above this bid or in another currency",
                ));
            }
            if !charged_exactly(charge_atomic, price, weight) {
                return Err(refused(format!(
                    "charge {charge_atomic} is not the runner-up's price {price} times the slot weight"
                )));
            }
        }
        Kind::Floor(signed) => {
            if request.mechanism == Mechanism::FirstPrice {
                return Err(evidence_err_mechanism("floor", request.mechanism));
            }
            if signed.hash() != record.request_hash {
                return Err(refused(
                    "floor request is not the request this bidder answered",
                ));
            }
            let floor = floor_atomic(request, &slot.slot_id, scale)?;
            if !charged_exactly(charge_atomic, floor, weight) {
                return Err(refused(format!(
                    "charge {charge_atomic} is not the floor {floor} times the slot weight"
                )));
            }
        }
        Kind::Lower(bids) => {
            if request.mechanism != Mechanism::Vcg {
                return Err(evidence_err_mechanism("lower bids", request.mechanism));
            }
            let mut batch = SignatureBatch::with_capacity(bids.len());
            for bid in bids {
                batch.push(bid);
            }
            batch.verify()?;
            let mut prices = Vec::with_capacity(bids.len());
            let mut seen = std::collections::HashSet::new();
            for signed in bids {
                let bid = signed.decode_verified()?;
                check_other_bid(&bid, request.request_id, advertiser)?;
                if !seen.insert(bid.advertiser) {
                    return Err(refused("two lower bids by one advertiser"));
                }
                let price = bid.price.to_atomic(scale)?;
                if bid.price.currency() != request.currency || price > own_price {
                    return Err(refused(
                        "a lower bid is above this bid or in another currency",
                    ));
                }
                prices.push(price);
            }
            let bound = vcg_charge_bound(request, &slot.slot_id, prices, scale)?;
            if charge_atomic > bound {
                return Err(refused(format!(
                    "charge {charge_atomic} exceeds the externality {bound} the lower bids prove"
                )));
            }
        }
    }
    Ok(charge_atomic)
}

enum Kind<'a> {
    OwnBid,
    RunnerUp(&'a Signed<Bid>),
    Floor(&'a Signed<BidRequest>),
    Lower(&'a [Signed<Bid>]),
}

fn evidence_kind(evidence: &PriceEvidence) -> Kind<'_> {
    match evidence {
        PriceEvidence::OwnBid => Kind::OwnBid,
        PriceEvidence::RunnerUpBid(bid) => Kind::RunnerUp(bid),
        PriceEvidence::FloorRequest(request) => Kind::Floor(request),
        PriceEvidence::LowerBids(bids) => Kind::Lower(bids),
    }
}

fn evidence_err_mechanism(what: &str, mechanism: Mechanism) -> Error {
    refused(format!("{what} evidence under {}", mechanism.name()))
}

fn check_other_bid(bid: &Bid, request_id: RequestId, advertiser: &PublicKey) -> Result<()> {
    if bid.request_id != request_id {
        return Err(refused("evidence bid answers another request"));
    }
    if bid.advertiser == *advertiser {
        return Err(refused("evidence bid is this bidder's own"));
    }
    Ok(())
}

fn open_other_bid(
    signed: &Signed<Bid>,
    request_id: RequestId,
    advertiser: &PublicKey,
) -> Result<Bid> {
    let bid = signed.open()?;
    check_other_bid(&bid, request_id, advertiser)?;
    Ok(bid)
}

/// The floor per unit of a slot in atomic units: the higher of the slot's and the
/// request's global floor (0 when neither is set).
pub fn floor_atomic(request: &BidRequest, slot_id: &str, scale: u32) -> Result<u64> {
    let slot = request
        .slot(slot_id)
        .ok_or_else(|| mismatch("slot_id", "not a slot of the request"))?;
    let slot_floor = slot
        .floor
        .as_ref()
        .map(|m| m.to_atomic(scale))
        .transpose()?;
    let global = request
        .floor
        .as_ref()
        .map(|m| m.to_atomic(scale))
        .transpose()?;
    Ok(slot_floor.unwrap_or(0).max(global.unwrap_or(0)))
}

/// The most a VCG winner of `slot_id` can owe given the lower bids' prices (see the
/// module docs), or the floor's charge when that is higher, rounded up.
pub fn vcg_charge_bound(
    request: &BidRequest,
    slot_id: &str,
    mut lower_prices: Vec<u64>,
    scale: u32,
) -> Result<u64> {
    let slot = request
        .slot(slot_id)
        .ok_or_else(|| mismatch("slot_id", "not a slot of the request"))?;
    // Positions: click weight descending, then rank ascending (as the client fills
    // them); the won slot and every slot after it.
    let position = |s: &attn_receipts::Slot| (std::cmp::Reverse(s.click_weight_ppm), s.rank);
    let mut after: Vec<&attn_receipts::Slot> = request
        .slots
        .iter()
        .filter(|s| position(s) >= position(slot))
        .collect();
    after.sort_by_key(|s| position(s));
    let mut below: Vec<u32> = after.iter().map(|s| s.click_weight_ppm).collect();
    below.push(0);
    // A floor acts as a bid by the user at that price: a position no lower bid
    // reaches is still worth the floor, so missing or lower prices count at the
    // highest floor of the slots involved (which keeps this an upper bound).
    let mut floor_max = 0;
    for other in &after {
        floor_max = floor_max.max(floor_atomic(request, &other.slot_id, scale)?);
    }
    lower_prices.sort_unstable_by(|a, b| b.cmp(a));
    let mut total: u128 = 0;
    for j in 0..below.len() - 1 {
        let drop = below[j].saturating_sub(below[j + 1]);
        let price = lower_prices.get(j).copied().unwrap_or(0).max(floor_max);
        total += u128::from(drop) * u128::from(price);
    }
    let externality = total.div_ceil(1_000_000);
    let floor = floor_atomic(request, slot_id, scale)?;
    let (_, floor_charge) = charge_bounds(floor, slot.click_weight_ppm);
    Ok(u64::try_from(externality)
        .unwrap_or(u64::MAX)
        .max(floor_charge))
}

#[cfg(test)]
mod tests {
    use super::*;
    use attn_receipts::{AdvertiserKey, Creative, Currency, Money, PersonaKey, Slot};

    fn usd(atomic: u64) -> Money {
        Money::from_atomic(Currency::new("USD").expect("usd"), atomic, 9).expect("money")
    }

    fn slot(id: &str, rank: u32, weight: u32) -> Slot {
        Slot {
            slot_id: id.into(),
            format: String::new(),
            width: 0,
            height: 0,
            rank,
            click_weight_ppm: weight,
            floor: None,
        }
    }

    fn request(persona: &PersonaKey, mechanism: Mechanism) -> Signed<BidRequest> {
        let request = BidRequest {
            request_id: RequestId([7; 16]),
            persona: persona.public_key(),
            slots: vec![slot("top", 0, 200_000), slot("side", 1, 100_000)],
            context_tags: vec![],
            mechanism,
            currency: Currency::new("USD").expect("usd"),
            tmax_ms: 100,
            reputation_ref: None,
            reputation_proof: None,
            created_at_ms: 1,
            floor: Some(usd(1)),
        };
        Signed::sign(persona, &request)
    }

    fn bid(key: &AdvertiserKey, price: u64) -> Signed<Bid> {
        Signed::sign(
            key,
            &Bid {
                request_id: RequestId([7; 16]),
                advertiser: key.public_key(),
                price: usd(price),
                slot_ids: vec![],
                creative: Creative {
                    creative_id: "c".into(),
                    categories: vec![],
                    content_hash: Digest32([1; 32]),
                    url: None,
                },
                rail: "channel:voucher".into(),
                created_at_ms: 1,
            },
        )
    }

    struct Fixture {
        persona: PersonaKey,
        us: AdvertiserKey,
        record: BidRecord,
        signed_request: Signed<BidRequest>,
    }

    fn fixture(mechanism: Mechanism, own_price: u64) -> Fixture {
        let persona = PersonaKey::from_secret_bytes(&[1; 32]);
        let us = AdvertiserKey::from_secret_bytes(&[2; 32]);
        let signed_request = request(&persona, mechanism);
        let own = bid(&us, own_price);
        let record = BidRecord {
            request: signed_request.open().expect("request"),
            request_hash: signed_request.hash(),
            bid: own.open().expect("bid"),
            bid_hash: own.hash(),
        };
        Fixture {
            persona,
            us,
            record,
            signed_request,
        }
    }

    fn impression(f: &Fixture, slot_id: &str, charge: u64, evidence: &PriceEvidence) -> Impression {
        Impression {
            request_id: RequestId([7; 16]),
            persona: f.persona.public_key(),
            slot_id: slot_id.into(),
            advertiser: f.us.public_key(),
            creative_id: "c".into(),
            charge: usd(charge),
            shown_at_ms: 2,
            evidence_hash: evidence.hash(),
            bid_hash: f.record.bid_hash,
        }
    }

    fn check(f: &Fixture, slot_id: &str, charge: u64, evidence: &PriceEvidence) -> Result<u64> {
        verify_impression(
            &f.record,
            &f.us.public_key(),
            &impression(f, slot_id, charge, evidence),
            evidence,
            9,
        )
    }

    #[test]
    fn a_genuine_runner_up_sets_the_second_price() {
        let f = fixture(Mechanism::SecondPrice, 1_000);
        let other = AdvertiserKey::from_secret_bytes(&[3; 32]);
        let evidence = PriceEvidence::RunnerUpBid(bid(&other, 600));
        assert_eq!(check(&f, "top", 120, &evidence).expect("valid"), 120);
    }

    #[test]
    fn a_forged_runner_up_is_refused() {
        let f = fixture(Mechanism::SecondPrice, 1_000);
        let other = AdvertiserKey::from_secret_bytes(&[3; 32]);
        // Charged more than the runner-up's price.
        let evidence = PriceEvidence::RunnerUpBid(bid(&other, 600));
        assert!(matches!(
            check(&f, "top", 150, &evidence),
            Err(Error::BadEvidence(_))
        ));
        // A runner-up "signed" by another key than the one it names.
        let genuine = bid(&other, 900);
        let forged = Signed::<Bid>::from_parts(
            genuine.body().to_vec(),
            f.us.public_key(),
            genuine.signature_bytes(),
        )
        .expect("shape");
        let evidence = PriceEvidence::RunnerUpBid(forged);
        assert!(matches!(
            check(&f, "top", 180, &evidence),
            Err(Error::Invalid(_))
        ));
        // Our own bid presented as the runner-up.
        let evidence = PriceEvidence::RunnerUpBid(bid(&f.us, 1_000));
        assert!(matches!(
            check(&f, "top", 200, &evidence),
            Err(Error::BadEvidence(_))
        ));
    }

    #[test]
    fn the_floor_must_come_from_the_request_answered() {
        let f = fixture(Mechanism::Gsp, 1_000);
        let evidence = PriceEvidence::FloorRequest(f.signed_request.clone());
        // floor 1 atomic unit * 0.1 = 0.1, charged 0 or 1.
        assert!(check(&f, "side", 1, &evidence).is_ok());
        let other_request = request(&PersonaKey::from_secret_bytes(&[9; 32]), Mechanism::Gsp);
        let evidence = PriceEvidence::FloorRequest(other_request);
        assert!(matches!(
            check(&f, "side", 1, &evidence),
            Err(Error::BadEvidence(_))
        ));
    }

    #[test]
    fn no_winner_pays_more_than_its_bid() {
        let f = fixture(Mechanism::FirstPrice, 1_000);
        assert!(check(&f, "top", 200, &PriceEvidence::OwnBid).is_ok());
        assert!(matches!(
            check(&f, "top", 201, &PriceEvidence::OwnBid),
            Err(Error::BadEvidence(_))
        ));
    }

    #[test]
    fn vcg_charges_are_bounded_by_the_externality() {
        // Textbook: values 10/4/2 per click, weights 200/100: the top winner owes
        // (200-100)*4 + 100*2 = 600 (per 10^6 ppm scale: weights are ppm).
        let f = fixture(Mechanism::Vcg, 10_000_000);
        let lower = vec![
            bid(&AdvertiserKey::from_secret_bytes(&[4; 32]), 4_000_000),
            bid(&AdvertiserKey::from_secret_bytes(&[5; 32]), 2_000_000),
        ];
        let evidence = PriceEvidence::LowerBids(lower);
        assert_eq!(
            check(&f, "top", 600_000, &evidence).expect("valid"),
            600_000
        );
        assert!(matches!(
            check(&f, "top", 600_001, &evidence),
            Err(Error::BadEvidence(_))
        ));
    }

    #[test]
    fn an_impression_for_another_slot_creative_or_persona_is_refused() {
        let f = fixture(Mechanism::FirstPrice, 1_000);
        let evidence = PriceEvidence::OwnBid;
        let mut wrong = impression(&f, "top", 200, &evidence);
        wrong.creative_id = "other".into();
        let result = verify_impression(&f.record, &f.us.public_key(), &wrong, &evidence, 9);
        assert!(matches!(
            result,
            Err(Error::ImpressionMismatch {
                field: "creative_id",
                ..
            })
        ));
        let mut wrong = impression(&f, "nowhere", 200, &evidence);
        wrong.slot_id = "nowhere".into();
        let result = verify_impression(&f.record, &f.us.public_key(), &wrong, &evidence, 9);
        assert!(matches!(
            result,
            Err(Error::ImpressionMismatch {
                field: "slot_id",
                ..
            })
        ));
    }
}
