//! Every bound of the protocol, exceeded once, with the typed error it must give.

mod common;

use attn_proto::v1 as wire;
use attn_receipts::limits::*;
use attn_receipts::*;
use common::*;

fn too_long(result: Result<impl std::fmt::Debug, Error>, field: &str) {
    match result {
        Err(Error::TooLong { field: f, .. }) if f == field => {}
        other => panic!("expected TooLong on {field}, got {other:?}"),
    }
}

fn invalid(result: Result<impl std::fmt::Debug, Error>, field: &str) {
    match result {
        Err(Error::InvalidField { field: f, .. }) if f == field => {}
        other => panic!("expected InvalidField on {field}, got {other:?}"),
    }
}

fn request(edit: impl FnOnce(&mut wire::BidRequest)) -> Result<BidRequest, Error> {
    let mut value = wire::BidRequest::from(&bid_request());
    edit(&mut value);
    BidRequest::try_from(value)
}

fn bid_with(edit: impl FnOnce(&mut wire::Bid)) -> Result<Bid, Error> {
    let mut value = wire::Bid::from(&bid());
    edit(&mut value);
    Bid::try_from(value)
}

#[test]
fn the_samples_are_valid() {
    request(|_| {}).expect("valid request");
    bid_with(|_| {}).expect("valid bid");
}

#[test]
fn slots_per_request() {
    too_long(
        request(|r| {
            r.slots = (0..=SLOTS_PER_REQUEST_MAX as u32)
                .map(|i| wire::Slot::from(&slot(&format!("s{i}"), i)))
                .collect()
        }),
        "slots",
    );
    assert!(matches!(
        request(|r| r.slots.clear()),
        Err(Error::MissingField { field: "slots", .. })
    ));
    invalid(request(|r| r.slots[1].slot_id = "top".into()), "slots");
    invalid(request(|r| r.slots[1].rank = 0), "slots");
}

#[test]
fn context_tags() {
    too_long(
        request(|r| r.context_tags = vec!["t".into(); CONTEXT_TAGS_MAX + 1]),
        "context_tags",
    );
    too_long(
        request(|r| r.context_tags = vec!["t".repeat(TAG_MAX_BYTES + 1)]),
        "context_tags",
    );
    assert!(matches!(
        request(|r| r.context_tags = vec![String::new()]),
        Err(Error::MissingField {
            field: "context_tags",
            ..
        })
    ));
}

#[test]
fn tmax() {
    invalid(request(|r| r.tmax_ms = TMAX_MS_MAX + 1), "tmax_ms");
    invalid(request(|r| r.tmax_ms = 0), "tmax_ms");
    request(|r| r.tmax_ms = TMAX_MS_MAX).expect("the maximum itself is fine");
}

#[test]
fn slot_fields() {
    too_long(
        request(|r| r.slots[0].slot_id = "s".repeat(ID_MAX_BYTES + 1)),
        "slot_id",
    );
    too_long(
        request(|r| r.slots[0].format = "f".repeat(FORMAT_MAX_BYTES + 1)),
        "format",
    );
    invalid(
        request(|r| r.slots[0].click_weight_ppm = CLICK_WEIGHT_PPM_MAX + 1),
        "click_weight_ppm",
    );
    invalid(
        request(|r| r.slots[0].click_weight_ppm = 0),
        "click_weight_ppm",
    );
    invalid(
        request(|r| {
            r.slots[0].floor = Some(wire::Money {
                currency: "EUR".into(),
                amount: "1".into(),
            })
        }),
        "slots.floor",
    );
}

#[test]
fn unspecified_enums_are_refused() {
    invalid(request(|r| r.mechanism = 0), "mechanism");
    invalid(request(|r| r.mechanism = 99), "mechanism");
    let mut receipt_wire = wire::ConversionReceipt::from(&receipt());
    receipt_wire.kind = 0;
    invalid(ConversionReceipt::try_from(receipt_wire), "kind");
}

