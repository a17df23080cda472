//! The conformance kit on every rail attn ships: `sandbox`; `ledger` on a SQLite file
//! and on PostgreSQL; `channel` over a sandbox and over a ledger, with its channel log
//! in a file; and `external` through a real child process running the example rail
//! binary (`attn-example-rail`), spoken to over gRPC.
//!
//! "Restart" means what it means for each rail: a new rail value on the same in-memory
//! store, the same database file or schema, the same channel log file re-read from
//! disk, a new gRPC client to the same running process.

mod common;

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;

use async_trait::async_trait;
use attn_payment_plugins::channel::store::ChannelStore;
use attn_payment_plugins::channel::{ChannelConfig, ChannelRail, Channels};
use attn_payment_plugins::conformance::{self, RailFactory};
use attn_payment_plugins::external::{ExternalConfig, ExternalRail};
use attn_payment_plugins::ledger::{LedgerRail, LedgerRailConfig};
use attn_payment_plugins::sandbox::{SandboxConfig, SandboxRail, SandboxStore};
use attn_payment_plugins::{AccountName, PayRequest, PaymentId, PaymentRail, RailCurrency, Result};
use attn_receipts::{Currency, Money};
use attn_settlement::{LedgerBackend, PostgresLedger, RetryPolicy};
use tokio::io::{AsyncBufReadExt, BufReader};

const EXAMPLE_RAIL: &str = env!("CARGO_BIN_EXE_attn-example-rail");

fn usd() -> Currency {
    Currency::new("USD").expect("USD")
}

fn issuer() -> AccountName {
    AccountName::new("issuer").expect("issuer")
}

fn cents() -> Vec<RailCurrency> {
    vec![RailCurrency::with_scale(usd(), 2).expect("USD at scale 2")]
}

/// Funds `account` from the issuer on `rail`, idempotently under `payment_id`.
async fn fund_from_issuer(
    rail: &dyn PaymentRail,
    account: &AccountName,
    amount: &Money,
    payment_id: &PaymentId,
) -> Result<()> {
    let request = PayRequest::new(
        payment_id.clone(),
        issuer(),
        account.clone(),
        *amount,
        "conformance funding",
    )?;
    let status = rail.pay(&request).await?;
    assert!(status.is_succeeded(), "funding pending: {status:?}");
    Ok(())
}

// --- sandbox -----------------------------------------------------------------------

struct Sandbox;

#[async_trait]
impl RailFactory for Sandbox {
    type Storage = SandboxStore;

    async fn create_storage(&self) -> Result<SandboxStore> {
        Ok(SandboxStore::new())
    }

    async fn open(&self, storage: &SandboxStore) -> Result<Arc<dyn PaymentRail>> {
        Ok(Arc::new(SandboxRail::open(
            SandboxConfig::new(cents(), issuer()),
            storage.clone(),
        )?))
    }

