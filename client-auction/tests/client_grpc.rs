//! The client runtime against real bidders over gRPC on 127.0.0.1: SDK bidders and
//! hand-written misbehaving ones (slow, down, bad signature, over the size limit,
//! wrong currency). No wall-clock thresholds: only counts and outcomes.

mod common;

use common::{entry, slot, usd};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use attn_bidder_sdk::{Options, Running, serve};
use attn_client_auction::client::{
    BidderStatus, Client, ClientConfig, DropReason, MemoryWallet, Registry,
};
use attn_client_auction::preferences::Preferences;
use attn_proto::Message as _;
use attn_proto::v1 as wire;
use attn_proto::v1::bidder_server::{Bidder as WireBidder, BidderServer};
use attn_receipts::{
    AdvertiserKey, Bid, BidRequest, Creative, Digest32, Impression, Mechanism, Money, PersonaKey,
    PriceEvidence, ReceiptKind, Signed,
};
use rand::rngs::OsRng;
use tonic::metadata::MetadataValue;
use tonic::{Request, Response, Status};

const TMAX_MS: u32 = 1_500;

async fn sdk_bidder(creative: &str, price_atomic: u64, budget: &str) -> (Running, AdvertiserKey) {
    let key = AdvertiserKey::generate(&mut OsRng);
    let running = serve(
        FixedPrice(price_atomic, creative.to_string()),
        Options::new(key.clone(), Money::parse("USD", budget).expect("budget")),
    )
    .await
    .expect("serves");
    (running, key)
}

/// A strategy that always bids one price (so tests know who wins and at what).
struct FixedPrice(u64, String);

impl attn_bidder_sdk::Bidder for FixedPrice {
    async fn bid(
        &self,
        context: &attn_bidder_sdk::BidContext,
    ) -> Option<attn_bidder_sdk::BidDecision> {
        Some(attn_bidder_sdk::BidDecision {
            price: Money::from_atomic(context.request.currency, self.0, context.scale).ok()?,
            slot_ids: vec![],
            creative: creative(&self.1),
        })
    }
}

fn creative(id: &str) -> Creative {
    Creative {
        creative_id: id.into(),
        categories: vec!["sports".into()],
        content_hash: Digest32::of(&[id.as_bytes()]),
        url: None,
    }
}

/// How a hand-written bidder misbehaves.
#[derive(Clone, Copy)]
enum Misbehaviour {
    Slow,
    BadSignature,
    OverLimit,
    WrongCurrency,
    /// Answers every request with the bid it made for the first one (a cached bid
    /// re-rendered in later auctions).
    StaleBid,
}

struct Rogue {
    key: AdvertiserKey,
    how: Misbehaviour,
    first: std::sync::Mutex<Option<wire::Signed>>,
}

#[tonic::async_trait]
impl WireBidder for Rogue {
    async fn bid(
        &self,
        request: Request<wire::Signed>,
    ) -> Result<Response<wire::BidResponse>, Status> {
        let signed = Signed::<BidRequest>::try_from(request.into_inner())
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        let request = signed
            .open()
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        let price = match self.how {
            Misbehaviour::WrongCurrency => Money::parse("EUR", "0.5").expect("money"),
            _ => Money::parse("USD", "0.5").expect("money"),
        };
        let bid = Bid {
            request_id: request.request_id,
            advertiser: self.key.public_key(),
            price,
            slot_ids: vec![],
            creative: creative("rogue"),
            rail: "channel:voucher".into(),
            created_at_ms: request.created_at_ms,
        };
        let mut envelope = Signed::sign(&self.key, &bid).to_wire();
        if let Misbehaviour::StaleBid = self.how {
            let mut first = self.first.lock().expect("lock");
            envelope = first.get_or_insert(envelope).clone();
        }
        match self.how {
            Misbehaviour::Slow => tokio::time::sleep(Duration::from_secs(10)).await,
            Misbehaviour::BadSignature => envelope.signature[0] ^= 1,
            Misbehaviour::OverLimit => envelope.body.extend(std::iter::repeat_n(0u8, 5_000)),
            Misbehaviour::WrongCurrency | Misbehaviour::StaleBid => {}
        }
        Ok(Response::new(wire::BidResponse {
            bid: Some(envelope),
            want_reputation_proof: false,
        }))
    }