#[test]
fn keys_hashes_and_ids_have_fixed_lengths() {
    assert!(matches!(
        request(|r| r.persona = vec![1; 31]),
        Err(Error::WrongLength {
            field: "persona",
            expected: 32,
            len: 31,
            ..
        })
    ));
    assert!(matches!(
        request(|r| r.persona = vec![0; 32]),
        Err(Error::InvalidKey {
            field: "persona",
            ..
        }) | Err(Error::WrongLength { .. })
    ));
    assert!(matches!(
        request(|r| r.request_id = vec![1; 17]),
        Err(Error::WrongLength {
            field: "request_id",
            expected: 16,
            ..
        })
    ));
    assert!(matches!(
        request(|r| r.reputation_ref = vec![1; 31]),
        Err(Error::WrongLength {
            field: "reputation_ref",
            ..
        })
    ));
    let envelope = Signed::sign(&advertiser(), &bid()).to_wire();
    let mut short_signature = envelope.clone();
    short_signature.signature.pop();
    assert!(matches!(
        Signed::<Bid>::try_from(short_signature),
        Err(Error::WrongLength {
            field: "signature",
            expected: 64,
            len: 63,
            ..
        })
    ));
    let mut long_signer = envelope;
    long_signer.signer.push(0);
    assert!(matches!(
        Signed::<Bid>::try_from(long_signer),
        Err(Error::WrongLength {
            field: "signer",
            expected: 32,
            len: 33,
            ..
        })
    ));
}

#[test]
fn currencies_and_amounts() {
    assert!(matches!(
        request(|r| r.currency = "usd".into()),
        Err(Error::InvalidCurrency(_))
    ));
    assert!(matches!(
        request(|r| r.currency = "ABCDEFGHI".into()),
        Err(Error::InvalidCurrency(_))
    ));
    assert!(matches!(
        bid_with(|b| b.price = Some(wire::Money {
            currency: "USD".into(),
            amount: "1".repeat(AMOUNT_MAX_CHARS + 1)
        })),
        Err(Error::InvalidAmount { .. })
    ));
    assert!(matches!(
        bid_with(|b| b.price = Some(wire::Money {
            currency: "USD".into(),
            amount: format!("0.{}", "1".repeat(MONEY_SCALE_MAX as usize + 1))
        })),
        Err(Error::InvalidAmount { .. })
    ));
    assert!(matches!(
        bid_with(|b| b.price = None),
        Err(Error::MissingField { field: "price", .. })
    ));
}

#[test]
fn bid_fields() {
    too_long(
        bid_with(|b| b.slot_ids = vec!["s".into(); SLOTS_PER_REQUEST_MAX + 1]),
        "slot_ids",
    );
    too_long(
        bid_with(|b| b.rail = "r".repeat(RAIL_NAME_MAX_BYTES + 1)),
        "rail",
    );
    let creative = |edit: fn(&mut wire::Creative)| {
        bid_with(|b| {
            if let Some(c) = b.creative.as_mut() {
                edit(c)
            }
        })
    };
    too_long(
        creative(|c| c.creative_id = "c".repeat(ID_MAX_BYTES + 1)),
        "creative_id",
    );
    too_long(
        creative(|c| c.categories = vec!["k".into(); CATEGORIES_MAX + 1]),
        "categories",
    );
    too_long(creative(|c| c.url = "u".repeat(URL_MAX_BYTES + 1)), "url");
    assert!(matches!(
        creative(|c| c.content_hash = vec![]),
        Err(Error::MissingField {
            field: "content_hash",
            ..
        })
    ));
}

#[test]
fn evidence_and_awards() {
    let lower = wire::PriceEvidence {
        source: Some(wire::price_evidence::Source::LowerBids(wire::SignedList {
            items: vec![Signed::sign(&advertiser(), &bid()).to_wire(); EVIDENCE_BIDS_MAX + 1],
        })),
    };
    too_long(PriceEvidence::try_from(lower), "lower_bids");
    let mut result = wire::AuctionResult::from(&auction_result());
    result.awards = vec![result.awards[0].clone(); SLOTS_PER_REQUEST_MAX + 1];
    too_long(AuctionResult::try_from(result), "awards");
    let mut twice = wire::AuctionResult::from(&auction_result());
    twice.awards.push(twice.awards[0].clone());
    invalid(AuctionResult::try_from(twice), "awards");
}

