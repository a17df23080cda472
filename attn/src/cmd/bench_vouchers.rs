//! `attn bench vouchers`: payment-channel vouchers issued and verified per second on
//! one core, and how many base-rail payments a stream of impressions costs.
//!
//! Two figures: (1) the pure core, `PayerSide::issue` then `PayeeSide::accept` (one
//! Ed25519 signature, one verification, encode and decode), against a bare Ed25519
//! sign + verify of the same bytes in the same run (the limit); (2) the channel engine
//! as the SDK and the client use it, `ChannelPayer::pay` then `Channels::accept`, for
//! `--impressions` impressions over a sandbox base rail that counts the payments it is
//! asked to make (deposits at open, settlements and refunds at close).

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use async_trait::async_trait;
use attn_payment_plugins::channel::store::ChannelStore;
use attn_payment_plugins::channel::{
    ChannelConfig, ChannelPayer, ChannelTerms, Channels, PayeeSide, PayerSide, channel_id,
};
use attn_payment_plugins::sandbox::{SandboxConfig, SandboxRail};
use attn_payment_plugins::{
    AccountName, Capabilities, PayRequest, PaymentId, PaymentRail, PaymentStatus, RailCurrency,
};
use attn_receipts::{AdvertiserKey, Currency, Money, PersonaKey, PublicKey, Signer};

/// Rounds of the pure-core figure, alternating with the bare signature.
const PURE_CORE_ROUNDS: u64 = 10;
/// The most impressions one run pushes through the engine.
const IMPRESSIONS_MAX: u64 = 100_000_000;

#[derive(clap::Args)]
pub struct Args {
    /// Vouchers for the pure-core figure.
    #[arg(long, default_value_t = 20_000)]
    vouchers: u64,
    /// Impressions pushed through the channel engine.
    #[arg(long, default_value_t = 1_000_000)]
    impressions: u64,
    /// Personas the impressions are spread over (one channel pair each).
    #[arg(long, default_value_t = 1)]
    personas: u64,
    /// Price of one impression (USD).
    #[arg(long, default_value = "0.0005")]
    price: String,
    /// Deposit of a channel (USD): a channel closes and the next opens when full.
    #[arg(long, default_value = "1000")]
    deposit: String,
}

/// A base rail that counts the distinct payments it is asked to make.
struct CountingRail {
    inner: SandboxRail,
    seen: Mutex<HashSet<PaymentId>>,
}

impl CountingRail {
    fn payments(&self) -> usize {
        self.seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .len()
    }
}

#[async_trait]
impl PaymentRail for CountingRail {
    fn id(&self) -> &str {
        self.inner.id()
    }
    fn capabilities(&self) -> &Capabilities {
        self.inner.capabilities()
    }
    async fn pay(&self, request: &PayRequest) -> attn_payment_plugins::Result<PaymentStatus> {
        self.seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(request.payment_id.clone());
        self.inner.pay(request).await
    }
    async fn status(&self, id: &PaymentId) -> attn_payment_plugins::Result<PaymentStatus> {
        self.inner.status(id).await
    }
    async fn balance(
        &self,
        account: &AccountName,
        currency: Currency,
    ) -> attn_payment_plugins::Result<Money> {
        self.inner.balance(account, currency).await
    }
}

fn pure_core(vouchers: u64, price: &Money) -> anyhow::Result<(f64, f64)> {
    let payer = AdvertiserKey::from_secret_bytes(&[1; 32]);
    let payee = PersonaKey::from_secret_bytes(&[2; 32]).public_key();
    let deposit = Money::from_atomic(
        price.currency(),
        price
            .to_atomic(9)?
            .checked_mul(vouchers + PURE_CORE_ROUNDS + 1)
            .ok_or_else(|| anyhow::anyhow!("deposit overflows"))?,
        9,
    )?;
    let terms = ChannelTerms {
        channel_id: channel_id(&payer.public_key(), &payee, price.currency(), 0),
        payer: payer.public_key(),
        payee,
        deposit,
    };
    let (mut payer_side, mut payee_side) = (PayerSide::new(terms), PayeeSide::new(terms));
    // The limit: a bare Ed25519 sign + verify of a voucher-sized message.
    let message = [7u8; 120];
    let public = payer.public_key();
    // Rounds of each in turn, so that both see the same load on a shared machine;
    // the fastest round of each is the figure.
    let per_round = (vouchers / PURE_CORE_ROUNDS).max(1);
    let (mut core, mut bare) = (0f64, 0f64);
    let mut now_ms = 0;
    for _ in 0..PURE_CORE_ROUNDS {
        let clock = Instant::now();
        for _ in 0..per_round {
            now_ms += 1;
            let voucher = payer_side
                .issue(&payer, price, now_ms)
                .map_err(|e| anyhow::anyhow!("issue: {e}"))?;
            payee_side
                .accept(&voucher)
                .map_err(|e| anyhow::anyhow!("accept: {e}"))?;
        }
        core = core.max(per_round as f64 / clock.elapsed().as_secs_f64());
        let clock = Instant::now();
        for _ in 0..per_round {
            let signature = payer.sign_message(&message);
            public.verifying_key().verify_strict(&message, &signature)?;
        }
        bare = bare.max(per_round as f64 / clock.elapsed().as_secs_f64());
    }
    anyhow::ensure!(payee_side.cumulative == payer_side.cumulative);
    Ok((core, bare))
}

