//! The conformance kit: one async suite every [`PaymentRail`] runs from its own tests.
//!
//! A rail's test implements [`RailFactory`] (how to make empty storage, how to open
//! the rail on it, how to fund an account) and calls [`check`]:
//!
//! ```ignore
//! #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
//! async fn my_rail_conforms() {
//!     attn_payment_plugins::conformance::check(&MyFactory::default()).await;
//! }
//! ```
//!
//! Each check panics with a message naming the check and what the rail did wrong, so
//! a failing rail fails its own test with a readable reason. The checks (the first and
//! the last but one are also public functions):
//! - [`capabilities_are_valid`]: bounds, quotes in the right currency;
//! - `pay_moves_funds`: a payment moves exactly its amount (plus its quoted fee);
//! - `retries_are_idempotent`: the same id pays once; another payment under a used
//!   id is refused and moves nothing;
//! - `concurrent_same_id`: many tasks paying one id at once pay once;
//! - `concurrent_different_ids`: many payments at once never overdraw the payer;
//! - `insufficient_funds`: refused, nothing recorded, the same id succeeds once
//!   funded;
//! - `below_minimum`, `precision_and_currency`: refused without rounding;
//! - [`unknown_status`]: an id never paid is `Unknown`;
//! - `restart`: a rail re-created on the same storage keeps balances, statuses and
//!   idempotency.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use attn_receipts::{Currency, Money};
use rust_decimal::Decimal;

use crate::error::{Error, Result};
use crate::rail::{
    AccountName, PayRequest, PaymentId, PaymentRail, PaymentState, PaymentStatus, RailCurrency,
};

/// Most `status` polls the kit makes while a payment is `Pending`.
pub const SETTLE_POLLS_MAX: u32 = 400;
/// Pause between two such polls.
pub const SETTLE_POLL_INTERVAL: Duration = Duration::from_millis(5);
/// Tasks the concurrency checks run at once.
pub const CONCURRENT_TASKS: usize = 16;

/// How the kit makes, opens and funds a rail.
#[async_trait]
pub trait RailFactory: Send + Sync {
    /// The rail's storage: a database file, a directory, a shared in-memory store, a
    /// running remote process. The rail re-opened on the same storage MUST see every
    /// balance and payment of the rail opened on it before.
    type Storage: Send + Sync;

    /// Fresh, empty storage.
    async fn create_storage(&self) -> Result<Self::Storage>;

    /// Opens the rail on `storage` (called again, after the previous rail is dropped,
    /// by [`restart`]).
    async fn open(&self, storage: &Self::Storage) -> Result<Arc<dyn PaymentRail>>;

    /// Credits `account` with `amount` from outside the rail's users (an issuer, a
    /// faucet, a deposit on the base rail), idempotently under `payment_id`.
    async fn fund(
        &self,
        storage: &Self::Storage,
        account: &AccountName,
        amount: &Money,
        payment_id: &PaymentId,
    ) -> Result<()>;

    /// The smallest amount the kit moves in `currency`; every amount it pays is a
    /// whole multiple of it. The default is the rail's minimum; a rail whose funding
    /// path is coarser (a channel over a rail of cents) returns that.
    fn amount_step(&self, currency: &RailCurrency) -> Money {
        currency.minimum
    }
}

/// Runs every check on a fresh storage of `factory`'s rail. Panics on the first
/// failure with the check's name and the reason.
pub async fn check<F: RailFactory>(factory: &F) {
    let storage = factory
        .create_storage()
        .await
        .unwrap_or_else(|error| panic!("conformance: creating storage failed: {error}"));
    let rail = factory
        .open(&storage)
        .await
        .unwrap_or_else(|error| panic!("conformance: opening the rail failed: {error}"));
    let kit = Kit {
        factory,
        storage: &storage,
    };
    capabilities_are_valid(&rail).await;
    kit.pay_moves_funds(&rail).await;
    kit.retries_are_idempotent(&rail).await;
    kit.concurrent_same_id(&rail).await;
    kit.concurrent_different_ids(&rail).await;
    kit.insufficient_funds(&rail).await;
    kit.below_minimum(&rail).await;
    kit.precision_and_currency(&rail).await;
    unknown_status(&rail).await;
    drop(rail);
    kit.restart().await;
}

