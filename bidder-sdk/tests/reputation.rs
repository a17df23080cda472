//! Reputation on the bid path, over gRPC: a request that names an unknown proof gets
//! `want_reputation_proof`; the proof attached once is verified and the strategy sees
//! its view; later requests naming only the hash are answered from the cache, and only
//! for the persona that signed the proof.

use std::sync::{Arc, Mutex, PoisonError};

use attn_bidder_sdk::{BidContext, BidDecision, Bidder, Options, Reputation, Running, serve};
use attn_proto::v1::bidder_client::BidderClient;
use attn_receipts::issuance::{ReceiptDraft, issue_receipt};
use attn_receipts::reputation::{Window, build_proof};
use attn_receipts::{
    AdvertiserKey, BidRequest, BidResponse, Creative, Currency, Digest32, Mechanism, Money,
    PersonaKey, ReceiptKind, ReputationProof, RequestId, Signed, Slot,
};
use rand::rngs::OsRng;
use tonic::transport::Channel;

/// Bids only for personas with a verified proof, and records what it saw.
#[derive(Clone, Default)]
struct Reputable {
    seen: Arc<Mutex<Vec<Reputation>>>,
}

impl Bidder for Reputable {
    async fn bid(&self, context: &BidContext) -> Option<BidDecision> {
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(context.reputation.clone());
        let view = context.reputation_view()?;
        let brackets: u32 = view.issuers.iter().map(|issuer| issuer.bracket).sum();
        Some(BidDecision {
            price: Money::parse("USD", &format!("0.{brackets}")).ok()?,
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

impl Reputable {
    fn last(&self) -> Reputation {
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .last()
            .cloned()
            .expect("the strategy was asked")
    }
}

async fn bidder(strategy: Reputable) -> (Running, BidderClient<Channel>) {
    let key = AdvertiserKey::generate(&mut OsRng);
    let running = serve(
        strategy,
        Options::new(key, Money::parse("USD", "100").expect("budget")),
    )
    .await
    .expect("serves");
    let client = BidderClient::connect(format!("http://{}", running.local_addr()))
        .await
        .expect("connects");
    (running, client)
}

fn proof(persona: &PersonaKey) -> Signed<ReputationProof> {
    let now_ms = attn_bidder_sdk::now_ms();
    let shop = AdvertiserKey::from_secret_bytes(&[9; 32]);
    let receipts: Vec<_> = [300, 900]
        .into_iter()
        .map(|value_atomic| {
            let draft = ReceiptDraft::new(
                persona.public_key(),
                ReceiptKind::Conversion,
                value_atomic,
                now_ms - 60_000,
            );
            issue_receipt(&shop, draft, &mut OsRng).expect("receipt")
        })
        .collect();
    build_proof(
        persona,
        &receipts,
        Window::ending_at(now_ms, 86_400_000),
        &mut OsRng,
    )
    .expect("proof")
}

fn request(
    persona: &PersonaKey,
    reference: Option<Digest32>,
    proof: Option<&Signed<ReputationProof>>,
) -> Signed<BidRequest> {
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
        tmax_ms: 3_000,
        reputation_ref: reference,
        reputation_proof: proof.cloned(),
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

#[tokio::test]
async fn a_proof_is_asked_for_verified_once_then_served_from_the_cache() {
    let strategy = Reputable::default();
    let (running, mut client) = bidder(strategy.clone()).await;
    let alice = PersonaKey::generate(&mut OsRng);
    let proof = proof(&alice);
    let hash = proof.hash();

    // Named but never seen: no view, and the bidder asks for the proof.
    let answer = ask(&mut client, &request(&alice, Some(hash), None)).await;
    assert!(answer.want_reputation_proof);
    assert!(answer.bid.is_none());
    assert_eq!(strategy.last(), Reputation::Unknown(hash));

    // Attached: verified, and the strategy sees the brackets (1,200 reaches 10^3).
    let answer = ask(&mut client, &request(&alice, Some(hash), Some(&proof))).await;
    assert!(!answer.want_reputation_proof);
    let Reputation::Verified(view) = strategy.last() else {
        panic!("the attached proof verifies: {:?}", strategy.last());
    };
    assert_eq!(view.proof_hash, hash);
    assert_eq!(view.issuers[0].bracket, 4);
    assert_eq!(view.counts.conversions, 2);
    assert!(answer.bid.is_some());

    // Named again: from the cache.
    let answer = ask(&mut client, &request(&alice, Some(hash), None)).await;
    assert!(!answer.want_reputation_proof);
    assert!(matches!(strategy.last(), Reputation::Verified(cached) if cached == view));

    // Another persona naming Alice's proof gets nothing from it.
    let mallory = PersonaKey::generate(&mut OsRng);
    let answer = ask(&mut client, &request(&mallory, Some(hash), None)).await;
    assert!(answer.want_reputation_proof);
    assert!(answer.bid.is_none());
    assert_eq!(strategy.last(), Reputation::Unknown(hash));
    // And cannot attach it as its own.
    let answer = ask(&mut client, &request(&mallory, Some(hash), Some(&proof))).await;
    assert!(answer.bid.is_none());
    assert!(matches!(
        strategy.last(),
        Reputation::Refused(attn_receipts::Error::WrongPersona { .. })
    ));

    // A proof attached under another hash than the one named is refused.
    let answer = ask(
        &mut client,
        &request(&alice, Some(Digest32([1; 32])), Some(&proof)),
    )
    .await;
    assert!(answer.bid.is_none());
    assert!(matches!(
        strategy.last(),
        Reputation::Refused(attn_receipts::Error::InvalidField {
            field: "reputation_ref",
            ..
        })
    ));

    // No proof named: none.
    ask(&mut client, &request(&alice, None, None)).await;
    assert_eq!(strategy.last(), Reputation::None);
    running.shutdown().await.expect("shuts down");
}