struct EngineRun {
    per_second: f64,
    base_payments: usize,
    channels: usize,
}

async fn engine(args: &Args, price: &Money, deposit: &Money) -> anyhow::Result<EngineRun> {
    let currency = price.currency();
    let advertiser = AdvertiserKey::from_secret_bytes(&[1; 32]);
    let advertiser_account = AccountName::for_key(&advertiser.public_key());
    // The advertiser's account issues on the sandbox: funding is not what is measured.
    let base = Arc::new(CountingRail {
        inner: SandboxRail::new(SandboxConfig::new(
            vec![RailCurrency::with_scale(currency, 9)?],
            advertiser_account,
        ))?,
        seen: Mutex::new(HashSet::new()),
    });
    let config = ChannelConfig {
        scale: 9,
        deposits: vec![*deposit],
    };
    let channels = Arc::new(Channels::new(base.clone(), ChannelStore::memory(), config)?);
    let payer = ChannelPayer::new(Arc::clone(&channels), advertiser);
    let personas: Vec<PublicKey> = (0..args.personas)
        .map(|i| {
            let mut seed = [9u8; 32];
            seed[..8].copy_from_slice(&i.to_be_bytes());
            PersonaKey::from_secret_bytes(&seed).public_key()
        })
        .collect();
    let start = Instant::now();
    for n in 0..args.impressions {
        let persona = &personas[(n % args.personas) as usize];
        let voucher = payer.pay(persona, price, n).await?;
        channels.accept(persona, &voucher)?;
    }
    let per_second = args.impressions as f64 / start.elapsed().as_secs_f64();
    let closed = channels.close_all().await?;
    let channel_count = channels.store().read(|state| state.channels.len());
    anyhow::ensure!(!closed.is_empty(), "no channel to close");
    Ok(EngineRun {
        per_second,
        base_payments: base.payments(),
        channels: channel_count,
    })
}

pub fn run(args: Args) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.vouchers > 0
            && (1..=IMPRESSIONS_MAX).contains(&args.impressions)
            && (1..=args.impressions).contains(&args.personas),
        "--vouchers > 0, --impressions in 1..={IMPRESSIONS_MAX}, --personas in 1..=impressions"
    );
    let price = Money::parse("USD", &args.price)?;
    let deposit = Money::parse("USD", &args.deposit)?;
    println!("machine: {}", super::bench::machine());
    println!("timing: wall time");
    let (core, bare) = pure_core(args.vouchers, &price)?;
    println!(
        "pure core (issue + verify-and-keep), one core: {core:.0} vouchers/s; bare Ed25519 \
         sign + verify: {bare:.0}/s; ratio {:.2} (fastest of {PURE_CORE_ROUNDS} alternating \
         rounds each)",
        core / bare
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let run = runtime.block_on(engine(&args, &price, &deposit))?;
    println!(
        "channel engine (ChannelPayer::pay + Channels::accept), one core: {:.0} vouchers/s",
        run.per_second
    );
    println!(
        "{} impressions of {price} over {} persona(s), deposit {deposit}: {} channel(s), {} \
         base-rail payments ({:.1} per 1,000,000 impressions; per channel: a deposit, a \
         settlement to the persona, a refund of the rest)",
        args.impressions,
        args.personas,
        run.channels,
        run.base_payments,
        run.base_payments as f64 * 1_000_000.0 / args.impressions as f64
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_run_counts_one_payment_set_per_channel() {
        let args = Args {
            vouchers: 10,
            impressions: 50,
            personas: 2,
            price: "0.01".into(),
            deposit: "0.1".into(),
        };
        let price = Money::parse("USD", &args.price).expect("price");
        let deposit = Money::parse("USD", &args.deposit).expect("deposit");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let run = runtime
            .block_on(engine(&args, &price, &deposit))
            .expect("engine");
        // 25 impressions of 0.01 per persona fill 0.1 deposits: 3 channels each (the
        // last one half full), 6 in all; each full one settles with no refund.
        assert_eq!(run.channels, 6);
        assert_eq!(run.base_payments, 6 + 6 + 2);
        let (core, bare) = pure_core(args.vouchers, &price).expect("core");
        assert!(core > 0.0 && bare > 0.0);
    }
}
