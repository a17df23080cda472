//! Signed envelopes: RFC 8032 vectors through the signing API, domain separation
//! between every pair of kinds, wire round trips of every message, batch
//! verification, and robustness against malformed bytes.

mod common;

use attn_proto::v1 as wire;
use attn_receipts::*;
use common::*;
use proptest::prelude::*;
use prost::Message;

fn unhex<const N: usize>(text: &str) -> [u8; N] {
    let mut out = [0u8; N];
    hex::decode_to_slice(text, &mut out).expect("hex");
    out
}

/// RFC 8032 section 7.1, tests 1, 2, 3 and SHA(abc).
const RFC8032: [(&str, &str, &str, &str); 4] = [
    (
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "",
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    ),
    (
        "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        "72",
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
    ),
    (
        "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
        "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
        "af82",
        "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
    ),
    (
        "833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42",
        "ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf",
        "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
        "dc2a4459e7369633a52b1bf277839a00201009a3efbf3ecb69bea2186c26b58909351fc9ac90b3ecfdfbc7c66431e0303dca179c138ac17ad9bef1177331a704",
    ),
];

#[test]
fn rfc8032_vectors_pass_through_the_signing_api() {
    for (secret, public, message, signature) in RFC8032 {
        let key = AdvertiserKey::from_secret_bytes(&unhex(secret));
        assert_eq!(key.public_key().to_hex(), public);
        let message = hex::decode(message).expect("hex");
        let produced = key.sign_message(&message);
        assert_eq!(hex::encode(produced.to_bytes()), signature);
        let public = PublicKey::from_hex(public).expect("valid key");
        assert!(
            public
                .verifying_key()
                .verify_strict(&message, &produced)
                .is_ok()
        );
    }
}

#[test]
fn an_envelope_signature_is_plain_ed25519_over_domain_and_body() {
    let (secret, ..) = RFC8032[0];
    let key = AdvertiserKey::from_secret_bytes(&unhex(secret));
    let statement = TrustStatement {
        truster: key.public_key(),
        ..trust_statement()
    };
    let envelope = Signed::sign(&key, &statement);
    let expected = key.sign_message(&[b"attn/v1/trust\0".as_slice(), envelope.body()].concat());
    assert_eq!(envelope.signature_bytes(), expected.to_bytes());
}

type Parts = (Vec<u8>, PublicKey, [u8; 64]);

/// Signs a body under the domain of `T`.
fn sign_as<T: Kind>(body: Vec<u8>) -> Parts {
    let signed = Signed::<T>::sign_body(&advertiser(), body);
    (
        signed.body().to_vec(),
        signed.signer(),
        signed.signature_bytes(),
    )
}

/// Checks a signature under the domain of `T`.
fn verifies_as<T: Kind>((body, signer, signature): Parts) -> bool {
    Signed::<T>::from_parts(body, signer, signature)
        .expect("small body")
        .verify()
        .is_ok()
}

macro_rules! kinds {
    ($($kind:ty),+) => {
        (
            [$((<$kind as Kind>::DOMAIN, sign_as::<$kind> as fn(Vec<u8>) -> Parts)),+],
            [$((<$kind as Kind>::DOMAIN, verifies_as::<$kind> as fn(Parts) -> bool)),+],
        )
    };
}

#[test]
fn a_signature_of_one_kind_never_verifies_as_another() {
    let (signers, verifiers) = kinds!(
        BidRequest,
        Bid,
        AuctionResult,
        Impression,
        ConversionReceipt,
        ReputationProof,
        Voucher,
        TrustStatement,
        ReceiptsPull
    );
    assert_eq!(signers.len(), DOMAINS.len());
    let body = b"the same bytes under every domain".to_vec();
    for (signed_as, sign) in signers {
        let parts = sign(body.clone());
        for (verified_as, verify) in verifiers {
            assert_eq!(
                verify(parts.clone()),
                signed_as == verified_as,
                "{signed_as} checked as {verified_as}"
            );
        }
    }
    let unique: std::collections::HashSet<_> = DOMAINS.iter().collect();
    assert_eq!(unique.len(), DOMAINS.len());
}

/// `attn/v1/bid` is a prefix of `attn/v1/bid-request`: the tag terminator keeps a
/// bid-request signature from verifying as a bid whose body starts with `-request`.
#[test]
fn a_tag_that_prefixes_another_does_not_let_signatures_cross() {
    let body = b"payload".to_vec();
    let request = Signed::<BidRequest>::sign_body(&advertiser(), body.clone());
    let shifted = [b"-request".as_slice(), &body].concat();
    let as_bid =
        Signed::<Bid>::from_parts(shifted, request.signer(), request.signature_bytes()).unwrap();
    assert!(as_bid.verify().is_err());
}

