//! `attn client auction`: one auction for a fresh persona against the bidders of a
//! registry file, then the impressions shown to the winners, each with what the
//! client made of its payment. Bidders with `https://` endpoints (or `tls = true`)
//! are reached over TLS (see `attn_client_auction::client::registry`). With
//! `--rail channel:BASE`, each voucher is verified against its channel on the base
//! rail and the latest of each channel kept in `$ATTN_HOME/client-channels.log`.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use attn_client_auction::client::{
    BidderStatus, Client, ClientConfig, MemoryWallet, PaymentCheck, Registry,
};
use attn_client_auction::preferences::Preferences;
use attn_receipts::{Currency, Mechanism, Money, PersonaKey};
use clap::Subcommand;
use rand::rngs::OsRng;

#[derive(Subcommand)]
pub enum ClientCommand {
    /// Run one auction: fan out to every bidder of --bidders, close at --tmax,
    /// print winners, prices, evidence and per-bidder diagnostics, show the ads.
    Auction(AuctionArgs),
}

#[derive(clap::Args)]
pub struct AuctionArgs {
    /// The registry file ([[bidder]] name, endpoint, advertiser).
    #[arg(long)]
    bidders: PathBuf,
    /// Slots on the page (1 to 16), of attention 1, 1/2, 1/3… units.
    #[arg(long, default_value_t = 1)]
    slots: usize,
    /// gsp, vcg, first-price or second-price.
    #[arg(long, default_value = "gsp")]
    mechanism: Mechanism,
    /// Auction deadline in milliseconds.
    #[arg(long, default_value_t = 100)]
    tmax: u32,
    /// Currency of the auction.
    #[arg(long, default_value = "USD")]
    currency: String,
    /// Global floor per unit (decimal).
    #[arg(long)]
    floor: Option<String>,
    /// Context tags (repeatable), e.g. topic:cycling.
    #[arg(long = "tag")]
    tags: Vec<String>,
    /// Run the auction only; do not deliver impressions.
    #[arg(long)]
    no_show: bool,
    /// Verify vouchers against their channels on this rail (`channel:BASE`, e.g.
    /// `channel:ledger:postgres://…`), keeping the latest of each channel in
    /// $ATTN_HOME/client-channels.log.
    #[arg(long)]
    rail: Option<String>,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

/// The file under `ATTN_HOME` where `--rail` keeps the persona's channels.
pub const CLIENT_CHANNELS_FILE: &str = "client-channels.log";

/// The payment check as a short word and, for a refusal, the reason.
fn payment_text(payment: &PaymentCheck) -> String {
    match payment {
        PaymentCheck::VoucherKept { cumulative, .. } => {
            format!("voucher verified and kept (cumulative {cumulative})")
        }
        PaymentCheck::VoucherUnverified { cumulative, .. } => {
            format!("voucher (cumulative {cumulative}), not checked against its channel: no --rail")
        }
        PaymentCheck::VoucherRefused(error) => format!("voucher refused: {error}"),
        PaymentCheck::RailPayment(id) => format!("paid on the rail, payment {id}"),
        other => other.name().to_string(),
    }
}

pub fn run(command: ClientCommand) -> anyhow::Result<()> {
    let ClientCommand::Auction(args) = command;
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(auction(args))
}

async fn auction(args: AuctionArgs) -> anyhow::Result<()> {
    let registry = Arc::new(Registry::load(&args.bidders)?);
    let currency = Currency::new(&args.currency)?;
    let mut config = ClientConfig::new(currency);
    config.tmax_ms = args.tmax;
    config.mechanism = args.mechanism;
    config.context_tags = args.tags.clone();
    config.floor = args
        .floor
        .as_deref()
        .map(|f| Money::parse(&args.currency, f))
        .transpose()?;
    let mut client = Client::new(
        PersonaKey::generate(&mut OsRng),
        registry,
        Preferences::default(),
        config,
        Arc::new(MemoryWallet::new()),
    )?;
    if let Some(spec) = &args.rail {
        let home = super::keys::home();
        std::fs::create_dir_all(&home).with_context(|| format!("creating {}", home.display()))?;
        let scale = attn_payment_plugins::channel::VOUCHER_SCALE_DEFAULT;
        let options = attn_payment_plugins::RailOptions {
            currencies: vec![attn_payment_plugins::RailCurrency::with_scale(
                currency, scale,
            )?],
            channel_store_path: Some(home.join(CLIENT_CHANNELS_FILE)),
            channel_store_durable: true,
            channel: attn_payment_plugins::channel::ChannelConfig {
                scale,
                deposits: Vec::new(),
            },
            ..attn_payment_plugins::RailOptions::default()
        };
        let channels = attn_payment_plugins::registry::open_channels(spec, &options)
            .await
            .with_context(|| format!("opening the rail {spec}"))?;
        client = client.with_channels(channels);
    }
    let slots = super::demo::page_slots(args.slots)?;
    let outcome = client.run_auction(&slots).await?;
    let report = if args.no_show {
        None
    } else {
        Some(client.show(&outcome).await)
    };

    let diagnostics: Vec<serde_json::Value> = outcome
        .diagnostics
        .iter()
        .map(|d| {
            let (status, detail) = match &d.status {
                BidderStatus::Bid { price, won } => (
                    "bid",
                    serde_json::json!({ "price": price.amount().to_string(), "won": won }),
                ),
                BidderStatus::NoBid => ("no-bid", serde_json::Value::Null),
                BidderStatus::Dropped(reason) => ("dropped", serde_json::json!(reason.name())),
            };
            serde_json::json!({
                "bidder": d.name,
                "advertiser": d.advertiser.to_hex(),
                "status": status,
                "detail": detail,
                "latency_ms": d.latency.as_secs_f64() * 1e3,
            })
        })
        .collect();
    let wins: Vec<serde_json::Value> = outcome
        .wins
        .iter()
        .map(|w| {
            let evidence = match &w.award.evidence {
                attn_receipts::PriceEvidence::OwnBid => "own bid".to_string(),
                attn_receipts::PriceEvidence::RunnerUpBid(bid) => {
                    format!("runner-up bid by {}", &bid.signer().to_hex()[..16])
                }
                attn_receipts::PriceEvidence::FloorRequest(_) => "floor (signed request)".into(),
                attn_receipts::PriceEvidence::LowerBids(bids) => {
                    format!("{} lower bids (VCG)", bids.len())
                }
            };
            serde_json::json!({
                "slot": w.award.slot_id,
                "bidder": w.bidder_name,
                "creative": w.creative.creative_id,
                "price": w.award.price.amount().to_string(),
                "charge": w.award.charge.amount().to_string(),
                "currency": w.award.price.currency().as_str(),
                "evidence": evidence,
            })
        })
        .collect();
    let impressions: Vec<serde_json::Value> = report
        .iter()
        .flat_map(|r| {
            r.delivered
                .iter()
                .map(|d| {
                    serde_json::json!({
                        "bidder": d.entry.bidder,
                        "acknowledged": true,
                        "rail": d.entry.ack.rail,
                        "impression_hash": d.entry.ack.impression_hash.to_hex(),
                        "payment": d.payment.name(),
                        "payment_detail": payment_text(&d.payment),
                    })
                })
                .chain(r.failed.iter().map(|(slot, error)| {
                    serde_json::json!({ "slot": slot, "acknowledged": false, "error": error.to_string() })
                }))
        })
        .collect();
    if args.json {
        let value = serde_json::json!({
            "request_id": outcome.request_id().to_hex(),
            "persona": client.persona().to_hex(),
            "mechanism": args.mechanism.name(),
            "elapsed_ms": outcome.elapsed.as_secs_f64() * 1e3,
            "wins": wins,
            "bidders": diagnostics,
            "drops": outcome.drops(),
            "impressions": impressions,
        });
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(());
    }
    println!(
        "auction {} ({}, tmax {} ms) closed in {:.1} ms",
        outcome.request_id(),
        args.mechanism.name(),
        args.tmax,
        outcome.elapsed.as_secs_f64() * 1e3
    );
    println!("winners:");
    if wins.is_empty() {
        println!("  none");
    }
    for w in &outcome.wins {
        println!(
            "  {:<8} {:<16} price {} per unit, charge {}",
            w.award.slot_id, w.bidder_name, w.award.price, w.award.charge
        );
    }
    println!("bidders:");
    for d in &outcome.diagnostics {
        let status = match &d.status {
            BidderStatus::Bid { price, won } => match won {
                Some(slot) => format!("bid {price}, won {slot}"),
                None => format!("bid {price}"),
            },
            BidderStatus::NoBid => "no bid".into(),
            BidderStatus::Dropped(reason) => format!("dropped: {}", reason.name()),
        };
        println!(
            "  {:<16} {:>7.1} ms  {}",
            d.name,
            d.latency.as_secs_f64() * 1e3,
            status
        );
    }
    if let Some(report) = report {
        println!(
            "impressions: {} acknowledged (payment + view receipt), {} failed",
            report.delivered.len(),
            report.failed.len()
        );
        for delivered in &report.delivered {
            println!(
                "  {:<16} view receipt kept; {}",
                delivered.entry.bidder,
                payment_text(&delivered.payment)
            );
        }
        for (slot, error) in &report.failed {
            println!("  {slot}: {error}");
        }
    }
    Ok(())
}
