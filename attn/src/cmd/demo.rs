//! `attn demo`: the tour of attn on one machine. It starts several example bidders
//! in this process, each a real gRPC server on loopback, runs a few hundred auctions
//! for several personas, shows the winning ads (signed impressions, paid with channel
//! vouchers, answered with signed view receipts), settles every payment in the
//! settlement ledger, closes the payment channels on their base rail, and prints what
//! happened: each persona's earnings as the ledger records them (posted and pending,
//! never estimated), what the rail settled, and the ledger's `check`.
//!
//! Each persona's client verifies every voucher as it arrives with the payee side of
//! the channel engine (its own store, `$ATTN_HOME/demo-client-channels.log` when
//! `ATTN_HOME` is set, over the same base rail) and keeps the latest of each channel.
//!
//! The auctions run in rounds (`--rounds`). After each round every persona pulls
//! the receipts its winners issued (`Client::pull_receipts`), rebuilds its reputation
//! proof from all of them (`prove_reputation` with the default disclosure policy) and
//! sets it on its client: the next request attaches it, later ones name its hash,
//! and the bidders verify it once and answer from their cache. The summary shows the
//! proofs growing round after round.
//!
//! Settlement: a SQLite ledger by default (`$ATTN_HOME/demo-ledger.db` when
//! `ATTN_HOME` is set, else a temporary file), or `--db postgres://…`. Each
//! advertiser's escrow is funded with its daily budget; each accepted impression is a
//! pending transfer escrow → the persona's wallet keyed by the impression's hash, the
//! interface provider's and content server's fees in the same linked batch; the
//! voucher posts it. The rail is chosen by name (`--rail`, default `channel:ledger`:
//! channels over a custodial rail in the same database).
//!
//! Everything the later stages need is kept in one place, [`DemoRun`]: the
//! bidders' handles and every acknowledged impression (`DemoRun::acks`), so reputation
//! proofs can be added as further steps.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use attn_bidder_sdk::payer::RailPayer;
use attn_bidder_sdk::reputation::Reputation;
use attn_bidder_sdk::{BidContext, BidDecision, Bidder};
use attn_bidder_sdk::{ExampleBidder, ImpressionPayer, Options, Running, serve};
use attn_client_auction::client::{
    AuctionOutcome, BidderEntry, BidderStatus, Client, ClientConfig, Error as ClientError,
    MemoryWallet, PaymentCheck, Registry, WalletEntry,
};
use attn_client_auction::preferences::Preferences;
use attn_payment_plugins::channel::store::ChannelStore;
use attn_payment_plugins::channel::{ChannelConfig, Channels};
use attn_payment_plugins::{
    AccountName, PayRequest, PaymentId, PaymentRail, RailCurrency, RailOptions,
};
use attn_proto::Message as _;
use attn_receipts::reputation::{DisclosurePolicy, prove_reputation, verify_proof_for};
use attn_receipts::{
    AdvertiserKey, Currency, Mechanism, Money, PersonaKey, PublicKey, ReceiptWithOpening, Slot,
    WalletSeed,
};
use attn_settlement::flow::{self, Books, FeeRates};
use attn_settlement::{
    AccountFlags, AccountId, AccountKind, CheckReport, Ledger, LedgerBackend, LedgerId, NewAccount,
    Transfer, TransferId,
};
use futures_util::StreamExt as _;
use rand::rngs::OsRng;

/// The currency of the demo and its atomic scale.
pub const CURRENCY: &str = "USD";
/// Fractional digits of the atomic unit.
pub const SCALE: u32 = 9;
/// Most auctions one demo runs.
pub const AUCTIONS_MAX: usize = 100_000;
/// Most personas one demo runs.
pub const PERSONAS_MAX: usize = 1_000;
/// Most rounds one demo runs (after each, every persona rebuilds its proof).
pub const ROUNDS_MAX: usize = 100;
/// Most personas whose proofs the summary lists, round by round.
const PROOF_TABLE_PERSONAS: usize = 5;
/// Time the personas' clients give each impression delivery attempt.
const IMPRESSION_TIMEOUT: Duration = Duration::from_secs(5);
/// The file under `ATTN_HOME` where the personas' payee engine keeps its channels.
pub const CLIENT_CHANNELS_FILE: &str = "demo-client-channels.log";
/// Context topics the demo's interface provider tags pages with.
const TOPICS: [&str; 4] = [
    "topic:cycling",
    "topic:programming",
    "topic:gardening",
    "topic:news",
];

#[derive(clap::Args)]
pub struct Args {
    /// Auctions to run.
    #[arg(long, default_value_t = 300)]
    auctions: usize,
    /// Personas (users) taking part.
    #[arg(long, default_value_t = 5)]
    personas: usize,
    /// Slots per page.
    #[arg(long, default_value_t = 3)]
    slots: usize,
    /// gsp, vcg, first-price or second-price.
    #[arg(long, default_value = "gsp")]
    mechanism: Mechanism,
    /// Auction deadline in milliseconds.
    #[arg(long, default_value_t = 100)]
    tmax: u32,
    /// Auctions in flight at once.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Rounds the auctions are split into; after each, every persona pulls its
    /// receipts and rebuilds its reputation proof (0: no proofs).
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// The settlement ledger: sqlite://PATH or postgres://… [default: a SQLite file,
    /// $ATTN_HOME/demo-ledger.db when ATTN_HOME is set, else a temporary one].
    #[arg(long)]
    db: Option<String>,
    /// The payment rail, by name: channel:ledger, channel:sandbox, ledger, sandbox…
    #[arg(long, default_value = "channel:ledger")]
    rail: String,
    /// The interface provider's fee, in parts per million of each price.
    #[arg(long, default_value_t = 50_000)]
    interface_provider_fee_ppm: u32,
    /// The content server's fee, in parts per million of each price.
    #[arg(long, default_value_t = 100_000)]
    content_server_fee_ppm: u32,
}

