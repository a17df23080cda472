//! The client verifies each voucher a winner pays with, through the payee side of the
//! channel engine over the base rail the bidder pays on, and keeps the latest of each
//! channel in a crash-safe store; a refused voucher is reported per impression and
//! never costs the view receipt. One SDK bidder over gRPC on 127.0.0.1 whose payer
//! misbehaves on cue: it replays a voucher, lowers the cumulative amount, promises
//! more than its deposit, forges a voucher with another key, pays with another key's
//! real channel.

mod common;

use common::{top_slot as slot, usd};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use attn_bidder_sdk::{BidContext, BidDecision, ImpressionPayer, Options, Payment, PaymentOrder};
use attn_bidder_sdk::{RailPayer, Running, serve};
use attn_client_auction::client::{
    BidderEntry, Client, ClientConfig, Error, MemoryWallet, PaymentCheck, Registry, WalletStore,
};
use attn_client_auction::preferences::Preferences;
use attn_payment_plugins::channel::store::ChannelStore;
use attn_payment_plugins::channel::{
    ChannelConfig, ChannelPayer, Channels, VoucherRejection, channel_id,
};
use attn_payment_plugins::sandbox::{SandboxConfig, SandboxRail};
use attn_payment_plugins::{AccountName, PayRequest, PaymentId, PaymentRail, RailCurrency};
use attn_receipts::{
    AdvertiserKey, Creative, Digest32, Mechanism, Money, PersonaKey, Signed, Voucher,
};
use rand::rngs::OsRng;

const SCALE: u32 = 9;

fn money(amount: &str) -> Money {
    Money::parse("USD", amount).expect("money")
}

/// Bids one price for every request.
struct FixedPrice(Money);

impl attn_bidder_sdk::Bidder for FixedPrice {
    async fn bid(&self, _: &BidContext) -> Option<BidDecision> {
        Some(BidDecision {
            price: self.0,
            slot_ids: vec![],
            creative: Creative {
                creative_id: "ad".into(),
                categories: vec!["sports".into()],
                content_hash: Digest32::of(&[b"ad"]),
                url: None,
            },
        })
    }
}

/// What the payer does with the next impression.
#[derive(Clone, Copy, Debug)]
enum Cue {
    /// Pays honestly: the next voucher of its channel.
    Honest,
    /// Sends the last honest voucher again.
    Replay,
    /// A new sequence with a cumulative amount below the last one.
    Lowered,
    /// A new sequence promising more than the channel's deposit.
    OverDeposit,
    /// The winner's voucher body, signed by another key.
    Forged,
    /// A real voucher of another advertiser's channel to the persona.
    Stranger,
}

struct Tampering {
    honest: RailPayer,
    key: AdvertiserKey,
    stranger: ChannelPayer<AdvertiserKey>,
    deposit: Money,
    cues: Mutex<VecDeque<Cue>>,
    last: Mutex<Option<Signed<Voucher>>>,
}

#[async_trait::async_trait]
impl ImpressionPayer for Tampering {
    fn rail(&self) -> &str {
        self.honest.rail()
    }