fn round_trip<T>(value: T)
where
    T: Kind + Clone + PartialEq + std::fmt::Debug,
{
    // domain -> wire -> bytes -> wire -> domain
    let bytes = value.to_wire().encode_to_vec();
    let decoded = T::Wire::decode(bytes.as_slice()).expect("decodes");
    assert_eq!(T::try_from(decoded).expect("valid"), value);
    // and inside a signed envelope, through the wire envelope
    let envelope = match T::NAME {
        "BidRequest" | "AuctionResult" | "Impression" | "ReputationProof" | "ReceiptsPull" => {
            Signed::<T>::sign(&persona(), &value)
        }
        _ => Signed::<T>::sign(&advertiser(), &value),
    };
    let wire_bytes = envelope.to_wire().encode_to_vec();
    let received =
        Signed::<T>::try_from(wire::Signed::decode(wire_bytes.as_slice()).expect("decodes"))
            .expect("valid envelope");
    assert_eq!(received, envelope);
    assert_eq!(received.hash(), envelope.hash());
    assert_eq!(received.open().expect("opens"), value);
}

#[test]
fn every_signed_message_round_trips() {
    round_trip(bid_request());
    let mut with_proof = bid_request();
    with_proof.reputation_proof = Some(Signed::sign(&persona(), &reputation_proof()));
    round_trip(with_proof);
    round_trip(bid());
    round_trip(auction_result());
    round_trip(impression());
    round_trip(voucher());
    round_trip(receipt());
    round_trip(reputation_proof());
    round_trip(trust_statement());
    round_trip(receipts_pull());
}

#[test]
fn every_price_evidence_round_trips() {
    for evidence in [
        PriceEvidence::OwnBid,
        PriceEvidence::RunnerUpBid(Signed::sign(&advertiser(), &bid())),
        PriceEvidence::FloorRequest(Signed::sign(&persona(), &bid_request())),
        PriceEvidence::LowerBids(vec![Signed::sign(&advertiser(), &bid()); 3]),
    ] {
        let result = AuctionResult {
            awards: vec![Award {
                evidence: evidence.clone(),
                ..award()
            }],
            ..auction_result()
        };
        round_trip(result);
        let hash = evidence.hash();
        assert_eq!(
            PriceEvidence::try_from(wire::PriceEvidence::from(&evidence))
                .unwrap()
                .hash(),
            hash
        );
    }
}

#[test]
fn unsigned_messages_round_trip() {
    let ack = impression_ack();
    let back = ImpressionAck::try_from(wire::ImpressionAck::from(&ack)).expect("valid");
    assert_eq!(back, ack);
    let response = BidResponse {
        bid: Some(Signed::sign(&advertiser(), &bid())),
        want_reputation_proof: true,
    };
    assert_eq!(
        BidResponse::try_from(wire::BidResponse::from(&response)).unwrap(),
        response
    );
    let batch = ReceiptsBatch {
        receipts: vec![ReceiptWithOpening {
            receipt: Signed::sign(&advertiser(), &receipt()),
            opening: opening(),
        }],
    };
    assert_eq!(
        ReceiptsBatch::try_from(wire::ReceiptsBatch::from(&batch)).unwrap(),
        batch
    );
    assert!(batch.receipts[0].opening.opens(&receipt().value_commitment));
}

#[test]
fn open_refuses_a_body_that_names_another_signer() {
    // A bid naming advertiser() but signed by the persona key.
    let forged = Signed::<Bid>::sign(&persona(), &bid());
    assert!(forged.verify().is_ok(), "the signature itself is fine");
    assert!(matches!(
        forged.open(),
        Err(Error::SignerMismatch { message: "Bid", .. })
    ));
}

#[test]
fn tampering_with_any_byte_of_an_envelope_fails_verification() {
    let envelope = Signed::sign(&advertiser(), &bid());
    for at in 0..envelope.body().len() {
        let mut body = envelope.body().to_vec();
        body[at] ^= 0x01;
        let tampered =
            Signed::<Bid>::from_parts(body, envelope.signer(), envelope.signature_bytes()).unwrap();
        assert!(tampered.open().is_err(), "flip at body byte {at}");
    }
    for at in 0..64 {
        let mut signature = envelope.signature_bytes();
        signature[at] ^= 0x01;
        let tampered =
            Signed::<Bid>::from_parts(envelope.body().to_vec(), envelope.signer(), signature)
                .unwrap();
        assert!(tampered.verify().is_err(), "flip at signature byte {at}");
    }
}