/// The demo's settlement ledger (one currency, [`CURRENCY`] at [`SCALE`]).
pub const DEMO_LEDGER: LedgerId = LedgerId(1);
/// Transfer code of funding an escrow.
const CODE_FUNDING: u16 = 10;
/// The payment channels' deposit (in [`CURRENCY`]).
const CHANNEL_DEPOSIT: &str = "0.05";

/// Where the demo settles: the ledger, the advertisers' books, the rail.
pub struct Settlement {
    /// The ledger (shared by the books and a `ledger` base rail).
    pub ledger: Arc<dyn LedgerBackend>,
    /// Where it lives, for `attn ledger … --db`.
    pub url: String,
    /// Keeps a temporary ledger file until the demo ends.
    _directory: Option<tempfile::TempDir>,
    /// The rail every bidder pays through.
    pub rail: Arc<dyn PaymentRail>,
    /// The channel engine of the bidders' payers, when the rail is `channel:…`.
    pub channels: Option<Arc<Channels>>,
    /// The personas' payee engine over the same base rail, with its own store: the
    /// clients verify each voucher with it and keep the latest of each channel.
    pub client_channels: Option<Arc<Channels>>,
    /// The interface provider's payee account.
    pub interface_provider: AccountId,
    /// The content server's payee account.
    pub content_server: AccountId,
    /// The fee rates.
    pub fees: FeeRates,
}

fn demo_account(name: &str) -> AccountId {
    AccountId::derive(b"attn/v1/demo/account", DEMO_LEDGER, name.as_bytes())
}

fn default_db() -> anyhow::Result<(String, Option<tempfile::TempDir>)> {
    if let Some(home) = std::env::var_os(super::keys::HOME_ENV) {
        let home = PathBuf::from(home);
        std::fs::create_dir_all(&home).with_context(|| format!("creating {}", home.display()))?;
        return Ok((
            format!("sqlite://{}", home.join("demo-ledger.db").display()),
            None,
        ));
    }
    let directory = tempfile::tempdir()?;
    let url = format!(
        "sqlite://{}",
        directory.path().join("demo-ledger.db").display()
    );
    Ok((url, Some(directory)))
}

impl Settlement {
    /// Opens the ledger and the rail, defines the demo's ledger and payee accounts.
    pub async fn open(args: &Args) -> anyhow::Result<Self> {
        let (url, directory) = match &args.db {
            Some(url) => (url.clone(), None),
            None => default_db()?,
        };
        let ledger = attn_settlement::open(&url)
            .await
            .with_context(|| format!("opening the ledger {url}"))?;
        let currency = Currency::new(CURRENCY)?;
        ledger
            .create_ledgers(&[Ledger {
                id: DEMO_LEDGER,
                currency,
                scale: SCALE,
            }])
            .await?;
        let (interface_provider, content_server) = (
            demo_account("interface-provider"),
            demo_account("content-server"),
        );
        let account = |id, kind, flags| NewAccount {
            id,
            ledger: DEMO_LEDGER,
            kind,
            flags,
            user_data: 0,
        };
        ledger
            .create_accounts(
                &[
                    account(
                        demo_account("clearing"),
                        AccountKind::RailClearing,
                        AccountFlags::NONE,
                    ),
                    account(
                        interface_provider,
                        AccountKind::InterfaceProviderPayee,
                        AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS,
                    ),
                    account(
                        content_server,
                        AccountKind::ContentServerPayee,
                        AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS,
                    ),
                ],
                now_ms(),
            )
            .await?;
        let options = RailOptions {
            currencies: vec![RailCurrency::with_scale(currency, SCALE)?],
            ledger: Some(Arc::clone(&ledger)),
            channel: attn_payment_plugins::channel::ChannelConfig {
                scale: SCALE,
                deposits: vec![Money::parse(CURRENCY, CHANNEL_DEPOSIT)?],
            },
            ..RailOptions::default()
        };
        let (rail, channels) = if args.rail.starts_with("channel:") {
            let channels =
                attn_payment_plugins::registry::open_channels(&args.rail, &options).await?;
            (Arc::clone(channels.base()), Some(channels))
        } else {
            (
                attn_payment_plugins::open_rail(&args.rail, &options).await?,
                None,
            )
        };
        let client_channels = match &channels {
            Some(_) => {
                let store = match std::env::var_os(super::keys::HOME_ENV) {
                    Some(home) => {
                        let path = PathBuf::from(home).join(CLIENT_CHANNELS_FILE);
                        ChannelStore::open_file(&path, true)
                            .with_context(|| format!("opening {}", path.display()))?
                    }
                    None => ChannelStore::memory(),
                };
                let config = ChannelConfig {
                    scale: SCALE,
                    deposits: Vec::new(),
                };
                Some(Arc::new(Channels::new(Arc::clone(&rail), store, config)?))
            }
            None => None,
        };
        Ok(Self {
            ledger,
            url,
            _directory: directory,
            rail,
            channels,
            client_channels,
            interface_provider,
            content_server,
            fees: FeeRates {
                interface_provider_ppm: args.interface_provider_fee_ppm,
                content_server_ppm: args.content_server_fee_ppm,
            },
        })
    }