    async fn pay(&self, order: &PaymentOrder) -> attn_bidder_sdk::Result<Payment> {
        let cue = self
            .cues
            .lock()
            .expect("cues")
            .pop_front()
            .unwrap_or(Cue::Honest);
        let last = self.last.lock().expect("last").clone();
        let next = |cumulative: Money| {
            let body = last
                .as_ref()
                .expect("an honest voucher first")
                .open()
                .expect("valid");
            Voucher {
                sequence: body.sequence + 1,
                cumulative,
                ..body
            }
        };
        let voucher = match cue {
            Cue::Honest => {
                let payment = self.honest.pay(order).await?;
                *self.last.lock().expect("last") = payment.voucher.clone();
                return Ok(payment);
            }
            Cue::Replay => last.clone().expect("an honest voucher first"),
            Cue::Lowered => {
                let body = last.as_ref().expect("voucher").open().expect("valid");
                let half =
                    Money::from_atomic(usd(), order.charge_atomic / 2, SCALE).expect("money");
                Signed::sign(
                    &self.key,
                    &next(body.cumulative.checked_sub(&half).expect("sub")),
                )
            }
            Cue::OverDeposit => Signed::sign(
                &self.key,
                &next(self.deposit.checked_add(&order.charge).expect("add")),
            ),
            Cue::Forged => {
                let other = AdvertiserKey::generate(&mut OsRng);
                let body = last.as_ref().expect("voucher").open().expect("valid");
                Signed::sign(
                    &other,
                    &next(body.cumulative.checked_add(&order.charge).expect("add")),
                )
            }
            Cue::Stranger => self
                .stranger
                .pay(&order.persona, &order.charge, order.now_ms)
                .await
                .expect("the stranger pays"),
        };
        Ok(Payment {
            rail: self.honest.rail().to_string(),
            voucher: Some(voucher),
            payment_id: None,
        })
    }
}

/// A sandbox base rail with `keys`' accounts funded.
async fn base_rail(keys: &[&AdvertiserKey]) -> Arc<dyn PaymentRail> {
    let issuer = AccountName::new("issuer").expect("account");
    let currency = RailCurrency::with_scale(usd(), SCALE).expect("currency");
    let base = SandboxRail::new(SandboxConfig::new(vec![currency], issuer.clone())).expect("rail");
    for key in keys {
        let account = AccountName::for_key(&key.public_key());
        let funding = PayRequest::new(
            PaymentId::new(format!("fund-{account}")).expect("id"),
            issuer.clone(),
            account,
            money("10"),
            "funding",
        )
        .expect("request");
        assert!(base.pay(&funding).await.expect("funded").is_succeeded());
    }
    Arc::new(base)
}

fn engine(base: &Arc<dyn PaymentRail>, store: ChannelStore, deposit: &Money) -> Arc<Channels> {
    let config = ChannelConfig {
        scale: SCALE,
        deposits: vec![*deposit],
    };
    Arc::new(Channels::new(Arc::clone(base), store, config).expect("engine"))
}

async fn bidder(price: &Money, payer: Tampering) -> (Running, AdvertiserKey) {
    let key = payer.key.clone();
    let options = Options::new(key.clone(), money("100"))
        .scale(SCALE)
        .payer(Arc::new(payer));
    (
        serve(FixedPrice(*price), options).await.expect("serves"),
        key,
    )
}

fn refusal(check: &PaymentCheck) -> &Error {
    match check {
        PaymentCheck::VoucherRefused(error) => error,
        other => panic!("expected a refused voucher, got {other:?}"),
    }
}

