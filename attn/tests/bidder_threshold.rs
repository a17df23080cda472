//! A threshold advertiser served end to end over real gRPC on 127.0.0.1: the user's
//! client runtime (unchanged, knowing nothing of FROST) runs auctions against a bidder
//! whose key is a 2-of-3 group. Its bids, the view receipt of its impression ack and a
//! conversion receipt the persona pulls all verify as plain Ed25519 under the group
//! key. With one signer of three left the bidder stops bidding (a counted no-bid) and
//! refuses acks as retryable, and nothing crashes or stalls. A payment failure that a
//! retry cannot fix is refused as such, not as UNAVAILABLE.

use std::sync::Arc;

use attn_bidder_sdk::payer::RailPayer;
use attn_bidder_sdk::threshold::{AdvertiserSigner, BidsAndReceipts, ThresholdSigner};
use attn_bidder_sdk::{BidContext, BidDecision, Bidder, Options, Running, serve};
use attn_client_auction::client::{
    BidderEntry, BidderStatus, Client, ClientConfig, MemoryWallet, Registry,
};
use attn_client_auction::preferences::Preferences;
use attn_payment_plugins::sandbox::{SandboxConfig, SandboxRail};
use attn_payment_plugins::{AccountName, RailCurrency};
use attn_receipts::threshold::{self, ThresholdParams};
use attn_receipts::{
    Creative, Currency, Digest32, Mechanism, Money, PersonaKey, PublicKey, ReceiptKind, Slot,
    verify_batch,
};
use rand::rngs::OsRng;

/// Bids one price per unit of attention on any slot.
struct Fixed;

impl Bidder for Fixed {
    async fn bid(&self, context: &BidContext) -> Option<BidDecision> {
        Some(BidDecision {
            price: Money::parse(context.request.currency.as_str(), "0.004").ok()?,
            slot_ids: Vec::new(),
            creative: Creative {
                creative_id: "group-ad".into(),
                categories: vec!["sports".into()],
                content_hash: Digest32::of(&[b"group-ad"]),
                url: None,
            },
        })
    }
}

fn usd() -> Currency {
    Currency::new("USD").expect("currency")
}

fn slot() -> Slot {
    Slot {
        slot_id: "top".into(),
        format: "banner".into(),
        width: 0,
        height: 0,
        rank: 0,
        click_weight_ppm: 1_000_000,
        floor: None,
    }
}

/// A 2-of-3 group whose three signer tasks sign only this bidder's bids and receipts.
fn group_signer() -> ThresholdSigner {
    let (shares, group) =
        threshold::deal(ThresholdParams::new(2, 3).expect("params"), &mut OsRng).expect("deal");
    ThresholdSigner::spawn_with_policy(group, shares, Arc::new(BidsAndReceipts)).expect("spawn")
}

