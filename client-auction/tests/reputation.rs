//! A persona's reputation proof on its bid requests, against SDK bidders over gRPC:
//! attached to the first request after it is set, then only named by hash (the
//! bidders answer from their cache), and attached again after a bidder that had not
//! seen it asks for it.

mod common;

use common::{entry, top_slot as slot};
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex, PoisonError};

use attn_bidder_sdk::{BidContext, BidDecision, Bidder, Options, Reputation, Running, serve};
use attn_client_auction::client::{Client, ClientConfig, MemoryWallet, Registry};
use attn_client_auction::preferences::Preferences;
use attn_receipts::issuance::{ReceiptDraft, issue_receipt};
use attn_receipts::reputation::{Window, build_proof};
use attn_receipts::{
    AdvertiserKey, Creative, Currency, Digest32, Mechanism, Money, PersonaKey, ReceiptKind,
    ReputationProof, Signed,
};
use rand::rngs::OsRng;

/// What a bidder saw: whether the proof was attached, and the reputation.
type Seen = Arc<Mutex<Vec<(bool, Reputation)>>>;

#[derive(Clone, Default)]
struct Recorder {
    seen: Seen,
}

impl Bidder for Recorder {
    async fn bid(&self, context: &BidContext) -> Option<BidDecision> {
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((
                context.request.reputation_proof.is_some(),
                context.reputation.clone(),
            ));
        Some(BidDecision {
            price: Money::parse("USD", "0.01").ok()?,
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

fn last(seen: &Seen) -> (bool, Reputation) {
    seen.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .last()
        .cloned()
        .expect("the bidder was asked")
}

async fn bidder(strategy: Recorder, listen: SocketAddr) -> (Running, AdvertiserKey) {
    bidder_with_key(strategy, listen, AdvertiserKey::generate(&mut OsRng)).await
}

fn proof(persona: &PersonaKey) -> Signed<ReputationProof> {
    let now_ms = attn_bidder_sdk::now_ms();
    let shop = AdvertiserKey::from_secret_bytes(&[4; 32]);
    let draft = ReceiptDraft::new(persona.public_key(), ReceiptKind::Click, 75, now_ms - 1_000);
    let receipt = issue_receipt(&shop, draft, &mut OsRng).expect("receipt");
    build_proof(
        persona,
        &[receipt],
        Window::ending_at(now_ms, 86_400_000),
        &mut OsRng,
    )
    .expect("proof")
}

#[tokio::test]
async fn the_proof_is_attached_once_then_named_and_attached_again_when_asked() {
    let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
    let first = Recorder::default();
    let (first_running, first_key) = bidder(first.clone(), loopback).await;
    // The second bidder's address, where nothing listens yet.
    let later_address = TcpListener::bind(loopback)
        .and_then(|listener| listener.local_addr())
        .expect("a free port");
    let later_key = AdvertiserKey::generate(&mut OsRng);
    let registry = Registry::new(vec![
        entry("first", first_running.local_addr(), &first_key),
        entry("later", later_address, &later_key),
    ])
    .expect("registry");
    let persona = PersonaKey::generate(&mut OsRng);
    let mut config = ClientConfig::new(Currency::new("USD").expect("usd"));
    config.tmax_ms = 2_000;
    config.mechanism = Mechanism::FirstPrice;
    let client = Client::new(
        persona.clone(),
        Arc::new(registry),
        Preferences::default(),
        config,
        Arc::new(MemoryWallet::new()),
    )
    .expect("client");

    // Another persona's proof is refused.
    let other = PersonaKey::generate(&mut OsRng);
    assert!(client.set_reputation_proof(proof(&other)).is_err());

    let proof = proof(&persona);
    let hash = proof.hash();
    client
        .set_reputation_proof(proof)
        .expect("the persona's proof");
    assert_eq!(client.reputation_ref(), Some(hash));

    // First request: attached, verified.
    client.run_auction(&[slot()]).await.expect("auction");
    let (attached, reputation) = last(&first.seen);
    assert!(attached);
    let Reputation::Verified(view) = reputation else {
        panic!("verified: {reputation:?}");
    };
    assert_eq!(view.proof_hash, hash);
    assert_eq!(view.issuers[0].bracket, 2);

    // Next: named only, answered from the cache.
    client.run_auction(&[slot()]).await.expect("auction");
    let (attached, reputation) = last(&first.seen);
    assert!(!attached);
    assert!(matches!(reputation, Reputation::Verified(cached) if cached.proof_hash == hash));

    // A bidder that never saw the proof asks for it…
    let later = Recorder::default();
    let (later_running, _) = bidder_with_key(later.clone(), later_address, later_key).await;
    client.run_auction(&[slot()]).await.expect("auction");
    assert_eq!(last(&later.seen), (false, Reputation::Unknown(hash)));
    // …and gets it with the next request.
    client.run_auction(&[slot()]).await.expect("auction");
    let (attached, reputation) = last(&later.seen);
    assert!(attached);
    assert!(matches!(reputation, Reputation::Verified(view) if view.proof_hash == hash));

    first_running.shutdown().await.expect("shuts down");
    later_running.shutdown().await.expect("shuts down");
}

async fn bidder_with_key(
    strategy: Recorder,
    listen: SocketAddr,
    key: AdvertiserKey,
) -> (Running, AdvertiserKey) {
    let running = serve(
        strategy,
        Options::new(key.clone(), Money::parse("USD", "100").expect("budget")).listen(listen),
    )
    .await
    .expect("serves");
    (running, key)
}