/// Checks the capabilities' bounds and that quotes are in the amount's currency.
pub async fn capabilities_are_valid(rail: &Arc<dyn PaymentRail>) {
    let capabilities = rail.capabilities();
    if let Err(error) = capabilities.validate() {
        panic!("capabilities_are_valid: {error}");
    }
    assert_eq!(
        rail.id(),
        capabilities.rail_id,
        "capabilities_are_valid: id() differs from capabilities().rail_id"
    );
    for entry in &capabilities.currencies {
        let fee = rail
            .quote(&entry.minimum)
            .await
            .unwrap_or_else(|error| panic!("capabilities_are_valid: quote failed: {error}"));
        assert_eq!(
            fee.currency(),
            entry.currency,
            "capabilities_are_valid: a quote in another currency"
        );
        assert!(
            fee.to_atomic(entry.scale).is_ok(),
            "capabilities_are_valid: a fee {fee} finer than the rail's scale {}",
            entry.scale
        );
    }
}

/// Checks that an id never paid is `Unknown`.
pub async fn unknown_status(rail: &Arc<dyn PaymentRail>) {
    let id = id("unknown-status-never-paid");
    let status = rail
        .status(&id)
        .await
        .unwrap_or_else(|error| panic!("unknown_status: status failed: {error}"));
    assert_eq!(
        status.payment_id, id,
        "unknown_status: another payment's id"
    );
    assert_eq!(
        status.state,
        PaymentState::Unknown,
        "unknown_status: an id never paid"
    );
}

/// `pay_moves_funds` and the other checks that need funding, bound to a factory
/// and its storage.
struct Kit<'a, F: RailFactory> {
    factory: &'a F,
    storage: &'a F::Storage,
}

fn id(text: &str) -> PaymentId {
    PaymentId::new(text).unwrap_or_else(|error| panic!("conformance: bad test id: {error}"))
}

fn account(text: &str) -> AccountName {
    AccountName::new(text).unwrap_or_else(|error| panic!("conformance: bad test account: {error}"))
}

fn times(step: &Money, count: u32) -> Money {
    Money::new(step.currency(), step.amount() * Decimal::from(count))
        .unwrap_or_else(|error| panic!("conformance: amount overflow: {error}"))
}

fn request(payment_id: &str, from: &AccountName, to: &AccountName, amount: Money) -> PayRequest {
    PayRequest::new(
        id(payment_id),
        from.clone(),
        to.clone(),
        amount,
        "conformance",
    )
    .unwrap_or_else(|error| panic!("conformance: bad request: {error}"))
}

/// Waits until `status` is no longer pending; returns the final status.
async fn settle(check: &str, rail: &Arc<dyn PaymentRail>, status: PaymentStatus) -> PaymentStatus {
    let mut status = status;
    for _ in 0..SETTLE_POLLS_MAX {
        if status.state != PaymentState::Pending {
            return status;
        }
        tokio::time::sleep(SETTLE_POLL_INTERVAL).await;
        status = rail
            .status(&status.payment_id)
            .await
            .unwrap_or_else(|error| panic!("{check}: status failed: {error}"));
    }
    panic!(
        "{check}: payment {} still pending after {SETTLE_POLLS_MAX} polls",
        status.payment_id
    );
}

async fn pay_ok(check: &str, rail: &Arc<dyn PaymentRail>, request: &PayRequest) -> PaymentStatus {
    let status = rail
        .pay(request)
        .await
        .unwrap_or_else(|error| panic!("{check}: pay {} failed: {error}", request.payment_id));
    assert_eq!(
        status.payment_id, request.payment_id,
        "{check}: pay answered with another payment's id"
    );
    let status = settle(check, rail, status).await;
    assert_eq!(
        status.state,
        PaymentState::Succeeded,
        "{check}: payment {} did not succeed",
        request.payment_id
    );
    if let Some(amount) = status.amount {
        assert_eq!(amount, request.amount, "{check}: wrong amount reported");
    }
    status
}