#[test]
fn batch_verification_names_every_bad_envelope() {
    let key = advertiser();
    let mut envelopes: Vec<Signed<Voucher>> = (0..64)
        .map(|i| {
            Signed::sign(
                &key,
                &Voucher {
                    sequence: i,
                    ..voucher()
                },
            )
        })
        .collect();
    verify_batch(&envelopes).expect("all good");
    for bad in [3usize, 40] {
        let mut signature = envelopes[bad].signature_bytes();
        signature[10] ^= 0xFF;
        envelopes[bad] = Signed::from_parts(
            envelopes[bad].body().to_vec(),
            envelopes[bad].signer(),
            signature,
        )
        .unwrap();
    }
    assert_eq!(
        verify_batch(&envelopes).unwrap_err(),
        Error::BadSignatures {
            indices: vec![3, 40],
            len: 64
        }
    );
    // A mixed batch of kinds.
    let mut batch = SignatureBatch::default();
    batch.push(&Signed::sign(&persona(), &impression()));
    batch.push(&Signed::sign(&key, &bid()));
    batch.verify().expect("mixed kinds verify together");
    assert!(SignatureBatch::default().verify().is_ok());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn envelope_round_trip(
        weight in 0u32..=1_000_000,
        issued in any::<u64>(),
        sequence in any::<u64>(),
        cents in any::<u64>(),
    ) {
        let statement = TrustStatement { weight_ppm: weight, issued_at_ms: issued, ..trust_statement() };
        let envelope = Signed::sign(&advertiser(), &statement);
        let bytes = envelope.to_wire().encode_to_vec();
        let back = Signed::<TrustStatement>::try_from(wire::Signed::decode(bytes.as_slice()).unwrap()).unwrap();
        prop_assert_eq!(back.open().unwrap(), statement);

        let cumulative = Money::from_atomic(Currency::new("USD").unwrap(), cents, 2).unwrap();
        let voucher = Voucher { sequence, cumulative, ..voucher() };
        let envelope = Signed::sign(&advertiser(), &voucher);
        prop_assert_eq!(envelope.open().unwrap(), voucher);
    }

    #[test]
    fn malformed_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        // As an envelope on the wire.
        if let Ok(envelope) = wire::Signed::decode(bytes.as_slice()) {
            let _ = Signed::<Bid>::try_from(envelope);
        }
        // As the body of every kind, with a valid signature over the garbage.
        let key = advertiser();
        let _ = Signed::<BidRequest>::sign_body(&key, bytes.clone()).open();
        let _ = Signed::<Bid>::sign_body(&key, bytes.clone()).open();
        let _ = Signed::<AuctionResult>::sign_body(&key, bytes.clone()).open();
        let _ = Signed::<Impression>::sign_body(&key, bytes.clone()).open();
        let _ = Signed::<ConversionReceipt>::sign_body(&key, bytes.clone()).open();
        let _ = Signed::<ReputationProof>::sign_body(&key, bytes.clone()).open();
        let _ = Signed::<Voucher>::sign_body(&key, bytes.clone()).open();
        let _ = Signed::<TrustStatement>::sign_body(&key, bytes.clone()).open();
        let _ = Signed::<ReceiptsPull>::sign_body(&key, bytes.clone()).open();
        if let Ok(ack) = wire::ImpressionAck::decode(bytes.as_slice()) {
            let _ = ImpressionAck::try_from(ack);
        }
        if let Ok(batch) = wire::ReceiptsBatch::decode(bytes.as_slice()) {
            let _ = ReceiptsBatch::try_from(batch);
        }
    }

    #[test]
    fn mutated_valid_bodies_never_panic(at in any::<prop::sample::Index>(), value in any::<u8>()) {
        let envelope = Signed::sign(&persona(), &auction_result());
        let mut body = envelope.body().to_vec();
        let index = at.index(body.len());
        body[index] = value;
        let _ = Signed::<AuctionResult>::sign_body(&persona(), body).open();
    }
}

/// Byte formats are pinned: a bid signed today must keep verifying and decoding the
/// same way. The fixture is the wire `Signed` envelope of `common::bid()`, hex.
#[test]
fn pinned_bid_envelope_keeps_verifying() {
    let fixture = include_str!("fixtures/bid-v1.hex").trim();
    let bytes = hex::decode(fixture).expect("hex fixture");
    let envelope =
        Signed::<Bid>::try_from(wire::Signed::decode(bytes.as_slice()).unwrap()).unwrap();
    assert_eq!(envelope.open().expect("still verifies"), bid());
    // Ed25519 is deterministic and prost encodes in field order: signing again gives
    // the same bytes.
    assert_eq!(
        hex::encode(
            Signed::sign(&advertiser(), &bid())
                .to_wire()
                .encode_to_vec()
        ),
        fixture
    );
}
