//! The SDK's gRPC service driven by hand-built, persona-signed messages over TCP on
//! 127.0.0.1 (no client runtime): what it verifies in a request, that it enforces
//! `tmax` on its own strategy, that a bid is bound to one request id, and the
//! receipts API (issue, pull by the persona only, no replayed pull). No wall-clock
//! thresholds: only answers and counts.

use std::time::Duration;

use attn_bidder_sdk::{BidContext, BidDecision, Bidder, Options, Running, serve};
use attn_proto::Message as _;
use attn_proto::v1 as wire;
use attn_proto::v1::bidder_client::BidderClient;
use attn_receipts::{
    AdvertiserKey, Bid, BidRequest, BidResponse, Creative, Currency, Digest32, Impression,
    Mechanism, Money, PersonaKey, PriceEvidence, ReceiptKind, ReceiptsBatch, ReceiptsPull,
    RequestId, Signed, Slot,
};
use rand::rngs::OsRng;
use tonic::Code;
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;

/// Bids a fixed price per unit after thinking for `think`.
struct Fixed {
    price: &'static str,
    think: Duration,
}

impl Bidder for Fixed {
    async fn bid(&self, context: &BidContext) -> Option<BidDecision> {
        tokio::time::sleep(self.think).await;
        Some(BidDecision {
            price: Money::parse(context.request.currency.as_str(), self.price).ok()?,
            slot_ids: Vec::new(),
            creative: Creative {
                creative_id: "c".into(),
                categories: vec!["sports".into()],
                content_hash: Digest32::of(&[b"c"]),
                url: None,
            },
        })
    }
}

async fn bidder(think: Duration) -> (Running, BidderClient<Channel>) {
    let key = AdvertiserKey::generate(&mut OsRng);
    let running = serve(
        Fixed {
            price: "0.5",
            think,
        },
        Options::new(key, Money::parse("USD", "100").expect("budget")),
    )
    .await
    .expect("serves");
    let client = BidderClient::connect(format!("http://{}", running.local_addr()))
        .await
        .expect("connects");
    (running, client)
}

fn request(persona: &PersonaKey, tmax_ms: u32) -> Signed<BidRequest> {
    let request = BidRequest {
        request_id: RequestId::random(&mut OsRng),
        persona: persona.public_key(),
        slots: vec![Slot {
            slot_id: "top".into(),
            format: "banner".into(),
            width: 0,
            height: 0,
            rank: 0,
            click_weight_ppm: 1_000_000,
            floor: None,
        }],
        context_tags: Vec::new(),
        mechanism: Mechanism::FirstPrice,
        currency: Currency::new("USD").expect("usd"),
        tmax_ms,
        reputation_ref: None,
        reputation_proof: None,
        created_at_ms: attn_bidder_sdk::now_ms(),
        floor: None,
    };
    Signed::sign(persona, &request)
}

async fn ask(client: &mut BidderClient<Channel>, signed: &Signed<BidRequest>) -> BidResponse {
    let answer = client
        .bid(signed.to_wire())
        .await
        .expect("answers")
        .into_inner();
    BidResponse::try_from(answer).expect("valid response")
}

/// Delivers a first-price impression of `bid` for `request_id` (signed by `persona`).
async fn show(
    client: &mut BidderClient<Channel>,
    persona: &PersonaKey,
    request_id: RequestId,
    bid: &Signed<Bid>,
) -> Result<wire::ImpressionAck, tonic::Status> {
    let evidence_bytes = wire::PriceEvidence::from(&PriceEvidence::OwnBid).encode_to_vec();
    let body = bid.open().expect("bid");
    let impression = Impression {
        request_id,
        persona: persona.public_key(),
        slot_id: "top".into(),
        advertiser: body.advertiser,
        creative_id: body.creative.creative_id,
        charge: body.price,
        shown_at_ms: attn_bidder_sdk::now_ms(),
        evidence_hash: Digest32::of(&[&evidence_bytes]),
        bid_hash: bid.hash(),
    };
    let mut call = tonic::Request::new(Signed::sign(persona, &impression).to_wire());
    call.metadata_mut().insert_bin(
        attn_bidder_sdk::EVIDENCE_METADATA_KEY,
        MetadataValue::from_bytes(&evidence_bytes),
    );
    client
        .impression(call)
        .await
        .map(tonic::Response::into_inner)
}

#[tokio::test]
async fn a_strategy_slower_than_tmax_is_answered_no_bid_by_the_sdk() {
    // The strategy sleeps 10 s; the request allows 100 ms. The SDK answers on its
    // own ("no bid") instead of letting the caller wait for the strategy.
    let (_running, mut client) = bidder(Duration::from_secs(10)).await;
    let persona = PersonaKey::generate(&mut OsRng);
    let response = ask(&mut client, &request(&persona, 100)).await;
    assert!(response.bid.is_none());
}