async fn balance(
    check: &str,
    rail: &Arc<dyn PaymentRail>,
    who: &AccountName,
    currency: Currency,
) -> Money {
    rail.balance(who, currency)
        .await
        .unwrap_or_else(|error| panic!("{check}: balance of {who} failed: {error}"))
}

async fn expect_balance(
    check: &str,
    rail: &Arc<dyn PaymentRail>,
    who: &AccountName,
    expected: &Money,
) {
    let found = balance(check, rail, who, expected.currency()).await;
    assert_eq!(&found, expected, "{check}: balance of {who}");
}

fn minus(check: &str, left: &Money, right: &Money) -> Money {
    left.checked_sub(right)
        .unwrap_or_else(|error| panic!("{check}: {left} - {right}: {error}"))
}

impl<F: RailFactory> Kit<'_, F> {
    fn currency(&self, rail: &Arc<dyn PaymentRail>) -> (RailCurrency, Money) {
        let entry = rail.capabilities().currencies[0];
        let step = self.factory.amount_step(&entry);
        assert!(
            step.amount() >= entry.minimum.amount() && step.currency() == entry.currency,
            "conformance: amount_step {step} is below the minimum {}",
            entry.minimum
        );
        (entry, step)
    }

    async fn fund(&self, check: &str, who: &AccountName, amount: Money) {
        let payment_id = id(&format!("{check}-fund-{who}-{}", amount.amount()));
        self.factory
            .fund(self.storage, who, &amount, &payment_id)
            .await
            .unwrap_or_else(|error| panic!("{check}: funding {who} with {amount} failed: {error}"));
    }

    async fn fee(&self, check: &str, rail: &Arc<dyn PaymentRail>, amount: &Money) -> Money {
        rail.quote(amount)
            .await
            .unwrap_or_else(|error| panic!("{check}: quote failed: {error}"))
    }

    /// A payment moves exactly its amount to the payee and its amount plus quoted fee
    /// from the payer.
    async fn pay_moves_funds(&self, rail: &Arc<dyn PaymentRail>) {
        const CHECK: &str = "pay_moves_funds";
        let (entry, step) = self.currency(rail);
        let (payer, payee) = (account("moves-payer"), account("moves-payee"));
        let amount = times(&step, 3);
        let fee = self.fee(CHECK, rail, &amount).await;
        let funding = amount
            .checked_add(&fee)
            .and_then(|total| total.checked_add(&times(&step, 2)))
            .unwrap_or_else(|error| panic!("{CHECK}: {error}"));
        self.fund(CHECK, &payer, funding).await;
        expect_balance(CHECK, rail, &payer, &funding).await;
        expect_balance(CHECK, rail, &payee, &Money::zero(entry.currency)).await;
        pay_ok(CHECK, rail, &request("moves-1", &payer, &payee, amount)).await;
        expect_balance(CHECK, rail, &payer, &times(&step, 2)).await;
        expect_balance(CHECK, rail, &payee, &amount).await;
    }

    /// The same payment id pays once, whatever is retried; a different payment under
    /// a used id is refused and moves nothing.
    async fn retries_are_idempotent(&self, rail: &Arc<dyn PaymentRail>) {
        const CHECK: &str = "retries_are_idempotent";
        let (_, step) = self.currency(rail);
        let (payer, payee, other) = (
            account("idem-payer"),
            account("idem-payee"),
            account("idem-other"),
        );
        let amount = times(&step, 3);
        let fee = self.fee(CHECK, rail, &amount).await;
        self.fund(CHECK, &payer, times(&step, 10)).await;
        let first = request("idem-1", &payer, &payee, amount);
        let status = pay_ok(CHECK, rail, &first).await;
        let mut retry = first.clone();
        retry.memo = "a retry may carry another memo".into();
        for _ in 0..3 {
            let again = rail
                .pay(&retry)
                .await
                .unwrap_or_else(|error| panic!("{CHECK}: retry failed: {error}"));
            assert_eq!(
                again.state, status.state,
                "{CHECK}: a retry changed the outcome"
            );
        }
        let after = minus(CHECK, &minus(CHECK, &times(&step, 10), &amount), &fee);
        expect_balance(CHECK, rail, &payer, &after).await;
        expect_balance(CHECK, rail, &payee, &amount).await;

        for conflicting in [
            request("idem-1", &payer, &payee, times(&step, 4)),
            request("idem-1", &payer, &other, amount),
        ] {
            match rail.pay(&conflicting).await {
                Err(Error::PaymentIdConflict { .. }) => {}
                other => panic!("{CHECK}: a reused id for another payment gave {other:?}"),
            }
        }
        expect_balance(CHECK, rail, &payer, &after).await;
        expect_balance(CHECK, rail, &payee, &amount).await;
        expect_balance(CHECK, rail, &other, &Money::zero(amount.currency())).await;
    }

    /// Many tasks paying one id at once pay once.
    async fn concurrent_same_id(&self, rail: &Arc<dyn PaymentRail>) {
        const CHECK: &str = "concurrent_same_id";
        let (_, step) = self.currency(rail);
        let (payer, payee) = (account("same-payer"), account("same-payee"));
        let amount = times(&step, 2);
        let fee = self.fee(CHECK, rail, &amount).await;
        self.fund(CHECK, &payer, times(&step, 10)).await;
        let shared = request("same-1", &payer, &payee, amount);
        let tasks: Vec<_> = (0..CONCURRENT_TASKS)
            .map(|_| {
                let rail = Arc::clone(rail);
                let shared = shared.clone();
                tokio::spawn(async move { rail.pay(&shared).await })
            })
            .collect();
        for task in tasks {
            let status = task
                .await
                .unwrap_or_else(|error| panic!("{CHECK}: task panicked: {error}"))
                .unwrap_or_else(|error| panic!("{CHECK}: a concurrent retry failed: {error}"));
            settle(CHECK, rail, status).await;
        }
        let after = minus(CHECK, &minus(CHECK, &times(&step, 10), &amount), &fee);
        expect_balance(CHECK, rail, &payer, &after).await;
        expect_balance(CHECK, rail, &payee, &amount).await;
    }

    /// Many payments at once from one payer: those its funds cover succeed, the others
    /// fail with insufficient funds, and the payer never goes below zero.
    async fn concurrent_different_ids(&self, rail: &Arc<dyn PaymentRail>) {
        const CHECK: &str = "concurrent_different_ids";
        let (entry, step) = self.currency(rail);
        let (payer, payee) = (account("many-payer"), account("many-payee"));
        let fee = self.fee(CHECK, rail, &step).await;
        let each = step
            .checked_add(&fee)
            .unwrap_or_else(|error| panic!("{CHECK}: {error}"));
        let affordable = (CONCURRENT_TASKS / 2) as u32 + 2;
        self.fund(CHECK, &payer, times(&each, affordable)).await;
        let tasks: Vec<_> = (0..CONCURRENT_TASKS)
            .map(|index| {
                let rail = Arc::clone(rail);
                let request = request(&format!("many-{index}"), &payer, &payee, step);
                tokio::spawn(async move {
                    match rail.pay(&request).await {
                        Ok(status) => Ok(settle(CHECK, &rail, status).await),
                        Err(error) => Err(error),
                    }
                })
            })
            .collect();
        let mut succeeded = 0u32;
        for task in tasks {
            match task
                .await
                .unwrap_or_else(|error| panic!("{CHECK}: task panicked: {error}"))
            {
                Ok(status) if status.state == PaymentState::Succeeded => succeeded += 1,
                Ok(status) => panic!("{CHECK}: a payment ended {:?}", status.state),
                Err(Error::InsufficientFunds { .. }) => {}
                Err(error) => panic!("{CHECK}: unexpected error {error}"),
            }
        }
        assert_eq!(
            succeeded, affordable,
            "{CHECK}: {succeeded} payments succeeded, the payer could afford {affordable}"
        );
        expect_balance(CHECK, rail, &payer, &Money::zero(entry.currency)).await;
        expect_balance(CHECK, rail, &payee, &times(&step, affordable)).await;
    }

    /// An unaffordable payment is refused and records nothing; once the payer is
    /// funded, the same payment id succeeds (retry, never refund).
    async fn insufficient_funds(&self, rail: &Arc<dyn PaymentRail>) {
        const CHECK: &str = "insufficient_funds";
        let (_, step) = self.currency(rail);
        let (payer, payee) = (account("poor-payer"), account("poor-payee"));
        let amount = times(&step, 6);
        let fee = self.fee(CHECK, rail, &amount).await;
        self.fund(CHECK, &payer, times(&step, 5)).await;
        let wanted = request("poor-1", &payer, &payee, amount);
        match rail.pay(&wanted).await {
            Err(error @ Error::InsufficientFunds { .. }) => {
                assert!(
                    !error.is_retryable(),
                    "{CHECK}: insufficient funds is not retryable"
                );
            }
            other => panic!("{CHECK}: paying more than the balance gave {other:?}"),
        }
        let status = rail
            .status(&wanted.payment_id)
            .await
            .unwrap_or_else(|error| panic!("{CHECK}: status failed: {error}"));
        assert_eq!(
            status.state,
            PaymentState::Unknown,
            "{CHECK}: a refused payment must leave its id unused"
        );
        expect_balance(CHECK, rail, &payer, &times(&step, 5)).await;
        expect_balance(CHECK, rail, &payee, &Money::zero(amount.currency())).await;
        let top_up = step
            .checked_add(&fee)
            .unwrap_or_else(|error| panic!("{CHECK}: {error}"));
        self.fund(CHECK, &payer, top_up).await;
        pay_ok(CHECK, rail, &wanted).await;
        expect_balance(CHECK, rail, &payer, &Money::zero(amount.currency())).await;
        expect_balance(CHECK, rail, &payee, &amount).await;
    }

    /// Zero, and anything below the minimum, is refused.
    async fn below_minimum(&self, rail: &Arc<dyn PaymentRail>) {
        const CHECK: &str = "below_minimum";
        let (entry, step) = self.currency(rail);
        let (payer, payee) = (account("min-payer"), account("min-payee"));
        self.fund(CHECK, &payer, times(&step, 4)).await;
        let mut too_small = vec![("min-zero", Money::zero(entry.currency))];
        let unit = entry.unit();
        if entry.minimum.amount() > unit.amount() {
            too_small.push(("min-below", minus(CHECK, &entry.minimum, &unit)));
        }
        for (payment_id, amount) in too_small {
            let refused = request(payment_id, &payer, &payee, amount);
            match rail.pay(&refused).await {
                Err(Error::BelowMinimum { .. }) => {}
                other => panic!("{CHECK}: paying {amount} gave {other:?}"),
            }
            let status = rail.status(&refused.payment_id).await;
            assert!(
                matches!(&status, Ok(s) if s.state == PaymentState::Unknown),
                "{CHECK}: a refused payment left {status:?}"
            );
        }
        expect_balance(CHECK, rail, &payer, &times(&step, 4)).await;
    }

    /// An amount finer than the rail's scale, or in a currency it does not move, is
    /// refused, never rounded.
    async fn precision_and_currency(&self, rail: &Arc<dyn PaymentRail>) {
        const CHECK: &str = "precision_and_currency";
        let (entry, step) = self.currency(rail);
        let (payer, payee) = (account("prec-payer"), account("prec-payee"));
        self.fund(CHECK, &payer, times(&step, 4)).await;
        if entry.scale < attn_receipts::limits::MONEY_SCALE_MAX {
            let finest = Money::from_atomic(entry.currency, 1, entry.scale + 1)
                .unwrap_or_else(|error| panic!("{CHECK}: {error}"));
            let fine = step
                .checked_add(&finest)
                .unwrap_or_else(|error| panic!("{CHECK}: {error}"));
            match rail.pay(&request("prec-fine", &payer, &payee, fine)).await {
                Err(Error::PrecisionLoss { .. }) => {}
                other => panic!(
                    "{CHECK}: paying {fine} at scale {} gave {other:?}",
                    entry.scale
                ),
            }
        }
        let foreign = ["XTS", "XXX", "ZZZ9"]
            .into_iter()
            .filter_map(|code| Currency::new(code).ok())
            .find(|code| rail.capabilities().currency(*code).is_err())
            .unwrap_or_else(|| panic!("{CHECK}: the rail moves every test currency"));
        let alien =
            Money::new(foreign, step.amount()).unwrap_or_else(|error| panic!("{CHECK}: {error}"));
        match rail
            .pay(&request("prec-alien", &payer, &payee, alien))
            .await
        {
            Err(Error::UnsupportedCurrency { .. }) => {}
            other => panic!("{CHECK}: paying in {foreign} gave {other:?}"),
        }
        match rail.balance(&payer, foreign).await {
            Err(Error::UnsupportedCurrency { .. }) => {}
            other => panic!("{CHECK}: a balance in {foreign} gave {other:?}"),
        }
        match rail.quote(&alien).await {
            Err(Error::UnsupportedCurrency { .. }) => {}
            other => panic!("{CHECK}: a quote in {foreign} gave {other:?}"),
        }
        expect_balance(CHECK, rail, &payer, &times(&step, 4)).await;
        expect_balance(CHECK, rail, &payee, &Money::zero(entry.currency)).await;
    }

    /// A rail re-created on the same storage keeps balances, statuses and idempotency.
    async fn restart(&self) {
        const CHECK: &str = "restart";
        let open = || async {
            self.factory
                .open(self.storage)
                .await
                .unwrap_or_else(|error| panic!("{CHECK}: reopening failed: {error}"))
        };
        let rail = open().await;
        let (entry, step) = self.currency(&rail);
        let (payer, payee) = (account("restart-payer"), account("restart-payee"));
        let amount = times(&step, 3);
        let fee = self.fee(CHECK, &rail, &amount).await;
        self.fund(CHECK, &payer, times(&step, 10)).await;
        let first = request("restart-1", &payer, &payee, amount);
        pay_ok(CHECK, &rail, &first).await;
        let payer_before = balance(CHECK, &rail, &payer, entry.currency).await;
        let payee_before = balance(CHECK, &rail, &payee, entry.currency).await;
        assert_eq!(
            payer_before,
            minus(CHECK, &minus(CHECK, &times(&step, 10), &amount), &fee),
            "{CHECK}: balance of {payer}"
        );
        drop(rail);

        let rail = open().await;
        expect_balance(CHECK, &rail, &payer, &payer_before).await;
        expect_balance(CHECK, &rail, &payee, &payee_before).await;
        let status = rail
            .status(&first.payment_id)
            .await
            .unwrap_or_else(|error| panic!("{CHECK}: status failed: {error}"));
        assert_eq!(
            status.state,
            PaymentState::Succeeded,
            "{CHECK}: a payment made before the restart"
        );
        pay_ok(CHECK, &rail, &first).await;
        match rail.pay(&request("restart-1", &payer, &payee, step)).await {
            Err(Error::PaymentIdConflict { .. }) => {}
            other => panic!("{CHECK}: reusing an id after restart gave {other:?}"),
        }
        expect_balance(CHECK, &rail, &payer, &payer_before).await;
        expect_balance(CHECK, &rail, &payee, &payee_before).await;
        pay_ok(CHECK, &rail, &request("restart-2", &payer, &payee, step)).await;
        expect_balance(
            CHECK,
            &rail,
            &payee,
            &payee_before
                .checked_add(&step)
                .unwrap_or_else(|error| panic!("{CHECK}: {error}")),
        )
        .await;
        unknown_status(&rail).await;
    }
}
