//! `attn bidder serve`: runs the example strategy as a real bidder over gRPC.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use attn_bidder_sdk::{ExampleBidder, Options, Pacing, serve};
use attn_client_auction::client::BidderEntry;
use attn_receipts::keystore::KeyKind;
use attn_receipts::{AdvertiserKey, Money};
use clap::Subcommand;
use rand::rngs::OsRng;

/// Most bytes of a bidder config file.
const CONFIG_MAX_BYTES: u64 = 64 * 1024;

#[derive(Subcommand)]
pub enum BidderCommand {
    /// Serve the example strategy. Without --config: a fresh key and defaults; the
    /// public key and the registry line a client needs are printed.
    Serve(ServeArgs),
}

#[derive(clap::Args)]
pub struct ServeArgs {
    /// A bidder.toml (name, key_file, currency, daily_budget, base_price,
    /// creative_id, categories, interests, pacing).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Address to serve gRPC on.
    #[arg(long, default_value = "127.0.0.1:50051")]
    listen: SocketAddr,
    /// Address to serve Prometheus metrics on (GET /metrics).
    #[arg(long)]
    metrics: Option<SocketAddr>,
}

/// `bidder.toml`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct BidderConfig {
    /// Name in the printed registry line.
    #[serde(default = "default_name")]
    name: String,
    /// An advertiser key file made by `attn keys new --kind advertiser`; its
    /// passphrase comes from ATTN_PASSPHRASE. Absent: a fresh key.
    key_file: Option<PathBuf>,
    #[serde(default = "default_currency")]
    currency: String,
    #[serde(default = "default_budget")]
    daily_budget: String,
    /// Base price per unit of attention.
    #[serde(default = "default_price")]
    base_price: String,
    #[serde(default = "default_name")]
    creative_id: String,
    #[serde(default)]
    categories: Vec<String>,
    #[serde(default)]
    interests: Vec<String>,
    /// Spread the budget evenly over the day.
    #[serde(default)]
    pacing: bool,
    #[serde(default = "default_scale")]
    scale: u32,
}

fn default_name() -> String {
    "example".into()
}
fn default_currency() -> String {
    "USD".into()
}
fn default_budget() -> String {
    "100".into()
}
fn default_price() -> String {
    "0.002".into()
}
fn default_scale() -> u32 {
    9
}

impl Default for BidderConfig {
    fn default() -> Self {
        Self {
            name: default_name(),
            key_file: None,
            currency: default_currency(),
            daily_budget: default_budget(),
            base_price: default_price(),
            creative_id: default_name(),
            categories: Vec::new(),
            interests: Vec::new(),
            pacing: false,
            scale: default_scale(),
        }
    }
}

fn load_config(path: &Path) -> anyhow::Result<BidderConfig> {
    let size = std::fs::metadata(path)
        .with_context(|| format!("cannot read {}", path.display()))?
        .len();
    anyhow::ensure!(
        size <= CONFIG_MAX_BYTES,
        "{} is over {CONFIG_MAX_BYTES} bytes",
        path.display()
    );
    let text = std::fs::read_to_string(path)?;
    toml::from_str(&text).with_context(|| format!("invalid {}", path.display()))
}

fn load_key(config: &BidderConfig) -> anyhow::Result<AdvertiserKey> {
    let Some(path) = &config.key_file else {
        return Ok(AdvertiserKey::generate(&mut OsRng));
    };
    let passphrase = std::env::var(super::keys::PASSPHRASE_ENV).with_context(|| {
        format!(
            "set {} to open {}",
            super::keys::PASSPHRASE_ENV,
            path.display()
        )
    })?;
    let (kind, secret) = super::keys::read_key(path, &passphrase)?;
    anyhow::ensure!(
        kind == KeyKind::Advertiser,
        "{} is not an advertiser key",
        path.display()
    );
    Ok(AdvertiserKey::from_secret_bytes(&secret))
}

pub fn run(command: BidderCommand) -> anyhow::Result<()> {
    let BidderCommand::Serve(args) = command;
    let config = match &args.config {
        Some(path) => load_config(path)?,
        None => BidderConfig::default(),
    };
    let key = load_key(&config)?;
    let budget = Money::parse(&config.currency, &config.daily_budget)?;
    let base_price = Money::parse(&config.currency, &config.base_price)?;
    let strategy = ExampleBidder {
        creative_id: config.creative_id.clone(),
        categories: config.categories.clone(),
        base_price_atomic: base_price.to_atomic(config.scale)?,
        interests: config.interests.clone(),
        think_time: Duration::ZERO,
    };
    let mut options = Options::new(key.clone(), budget)
        .listen(args.listen)
        .scale(config.scale);
    if config.pacing {
        options = options.pacing(Pacing::default());
    }
    if let Some(metrics) = args.metrics {
        options = options.metrics(metrics);
    }
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async move {
        let running = serve(strategy, options).await?;
        let entry = BidderEntry {
            name: config.name.clone(),
            endpoint: format!("http://{}", running.local_addr()),
            advertiser: key.public_key().to_hex(),
        };
        println!("advertiser key: {}", entry.advertiser);
        println!("serving attn.v1.Bidder on {}", running.local_addr());
        if let Some(metrics) = args.metrics {
            println!("metrics on http://{metrics}/metrics");
        }
        println!(
            "registry line for a client's bidders file:\n\n{}",
            entry.to_toml()
        );
        println!("Ctrl-C stops.");
        tokio::signal::ctrl_c().await?;
        running.shutdown().await?;
        anyhow::Ok(())
    })
}