    /// The payer of one advertiser: its escrow funded with `budget` in the ledger, its
    /// account funded on the rail, its impressions settled in its books.
    pub async fn payer(
        &self,
        key: &AdvertiserKey,
        budget: &Money,
    ) -> anyhow::Result<Arc<dyn ImpressionPayer>> {
        let advertiser = key.public_key();
        let escrow = flow::escrow_of(DEMO_LEDGER, advertiser.as_bytes());
        self.ledger
            .create_accounts(
                &[NewAccount {
                    id: escrow,
                    ledger: DEMO_LEDGER,
                    kind: AccountKind::AdvertiserEscrow,
                    flags: AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS,
                    user_data: 0,
                }],
                now_ms(),
            )
            .await?;
        let definition = Ledger {
            id: DEMO_LEDGER,
            currency: budget.currency(),
            scale: SCALE,
        };
        let funding = Transfer::single(
            TransferId(escrow.0),
            demo_account("clearing"),
            escrow,
            definition.to_atomic(budget)?,
            DEMO_LEDGER,
            CODE_FUNDING,
        );
        anyhow::ensure!(
            self.ledger.submit(&[funding], now_ms()).await?[0].is_recorded(),
            "funding the escrow was refused"
        );
        // On the rail: the advertiser's account receives its budget from the issuer.
        let funded = self
            .rail
            .pay(&PayRequest::new(
                PaymentId::new(format!("demo-fund-{}", advertiser.to_hex()))?,
                RailOptions::default().issuer,
                AccountName::for_key(&advertiser),
                *budget,
                "demo funding",
            )?)
            .await?;
        anyhow::ensure!(funded.is_succeeded(), "funding on the rail is {funded:?}");
        let books = Arc::new(Books::new(
            Arc::clone(&self.ledger),
            definition,
            escrow,
            self.interface_provider,
            self.content_server,
            self.fees,
            // An impression not paid within a day is released.
            attn_bidder_sdk::DAY_MS,
        )?);
        let payer = match &self.channels {
            Some(channels) => RailPayer::with_channels(Arc::clone(channels), key.clone()),
            None => RailPayer::with_rail(Arc::clone(&self.rail), key.clone()),
        };
        Ok(Arc::new(payer.with_books(books)))
    }
}

fn now_ms() -> u64 {
    attn_bidder_sdk::now_ms()
}

/// One example bidder of the demo.
pub struct DemoBidder {
    /// Its name in the registry.
    pub name: String,
    /// The running server.
    pub running: Running,
    /// Its registry entry.
    pub entry: BidderEntry,
}

/// The description of an example bidder.
pub struct BidderSpec {
    /// Name and creative id.
    pub name: &'static str,
    /// Base price per unit, in atomic units.
    pub base_price_atomic: u64,
    /// Creative categories.
    pub categories: &'static [&'static str],
    /// Context tags it pays more for.
    pub interests: &'static [&'static str],
    /// Daily budget (decimal, in [`CURRENCY`]).
    pub budget: &'static str,
    /// Strategy think time.
    pub think_time: Duration,
    /// Margin kept back from tmax (0: the bidder answers at the deadline, late).
    pub margin: Option<Duration>,
}

/// The demo's cast of advertisers.
pub fn demo_specs() -> Vec<BidderSpec> {
    let spec = |name, base_price_atomic, categories, interests, budget| BidderSpec {
        name,
        base_price_atomic,
        categories,
        interests,
        budget,
        think_time: Duration::ZERO,
        margin: None,
    };
    vec![
        spec(
            "acme-bikes",
            2_000_000,
            &["sports"],
            &["topic:cycling"],
            "100",
        ),
        spec(
            "nimbus-cloud",
            2_200_000,
            &["technology"],
            &["topic:programming"],
            "100",
        ),
        spec(
            "casa-verde",
            1_800_000,
            &["home"],
            &["topic:gardening"],
            "0.5",
        ),
        spec("daily-herald", 1_500_000, &["news"], &["topic:news"], "100"),
        spec("lucky-spin", 3_000_000, &["gambling"], &[], "100"),
        spec("penny-ads", 300_000, &["retail"], &[], "100"),
        BidderSpec {
            think_time: Duration::from_secs(10),
            margin: Some(Duration::ZERO),
            ..spec("sloth-media", 2_500_000, &["travel"], &[], "100")
        },
    ]
}

/// What the bidders saw of the personas' reputation on their bid requests (the
/// SDK's verdict, [`Reputation`]), per persona: the demo's window into the bidders'
/// proof caches.
#[derive(Default)]
pub struct ProofsSeen(std::sync::Mutex<std::collections::HashMap<PublicKey, SeenCounts>>);

/// Bid requests of one persona, by what the bidder made of its reputation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SeenCounts {
    /// Its proof was verified (on arrival, or earlier and answered from the cache).
    pub verified: usize,
    /// The request named a proof the bidder had not verified (it asks for it).
    pub unknown: usize,
    /// The proof was refused.
    pub refused: usize,
    /// The request named no proof.
    pub none: usize,
}

impl ProofsSeen {
    fn note(&self, persona: &PublicKey, reputation: &Reputation) {
        let mut seen = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let counts = seen.entry(*persona).or_default();
        match reputation {
            Reputation::Verified(_) => counts.verified += 1,
            Reputation::Unknown(_) => counts.unknown += 1,
            Reputation::Refused(_) => counts.refused += 1,
            _ => counts.none += 1,
        }
    }

    /// What the bidders saw of `persona` so far.
    pub fn of(&self, persona: &PublicKey) -> SeenCounts {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(persona)
            .copied()
            .unwrap_or_default()
    }
}

/// A strategy that notes what the SDK made of each request's reputation, then bids
/// as `inner` does.
struct Observed<B> {
    inner: B,
    seen: Arc<ProofsSeen>,
}

