//! `attn bidder serve`: runs the example strategy as a real bidder over gRPC.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use attn_bidder_sdk::payer::RailPayer;
use attn_bidder_sdk::threshold::{AdvertiserSigner, BidsAndReceipts, ThresholdSigner};
use attn_bidder_sdk::{ExampleBidder, Options, Pacing, serve};
use attn_client_auction::client::BidderEntry;
use attn_payment_plugins::{AccountName, RailCurrency, RailOptions};
use attn_receipts::keystore::KeyKind;
use attn_receipts::{AdvertiserKey, Currency, Money, PublicKey};
use attn_settlement::flow::{Books, FeeRates};
use attn_settlement::{
    AccountFlags, AccountId, AccountKind, AccountOutcome, Ledger, LedgerBackend, LedgerId,
    NewAccount,
};
use clap::Subcommand;
use rand::rngs::OsRng;

/// Most bytes of a bidder config file.
const CONFIG_MAX_BYTES: u64 = 64 * 1024;
/// Most share files `threshold_shares` may name.
const THRESHOLD_SHARE_FILES_MAX: usize = attn_receipts::limits::THRESHOLD_SHARES_MAX as usize;
/// Longest signing round timeout `threshold_round_timeout_ms` accepts.
const THRESHOLD_ROUND_TIMEOUT_MS_MAX: u64 = 60_000;
/// The `rail_issuer` value naming the advertiser's own rail account (test money).
const ISSUER_SELF: &str = "self";

#[derive(Subcommand)]
pub enum BidderCommand {
    /// Serve the example strategy. Without --config: a fresh key and defaults; the
    /// public key and the registry line a client needs are printed.
    Serve(ServeArgs),
}

