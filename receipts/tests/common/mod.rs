//! Sample values of every message, shared by the integration tests.
#![allow(dead_code, missing_docs)]

use attn_receipts::*;

pub fn persona() -> PersonaKey {
    PersonaKey::from_secret_bytes(&[11; 32])
}

pub fn advertiser() -> AdvertiserKey {
    AdvertiserKey::from_secret_bytes(&[22; 32])
}

pub fn usd(amount: &str) -> Money {
    Money::parse("USD", amount).expect("valid money")
}

pub fn slot(id: &str, rank: u32) -> Slot {
    Slot {
        slot_id: id.into(),
        format: "banner".into(),
        width: 300,
        height: 250,
        rank,
        click_weight_ppm: 1_000_000 / (rank + 1),
        floor: Some(usd("0.001")),
    }
}

pub fn bid_request() -> BidRequest {
    BidRequest {
        request_id: RequestId([1; 16]),
        persona: persona().public_key(),
        slots: vec![slot("top", 0), slot("side", 1)],
        context_tags: vec!["topic:cycling".into()],
        mechanism: Mechanism::Gsp,
        currency: Currency::new("USD").expect("currency"),
        tmax_ms: 100,
        reputation_ref: Some(Digest32([3; 32])),
        reputation_proof: None,
        created_at_ms: 1_700_000_000_000,
        floor: Some(usd("0.0005")),
    }
}

pub fn creative() -> Creative {
    Creative {
        creative_id: "spring-sale".into(),
        categories: vec!["sports".into()],
        content_hash: Digest32([4; 32]),
        url: Some("https://cdn.example/ad.png".into()),
    }
}

pub fn bid() -> Bid {
    Bid {
        request_id: RequestId([1; 16]),
        advertiser: advertiser().public_key(),
        price: usd("0.004"),
        slot_ids: vec!["top".into()],
        creative: creative(),
        rail: "channel:ledger".into(),
        created_at_ms: 1_700_000_000_010,
    }
}

pub fn award() -> Award {
    Award {
        slot_id: "top".into(),
        advertiser: advertiser().public_key(),
        price: usd("0.003"),
        charge: usd("0.003"),
        bid_hash: Digest32([5; 32]),
        evidence: PriceEvidence::RunnerUpBid(Signed::sign(&advertiser(), &bid())),
    }
}

pub fn auction_result() -> AuctionResult {
    AuctionResult {
        request_id: RequestId([1; 16]),
        persona: persona().public_key(),
        awards: vec![award()],
        closed_at_ms: 1_700_000_000_100,
    }
}

pub fn impression() -> Impression {
    Impression {
        request_id: RequestId([1; 16]),
        persona: persona().public_key(),
        slot_id: "top".into(),
        advertiser: advertiser().public_key(),
        creative_id: "spring-sale".into(),
        charge: usd("0.003"),
        shown_at_ms: 1_700_000_000_200,
        evidence_hash: Digest32([6; 32]),
        bid_hash: Digest32([5; 32]),
    }
}

pub fn voucher() -> Voucher {
    Voucher {
        channel_id: Digest32([7; 32]),
        payer: advertiser().public_key(),
        payee: persona().public_key(),
        cumulative: usd("1.25"),
        sequence: 9,
        created_at_ms: 1_700_000_000_300,
    }
}

pub fn receipt() -> ConversionReceipt {
    let opening = CommitmentOpening {
        receipt_id: [8; 16],
        value_atomic: 3_000,
        blinding: curve25519_dalek_scalar(),
    };
    ConversionReceipt {
        receipt_id: [8; 16],
        persona: persona().public_key(),
        issuer: advertiser().public_key(),
        kind: ReceiptKind::View,
        issued_at_ms: 1_700_000_000_200,
        categories: vec!["sports".into()],
        value_commitment: opening.commitment(),
        public_value: None,
        impression_hash: Some(Digest32([9; 32])),
    }
}

pub fn opening() -> CommitmentOpening {
    CommitmentOpening {
        receipt_id: [8; 16],
        value_atomic: 3_000,
        blinding: curve25519_dalek_scalar(),
    }
}

fn curve25519_dalek_scalar() -> curve25519_dalek::scalar::Scalar {
    curve25519_dalek::scalar::Scalar::from(123_456_789u64)
}

pub fn impression_ack() -> ImpressionAck {
    ImpressionAck {
        impression_hash: Digest32([10; 32]),
        rail: "channel:ledger".into(),
        voucher: Some(Signed::sign(&advertiser(), &voucher())),
        payment_id: None,
        view_receipt: Signed::sign(&advertiser(), &receipt()),
    }
}

pub fn reputation_proof() -> ReputationProof {
    ReputationProof {
        version: REPUTATION_PROOF_VERSION,
        persona: persona().public_key(),
        window_start_ms: 1_690_000_000_000,
        window_end_ms: 1_700_000_000_000,
        receipts: vec![Signed::sign(&advertiser(), &receipt())],
        brackets: vec![IssuerBracket {
            issuer: advertiser().public_key(),
            bracket: 3,
        }],
        range_proof: vec![0xAB; 672],
    }
}

pub fn trust_statement() -> TrustStatement {
    TrustStatement {
        truster: advertiser().public_key(),
        trustee: persona_as_advertiser(),
        weight_ppm: 750_000,
        issued_at_ms: 1_700_000_000_000,
    }
}

fn persona_as_advertiser() -> PublicKey {
    AdvertiserKey::from_secret_bytes(&[33; 32]).public_key()
}

pub fn receipts_pull() -> ReceiptsPull {
    ReceiptsPull {
        persona: persona().public_key(),
        since_ms: 0,
        created_at_ms: 1_700_000_000_000,
        nonce: [12; 16],
    }
}