impl<B: Bidder> Bidder for Observed<B> {
    async fn bid(&self, context: &BidContext) -> Option<BidDecision> {
        self.seen
            .note(&context.request.persona, &context.reputation);
        self.inner.bid(context).await
    }
}

/// Starts one example bidder per spec on loopback, each with a fresh key and the
/// SDK's default payer.
pub async fn start_bidders(specs: &[BidderSpec]) -> anyhow::Result<Vec<DemoBidder>> {
    start_bidders_with(specs, None, &Arc::default()).await
}

/// Starts one example bidder per spec on loopback, each with a fresh key, paying
/// through `settlement` when given, noting in `seen` what it made of each request's
/// reputation.
pub async fn start_bidders_with(
    specs: &[BidderSpec],
    settlement: Option<&Settlement>,
    seen: &Arc<ProofsSeen>,
) -> anyhow::Result<Vec<DemoBidder>> {
    let mut bidders = Vec::with_capacity(specs.len());
    for spec in specs {
        let key = AdvertiserKey::generate(&mut OsRng);
        let budget = Money::parse(CURRENCY, spec.budget)?;
        let strategy = ExampleBidder {
            creative_id: format!("{}-creative", spec.name),
            categories: spec.categories.iter().map(|c| c.to_string()).collect(),
            base_price_atomic: spec.base_price_atomic,
            interests: spec.interests.iter().map(|c| c.to_string()).collect(),
            think_time: spec.think_time,
        };
        let mut options = Options::new(key.clone(), budget).scale(SCALE);
        if let Some(margin) = spec.margin {
            options = options.margin(margin);
        }
        if let Some(settlement) = settlement {
            options = options.payer(settlement.payer(&key, &budget).await?);
        }
        let strategy = Observed {
            inner: strategy,
            seen: Arc::clone(seen),
        };
        let running = serve(strategy, options)
            .await
            .with_context(|| format!("starting bidder {}", spec.name))?;
        let entry = BidderEntry {
            name: spec.name.into(),
            endpoint: format!("http://{}", running.local_addr()),
            advertiser: key.public_key().to_hex(),
        };
        bidders.push(DemoBidder {
            name: spec.name.into(),
            running,
            entry,
        });
    }
    Ok(bidders)
}

/// `count` slots of decreasing attention: 1, 1/2, 1/3… units.
pub fn page_slots(count: usize) -> anyhow::Result<Vec<Slot>> {
    anyhow::ensure!(
        (1..=attn_receipts::limits::SLOTS_PER_REQUEST_MAX).contains(&count),
        "slots must be 1 to {}",
        attn_receipts::limits::SLOTS_PER_REQUEST_MAX
    );
    Ok((0..count)
        .map(|i| Slot {
            slot_id: format!("slot-{i}"),
            format: "native".into(),
            width: 0,
            height: 0,
            rank: i as u32,
            click_weight_ppm: (1_000_000 / (i + 1)) as u32,
            floor: None,
        })
        .collect())
}

/// What a demo run produced: the bidders, every auction's outcome, and every
/// acknowledged impression (the input of settlement, rails and reputation).
pub struct DemoRun {
    /// The example bidders, still serving.
    pub bidders: Vec<DemoBidder>,
    /// The personas' clients.
    pub clients: Vec<Client>,
    /// Every auction outcome, with the index of the client that ran it.
    pub outcomes: Vec<(usize, AuctionOutcome)>,
    /// Every acknowledged impression: signed impression, payment, view receipt.
    pub acks: Vec<(usize, WalletEntry)>,
    /// What each persona's client made of each acknowledged impression's payment
    /// (in the order of `acks`).
    pub payments: Vec<PaymentCheck>,
    /// Impressions not acknowledged, with why.
    pub failed_impressions: Vec<String>,
    /// The personas' reputation proofs, round after round.
    pub proofs: Vec<ProofRow>,
    /// Wall time of the auctions and impressions.
    pub elapsed: Duration,
}

/// One auction as the tour ran it: the persona's index, the outcome, and what
/// showing the winners brought back (each payment checked by the persona's client).
type AuctionDone = (
    usize,
    AuctionOutcome,
    attn_client_auction::client::ShowReport,
);

/// One persona's reputation proof, rebuilt after one round.
#[derive(Clone, Debug)]
pub struct ProofRow {
    /// The round (from 1).
    pub round: usize,
    /// The persona's index.
    pub persona: usize,
    /// Auctions run so far, all personas.
    pub auctions: usize,
    /// Receipts the persona holds (pulled from the bidders so far).
    pub receipts_held: usize,
    /// Receipts disclosed in the proof.
    pub receipts: usize,
    /// The disclosed brackets, one per issuer, in issuer order.
    pub brackets: Vec<u32>,
    /// Size of the signed proof, protobuf-encoded.
    pub size_bytes: usize,
    /// Time to build and sign it.
    pub build: Duration,
    /// Time to verify it (what each bidder does once per proof).
    pub verify: Duration,
    /// The persona's bid requests during this round on which the bidders had its
    /// previous proof verified, and all its bid requests the bidders saw.
    pub seen_verified: usize,
    /// All of the persona's bid requests the bidders saw during this round.
    pub seen_requests: usize,
}

/// A persona's side of the proof rounds: its key, its receipts, what it pulled.
struct ProofWallet {
    key: PersonaKey,
    receipts: Vec<ReceiptWithOpening>,
    known: std::collections::HashSet<(PublicKey, [u8; 16])>,
    /// Per bidder (registry index), the latest issue time pulled so far.
    since_ms: Vec<u64>,
    seen_before: SeenCounts,
}