#[derive(clap::Args)]
pub struct ServeArgs {
    /// A bidder.toml (name, key_file or threshold_shares, currency, daily_budget,
    /// base_price, creative_id, categories, interests, pacing, scale, rail, ledger,
    /// fee rates…; see docs/bidder-sdk.md).
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
    /// Share files of a threshold advertiser key (`attn keys new --kind advertiser
    /// --threshold T --shares N`), at least T of them, relative to the config file;
    /// their passphrase comes from ATTN_PASSPHRASE. Excludes `key_file`.
    #[serde(default)]
    threshold_shares: Vec<PathBuf>,
    /// How long each half of a threshold signing round waits for signers.
    #[serde(default = "default_round_timeout_ms")]
    threshold_round_timeout_ms: u64,
    /// The payment rail by name (`sandbox`, `ledger[:URL]`, `channel:BASE`,
    /// `external:URL`). Absent: the SDK's in-memory sandbox.
    rail: Option<String>,
    /// The rail account allowed to go negative on `sandbox` and `ledger` rails
    /// (`self`: the advertiser's own account, i.e. test money).
    #[serde(default = "default_rail_issuer")]
    rail_issuer: String,
    /// The deposit of each payment channel (`channel:` rails).
    #[serde(default = "default_channel_deposit")]
    channel_deposit: String,
    /// The channel log file (`channel:` rails); absent: in memory.
    channel_store: Option<PathBuf>,
    /// The settlement ledger (`sqlite://PATH`, `postgres://…`): every impression is
    /// booked pending, then posted or voided. Also the database of a `ledger` rail.
    ledger: Option<String>,
    /// The ledger id of this currency in `ledger`.
    #[serde(default = "default_ledger_id")]
    ledger_id: u32,
    /// The interface provider's payee account (hex id) in `ledger`.
    interface_provider_account: Option<String>,
    /// The content server's payee account (hex id) in `ledger`.
    content_server_account: Option<String>,
    /// The interface provider's fee, parts per million of each charge.
    #[serde(default)]
    interface_provider_fee_ppm: u32,
    /// The content server's fee, parts per million of each charge.
    #[serde(default)]
    content_server_fee_ppm: u32,
    /// How long a booked impression may stay pending before the ledger voids it.
    #[serde(default = "default_pending_timeout_ms")]
    pending_timeout_ms: u64,
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
fn default_round_timeout_ms() -> u64 {
    2_000
}
fn default_rail_issuer() -> String {
    "issuer".into()
}
fn default_channel_deposit() -> String {
    "1".into()
}
fn default_ledger_id() -> u32 {
    1
}
fn default_pending_timeout_ms() -> u64 {
    attn_bidder_sdk::DAY_MS
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
            threshold_shares: Vec::new(),
            threshold_round_timeout_ms: default_round_timeout_ms(),
            rail: None,
            rail_issuer: default_rail_issuer(),
            channel_deposit: default_channel_deposit(),
            channel_store: None,
            ledger: None,
            ledger_id: default_ledger_id(),
            interface_provider_account: None,
            content_server_account: None,
            interface_provider_fee_ppm: 0,
            content_server_fee_ppm: 0,
            pending_timeout_ms: default_pending_timeout_ms(),
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
    let mut config: BidderConfig =
        toml::from_str(&text).with_context(|| format!("invalid {}", path.display()))?;
    // Share files are named relative to the config file.
    let folder = path.parent().unwrap_or(Path::new("."));
    for share in &mut config.threshold_shares {
        if share.is_relative() {
            *share = folder.join(&*share);
        }
    }
    Ok(config)
}

fn passphrase_for(what: &Path) -> anyhow::Result<String> {
    std::env::var(super::keys::PASSPHRASE_ENV).with_context(|| {
        format!(
            "set {} to open {}",
            super::keys::PASSPHRASE_ENV,
            what.display()
        )
    })
}

/// The threshold signer of `threshold_shares`: one signer task per share, each
/// signing only this bidder's bids and receipts. Must run inside the runtime.
fn load_threshold_signer(config: &BidderConfig) -> anyhow::Result<ThresholdSigner> {
    let files = &config.threshold_shares;
    anyhow::ensure!(
        files.len() <= THRESHOLD_SHARE_FILES_MAX,
        "threshold_shares names {} files; at most {THRESHOLD_SHARE_FILES_MAX}",
        files.len()
    );
    anyhow::ensure!(
        (1..=THRESHOLD_ROUND_TIMEOUT_MS_MAX).contains(&config.threshold_round_timeout_ms),
        "threshold_round_timeout_ms must be 1 to {THRESHOLD_ROUND_TIMEOUT_MS_MAX}"
    );
    let mut shares = Vec::with_capacity(files.len());
    let mut group = None;
    for file in files {
        let passphrase = passphrase_for(file)?;
        let (share, share_group) = super::keys::read_advertiser_share(file, &passphrase)?;
        match &group {
            None => group = Some(share_group),
            Some(first) => anyhow::ensure!(
                first.to_bytes() == share_group.to_bytes(),
                "{} belongs to another group than {}",
                file.display(),
                files[0].display()
            ),
        }
        shares.push(share);
    }
    let group = group.context("threshold_shares is empty")?;
    let signer = ThresholdSigner::spawn_with_policy(group, shares, Arc::new(BidsAndReceipts))
        .context("threshold_shares")?;
    Ok(signer.with_round_timeout(Duration::from_millis(config.threshold_round_timeout_ms)))
}

/// The payer the config asks for: a rail by name, optionally booked in a ledger.
/// `None`: the SDK's default.
async fn load_payer(
    config: &BidderConfig,
    signer: &AdvertiserSigner,
    currency: Currency,
) -> anyhow::Result<Option<RailPayer>> {
    let fees = FeeRates {
        interface_provider_ppm: config.interface_provider_fee_ppm,
        content_server_ppm: config.content_server_fee_ppm,
    };
    if config.ledger.is_none() {
        anyhow::ensure!(
            fees == FeeRates::default()
                && config.interface_provider_account.is_none()
                && config.content_server_account.is_none(),
            "fee rates and payee accounts need a `ledger` to book them in"
        );
    }
    let ledger = match &config.ledger {
        Some(url) => Some(
            attn_settlement::open(url)
                .await
                .with_context(|| format!("opening the ledger {url}"))?,
        ),
        None => None,
    };
    let advertiser = signer.public_key();
    let payer = match &config.rail {
        None if ledger.is_none() => return Ok(None),
        None => match signer {
            AdvertiserSigner::Key(key) => RailPayer::new(key.clone()),
            AdvertiserSigner::Threshold(_) => {
                RailPayer::sandbox_for(advertiser, currency, config.scale)?
            }
        },
        Some(spec) => {
            let issuer = if config.rail_issuer == ISSUER_SELF {
                AccountName::for_key(&advertiser)
            } else {
                AccountName::new(config.rail_issuer.clone())
                    .with_context(|| format!("rail_issuer {:?}", config.rail_issuer))?
            };
            let options = RailOptions {
                currencies: vec![RailCurrency::with_scale(currency, config.scale)?],
                issuer,
                ledger: ledger.clone(),
                channel_store_path: config.channel_store.clone(),
                channel: attn_payment_plugins::channel::ChannelConfig {
                    scale: config.scale,
                    deposits: vec![
                        Money::parse(currency.as_str(), &config.channel_deposit)
                            .context("channel_deposit")?,
                    ],
                },
                ..RailOptions::default()
            };
            RailPayer::open_for(spec, &options, signer).await?
        }
    };
    Ok(Some(match ledger {
        None => payer,
        Some(ledger) => {
            let books = open_books(config, ledger, advertiser, currency, fees).await?;
            payer.with_books(Arc::new(books))
        }
    }))
}

/// Defines the ledger and creates (idempotently) the advertiser's escrow and the
/// two payee accounts, then the books over them. The escrow must be funded by
/// whoever runs the ledger before impressions can be paid.
async fn open_books(
    config: &BidderConfig,
    ledger: Arc<dyn LedgerBackend>,
    advertiser: PublicKey,
    currency: Currency,
    fees: FeeRates,
) -> anyhow::Result<Books> {
    let definition = Ledger {
        id: LedgerId(config.ledger_id),
        currency,
        scale: config.scale,
    };
    ledger
        .create_ledgers(&[definition])
        .await
        .context("defining the ledger")?;
    let payee = |given: &Option<String>, name: &str| match given {
        Some(hex) => AccountId::from_hex(hex).with_context(|| format!("{name}_account")),
        None => Ok(AccountId::derive(
            b"attn/v1/ledger/payee",
            definition.id,
            name.as_bytes(),
        )),
    };
    let interface_provider = payee(&config.interface_provider_account, "interface_provider")?;
    let content_server = payee(&config.content_server_account, "content_server")?;
    let escrow = attn_settlement::flow::escrow_of(definition.id, advertiser.as_bytes());
    let account = |id, kind| NewAccount {
        id,
        ledger: definition.id,
        kind,
        flags: AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS,
        user_data: 0,
    };
    let outcomes = ledger
        .create_accounts(
            &[
                account(escrow, AccountKind::AdvertiserEscrow),
                account(interface_provider, AccountKind::InterfaceProviderPayee),
                account(content_server, AccountKind::ContentServerPayee),
            ],
            attn_bidder_sdk::now_ms(),
        )
        .await
        .context("creating the ledger accounts")?;
    for outcome in &outcomes {
        if let AccountOutcome::Rejected(reason) = outcome {
            anyhow::bail!("a ledger account was refused: {reason}");
        }
    }
    println!(
        "ledger escrow: {} (fund it to pay impressions)",
        escrow.to_hex()
    );
    Ok(Books::new(
        ledger,
        definition,
        escrow,
        interface_provider,
        content_server,
        fees,
        config.pending_timeout_ms,
    )?)
}

fn load_key(config: &BidderConfig) -> anyhow::Result<AdvertiserKey> {
    let Some(path) = &config.key_file else {
        return Ok(AdvertiserKey::generate(&mut OsRng));
    };
    let passphrase = passphrase_for(path)?;
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
    anyhow::ensure!(
        config.key_file.is_none() || config.threshold_shares.is_empty(),
        "give key_file or threshold_shares, not both"
    );
    let currency = Currency::new(&config.currency)?;
    let budget = Money::parse(&config.currency, &config.daily_budget)?;
    let base_price = Money::parse(&config.currency, &config.base_price)?;
    let strategy = ExampleBidder {
        creative_id: config.creative_id.clone(),
        categories: config.categories.clone(),
        base_price_atomic: base_price.to_atomic(config.scale)?,
        interests: config.interests.clone(),
        think_time: Duration::ZERO,
    };
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async move {
        // Signer tasks are spawned on the runtime.
        let signer = if config.threshold_shares.is_empty() {
            AdvertiserSigner::Key(load_key(&config)?)
        } else {
            AdvertiserSigner::Threshold(load_threshold_signer(&config)?)
        };
        let mut options = Options::with_signer(signer.clone(), budget)
            .listen(args.listen)
            .scale(config.scale);
        if config.pacing {
            options = options.pacing(Pacing::default());
        }
        if let Some(metrics) = args.metrics {
            options = options.metrics(metrics);
        }
        if let Some(payer) = load_payer(&config, &signer, currency).await? {
            options = options.payer(Arc::new(payer));
        }
        let running = serve(strategy, options).await?;
        let entry = BidderEntry {
            name: config.name.clone(),
            endpoint: format!("http://{}", running.local_addr()),
            advertiser: signer.public_key().to_hex(),
        };
        if let AdvertiserSigner::Threshold(group) = &signer {
            let params = group.group().params();
            println!(
                "signing as a {}-of-{} group with {} signers",
                params.threshold(),
                params.shares(),
                group.signers().len()
            );
        }
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