    async fn fund(
        &self,
        storage: &SandboxStore,
        account: &AccountName,
        amount: &Money,
        payment_id: &PaymentId,
    ) -> Result<()> {
        fund_from_issuer(&*self.open(storage).await?, account, amount, payment_id).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sandbox_conforms() {
    conformance::check(&Sandbox).await;
}

// --- ledger ------------------------------------------------------------------------

/// Where a ledger rail keeps its books.
enum LedgerStore {
    Sqlite,
    Postgres(common::Schemas),
}

struct LedgerFactory {
    store: LedgerStore,
    /// Keeps the SQLite files until the test ends.
    directory: tempfile::TempDir,
}

/// One rail's database: a SQLite file, or a PostgreSQL schema.
enum LedgerLocation {
    Sqlite(PathBuf),
    Postgres(Box<sqlx::postgres::PgConnectOptions>),
}

impl LedgerFactory {
    fn new(store: LedgerStore) -> Self {
        Self {
            store,
            directory: tempfile::tempdir().expect("temporary directory"),
        }
    }

    async fn backend(location: &LedgerLocation) -> Result<Arc<dyn LedgerBackend>> {
        let unavailable = |e: attn_settlement::Error| attn_payment_plugins::Error::Unavailable {
            rail: "ledger".into(),
            reason: e.to_string(),
        };
        Ok(match location {
            LedgerLocation::Sqlite(path) => {
                attn_settlement::open(&format!("sqlite://{}", path.display()))
                    .await
                    .map_err(unavailable)?
            }
            LedgerLocation::Postgres(options) => Arc::new(
                PostgresLedger::connect_with((**options).clone(), RetryPolicy::default())
                    .await
                    .map_err(unavailable)?,
            ),
        })
    }
}

#[async_trait]
impl RailFactory for LedgerFactory {
    type Storage = LedgerLocation;

    async fn create_storage(&self) -> Result<LedgerLocation> {
        Ok(match &self.store {
            LedgerStore::Sqlite => LedgerLocation::Sqlite(self.directory.path().join("rail.db")),
            LedgerStore::Postgres(schemas) => {
                LedgerLocation::Postgres(Box::new(schemas.fresh().await))
            }
        })
    }

    async fn open(&self, storage: &LedgerLocation) -> Result<Arc<dyn PaymentRail>> {
        let config = LedgerRailConfig {
            currencies: cents(),
            issuer: Some(issuer()),
        };
        Ok(Arc::new(
            LedgerRail::open(Self::backend(storage).await?, config).await?,
        ))
    }

    async fn fund(
        &self,
        storage: &LedgerLocation,
        account: &AccountName,
        amount: &Money,
        payment_id: &PaymentId,
    ) -> Result<()> {
        fund_from_issuer(&*self.open(storage).await?, account, amount, payment_id).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ledger_on_sqlite_conforms() {
    let factory = LedgerFactory::new(LedgerStore::Sqlite);
    conformance::check(&factory).await;
    // What the rail did is sound double-entry bookkeeping.
    let backend = LedgerFactory::backend(&LedgerLocation::Sqlite(
        factory.directory.path().join("rail.db"),
    ))
    .await
    .expect("reopen");
    let report = backend.check().await.expect("check");
    assert!(report.is_ok(), "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ledger_on_postgres_conforms() {
    let Some(url) = common::postgres_url().await else {
        return;
    };
    let factory = LedgerFactory::new(LedgerStore::Postgres(common::Schemas::new(url)));
    conformance::check(&factory).await;
    if let LedgerStore::Postgres(schemas) = &factory.store {
        schemas.drop_all().await;
    }
}

// --- channel -----------------------------------------------------------------------

/// The base rail under the channels.
#[derive(Clone, Copy)]
enum Base {
    Sandbox,
    LedgerOnSqlite,
}

struct ChannelFactory {
    base: Base,
    directory: tempfile::TempDir,
}

/// A channel rail's storage: the base rail's, and the channel log file.
struct ChannelStorage {
    sandbox: SandboxStore,
    ledger_path: PathBuf,
    log_path: PathBuf,
}

impl ChannelFactory {
    fn new(base: Base) -> Self {
        Self {
            base,
            directory: tempfile::tempdir().expect("temporary directory"),
        }
    }

    async fn base(&self, storage: &ChannelStorage) -> Result<Arc<dyn PaymentRail>> {
        Ok(match self.base {
            Base::Sandbox => Arc::new(SandboxRail::open(
                SandboxConfig::new(cents(), issuer()),
                storage.sandbox.clone(),
            )?),
            Base::LedgerOnSqlite => {
                LedgerFactory::new(LedgerStore::Sqlite)
                    .open(&LedgerLocation::Sqlite(storage.ledger_path.clone()))
                    .await?
            }
        })
    }
}

#[async_trait]
impl RailFactory for ChannelFactory {
    type Storage = ChannelStorage;

    async fn create_storage(&self) -> Result<ChannelStorage> {
        Ok(ChannelStorage {
            sandbox: SandboxStore::new(),
            ledger_path: self.directory.path().join("base.db"),
            log_path: self.directory.path().join("channels.log"),
        })
    }

    async fn open(&self, storage: &ChannelStorage) -> Result<Arc<dyn PaymentRail>> {
        let base = self.base(storage).await?;
        // The log is re-read from the file at each open: a real restart.
        let store = ChannelStore::open_file(&storage.log_path, false)?;
        let config = ChannelConfig {
            deposits: vec![Money::parse("USD", "0.50").expect("deposit")],
            ..ChannelConfig::default()
        };
        let channels = Arc::new(Channels::new(base, store, config)?);
        Ok(Arc::new(ChannelRail::new(channels, [7; 32])?))
    }

    async fn fund(
        &self,
        storage: &ChannelStorage,
        account: &AccountName,
        amount: &Money,
        payment_id: &PaymentId,
    ) -> Result<()> {
        // A channel's payer pays its deposits from its account on the base rail.
        fund_from_issuer(&*self.base(storage).await?, account, amount, payment_id).await
    }

    fn amount_step(&self, _currency: &RailCurrency) -> Money {
        // Funding goes through the base rail, which counts cents.
        Money::parse("USD", "0.01").expect("a cent")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channel_over_sandbox_conforms() {
    conformance::check(&ChannelFactory::new(Base::Sandbox)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channel_over_ledger_conforms() {
    let factory = ChannelFactory::new(Base::LedgerOnSqlite);
    conformance::check(&factory).await;
    let backend = LedgerFactory::backend(&LedgerLocation::Sqlite(
        factory.directory.path().join("base.db"),
    ))
    .await
    .expect("reopen");
    let report = backend.check().await.expect("check");
    assert!(report.is_ok(), "{report}");
}

// --- external ----------------------------------------------------------------------

/// The example rail running as a child process.
struct RunningRail {
    url: String,
    /// Killed when the test ends (`kill_on_drop`).
    _child: tokio::process::Child,
    /// Held open: the example rail stops when its standard input closes.
    _stdin: tokio::process::ChildStdin,
}

struct External;

#[async_trait]
impl RailFactory for External {
    type Storage = RunningRail;

    async fn create_storage(&self) -> Result<RunningRail> {
        let mut child = tokio::process::Command::new(EXAMPLE_RAIL)
            .args([
                "--listen",
                "127.0.0.1:0",
                "--currency",
                "USD:2",
                "--issuer",
                "issuer",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start attn-example-rail");
        let stdin = child.stdin.take().expect("child stdin");
        let stdout = child.stdout.take().expect("child stdout");
        let mut first = String::new();
        BufReader::new(stdout)
            .read_line(&mut first)
            .await
            .expect("read the listening line");
        let address = first
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {first:?}"));
        Ok(RunningRail {
            url: format!("http://{address}"),
            _child: child,
            _stdin: stdin,
        })
    }

    async fn open(&self, storage: &RunningRail) -> Result<Arc<dyn PaymentRail>> {
        Ok(Arc::new(
            ExternalRail::connect(&storage.url, ExternalConfig::default()).await?,
        ))
    }

    async fn fund(
        &self,
        storage: &RunningRail,
        account: &AccountName,
        amount: &Money,
        payment_id: &PaymentId,
    ) -> Result<()> {
        fund_from_issuer(&*self.open(storage).await?, account, amount, payment_id).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn external_through_a_child_process_conforms() {
    conformance::check(&External).await;
}

/// The id of an external rail names the remote one, and the remote process's death is
/// a retryable error, not a wrong answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn external_rail_reports_a_dead_process_as_unavailable() {
    let running = External.create_storage().await.expect("start");
    let config = ExternalConfig {
        attempts: 2,
        backoff: std::time::Duration::from_millis(1),
        ..ExternalConfig::default()
    };
    let rail = ExternalRail::connect(&running.url, config)
        .await
        .expect("connect");
    assert_eq!(rail.id(), "external:example");
    drop(running);
    let request = PayRequest::new(
        PaymentId::new("after-death").expect("id"),
        issuer(),
        AccountName::new("alice").expect("alice"),
        Money::parse("USD", "1").expect("amount"),
        "",
    )
    .expect("request");
    let error = rail.pay(&request).await.expect_err("the process is gone");
    assert!(error.is_retryable(), "{error:?}");
}