impl ProofWallet {
    /// Pulls from every bidder the receipts issued since the last pull, keeping the
    /// new ones (a receipt is pulled again when issued at the same ms as the latest).
    async fn pull(&mut self, client: &Client) -> anyhow::Result<()> {
        for (bidder, since_ms) in self.since_ms.iter_mut().enumerate() {
            let pulled = client.pull_receipts(bidder, *since_ms).await?;
            for item in pulled {
                let receipt = item.receipt.decode_verified()?;
                *since_ms = (*since_ms).max(receipt.issued_at_ms);
                if self.known.insert((receipt.issuer, item.opening.receipt_id)) {
                    self.receipts.push(item);
                }
            }
        }
        Ok(())
    }

    /// Builds the proof of everything held, checks it as a bidder would, and sets it
    /// on `client`.
    fn rebuild(
        &mut self,
        client: &Client,
        seen: &ProofsSeen,
        round: usize,
        persona: usize,
        auctions: usize,
    ) -> anyhow::Result<ProofRow> {
        let now = now_ms();
        let started = Instant::now();
        let proof = prove_reputation(
            &self.key,
            &self.receipts,
            &DisclosurePolicy::default(),
            now,
            &mut OsRng,
        )?;
        let build = started.elapsed();
        let started = Instant::now();
        let view = verify_proof_for(&proof, &self.key.public_key(), now, &mut OsRng)?;
        let verify = started.elapsed();
        client.set_reputation_proof(proof.clone())?;
        let seen_now = seen.of(&self.key.public_key());
        let requests =
            |counts: &SeenCounts| counts.verified + counts.unknown + counts.refused + counts.none;
        let row = ProofRow {
            round,
            persona,
            auctions,
            receipts_held: self.receipts.len(),
            receipts: view.counts.total() as usize,
            brackets: view.issuers.iter().map(|issuer| issuer.bracket).collect(),
            size_bytes: proof.to_wire().encoded_len(),
            build,
            verify,
            seen_verified: seen_now.verified - self.seen_before.verified,
            seen_requests: requests(&seen_now) - requests(&self.seen_before),
        };
        self.seen_before = seen_now;
        Ok(row)
    }
}

/// What settlement recorded, read back from the ledger and the rail after the
/// channels closed.
pub struct Settled {
    /// Per persona: posted and pending in its wallet (ledger), and what the rail
    /// holds for it after the channels closed.
    pub personas: Vec<PersonaEarnings>,
    /// The interface provider's posted fees.
    pub interface_provider_atomic: i128,
    /// The content server's posted fees.
    pub content_server_atomic: i128,
    /// Vouchers the personas verified and kept (the latest of each channel wins).
    pub vouchers_kept: usize,
    /// Vouchers that arrived after a newer one of their channel (nothing to keep).
    pub vouchers_superseded: usize,
    /// Vouchers refused for any other reason.
    pub vouchers_refused: Vec<String>,
    /// Channels closed, and the base-rail payments their lives took: deposits,
    /// settlements to personas, refunds to advertisers.
    pub channels_closed: usize,
    /// Base-rail payments (deposits + settlements + refunds).
    pub base_payments: usize,
    /// The ledger's check after everything.
    pub check: CheckReport,
}

/// One persona's earnings, as recorded.
pub struct PersonaEarnings {
    /// Posted in its wallet: final.
    pub posted_atomic: i128,
    /// Pending in its wallet: reserved, not yet paid or voided.
    pub pending_atomic: i128,
    /// What the rail holds for it after the channels closed.
    pub on_rail: Money,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    anyhow::ensure!(
        (1..=AUCTIONS_MAX).contains(&args.auctions),
        "--auctions must be 1 to {AUCTIONS_MAX}"
    );
    anyhow::ensure!(
        (1..=PERSONAS_MAX).contains(&args.personas),
        "--personas must be 1 to {PERSONAS_MAX}"
    );
    anyhow::ensure!(
        (1..=256).contains(&args.concurrency),
        "--concurrency must be 1 to 256"
    );
    anyhow::ensure!(
        args.rounds <= ROUNDS_MAX,
        "--rounds must be 0 to {ROUNDS_MAX}"
    );
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let settlement = Settlement::open(&args).await?;
        let mut run = tour(&args, &settlement).await?;
        // No more impressions: stop the bidders, then settle.
        for bidder in std::mem::take(&mut run.bidders) {
            bidder.running.shutdown().await?;
        }
        let settled = settle(&settlement, &run).await?;
        print_summary(&args, &run, &settlement, &settled);
        anyhow::ensure!(
            settled.check.is_ok(),
            "the ledger check failed:\n{}",
            settled.check
        );
        Ok(())
    })
}