fn rejection(check: &PaymentCheck) -> &VoucherRejection {
    match refusal(check) {
        Error::VoucherRefused {
            source: attn_payment_plugins::Error::VoucherRejected(rejection),
            ..
        } => rejection,
        other => panic!("expected the engine's rejection, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vouchers_are_verified_kept_durably_and_refusals_keep_the_receipt() {
    let key = AdvertiserKey::generate(&mut OsRng);
    let stranger_key = AdvertiserKey::generate(&mut OsRng);
    let base = base_rail(&[&key, &stranger_key]).await;
    let deposit = money("1");
    let price = money("0.01");
    let payer = Tampering {
        honest: RailPayer::with_channels(
            engine(&base, ChannelStore::memory(), &deposit),
            key.clone(),
        ),
        key: key.clone(),
        stranger: ChannelPayer::new(
            engine(&base, ChannelStore::memory(), &deposit),
            stranger_key,
        ),
        deposit,
        cues: Mutex::new(VecDeque::from([
            Cue::Honest,
            Cue::Honest,
            Cue::Replay,
            Cue::Lowered,
            Cue::OverDeposit,
            Cue::Forged,
            Cue::Stranger,
            Cue::Honest,
        ])),
        last: Mutex::new(None),
    };
    let (running, key) = bidder(&price, payer).await;

    let folder = tempfile::tempdir().expect("folder");
    let store_path = folder.path().join("client-channels.log");
    let persona = PersonaKey::generate(&mut OsRng);
    let persona_key = persona.public_key();
    let registry = Registry::new(vec![BidderEntry {
        name: "payer".into(),
        endpoint: format!("http://{}", running.local_addr()),
        advertiser: key.public_key().to_hex(),
    }])
    .expect("registry");
    let mut config = ClientConfig::new(usd());
    config.tmax_ms = 1_500;
    config.mechanism = Mechanism::FirstPrice;
    let wallet = Arc::new(MemoryWallet::new());
    let client = Client::new(
        persona,
        Arc::new(registry),
        Preferences::default(),
        config,
        wallet.clone(),
    )
    .expect("client")
    .with_channels(engine(
        &base,
        ChannelStore::open_file(&store_path, true).expect("store"),
        &deposit,
    ));

    let mut checks = Vec::new();
    for _ in 0..8 {
        let outcome = client.run_auction(&[slot()]).await.expect("auction");
        assert_eq!(outcome.wins.len(), 1, "{:?}", outcome.diagnostics);
        let mut report = client.show(&outcome).await;
        assert!(report.failed.is_empty(), "{:?}", report.failed);
        let delivered = report.delivered.pop().expect("delivered");
        // Whatever the payment, the view receipt is the winner's and is kept.
        let receipt = delivered.entry.ack.view_receipt.open().expect("receipt");
        assert_eq!(receipt.issuer, key.public_key());
        checks.push(delivered.payment);
    }
    assert_eq!(wallet.entries().expect("wallet").len(), 8);

    let kept = |check: &PaymentCheck, expected: &str| match check {
        PaymentCheck::VoucherKept { cumulative, .. } => assert_eq!(*cumulative, money(expected)),
        other => panic!("expected a kept voucher, got {other:?}"),
    };
    kept(&checks[0], "0.01");
    kept(&checks[1], "0.02");
    assert!(matches!(
        rejection(&checks[2]),
        VoucherRejection::SequenceNotIncreasing {
            sequence: 2,
            latest: 2
        }
    ));
    assert!(matches!(
        rejection(&checks[3]),
        VoucherRejection::CumulativeNotIncreasing { .. }
    ));
    assert!(matches!(
        rejection(&checks[4]),
        VoucherRejection::ExceedsDeposit { .. }
    ));
    // Another key: a forged signature is caught before the engine, and so is a real
    // voucher of another advertiser's channel (the winner must pay, not a third party).
    assert!(
        matches!(
            refusal(&checks[5]),
            Error::BadAnswer {
                what: "voucher",
                ..
            }
        ),
        "{:?}",
        checks[5]
    );
    assert!(
        matches!(refusal(&checks[6]), Error::BadAnswer { what: "voucher", reason, .. } if reason.contains("not by the winner")),
        "{:?}",
        checks[6]
    );
    // Refusals changed nothing: the next honest voucher follows the last kept one.
    kept(&checks[7], "0.03");
    let latest = client.latest_vouchers();
    assert_eq!(latest.len(), 1, "only the winner's channel is known");
    let latest_body = latest[0].open().expect("valid");
    assert_eq!(
        (latest_body.sequence, latest_body.cumulative),
        (3, money("0.03"))
    );
    drop(client);

    // Durable: the store read back holds the latest voucher of the channel.
    let reopened = ChannelStore::open_file(&store_path, true).expect("reopened");
    let channel = channel_id(&key.public_key(), &persona_key, usd(), 0);
    let stored = reopened
        .read(|state| state.channels.get(&channel).cloned())
        .expect("the channel is stored");
    assert_eq!(stored.latest.as_ref(), Some(&latest[0]));
    assert_eq!(stored.accepted, money("0.03"));
    assert_eq!(stored.deposit, deposit);
    running.shutdown().await.expect("shutdown");
}