    async fn impression(
        &self,
        _: Request<wire::Signed>,
    ) -> Result<Response<wire::ImpressionAck>, Status> {
        Err(Status::unimplemented("rogue"))
    }

    async fn pull_receipts(
        &self,
        _: Request<wire::Signed>,
    ) -> Result<Response<wire::ReceiptsBatch>, Status> {
        Err(Status::unimplemented("rogue"))
    }
}

async fn rogue(how: Misbehaviour) -> (SocketAddr, AdvertiserKey) {
    let key = AdvertiserKey::generate(&mut OsRng);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    let service = BidderServer::new(Rogue {
        key: key.clone(),
        how,
        first: std::sync::Mutex::new(None),
    });
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
    );
    (address, key)
}

/// The client configuration of these tests: USD, `TMAX_MS`, `mechanism`.
fn config(mechanism: Mechanism) -> ClientConfig {
    let mut config = ClientConfig::new(usd());
    config.tmax_ms = TMAX_MS;
    config.mechanism = mechanism;
    config
}

/// A client of a fresh persona with default preferences and an in-memory wallet.
fn client_with(registry: Arc<Registry>, config: ClientConfig) -> Client {
    Client::new(
        PersonaKey::generate(&mut OsRng),
        registry,
        Preferences::default(),
        config,
        Arc::new(MemoryWallet::new()),
    )
    .expect("client")
}

fn client(registry: Registry, mechanism: Mechanism) -> Client {
    client_with(Arc::new(registry), config(mechanism))
}

/// The gRPC call delivering `signed` with its price evidence.
fn impression_call(signed: &Signed<Impression>, evidence_bytes: &[u8]) -> Request<wire::Signed> {
    let mut call = Request::new(signed.to_wire());
    call.metadata_mut().insert_bin(
        attn_bidder_sdk::EVIDENCE_METADATA_KEY,
        MetadataValue::from_bytes(evidence_bytes),
    );
    call
}