/// The personas' side and the end of the day: each persona verifies and keeps the
/// latest voucher of each channel, every channel is closed on its base rail, and the
/// earnings are read back from the ledger and the rail; then `check`.
pub async fn settle(settlement: &Settlement, run: &DemoRun) -> anyhow::Result<Settled> {
    let mut settled = Settled {
        personas: Vec::with_capacity(run.clients.len()),
        interface_provider_atomic: 0,
        content_server_atomic: 0,
        vouchers_kept: 0,
        vouchers_superseded: 0,
        vouchers_refused: Vec::new(),
        channels_closed: 0,
        base_payments: 0,
        check: CheckReport::default(),
    };
    if let Some(channels) = &settlement.channels {
        use attn_payment_plugins::channel::VoucherRejection;
        use attn_payment_plugins::channel::store::Phase;
        for ((_, entry), payment) in run.acks.iter().zip(&run.payments) {
            let refusal = match payment {
                PaymentCheck::VoucherKept { .. } => {
                    settled.vouchers_kept += 1;
                    continue;
                }
                PaymentCheck::VoucherRefused(refusal) => refusal,
                _ => continue,
            };
            // Arrived after a newer voucher of its channel, or after the payer rolled
            // the full channel over (its close paid everything it promised).
            let rolled_over = || {
                entry
                    .ack
                    .voucher
                    .as_ref()
                    .and_then(|voucher| voucher.decode_verified().ok())
                    .and_then(|voucher| channels.channel(&voucher.channel_id))
                    .is_some_and(|channel| matches!(channel.phase, Phase::Closed(_)))
            };
            match refusal {
                ClientError::VoucherRefused {
                    source:
                        attn_payment_plugins::Error::VoucherRejected(
                            VoucherRejection::SequenceNotIncreasing { .. }
                            | VoucherRejection::ChannelClosed,
                        ),
                    ..
                } => settled.vouchers_superseded += 1,
                ClientError::VoucherRefused {
                    source: attn_payment_plugins::Error::Channel { .. },
                    ..
                } if rolled_over() => settled.vouchers_superseded += 1,
                error => settled.vouchers_refused.push(error.to_string()),
            }
        }
        channels.close_all().await.context("closing the channels")?;
        // Every channel of the day, the full ones the payers rolled over included.
        let lives: Vec<attn_payment_plugins::channel::store::Settlement> =
            channels.store().read(|state| {
                state
                    .channels
                    .values()
                    .filter_map(|channel| match &channel.phase {
                        attn_payment_plugins::channel::store::Phase::Closed(s) => Some(s.clone()),
                        _ => None,
                    })
                    .collect()
            });
        // A channel whose deposit never went through closed with nothing to pay.
        let opened: Vec<_> = lives
            .iter()
            .filter(|s| !(s.to_payee.is_zero() && s.to_payer.is_zero() && s.fees.is_zero()))
            .collect();
        settled.channels_closed = opened.len();
        settled.base_payments = opened
            .iter()
            .map(|s| 1 + usize::from(!s.to_payee.is_zero()) + usize::from(!s.to_payer.is_zero()))
            .sum();
    }
    let currency = Currency::new(CURRENCY)?;
    for client in &run.clients {
        let persona = client.persona();
        let wallet = flow::wallet_of(DEMO_LEDGER, persona.as_bytes());
        let (posted_atomic, pending_atomic) =
            match flow::earnings(&*settlement.ledger, wallet).await {
                Ok(earnings) => (earnings.posted_atomic, earnings.pending_atomic),
                // A persona that never won has no wallet yet.
                Err(attn_settlement::Error::AccountNotFound(_)) => (0, 0),
                Err(error) => return Err(error.into()),
            };
        let on_rail = settlement
            .rail
            .balance(&AccountName::for_key(&persona), currency)
            .await?;
        settled.personas.push(PersonaEarnings {
            posted_atomic,
            pending_atomic,
            on_rail,
        });
    }
    settled.interface_provider_atomic =
        flow::earnings(&*settlement.ledger, settlement.interface_provider)
            .await?
            .posted_atomic;
    settled.content_server_atomic = flow::earnings(&*settlement.ledger, settlement.content_server)
        .await?
        .posted_atomic;
    settled.check = settlement.ledger.check().await?;
    Ok(settled)
}

