//! Property tests of the channel engine's vouchers, end to end through
//! [`ChannelPayer`] (the payer's store) and a payee with its own store:
//! - each voucher of a channel carries a strictly larger cumulative amount and the
//!   next sequence, never more than the channel's deposit, and the cumulative totals
//!   add up to what was paid;
//! - a replayed or reordered voucher is refused and changes nothing; the payee ends
//!   with the newest voucher whatever the delivery order;
//! - closing settles exactly the promised total on the base rail, in one payment to
//!   the payee per channel.

use std::collections::HashMap;
use std::sync::Arc;

use attn_payment_plugins::channel::store::{ChannelStore, Phase};
use attn_payment_plugins::channel::{ChannelConfig, ChannelPayer, ChannelTerms, Channels};
use attn_payment_plugins::sandbox::{SandboxConfig, SandboxRail, SandboxStore};
use attn_payment_plugins::{AccountName, PayRequest, PaymentId, PaymentRail, RailCurrency};
use attn_receipts::{AdvertiserKey, Currency, Digest32, Money, PersonaKey, Signed, Voucher};
use proptest::prelude::*;
use rust_decimal::Decimal;

const VOUCHER_SCALE: u32 = 9;

fn usd() -> Currency {
    Currency::new("USD").expect("USD")
}

fn nano(atomic: u64) -> Money {
    Money::from_atomic(usd(), atomic, VOUCHER_SCALE).expect("amount")
}

struct World {
    base: Arc<SandboxRail>,
    payer_channels: Arc<Channels>,
    payer: ChannelPayer<AdvertiserKey>,
    persona: attn_receipts::PublicKey,
    advertiser_account: AccountName,
}