fn status_of<'a>(
    outcome: &'a attn_client_auction::client::AuctionOutcome,
    name: &str,
) -> &'a BidderStatus {
    &outcome
        .diagnostics
        .iter()
        .find(|d| d.name == name)
        .expect("bidder in diagnostics")
        .status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn misbehaving_bidders_are_dropped_and_counted_and_the_auction_still_clears() {
    let (high, high_key) = sdk_bidder("high", 900_000_000, "100").await;
    let (low, low_key) = sdk_bidder("low", 400_000_000, "100").await;
    let (slow, slow_key) = rogue(Misbehaviour::Slow).await;
    let (forger, forger_key) = rogue(Misbehaviour::BadSignature).await;
    let (big, big_key) = rogue(Misbehaviour::OverLimit).await;
    let (euro, euro_key) = rogue(Misbehaviour::WrongCurrency).await;
    let down = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("address")
    };
    let down_key = AdvertiserKey::generate(&mut OsRng);
    // A bidder whose bids are signed by a key the registry does not know.
    let (impostor, _) = sdk_bidder("impostor", 950_000_000, "100").await;
    let registry = Registry::new(vec![
        entry("high", high.local_addr(), &high_key),
        entry("low", low.local_addr(), &low_key),
        entry("slow", slow, &slow_key),
        entry("forger", forger, &forger_key),
        entry("big", big, &big_key),
        entry("euro", euro, &euro_key),
        entry("down", down, &down_key),
        entry(
            "impostor",
            impostor.local_addr(),
            &AdvertiserKey::generate(&mut OsRng),
        ),
    ])
    .expect("registry");
    let client = client(registry, Mechanism::SecondPrice);
    let outcome = client
        .run_auction(&[slot("top", 0, 1_000_000)])
        .await
        .expect("auction");

    assert_eq!(
        status_of(&outcome, "slow"),
        &BidderStatus::Dropped(DropReason::Late)
    );
    assert_eq!(
        status_of(&outcome, "forger"),
        &BidderStatus::Dropped(DropReason::BadSignature)
    );
    assert_eq!(
        status_of(&outcome, "big"),
        &BidderStatus::Dropped(DropReason::OverLimit)
    );
    assert_eq!(
        status_of(&outcome, "euro"),
        &BidderStatus::Dropped(DropReason::WrongCurrency)
    );
    assert_eq!(
        status_of(&outcome, "down"),
        &BidderStatus::Dropped(DropReason::Unreachable)
    );
    assert_eq!(
        status_of(&outcome, "impostor"),
        &BidderStatus::Dropped(DropReason::WrongAdvertiser)
    );
    assert_eq!(outcome.bids(), 2);
    assert_eq!(outcome.drops().values().sum::<usize>(), 6);

    // The highest valid bid wins at the runner-up's price, with the signed runner-up
    // as evidence; the signed result carries the same award.
    assert_eq!(outcome.wins.len(), 1);
    let win = &outcome.wins[0];
    assert_eq!(win.bidder_name, "high");
    assert_eq!(win.award.price, Money::parse("USD", "0.4").expect("money"));
    match &win.award.evidence {
        PriceEvidence::RunnerUpBid(bid) => assert_eq!(bid.signer(), low_key.public_key()),
        other => panic!("unexpected evidence {other:?}"),
    }
    let result = outcome.result.open().expect("signed result");
    assert_eq!(result.awards, vec![win.award.clone()]);
    assert_eq!(result.persona, client.persona());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_winner_accepts_an_impression_once_pays_and_refuses_its_replay() {
    let (high, high_key) = sdk_bidder("high", 900_000_000, "100").await;
    let (low, low_key) = sdk_bidder("low", 400_000_000, "100").await;
    let registry = Registry::new(vec![
        entry("high", high.local_addr(), &high_key),
        entry("low", low.local_addr(), &low_key),
    ])
    .expect("registry");
    let client = client(registry, Mechanism::Gsp);
    let outcome = client
        .run_auction(&[slot("top", 0, 1_000_000), slot("side", 1, 500_000)])
        .await
        .expect("auction");
    assert_eq!(outcome.wins.len(), 2);
    let report = client.show(&outcome).await;
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    assert_eq!(report.delivered.len(), 2);
    assert_eq!(client.wallet().entries().expect("wallet").len(), 2);

    // GSP: top pays the second bid (0.4 per unit, weight 1), side pays the floor (0).
    let top = report
        .delivered
        .iter()
        .find(|d| d.entry.bidder == "high")
        .expect("high delivered");
    // Without a payee engine the voucher is checked for its parties and amount only.
    assert_eq!(top.payment.name(), "unverified", "{:?}", top.payment);
    let voucher = top
        .entry
        .ack
        .voucher
        .as_ref()
        .expect("voucher")
        .open()
        .expect("valid voucher");
    assert_eq!(
        voucher.cumulative,
        Money::parse("USD", "0.4").expect("money")
    );
    assert_eq!(voucher.sequence, 1);
    assert_eq!(high.handle().spent_atomic(), 400_000_000);
    // The side slot sold at its zero reserve: shown for free, nothing paid, still a
    // view receipt.
    let side = report
        .delivered
        .iter()
        .find(|d| d.entry.bidder == "low")
        .expect("low delivered");
    assert!(side.entry.ack.voucher.is_none() && side.entry.ack.payment_id.is_none());
    assert_eq!(side.payment.name(), "free");
    assert_eq!(low.handle().spent_atomic(), 0);

    // The replay of the same signed impression is refused, and nothing more is paid.
    let mut raw = attn_proto::v1::bidder_client::BidderClient::connect(format!(
        "http://{}",
        high.local_addr()
    ))
    .await
    .expect("connect");
    let win = outcome
        .wins
        .iter()
        .find(|w| w.bidder_name == "high")
        .expect("win");
    let replay = impression_call(&top.entry.impression, &win.evidence_bytes);
    let status = raw.impression(replay).await.expect_err("replay refused");
    assert_eq!(status.code(), tonic::Code::AlreadyExists);
    assert_eq!(high.handle().spent_atomic(), 400_000_000);
    // The refusal carries the first answer, for a client whose answer was lost: the
    // same voucher and view receipt, nothing new.
    let first = wire::ImpressionAck::decode(status.details()).expect("first answer");
    let first = attn_receipts::ImpressionAck::try_from(first).expect("valid ack");
    assert_eq!(first, top.entry.ack);

    // The view receipt is pulled with the opening of its commitment to the charge.
    let receipts = client.pull_receipts(0, 0).await.expect("pull");
    assert_eq!(receipts.len(), 1);
    let receipt = receipts[0].receipt.open().expect("receipt");
    assert_eq!(receipt.kind, ReceiptKind::View);
    assert_eq!(receipts[0].opening.value_atomic, 400_000_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_second_price_evidence_is_refused() {
    let (high, high_key) = sdk_bidder("high", 900_000_000, "100").await;
    let (low, low_key) = sdk_bidder("low", 400_000_000, "100").await;
    let registry = Registry::new(vec![
        entry("high", high.local_addr(), &high_key),
        entry("low", low.local_addr(), &low_key),
    ])
    .expect("registry");
    let client = client(registry, Mechanism::SecondPrice);
    let outcome = client
        .run_auction(&[slot("top", 0, 1_000_000)])
        .await
        .expect("auction");
    let win = &outcome.wins[0];
    let PriceEvidence::RunnerUpBid(runner_up) = &win.award.evidence else {
        panic!("second price evidence is the runner-up");
    };
    // Raise the runner-up's price in its body, keeping its signature.
    let mut body = wire::Bid::decode(runner_up.body()).expect("decodes");
    body.price = Some(wire::Money {
        currency: "USD".into(),
        amount: "0.8".into(),
    });
    let forged = Signed::<Bid>::from_parts(
        body.encode_to_vec(),
        runner_up.signer(),
        runner_up.signature_bytes(),
    )
    .expect("shape");
    let mut raw = attn_proto::v1::bidder_client::BidderClient::connect(format!(
        "http://{}",
        high.local_addr()
    ))
    .await
    .expect("connect");
    let deliver = |evidence: PriceEvidence, charge: &str| {
        let evidence_bytes = wire::PriceEvidence::from(&evidence).encode_to_vec();
        let impression = Impression {
            request_id: outcome.request_id(),
            persona: client.persona(),
            slot_id: "top".into(),
            advertiser: high_key.public_key(),
            creative_id: "high".into(),
            charge: Money::parse("USD", charge).expect("money"),
            shown_at_ms: attn_bidder_sdk::now_ms(),
            evidence_hash: Digest32::of(&[&evidence_bytes]),
            bid_hash: win.award.bid_hash,
        };
        (impression, evidence_bytes)
    };
    // A runner-up whose price was raised after it was signed.
    let (impression, evidence_bytes) = deliver(PriceEvidence::RunnerUpBid(forged), "0.8");
    let call = impression_call(&sign_as(&client, &impression), &evidence_bytes);
    let status = raw
        .impression(call)
        .await
        .expect_err("forged signature refused");
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");

    // A genuine runner-up, but a charge above its price.
    let (impression, evidence_bytes) = deliver(win.award.evidence.clone(), "0.5");
    let call = impression_call(&sign_as(&client, &impression), &evidence_bytes);
    let status = raw.impression(call).await.expect_err("overcharge refused");
    assert_eq!(status.code(), tonic::Code::FailedPrecondition, "{status:?}");
    assert_eq!(high.handle().spent_atomic(), 0);

    // The refusals claimed nothing: the honest impression is still accepted.
    let report = client.show(&outcome).await;
    assert_eq!(report.delivered.len(), 1, "{:?}", report.failed);
    assert_eq!(high.handle().spent_atomic(), 400_000_000);
}

fn sign_as(client: &Client, impression: &Impression) -> Signed<Impression> {
    client.sign_impression(impression)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_budget_is_never_overspent_under_concurrent_impressions() {
    // Budget 1 USD; each impression costs 0.3 (first price, weight 1): three fit.
    let (solo, solo_key) = sdk_bidder("solo", 300_000_000, "1").await;
    let registry = Arc::new(
        Registry::new(vec![entry("solo", solo.local_addr(), &solo_key)]).expect("registry"),
    );
    let mut outcomes = Vec::new();
    let mut clients = Vec::new();
    for _ in 0..12 {
        let client = client_with(Arc::clone(&registry), config(Mechanism::FirstPrice));
        let outcome = client
            .run_auction(&[slot("top", 0, 1_000_000)])
            .await
            .expect("auction");
        assert_eq!(outcome.wins.len(), 1, "every auction has the one bid");
        outcomes.push(outcome);
        clients.push(client);
    }
    let shows = clients
        .iter()
        .zip(&outcomes)
        .map(|(client, outcome)| client.show(outcome));
    let reports = futures_util::future::join_all(shows).await;
    let delivered: usize = reports.iter().map(|r| r.delivered.len()).sum();
    let refused: usize = reports.iter().map(|r| r.failed.len()).sum();
    assert_eq!(delivered, 3);
    assert_eq!(refused, 9);
    assert_eq!(solo.handle().spent_atomic(), 900_000_000);
    assert!(solo.handle().spent_atomic() <= 1_000_000_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bid_made_for_one_auction_is_dropped_in_the_next() {
    let (stale, stale_key) = rogue(Misbehaviour::StaleBid).await;
    let (honest, honest_key) = sdk_bidder("honest", 100_000_000, "100").await;
    let registry = Registry::new(vec![
        entry("stale", stale, &stale_key),
        entry("honest", honest.local_addr(), &honest_key),
    ])
    .expect("registry");
    let client = client(registry, Mechanism::SecondPrice);
    let first = client
        .run_auction(&[slot("top", 0, 1_000_000)])
        .await
        .expect("auction");
    // Its bid answers the first request: it takes part, and wins at 0.1.
    assert_eq!(first.wins.len(), 1);
    assert_eq!(first.wins[0].bidder_name, "stale");
    let second = client
        .run_auction(&[slot("top", 0, 1_000_000)])
        .await
        .expect("auction");
    assert_eq!(
        status_of(&second, "stale"),
        &BidderStatus::Dropped(DropReason::WrongRequest)
    );
    assert_eq!(second.wins.len(), 1);
    assert_eq!(second.wins[0].bidder_name, "honest");
}

/// A payer whose first payment waits at a gate the test opens: an answer slower than
/// the client's patience, as a slow rail gives.
struct GatedPayer {
    inner: attn_bidder_sdk::RailPayer,
    entered: tokio::sync::Notify,
    gate: tokio::sync::Semaphore,
    calls: std::sync::atomic::AtomicU32,
}

#[async_trait::async_trait]
impl attn_bidder_sdk::ImpressionPayer for GatedPayer {
    fn rail(&self) -> &str {
        self.inner.rail()
    }

    async fn pay(
        &self,
        order: &attn_bidder_sdk::PaymentOrder,
    ) -> attn_bidder_sdk::Result<attn_bidder_sdk::Payment> {
        self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.entered.notify_one();
        let _open = self.gate.acquire().await.expect("gate");
        self.inner.pay(order).await
    }
}

async fn gated_bidder() -> (Running, AdvertiserKey, Arc<GatedPayer>) {
    let key = AdvertiserKey::generate(&mut OsRng);
    let payer = Arc::new(GatedPayer {
        inner: attn_bidder_sdk::RailPayer::sandbox_for(key.public_key(), usd(), 9).expect("payer"),
        entered: tokio::sync::Notify::new(),
        gate: tokio::sync::Semaphore::new(0),
        calls: std::sync::atomic::AtomicU32::new(0),
    });
    let running = serve(
        FixedPrice(700_000_000, "gated".into()),
        Options::new(key.clone(), Money::parse("USD", "100").expect("budget"))
            .payer(Arc::clone(&payer) as Arc<dyn attn_bidder_sdk::ImpressionPayer>),
    )
    .await
    .expect("serves");
    (running, key, payer)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_impression_whose_caller_gave_up_is_still_paid_once_and_its_answer_kept() {
    let (gated, key, payer) = gated_bidder().await;
    let registry = Registry::new(vec![entry("gated", gated.local_addr(), &key)]).expect("registry");
    let client = client(registry, Mechanism::FirstPrice);
    let outcome = client
        .run_auction(&[slot("top", 0, 1_000_000)])
        .await
        .expect("auction");
    let win = &outcome.wins[0];
    let impression = Impression {
        request_id: outcome.request_id(),
        persona: client.persona(),
        slot_id: "top".into(),
        advertiser: key.public_key(),
        creative_id: "gated".into(),
        charge: win.award.charge,
        shown_at_ms: attn_bidder_sdk::now_ms(),
        evidence_hash: Digest32::of(&[&win.evidence_bytes]),
        bid_hash: win.award.bid_hash,
    };
    let signed = sign_as(&client, &impression);
    let call = || impression_call(&signed, &win.evidence_bytes);
    let raw = attn_proto::v1::bidder_client::BidderClient::connect(format!(
        "http://{}",
        gated.local_addr()
    ))
    .await
    .expect("connect");

    // The first delivery reaches the payer, then its caller gives up.
    let mut first = raw.clone();
    let first_call = call();
    let abandoned = tokio::spawn(async move { first.impression(first_call).await });
    payer.entered.notified().await;
    abandoned.abort();
    let _ = abandoned.await;

    // The same impression again while the first is being paid: retry later.
    let status = raw
        .clone()
        .impression(call())
        .await
        .expect_err("still in flight");
    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");

    // The first payment completes although nobody waits for it; delivering again
    // returns its answer, and it was paid once.
    payer.gate.add_permits(1_000);
    let answer = loop {
        match raw.clone().impression(call()).await {
            Err(status) if status.code() == tonic::Code::Unavailable => {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            other => break other,
        }
    };
    let status = answer.expect_err("already accepted");
    assert_eq!(status.code(), tonic::Code::AlreadyExists, "{status:?}");
    let ack = wire::ImpressionAck::decode(status.details()).expect("first answer");
    let ack = attn_receipts::ImpressionAck::try_from(ack).expect("valid ack");
    assert_eq!(ack.impression_hash, signed.hash());
    assert_eq!(payer.calls.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert_eq!(gated.handle().spent_atomic(), 700_000_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_whose_answer_was_lost_recovers_it_on_retry() {
    let (gated, key, payer) = gated_bidder().await;
    let registry = Registry::new(vec![entry("gated", gated.local_addr(), &key)]).expect("registry");
    let mut config = config(Mechanism::FirstPrice);
    config.impression_attempts = attn_client_auction::client::IMPRESSION_ATTEMPTS_MAX;
    config.impression_timeout = Duration::from_millis(100);
    let client = Arc::new(client_with(Arc::new(registry), config));
    let outcome = client
        .run_auction(&[slot("top", 0, 1_000_000)])
        .await
        .expect("auction");
    let shown = {
        let client = Arc::clone(&client);
        tokio::spawn(async move { client.show(&outcome).await })
    };
    // The first attempt times out while the payer waits; later attempts are told to
    // retry until the payment completes, then receive its answer.
    tokio::time::timeout(Duration::from_secs(10), payer.entered.notified())
        .await
        .expect("paying");
    tokio::time::sleep(Duration::from_millis(250)).await;
    payer.gate.add_permits(1_000);
    let report = shown.await.expect("show");
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    assert_eq!(report.delivered.len(), 1);
    assert_eq!(client.wallet().entries().expect("wallet").len(), 1);
    assert_eq!(payer.calls.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert_eq!(gated.handle().spent_atomic(), 700_000_000);
}