async fn tour(args: &Args, settlement: &Settlement) -> anyhow::Result<DemoRun> {
    let currency = Currency::new(CURRENCY)?;
    println!(
        "attn demo: {} auctions for {} personas, {} slots per page, {} with tmax {} ms",
        args.auctions,
        args.personas,
        args.slots,
        args.mechanism.name(),
        args.tmax
    );
    println!(
        "  settling on {} through rail {}",
        settlement.url, args.rail
    );
    let seen = Arc::new(ProofsSeen::default());
    let bidders = start_bidders_with(&demo_specs(), Some(settlement), &seen).await?;
    for bidder in &bidders {
        println!(
            "  bidder {:<13} on {}  key {}…",
            bidder.name,
            bidder.running.local_addr(),
            &bidder.entry.advertiser[..16]
        );
    }
    let registry = Arc::new(Registry::new(
        bidders.iter().map(|b| b.entry.clone()).collect(),
    )?);
    let seed = WalletSeed::generate(&mut OsRng);
    let mut clients = Vec::with_capacity(args.personas);
    let mut wallets = Vec::with_capacity(args.personas);
    for index in 0..args.personas {
        let mut preferences = Preferences::default();
        preferences.block_category("gambling");
        preferences.min_price_per_slot = Some(Money::parse(CURRENCY, "0.0005")?);
        let mut config = ClientConfig::new(currency);
        config.scale = SCALE;
        config.tmax_ms = args.tmax;
        config.mechanism = args.mechanism;
        // Each impression is settled in the ledger before it is acknowledged: give a
        // loaded database (PostgreSQL, a busy CI machine) time to answer.
        config.impression_timeout = IMPRESSION_TIMEOUT;
        let persona = seed.persona(index as u32)?;
        wallets.push(ProofWallet {
            key: seed.persona(index as u32)?,
            receipts: Vec::new(),
            known: Default::default(),
            since_ms: vec![0; registry.len()],
            seen_before: SeenCounts::default(),
        });
        let client = Client::new(
            persona,
            Arc::clone(&registry),
            preferences,
            config,
            Arc::new(MemoryWallet::new()),
        )?;
        // The persona verifies each voucher as it arrives and keeps the latest of
        // each channel (the payee side of the channel engine).
        clients.push(match &settlement.client_channels {
            Some(channels) => client.with_channels(Arc::clone(channels)),
            None => client,
        });
    }
    let slots = page_slots(args.slots)?;
    let progress = indicatif::ProgressBar::new(args.auctions as u64);
    progress.set_style(
        indicatif::ProgressStyle::with_template("  {bar:40} {pos}/{len} auctions {elapsed}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let started = Instant::now();
    let rounds = args.rounds.clamp(1, args.auctions);
    let mut done = 0;
    let mut run = DemoRun {
        bidders: Vec::new(),
        clients: Vec::new(),
        outcomes: Vec::with_capacity(args.auctions),
        acks: Vec::new(),
        payments: Vec::new(),
        failed_impressions: Vec::new(),
        proofs: Vec::new(),
        elapsed: Duration::ZERO,
    };
    for round in 1..=rounds {
        let until = args.auctions * round / rounds;
        let clients_ref = &clients;
        let slots_ref = &slots;
        let progress_ref = &progress;
        let results: Vec<anyhow::Result<AuctionDone>> = futures_util::stream::iter(done..until)
            .map(|n| async move {
                let persona = n % clients_ref.len();
                let client = &clients_ref[persona];
                let outcome = client
                    .run_auction_with_tags(slots_ref, vec![TOPICS[n % TOPICS.len()].to_string()])
                    .await?;
                let report = client.show(&outcome).await;
                progress_ref.inc(1);
                Ok((persona, outcome, report))
            })
            .buffer_unordered(args.concurrency)
            .collect()
            .await;
        done = until;
        for result in results {
            let (persona, outcome, report) = result?;
            for delivered in report.delivered {
                run.acks.push((persona, delivered.entry));
                run.payments.push(delivered.payment);
            }
            for (slot, error) in report.failed {
                run.failed_impressions.push(format!("{slot}: {error}"));
            }
            run.outcomes.push((persona, outcome));
        }
        if args.rounds == 0 {
            continue;
        }
        // Each persona pulls its new receipts and proves everything it holds; the
        // next round's first request carries the new proof.
        for (index, (client, wallet)) in clients.iter().zip(&mut wallets).enumerate() {
            wallet.pull(client).await?;
            run.proofs
                .push(wallet.rebuild(client, &seen, round, index, done)?);
        }
    }
    progress.finish_and_clear();
    run.elapsed = started.elapsed();
    run.bidders = bidders;
    run.clients = clients;
    Ok(run)
}

fn money(atomic: u128) -> String {
    let whole = atomic / 10u128.pow(SCALE);
    let fraction = atomic % 10u128.pow(SCALE);
    format!("{whole}.{fraction:09} {CURRENCY}")
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

#[derive(Default)]
struct BidderTally {
    bids: usize,
    no_bids: usize,
    wins: usize,
    price_atomic: u128,
    spend_atomic: u128,
    dropped: BTreeMap<String, usize>,
}

/// The personas' reputation proofs, round by round.
fn print_proofs(run: &DemoRun) {
    if run.proofs.is_empty() {
        return;
    }
    println!();
    println!(
        "  reputation proofs    after each round every persona pulls its receipts, proves them and sets the proof:"
    );
    println!(
        "                       its next request attaches it, later ones name its hash; bidders verify it once, then cache it"
    );
    println!(
        "    {:>5} {:>7} {:>8} {:>6} {:>8} {:>7}  {:<18} {:>9} {:>9} {:>9}  requests bidders saw with it verified",
        "round",
        "persona",
        "auctions",
        "held",
        "in proof",
        "issuers",
        "brackets",
        "size",
        "build ms",
        "verify ms",
    );
    for row in run
        .proofs
        .iter()
        .filter(|row| row.persona < PROOF_TABLE_PERSONAS)
    {
        let mut brackets = row
            .brackets
            .iter()
            .take(8)
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(" ");
        if row.brackets.len() > 8 {
            brackets.push_str(" …");
        }
        println!(
            "    {:>5} {:>7} {:>8} {:>6} {:>8} {:>7}  {:<18} {:>5.1} KiB {:>9.1} {:>9.1}  {} of {}",
            row.round,
            row.persona,
            row.auctions,
            row.receipts_held,
            row.receipts,
            row.brackets.len(),
            if brackets.is_empty() {
                "-".into()
            } else {
                brackets
            },
            row.size_bytes as f64 / 1024.0,
            row.build.as_secs_f64() * 1e3,
            row.verify.as_secs_f64() * 1e3,
            row.seen_verified,
            row.seen_requests
        );
    }
    let personas = run.clients.len();
    if personas > PROOF_TABLE_PERSONAS {
        println!(
            "    ({} more personas not shown)",
            personas - PROOF_TABLE_PERSONAS
        );
    }
}

fn print_summary(args: &Args, run: &DemoRun, settlement: &Settlement, settled: &Settled) {
    let auctions = run.outcomes.len();
    let offered = auctions * args.slots;
    let filled: usize = run.outcomes.iter().map(|(_, o)| o.wins.len()).sum();
    let mut tallies: BTreeMap<&str, BidderTally> = BTreeMap::new();
    let mut drops: BTreeMap<String, usize> = BTreeMap::new();
    let mut latencies: Vec<Duration> = Vec::with_capacity(auctions);
    for (_, outcome) in &run.outcomes {
        latencies.push(outcome.elapsed);
        for diagnostic in &outcome.diagnostics {
            let tally = tallies.entry(diagnostic.name.as_str()).or_default();
            match &diagnostic.status {
                BidderStatus::Bid { .. } => tally.bids += 1,
                BidderStatus::NoBid => tally.no_bids += 1,
                BidderStatus::Dropped(reason) => {
                    *tally.dropped.entry(reason.name()).or_insert(0) += 1;
                    *drops.entry(reason.name()).or_insert(0) += 1;
                }
            }
        }
        for win in &outcome.wins {
            let tally = tallies.entry(win.bidder_name.as_str()).or_default();
            tally.wins += 1;
            tally.price_atomic += u128::from(win.award.price.to_atomic(SCALE).unwrap_or(0));
        }
    }
    for (_, entry) in &run.acks {
        let charge = entry
            .impression
            .decode_verified()
            .ok()
            .and_then(|i| i.charge.to_atomic(SCALE).ok())
            .unwrap_or(0);
        if let Some(tally) = tallies.get_mut(entry.bidder.as_str()) {
            tally.spend_atomic += u128::from(charge);
        }
    }
    latencies.sort();

    println!();
    println!("Some impressions shown:");
    for (persona, entry) in run.acks.iter().take(5) {
        if let Ok(impression) = entry.impression.decode_verified() {
            let voucher = entry
                .ack
                .voucher
                .as_ref()
                .and_then(|v| v.decode_verified().ok())
                .map(|v| format!("voucher #{} (cumulative {})", v.sequence, v.cumulative))
                .unwrap_or_else(|| "no voucher".into());
            println!(
                "  persona {} saw {:<13} in {} for {}; paid by {}, view receipt signed",
                persona, entry.bidder, impression.slot_id, impression.charge, voucher
            );
        }
    }
    println!();
    println!("Summary");
    println!(
        "  auctions           {auctions} in {:.2} s ({:.0}/s with {} in flight)",
        run.elapsed.as_secs_f64(),
        auctions as f64 / run.elapsed.as_secs_f64().max(1e-9),
        args.concurrency
    );
    println!(
        "  fill rate          {filled}/{offered} slots ({:.1}%)",
        100.0 * filled as f64 / offered.max(1) as f64
    );
    println!(
        "  auction latency    p50 {:.1} ms, p99 {:.1} ms (tmax {} ms)",
        percentile(&latencies, 0.5).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3,
        args.tmax
    );
    println!(
        "  impressions        {} acknowledged (payment + view receipt), {} not",
        run.acks.len(),
        run.failed_impressions.len()
    );
    println!();
    println!(
        "  {:<13} {:>6} {:>7} {:>6} {:>18} {:>20}  dropped",
        "bidder", "bids", "no-bid", "wins", "avg price/unit", "spent"
    );
    for (name, tally) in &tallies {
        let average = if tally.wins > 0 {
            tally.price_atomic / tally.wins as u128
        } else {
            0
        };
        let dropped = tally
            .dropped
            .iter()
            .map(|(reason, count)| format!("{count} {reason}"))
            .collect::<Vec<_>>()
            .join(", ");
        println!(
            "  {:<13} {:>6} {:>7} {:>6} {:>18} {:>20}  {}",
            name,
            tally.bids,
            tally.no_bids,
            tally.wins,
            money(average),
            money(tally.spend_atomic),
            if dropped.is_empty() {
                "-".into()
            } else {
                dropped
            }
        );
    }
    print_proofs(run);
    println!();
    println!(
        "  settlement           ledger {} · rail {}",
        settlement.url, args.rail
    );
    if settlement.channels.is_some() {
        println!(
            "    vouchers           {} verified and kept by the personas on arrival, {} superseded (a newer one, or its channel already rolled over), {} refused",
            settled.vouchers_kept,
            settled.vouchers_superseded,
            settled.vouchers_refused.len()
        );
        println!(
            "    channels closed    {} ({} base-rail payments in all: a deposit at open, one settlement to the persona and one refund at close, for {} impressions)",
            settled.channels_closed,
            settled.base_payments,
            run.acks.len()
        );
    }
    println!(
        "    fees posted        interface provider {}, content server {}",
        money(settled.interface_provider_atomic.max(0).unsigned_abs()),
        money(settled.content_server_atomic.max(0).unsigned_abs())
    );
    println!();
    println!("  persona earnings, read from the ledger (posted, pending) and the rail (settled)");
    println!(
        "    {:<22} {:>20} {:>20} {:>22}",
        "persona", "posted", "pending", "settled on the rail"
    );
    for (index, earned) in settled.personas.iter().enumerate() {
        println!(
            "    {:<22} {:>20} {:>20} {:>22}",
            format!(
                "{index} ({}…)",
                &run.clients[index].persona().to_hex()[..12]
            ),
            money(earned.posted_atomic.max(0).unsigned_abs()),
            money(earned.pending_atomic.max(0).unsigned_abs()),
            earned.on_rail.to_atomic(SCALE).map_or_else(
                |_| earned.on_rail.to_string(),
                |atomic| money(u128::from(atomic))
            )
        );
    }
    let reconciled = settled.personas.iter().all(|earned| {
        earned.on_rail.to_atomic(SCALE).ok().map(i128::from) == Some(earned.posted_atomic)
    });
    println!(
        "    every persona's rail settlement equals its posted earnings: {}",
        if reconciled { "yes" } else { "NO" }
    );
    for refusal in settled.vouchers_refused.iter().take(3) {
        println!("    voucher refused: {refusal}");
    }
    println!();
    if settled.check.is_ok() {
        println!(
            "  ledger check         passed: {} ledgers, {} accounts, {} transfers; debits = credits, no flag broken",
            settled.check.ledgers, settled.check.accounts, settled.check.transfers
        );
    } else {
        println!("  ledger check         FAILED\n{}", settled.check);
    }
    println!();
    println!("  dropped bids and why");
    if drops.is_empty() {
        println!("    none");
    }
    for (reason, count) in &drops {
        println!("    {count:>6}  {reason}");
    }
    println!(
        "    (bidders that answer \"no bid\" are not dropped: a budget spent, a strategy that passes)"
    );
    for failure in run.failed_impressions.iter().take(3) {
        println!("  impression not acknowledged: {failure}");
    }
}