#[tokio::test]
async fn a_request_with_a_bad_persona_signature_is_refused() {
    let (_running, mut client) = bidder(Duration::ZERO).await;
    let persona = PersonaKey::generate(&mut OsRng);
    let mut envelope = request(&persona, 100).to_wire();
    envelope.signature[0] ^= 1;
    let status = client.bid(envelope).await.expect_err("refused");
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
}

#[tokio::test]
async fn a_bid_is_bound_to_one_request_id() {
    let (running, mut client) = bidder(Duration::ZERO).await;
    let persona = PersonaKey::generate(&mut OsRng);
    let first = request(&persona, 1_000);
    let second = request(&persona, 1_000);
    let bid_first = ask(&mut client, &first).await.bid.expect("bid");
    // The same signed request again gets the very same bid, never a second one.
    let again = ask(&mut client, &first).await.bid.expect("bid");
    assert_eq!(again.hash(), bid_first.hash());
    let bid_second = ask(&mut client, &second).await.bid.expect("bid");
    assert_eq!(
        bid_first.open().expect("bid").request_id,
        first.open().expect("request").request_id
    );
    let second_id = second.open().expect("request").request_id;
    assert_eq!(bid_second.open().expect("bid").request_id, second_id);
    assert_ne!(bid_first.hash(), bid_second.hash());

    // The first auction's bid shown under the second request id: refused.
    let status = show(&mut client, &persona, second_id, &bid_first)
        .await
        .expect_err("a bid re-used for another auction");
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    // Under a request id this bidder never answered: refused as unknown.
    let status = show(
        &mut client,
        &persona,
        RequestId::random(&mut OsRng),
        &bid_first,
    )
    .await
    .expect_err("no bid for that request");
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    assert_eq!(running.handle().spent_atomic(), 0);

    // Each bid is good once, for its own request.
    let first_id = first.open().expect("request").request_id;
    show(&mut client, &persona, first_id, &bid_first)
        .await
        .expect("accepted");
    show(&mut client, &persona, second_id, &bid_second)
        .await
        .expect("accepted");
    assert_eq!(running.handle().spent_atomic(), 1_000_000_000);
}

#[tokio::test]
async fn receipts_are_served_to_their_persona_once_per_pull_nonce() {
    let (running, mut client) = bidder(Duration::ZERO).await;
    let persona = PersonaKey::generate(&mut OsRng);
    let stranger = PersonaKey::generate(&mut OsRng);
    let value = Money::parse("USD", "12.5").expect("money");
    running
        .handle()
        .issue_receipt(
            persona.public_key(),
            ReceiptKind::Conversion,
            &value,
            vec!["sports".into()],
            true,
        )
        .await
        .expect("issued");
    let pull = |key: &PersonaKey, nonce: u8| {
        let pull = ReceiptsPull {
            persona: key.public_key(),
            since_ms: 0,
            created_at_ms: attn_bidder_sdk::now_ms(),
            nonce: [nonce; 16],
        };
        Signed::sign(key, &pull)
    };
    let signed = pull(&persona, 1);
    let batch = client
        .pull_receipts(signed.to_wire())
        .await
        .expect("pulled")
        .into_inner();
    let batch = ReceiptsBatch::try_from(batch).expect("valid batch");
    assert_eq!(batch.receipts.len(), 1);
    let item = &batch.receipts[0];
    let receipt = item.receipt.open().expect("signed by the bidder");
    assert_eq!(receipt.issuer, running.handle().advertiser());
    assert_eq!(receipt.kind, ReceiptKind::Conversion);
    assert_eq!(receipt.public_value, Some(value));
    assert!(item.opening.opens(&receipt.value_commitment));
    assert_eq!(item.opening.value_atomic, 12_500_000_000);

    // The same pull again is a replay.
    let status = client
        .pull_receipts(signed.to_wire())
        .await
        .expect_err("replay");
    assert_eq!(status.code(), Code::AlreadyExists, "{status:?}");
    // Another persona gets nothing of it.
    let theirs = client
        .pull_receipts(pull(&stranger, 2).to_wire())
        .await
        .expect("pulled")
        .into_inner();
    assert!(theirs.receipts.is_empty());
    // A pull naming the persona but signed by another key: the stranger does not
    // prove it owns the persona's key.
    let forged = ReceiptsPull {
        persona: persona.public_key(),
        since_ms: 0,
        created_at_ms: attn_bidder_sdk::now_ms(),
        nonce: [4; 16],
    };
    let forged = Signed::sign(&stranger, &forged).to_wire();
    let status = client.pull_receipts(forged).await.expect_err("forged");
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
}