#[test]
fn reputation_proofs() {
    let proof = || wire::ReputationProof::from(&reputation_proof());
    let mut many = proof();
    many.receipts = vec![many.receipts[0].clone(); RECEIPTS_PER_PROOF_MAX + 1];
    too_long(ReputationProof::try_from(many), "receipts");
    let mut issuers = proof();
    issuers.brackets = vec![issuers.brackets[0].clone(); ISSUERS_PER_PROOF_MAX + 1];
    too_long(ReputationProof::try_from(issuers), "brackets");
    let mut big = proof();
    big.range_proof = vec![0; RANGE_PROOF_MAX_BYTES + 1];
    too_long(ReputationProof::try_from(big), "range_proof");
    let mut backwards = proof();
    backwards.window_end_ms = backwards.window_start_ms - 1;
    invalid(ReputationProof::try_from(backwards), "window_end_ms");
    let mut version = proof();
    version.version = 2;
    invalid(ReputationProof::try_from(version), "version");
}

#[test]
fn receipts_and_batches() {
    let mut tags = wire::ConversionReceipt::from(&receipt());
    tags.categories = vec!["k".into(); CATEGORIES_MAX + 1];
    too_long(ConversionReceipt::try_from(tags), "categories");
    let mut point = wire::ConversionReceipt::from(&receipt());
    point.value_commitment = vec![0xFF; 32];
    invalid(ConversionReceipt::try_from(point), "value_commitment");
    let item = wire::ReceiptWithOpening {
        receipt: Some(Signed::sign(&advertiser(), &receipt()).to_wire()),
        opening: Some((&opening()).into()),
    };
    let batch = wire::ReceiptsBatch {
        receipts: vec![item; RECEIPTS_PER_BATCH_MAX + 1],
    };
    too_long(ReceiptsBatch::try_from(batch), "receipts");
    let mut scalar = wire::CommitmentOpening::from(&opening());
    scalar.blinding = vec![0xFF; 32];
    invalid(CommitmentOpening::try_from(scalar), "blinding");
}

#[test]
fn acks_trust_and_payment_ids() {
    let mut ack = wire::ImpressionAck::from(&impression_ack());
    ack.payment_id = "p".repeat(PAYMENT_ID_MAX_BYTES + 1);
    too_long(ImpressionAck::try_from(ack), "payment_id");
    let mut no_receipt = wire::ImpressionAck::from(&impression_ack());
    no_receipt.view_receipt = None;
    assert!(matches!(
        ImpressionAck::try_from(no_receipt),
        Err(Error::MissingField {
            field: "view_receipt",
            ..
        })
    ));
    let mut trust = wire::TrustStatement::from(&trust_statement());
    trust.weight_ppm = TRUST_WEIGHT_PPM_MAX + 1;
    invalid(TrustStatement::try_from(trust), "weight_ppm");
}

#[test]
fn body_sizes_per_kind() {
    fn over<T: Kind + std::fmt::Debug>() {
        let body = vec![0u8; T::BODY_MAX_BYTES + 1];
        let key = advertiser().public_key();
        too_long(Signed::<T>::from_parts(body, key, [0; 64]), "body");
        let fits = vec![0u8; T::BODY_MAX_BYTES];
        assert!(Signed::<T>::from_parts(fits, key, [0; 64]).is_ok());
    }
    over::<BidRequest>();
    over::<Bid>();
    over::<AuctionResult>();
    over::<Impression>();
    over::<ConversionReceipt>();
    over::<ReputationProof>();
    over::<Voucher>();
    over::<TrustStatement>();
    over::<ReceiptsPull>();
}