/// Stops signer task `index` and waits until it is gone (its queue closed), as when
/// a signing server goes down.
async fn stop(signer: &ThresholdSigner, index: usize) {
    let handle = &signer.signers()[index];
    handle.shutdown();
    for _ in 0..1_000 {
        if handle.is_stopped() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    panic!("signer {index} did not stop");
}

fn client_for(running: &Running, advertiser: PublicKey) -> Client {
    let registry = Registry::new(vec![BidderEntry {
        name: "group".into(),
        endpoint: format!("http://{}", running.local_addr()),
        advertiser: advertiser.to_hex(),
    }])
    .expect("registry");
    let mut config = ClientConfig::new(usd());
    config.tmax_ms = 2_000;
    config.mechanism = Mechanism::FirstPrice;
    config.impression_attempts = 2;
    Client::new(
        PersonaKey::generate(&mut OsRng),
        Arc::new(registry),
        Preferences::default(),
        config,
        Arc::new(MemoryWallet::new()),
    )
    .expect("client")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_2_of_3_group_bids_acks_and_issues_receipts_clients_verify_as_plain_ed25519() {
    let signer = group_signer();
    let group_key = signer.group_key();
    let running = serve(
        Fixed,
        Options::with_signer(signer.clone(), Money::parse("USD", "10").expect("budget")),
    )
    .await
    .expect("serves");
    assert_eq!(running.handle().advertiser(), group_key);
    let client = client_for(&running, group_key);

    // Two auctions, each won by the group, each shown and acknowledged.
    let mut envelopes = Vec::new();
    for _ in 0..2 {
        let outcome = client.run_auction(&[slot()]).await.expect("auction");
        assert_eq!(outcome.bids(), 1, "{:?}", outcome.diagnostics);
        let win = &outcome.wins[0];
        // The bid is an ordinary envelope signed by the group key.
        assert_eq!(win.bid.signer(), group_key);
        assert_eq!(win.bid.open().expect("bid verifies").advertiser, group_key);
        let report = client.show(&outcome).await;
        assert!(report.failed.is_empty(), "{:?}", report.failed);
        let delivered = &report.delivered[0];
        assert_eq!(delivered.payment.name(), "rail", "{:?}", delivered.payment);
        let ack = &delivered.entry.ack;
        assert!(ack.payment_id.is_some(), "paid one payment per impression");
        assert!(ack.voucher.is_none(), "a group signs no vouchers");
        let view = ack.view_receipt.open().expect("view receipt verifies");
        assert_eq!((view.issuer, view.kind), (group_key, ReceiptKind::View));
        envelopes.push(ack.view_receipt.clone());
    }

    // A conversion receipt the advertiser issues, pulled by the persona.
    running
        .handle()
        .issue_receipt(
            client.persona(),
            ReceiptKind::Conversion,
            &Money::parse("USD", "2.5").expect("value"),
            vec!["sports".into()],
            false,
        )
        .await
        .expect("issued by the group");
    let pulled = client.pull_receipts(0, 0).await.expect("pull");
    let conversion = pulled
        .iter()
        .find(|item| item.receipt.open().expect("verifies").kind == ReceiptKind::Conversion)
        .expect("the conversion receipt");
    assert!(
        conversion.opening.opens(
            &conversion
                .receipt
                .open()
                .expect("verifies")
                .value_commitment
        )
    );
    envelopes.push(conversion.receipt.clone());
    // Plain Ed25519: strict single verification and batch verification alike.
    for envelope in &envelopes {
        assert_eq!(envelope.signer(), group_key);
        envelope.verify().expect("strict RFC 8032 verification");
    }
    verify_batch(&envelopes).expect("batch verification");

    // One signer down: 2 of 3 remain, the group still bids and acks.
    stop(&signer, 0).await;
    let outcome = client.run_auction(&[slot()]).await.expect("auction");
    assert_eq!(outcome.bids(), 1, "{:?}", outcome.diagnostics);
    let report = client.show(&outcome).await;
    assert!(report.failed.is_empty(), "{:?}", report.failed);

    // A won auction whose ack needs a signature after the second signer is gone:
    // refused as retryable (UNAVAILABLE), never a crash, nothing paid.
    let outcome = client.run_auction(&[slot()]).await.expect("auction");
    assert_eq!(outcome.bids(), 1, "{:?}", outcome.diagnostics);
    let spent_before = running.handle().spent_atomic();
    stop(&signer, 1).await;
    let report = client.show(&outcome).await;
    assert!(report.delivered.is_empty());
    let (_, error) = &report.failed[0];
    assert!(
        error.to_string().contains("threshold signing failed"),
        "{error}"
    );
    assert_eq!(running.handle().spent_atomic(), spent_before);

    // One signer of three: no bid, every time, and the auction still closes.
    for _ in 0..3 {
        let outcome = client.run_auction(&[slot()]).await.expect("auction");
        assert_eq!(outcome.bids(), 0);
        assert!(outcome.wins.is_empty());
        assert!(
            matches!(outcome.diagnostics[0].status, BidderStatus::NoBid),
            "{:?}",
            outcome.diagnostics[0].status
        );
    }
    running.shutdown().await.expect("stops");
}

/// A rail that refuses for good (the advertiser's account holds nothing) is not
/// answered UNAVAILABLE: the client does not retry, and sees FAILED_PRECONDITION.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payment_a_retry_cannot_fix_is_refused_as_failed_precondition() {
    let signer = AdvertiserSigner::from(group_signer());
    let group_key = signer.public_key();
    // A sandbox on which someone else issues money: the group's account is empty.
    let rail = SandboxRail::new(SandboxConfig::new(
        vec![RailCurrency::with_scale(usd(), 9).expect("scale")],
        AccountName::new("issuer").expect("name"),
    ))
    .expect("rail");
    let payer = RailPayer::with_rail_for(Arc::new(rail), group_key);
    let running = serve(
        Fixed,
        Options::with_signer(signer, Money::parse("USD", "10").expect("budget"))
            .payer(Arc::new(payer)),
    )
    .await
    .expect("serves");
    let client = client_for(&running, group_key);
    let outcome = client.run_auction(&[slot()]).await.expect("auction");
    assert_eq!(outcome.bids(), 1, "{:?}", outcome.diagnostics);
    let report = client.show(&outcome).await;
    let (_, error) = &report.failed[0];
    let error = error.to_string();
    assert!(error.contains("FailedPrecondition"), "{error}");
    assert!(error.contains("insufficient-funds"), "{error}");
    assert!(!error.contains("Unavailable"), "{error}");
    assert_eq!(running.handle().spent_atomic(), 0);
    // Refusal released the slot: a retry is refused the same way, not as a replay.
    let retry = client.show(&outcome).await;
    assert!(
        retry.failed[0].1.to_string().contains("FailedPrecondition"),
        "{}",
        retry.failed[0].1
    );
    running.shutdown().await.expect("stops");
}