async fn world(deposit: &str, funds: &str) -> World {
    let issuer = AccountName::new("issuer").expect("issuer");
    let base = Arc::new(
        SandboxRail::open(
            SandboxConfig::new(
                vec![RailCurrency::with_scale(usd(), 6).expect("scale")],
                issuer.clone(),
            ),
            SandboxStore::new(),
        )
        .expect("sandbox"),
    );
    let advertiser = AdvertiserKey::from_secret_bytes(&[1; 32]);
    let advertiser_account = AccountName::for_key(&advertiser.public_key());
    base.pay(
        &PayRequest::new(
            PaymentId::new("fund").expect("id"),
            issuer,
            advertiser_account.clone(),
            Money::parse("USD", funds).expect("funds"),
            "",
        )
        .expect("request"),
    )
    .await
    .expect("fund the advertiser");
    let config = ChannelConfig {
        scale: VOUCHER_SCALE,
        deposits: vec![Money::parse("USD", deposit).expect("deposit")],
    };
    let payer_channels = Arc::new(
        Channels::new(base.clone(), ChannelStore::memory(), config).expect("payer channels"),
    );
    World {
        payer: ChannelPayer::new(payer_channels.clone(), advertiser),
        payer_channels,
        base,
        persona: PersonaKey::from_secret_bytes(&[2; 32]).public_key(),
        advertiser_account,
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Monotone per channel, within the deposit, and nothing lost across channels:
    /// when a channel is full the payer closes it (settling everything it promised on
    /// it) and opens the next.
    #[test]
    fn vouchers_are_monotone_bounded_and_add_up(
        amounts in proptest::collection::vec(1u64..40_000_000, 1..24),
    ) {
        runtime().block_on(async {
            // A deposit of 0.1 USD: the larger draws spill over into new channels.
            let world = world("0.1", "100").await;
            let mut latest: HashMap<Digest32, (Decimal, u64)> = HashMap::new();
            let mut total = Decimal::ZERO;
            for (index, atomic) in amounts.iter().enumerate() {
                let amount = nano(*atomic);
                let voucher = world
                    .payer
                    .pay(&world.persona, &amount, index as u64)
                    .await
                    .expect("the advertiser can afford every payment");
                let body = voucher.open().expect("a voucher verifies");
                let channel = world.payer_channels.channel(&body.channel_id).expect("known");
                prop_assert!(body.cumulative.amount() <= channel.deposit.amount());
                let (before, sequence) = latest
                    .get(&body.channel_id)
                    .copied()
                    .unwrap_or((Decimal::ZERO, 0));
                prop_assert_eq!(body.sequence, sequence + 1);
                prop_assert_eq!(body.cumulative.amount() - before, amount.amount());
                latest.insert(body.channel_id, (body.cumulative.amount(), body.sequence));
                total += amount.amount();
            }
            let promised: Decimal = latest.values().map(|(cumulative, _)| *cumulative).sum();
            prop_assert_eq!(promised, total);
            // Closing pays the persona exactly what was promised, down to the base
            // rail's micro-dollars (the rest is carried forward, never lost).
            let settled = world.payer.close_all().await.expect("close");
            let carried: Decimal = world.payer_channels.store().read(|state| {
                state
                    .channels
                    .values()
                    .filter_map(|c| match &c.phase {
                        Phase::Closed(s) => Some(s.carried_out.amount() - c.carried_in.amount()),
                        _ => None,
                    })
                    .sum()
            });
            prop_assert!(!settled.is_empty());
            let received = world
                .base
                .balance(&AccountName::for_key(&world.persona), usd())
                .await
                .expect("balance");
            prop_assert_eq!(received.amount() + carried, total);
            Ok(())
        })?;
    }

    /// Whatever order the payee receives vouchers in, with replays: a voucher that is
    /// not newer than the latest is refused and changes nothing, and the payee ends
    /// holding the newest voucher, which is what closing settles.
    #[test]
    fn replayed_or_reordered_vouchers_change_nothing(
        amounts in proptest::collection::vec(1u64..5_000_000, 1..16),
        order in proptest::collection::vec(0usize..32, 0..48),
    ) {
        runtime().block_on(async {
            // One channel holds them all (at most 0.08 USD in a 1 USD deposit).
            let world = world("1", "10").await;
            let mut vouchers: Vec<Signed<Voucher>> = Vec::new();
            for (index, atomic) in amounts.iter().enumerate() {
                vouchers.push(
                    world
                        .payer
                        .pay(&world.persona, &nano(*atomic), index as u64)
                        .await
                        .expect("pay"),
                );
            }
            let newest = vouchers.last().expect("at least one").open().expect("verifies");
            let channel = world.payer_channels.channel(&newest.channel_id).expect("known");
            // The payee keeps its own store; it learns the channel from the base rail,
            // explicitly (`register`) or from the first voucher (`receive`).
            let payee = Channels::new(
                world.base.clone(),
                ChannelStore::memory(),
                ChannelConfig { scale: VOUCHER_SCALE, deposits: Vec::new() },
            )
            .expect("payee channels");
            if amounts.len() % 2 == 0 {
                payee
                    .register(
                        ChannelTerms {
                            channel_id: channel.id,
                            payer: channel.payer,
                            payee: channel.payee,
                            deposit: channel.deposit,
                        },
                        channel.nonce,
                        world.advertiser_account.clone(),
                        AccountName::for_key(&world.persona),
                    )
                    .await
                    .expect("register");
            } else {
                let first = &vouchers[0];
                payee.receive(&world.persona, first).await.expect("receive");
                let registered = payee.channel(&channel.id).expect("registered on receipt");
                prop_assert_eq!(registered.deposit, channel.deposit);
                prop_assert_eq!(registered.accepted_sequence, 1);
                // Start the delivery from a clean slate: a replay of the first.
                prop_assert!(payee.receive(&world.persona, first).await.is_err());
            }
            let deliveries = order
                .iter()
                .map(|pick| pick % vouchers.len())
                .chain(0..vouchers.len());
            let mut seen_sequence = payee.channel(&channel.id).expect("known").accepted_sequence;
            for pick in deliveries {
                let before = payee.channel(&channel.id).expect("registered");
                let sequence = vouchers[pick].open().expect("verifies").sequence;
                match payee.accept(&world.persona, &vouchers[pick]) {
                    Ok(cumulative) => {
                        prop_assert!(sequence > seen_sequence);
                        prop_assert!(cumulative.amount() > before.accepted.amount());
                        seen_sequence = sequence;
                    }
                    Err(_) => {
                        prop_assert!(sequence <= seen_sequence);
                        prop_assert_eq!(payee.channel(&channel.id).expect("kept"), before);
                    }
                }
            }
            let held = payee.channel(&channel.id).expect("kept");
            prop_assert_eq!(held.accepted, newest.cumulative);
            prop_assert_eq!(held.latest.as_ref(), vouchers.last());
            // A voucher for another persona is refused too.
            let stranger = PersonaKey::from_secret_bytes(&[3; 32]).public_key();
            prop_assert!(payee.accept(&stranger, &vouchers[0]).is_err());
            // The payee closes: the base rail pays it the newest cumulative amount,
            // rounded down to micro-dollars, in one payment.
            let settlement = payee.close(&channel.id).await.expect("close");
            let received = world
                .base
                .balance(&AccountName::for_key(&world.persona), usd())
                .await
                .expect("balance");
            prop_assert_eq!(received, settlement.to_payee);
            prop_assert_eq!(
                settlement.to_payee.amount() + settlement.carried_out.amount(),
                newest.cumulative.amount()
            );
            Ok(())
        })?;
    }
}

/// A payee that never saw a channel refuses a voucher whose channel is not one of the
/// pair's, or whose escrow holds nothing on the base rail: there is no deposit behind
/// it.
#[tokio::test]
async fn receive_refuses_channels_without_a_deposit_behind_them() {
    let world = world("1", "10").await;
    let advertiser = AdvertiserKey::from_secret_bytes(&[1; 32]);
    let payee = Channels::new(
        world.base.clone(),
        ChannelStore::memory(),
        ChannelConfig {
            scale: VOUCHER_SCALE,
            deposits: Vec::new(),
        },
    )
    .expect("payee channels");
    let forged = |channel_id| {
        let terms = ChannelTerms {
            channel_id,
            payer: advertiser.public_key(),
            payee: world.persona,
            deposit: Money::parse("USD", "1").expect("deposit"),
        };
        attn_payment_plugins::channel::PayerSide::new(terms)
            .issue(&advertiser, &nano(5), 1)
            .expect("issue")
    };
    // Not an id of this pair at all.
    let stranger = forged(Digest32([7; 32]));
    assert!(matches!(
        payee.receive(&world.persona, &stranger).await,
        Err(attn_payment_plugins::Error::VoucherRejected(
            attn_payment_plugins::channel::VoucherRejection::WrongChannel
        ))
    ));
    // The pair's channel 3, never opened: nothing in escrow.
    let unopened = forged(attn_payment_plugins::channel::channel_id(
        &advertiser.public_key(),
        &world.persona,
        usd(),
        3,
    ));
    assert!(matches!(
        payee.receive(&world.persona, &unopened).await,
        Err(attn_payment_plugins::Error::Channel { .. })
    ));
    assert!(payee.store().read(|state| state.channels.is_empty()));
}
