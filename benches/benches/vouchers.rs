//! Payment-channel vouchers (issue 6): one voucher issued by the payer and verified
//! and kept by the payee, in the pure core (`PayerSide::issue` + `PayeeSide::accept`)
//! and through the channel engine as the bidder SDK and the client use it
//! (`ChannelPayer::pay` + `Channels::accept`, in-memory store, sandbox base rail).
//! Goal: ≥ 20,000 vouchers/s per core, close to one Ed25519 sign + verify, which is
//! measured beside them as the limit.

use std::sync::Arc;

use attn_payment_plugins::channel::store::ChannelStore;
use attn_payment_plugins::channel::{
    ChannelConfig, ChannelPayer, ChannelTerms, Channels, PayeeSide, PayerSide, channel_id,
};
use attn_payment_plugins::sandbox::{SandboxConfig, SandboxRail};
use attn_payment_plugins::{AccountName, RailCurrency};
use attn_receipts::{AdvertiserKey, Currency, Money, PersonaKey, Signer};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn vouchers(c: &mut Criterion) {
    let mut group = c.benchmark_group("vouchers");
    group.throughput(Throughput::Elements(1));
    let usd = Currency::new("USD").expect("USD");
    let price = Money::parse("USD", "0.0005").expect("price");
    let payer_key = AdvertiserKey::from_secret_bytes(&[1; 32]);
    let payee = PersonaKey::from_secret_bytes(&[2; 32]).public_key();

    let terms = ChannelTerms {
        channel_id: channel_id(&payer_key.public_key(), &payee, usd, 0),
        payer: payer_key.public_key(),
        payee,
        // Room for far more vouchers than criterion asks for.
        deposit: Money::parse("USD", "1000000000").expect("deposit"),
    };
    let (mut payer, mut kept) = (PayerSide::new(terms), PayeeSide::new(terms));
    let mut now_ms = 0;
    group.bench_function("issue+verify (pure core)", |b| {
        b.iter(|| {
            now_ms += 1;
            let voucher = payer.issue(&payer_key, &price, now_ms).expect("issue");
            kept.accept(&voucher).expect("accept")
        })
    });

    let message = [7u8; 120];
    let public = payer_key.public_key();
    group.bench_function("ed25519 sign+verify (limit)", |b| {
        b.iter(|| {
            let signature = payer_key.sign_message(&message);
            public
                .verifying_key()
                .verify_strict(&message, &signature)
                .expect("verify")
        })
    });

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let account = AccountName::for_key(&payer_key.public_key());
    let base = SandboxRail::new(SandboxConfig::new(
        vec![RailCurrency::with_scale(usd, 9).expect("scale")],
        account,
    ))
    .expect("sandbox");
    let config = ChannelConfig {
        scale: 9,
        deposits: vec![Money::parse("USD", "1000000000").expect("deposit")],
    };
    let channels =
        Arc::new(Channels::new(Arc::new(base), ChannelStore::memory(), config).expect("engine"));
    let engine = ChannelPayer::new(Arc::clone(&channels), payer_key.clone());
    let mut now_ms = 0;
    group.bench_function("pay+accept (channel engine)", |b| {
        b.iter(|| {
            now_ms += 1;
            let voucher = runtime
                .block_on(engine.pay(&payee, &price, now_ms))
                .expect("pay");
            channels.accept(&payee, &voucher).expect("accept")
        })
    });
    group.finish();
}

criterion_group!(benches, vouchers);
criterion_main!(benches);
