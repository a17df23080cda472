//! How an accepted impression is paid: the [`ImpressionPayer`] trait and its one
//! implementation, [`RailPayer`], which pays through any rail of
//! `attn-payment-plugins` chosen by name (`rail = "channel:ledger"` in a config) and,
//! when given the advertiser's [`Books`], settles each impression in the ledger:
//! pending before paying, posted once paid, voided if the payment fails.
//!
//! The SDK never names a concrete rail: [`RailPayer::open`] takes the spec a config
//! gives. With no payer configured, the SDK pays with channel vouchers over an
//! in-memory sandbox ([`RailPayer::new`]): promises a test deployment can read, with
//! no money behind them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use attn_payment_plugins::channel::{ChannelConfig, ChannelPayer, Channels};
use attn_payment_plugins::{
    AccountName, PayRequest, PaymentId, PaymentRail, PaymentState, RailCurrency, RailOptions,
};
use attn_receipts::{AdvertiserKey, Currency, Digest32, Money, PublicKey, Signed, Voucher};
use attn_settlement::flow::{AcceptedImpression, Books};

use crate::error::{Error, PaymentRefusal, Result};
use crate::threshold::AdvertiserSigner;

pub use attn_payment_plugins::channel::channel_id;

/// Most payments a [`RailPayer`] remembers by impression hash, to answer a retry
/// with the first payment (past it, the memory is cleared: the SDK refuses replayed
/// impressions before it pays, so this only serves a rail's retries).
pub const PAYMENTS_REMEMBERED_MAX: usize = 1_000_000;
/// Most impressions a [`RailPayer`] tracks as paid (or pending on the rail) but not
/// yet posted in its books; past it, new payments are refused until
/// [`RailPayer::reconcile`] resolves some.
pub const UNRESOLVED_MAX: usize = 100_000;
/// Most currencies the default payer opens a sandbox channel engine for.
pub const DEFAULT_CURRENCIES_MAX: usize = attn_payment_plugins::RAIL_CURRENCIES_MAX;
/// The deposit, in whole units of the currency, of a default payer's channels.
pub const DEFAULT_DEPOSIT_UNITS: u64 = 1_000;

/// One accepted impression to pay.
#[derive(Clone, Debug)]
pub struct PaymentOrder {
    /// Hash of the signed impression: the idempotency key of the payment.
    pub impression_hash: Digest32,
    /// Who pays.
    pub advertiser: PublicKey,
    /// Who is paid.
    pub persona: PublicKey,
    /// The amount charged.
    pub charge: Money,
    /// The same amount in atomic units of `scale`.
    pub charge_atomic: u64,
    /// Fractional digits of the atomic unit.
    pub scale: u32,
    /// The time of payment, ms since the epoch.
    pub now_ms: u64,
}

/// Proof of a payment, returned to the persona in the impression's ack.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Payment {
    /// The rail that paid, e.g. `channel:ledger`.
    pub rail: String,
    /// A signed voucher, when the rail is a payment channel.
    pub voucher: Option<Signed<Voucher>>,
    /// The rail's payment id (the hex of the impression hash).
    pub payment_id: Option<String>,
}

/// Pays accepted impressions.
///
/// Contract:
/// - The SDK calls `pay` at most once per accepted impression, after it verified the
///   impression and reserved the charge in the daily budget. An implementation MUST
///   still be idempotent by [`PaymentOrder::impression_hash`]: a rail behind it may
///   see retries after a crash.
/// - `Ok` promises the persona can claim the amount with what [`Payment`] carries.
///   `Err` means nothing was paid: the SDK releases the budget reservation and
///   refuses the impression, which the persona may deliver again.
/// - `pay` is called concurrently; it MUST NOT block the async runtime (do I/O
///   asynchronously or on a blocking pool).
#[async_trait::async_trait]
pub trait ImpressionPayer: Send + Sync + 'static {
    /// The rail name bids announce (at most `limits::RAIL_NAME_MAX_BYTES`).
    fn rail(&self) -> &str;
    /// Pays one impression.
    async fn pay(&self, order: &PaymentOrder) -> Result<Payment>;
}

/// Where a [`RailPayer`]'s payments go.
enum Route {
    /// Channel vouchers over a channel engine (`channel:BASE`).
    Vouchers(ChannelPayer<AdvertiserKey>),
    /// One `pay` per impression on a rail, from the advertiser's account.
    Direct {
        rail: Arc<dyn PaymentRail>,
        account: AccountName,
    },
    /// The default: a channel engine over an in-memory sandbox per currency, opened
    /// on the first order in that currency at that order's scale.
    DefaultVouchers {
        key: AdvertiserKey,
        engines: Mutex<HashMap<Currency, Arc<ChannelPayer<AdvertiserKey>>>>,
    },
}

/// The payer: any rail, by name, with optional ledger settlement.
///
/// Per order it (1) records the impression as pending in the advertiser's books
/// ([`Books::accept`]: escrow → the persona's wallet, fees in the same linked
/// batch), (2) pays it on the rail (a voucher of the pair's channel, or one rail
/// payment keyed by the impression hash), then (3) posts it, or voids it if the
/// payment failed. A rail answer `Pending` leaves it pending in the books.
pub struct RailPayer {
    advertiser: PublicKey,
    rail_id: String,
    route: Route,
    books: Option<Arc<Books>>,
    paid: Mutex<HashMap<Digest32, Payment>>,
    /// Impressions pending in the books whose payment is pending on the rail, or
    /// succeeded but whose post failed: [`RailPayer::reconcile`] resolves them.
    unresolved: Mutex<HashMap<Digest32, AcceptedImpression>>,
}

/// What one [`RailPayer::reconcile`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Reconciled {
    /// Impressions posted (their payment succeeded).
    pub posted: usize,
    /// Impressions voided (their payment failed for good).
    pub voided: usize,
    /// Impressions still pending on the rail (or whose books could not be written).
    pub unresolved: usize,
}

/// The old name of the default payer: channel vouchers.
pub type ChannelVoucherPayer = RailPayer;

impl std::fmt::Debug for RailPayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RailPayer")
            .field("rail", &self.rail_id)
            .field("books", &self.books)
            .finish_non_exhaustive()
    }
}

impl RailPayer {
    /// The rail id of the default payer.
    pub const DEFAULT_RAIL: &'static str = "channel:sandbox";

    /// The default payer of `key`: channel vouchers over an in-memory sandbox
    /// ([`RailPayer::DEFAULT_RAIL`], opened through the registry like any rail) in
    /// which the advertiser's own account issues the deposits (test money: the
    /// vouchers are verifiable promises with nothing behind them).
    pub fn new(key: AdvertiserKey) -> Self {
        Self {
            advertiser: key.public_key(),
            rail_id: Self::DEFAULT_RAIL.into(),
            route: Route::DefaultVouchers {
                key,
                engines: Mutex::new(HashMap::new()),
            },
            books: None,
            paid: Mutex::new(HashMap::new()),
            unresolved: Mutex::new(HashMap::new()),
        }
    }

    /// The payer of `key` through the rail `spec` names (`channel:ledger`,
    /// `ledger:postgres://…`, `external:http://…`; see
    /// [`attn_payment_plugins::registry`]). A `channel:` spec pays with vouchers.
    pub async fn open(spec: &str, options: &RailOptions, key: AdvertiserKey) -> Result<Self> {
        if spec.starts_with("channel:") {
            let channels = attn_payment_plugins::registry::open_channels(spec, options)
                .await
                .map_err(|e| Error::Config(format!("rail {spec:?}: {e}")))?;
            Ok(Self::with_channels(channels, key))
        } else {
            let rail = attn_payment_plugins::open_rail(spec, options)
                .await
                .map_err(|e| Error::Config(format!("rail {spec:?}: {e}")))?;
            Ok(Self::with_rail(rail, key))
        }
    }

    /// The payer of `signer` through the rail `spec` names. A single key may use any
    /// rail; a threshold group ([`AdvertiserSigner::Threshold`]) cannot sign channel
    /// vouchers (its signers sign only bids and receipts), so a `channel:` spec is
    /// refused for it with [`Error::Config`]: give it the channel's base rail instead
    /// (`ledger:…`, `sandbox`, `external:…`), paid one payment per impression.
    pub async fn open_for(
        spec: &str,
        options: &RailOptions,
        signer: &AdvertiserSigner,
    ) -> Result<Self> {
        match signer {
            AdvertiserSigner::Key(key) => Self::open(spec, options, key.clone()).await,
            AdvertiserSigner::Threshold(_) if spec.starts_with("channel:") => {
                Err(Error::Config(format!(
                    "rail {spec:?}: a threshold advertiser cannot sign channel vouchers; \
                     use a direct rail such as {:?}",
                    spec.trim_start_matches("channel:")
                )))
            }
            AdvertiserSigner::Threshold(group) => {
                let rail = attn_payment_plugins::open_rail(spec, options)
                    .await
                    .map_err(|e| Error::Config(format!("rail {spec:?}: {e}")))?;
                Ok(Self::with_rail_for(rail, group.group_key()))
            }
        }
    }

    /// The default payer of an advertiser that signs no vouchers (a threshold
    /// group): one payment per impression on an in-memory sandbox rail in `currency`
    /// at `scale`, on which the advertiser's own account is the issuer (test money,
    /// like [`RailPayer::new`]).
    pub fn sandbox_for(advertiser: PublicKey, currency: Currency, scale: u32) -> Result<Self> {
        use attn_payment_plugins::sandbox::{SandboxConfig, SandboxRail};
        let rail = SandboxRail::new(SandboxConfig::new(
            vec![RailCurrency::with_scale(currency, scale).map_err(Error::from)?],
            AccountName::for_key(&advertiser),
        ))
        .map_err(Error::from)?;
        Ok(Self::with_rail_for(Arc::new(rail), advertiser))
    }

    /// The payer of `key` over an open channel engine (shared, for instance, with the
    /// payee side in one process).
    pub fn with_channels(channels: Arc<Channels>, key: AdvertiserKey) -> Self {
        let rail_id = format!("channel:{}", channels.base().id());
        Self {
            advertiser: key.public_key(),
            rail_id,
            route: Route::Vouchers(ChannelPayer::new(channels, key)),
            books: None,
            paid: Mutex::new(HashMap::new()),
            unresolved: Mutex::new(HashMap::new()),
        }
    }

    /// The payer of `key` over a rail: one payment per impression from the
    /// advertiser's account ([`AccountName::for_key`]) to the persona's.
    pub fn with_rail(rail: Arc<dyn PaymentRail>, key: AdvertiserKey) -> Self {
        Self::with_rail_for(rail, key.public_key())
    }

    /// The payer of the advertiser `advertiser` over a rail (no key needed: a rail
    /// payment is not signed by the advertiser). For a threshold advertiser, pass the
    /// group key.
    pub fn with_rail_for(rail: Arc<dyn PaymentRail>, advertiser: PublicKey) -> Self {
        Self {
            advertiser,
            rail_id: rail.id().to_string(),
            route: Route::Direct {
                rail,
                account: AccountName::for_key(&advertiser),
            },
            books: None,
            paid: Mutex::new(HashMap::new()),
            unresolved: Mutex::new(HashMap::new()),
        }
    }

    /// Settles every impression in `books` (pending, then posted or voided). The
    /// books' ledger must be in the currency the bidder trades in.
    pub fn with_books(mut self, books: Arc<Books>) -> Self {
        self.books = Some(books);
        self
    }

    /// The books, if any.
    pub fn books(&self) -> Option<&Arc<Books>> {
        self.books.as_ref()
    }

    fn unresolved(&self) -> std::sync::MutexGuard<'_, HashMap<Digest32, AcceptedImpression>> {
        self.unresolved
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Resolves in the books the impressions left pending: asks the rail where each
    /// payment stands, posts those that succeeded, voids those that failed for good,
    /// keeps the others. Call it periodically when the rail answers `Pending` (a rail
    /// with delayed finality), and after a failed post. Idempotent.
    pub async fn reconcile(&self, now_ms: u64) -> Result<Reconciled> {
        let Some(books) = &self.books else {
            return Ok(Reconciled::default());
        };
        let waiting: Vec<(Digest32, AcceptedImpression)> = self
            .unresolved()
            .iter()
            .map(|(hash, impression)| (*hash, *impression))
            .collect();
        let mut done = Reconciled::default();
        for (hash, impression) in waiting {
            let state = match &self.route {
                Route::Direct { rail, .. } => {
                    let id = PaymentId::new(hex::encode(hash.0)).map_err(Error::from)?;
                    rail.status(&id).await.map_err(Error::from)?.state
                }
                // A signed voucher is the payment: only the post is missing.
                Route::Vouchers(_) | Route::DefaultVouchers { .. } => PaymentState::Succeeded,
            };
            let written = match state {
                PaymentState::Succeeded => books.post(&impression, now_ms).await.map(|()| true),
                PaymentState::Failed { .. } => {
                    books.void(&impression, now_ms).await.map(|()| false)
                }
                PaymentState::Pending | PaymentState::Unknown => {
                    done.unresolved += 1;
                    continue;
                }
            };
            match written {
                Ok(posted) => {
                    self.unresolved().remove(&hash);
                    if posted {
                        done.posted += 1;
                    } else {
                        done.voided += 1;
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, impression = %hash, "impression not resolved");
                    done.unresolved += 1;
                }
            }
        }
        Ok(done)
    }

    fn remembered(&self, hash: &Digest32) -> Option<Payment> {
        self.paid
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(hash)
            .cloned()
    }

    fn remember(&self, hash: Digest32, payment: &Payment) {
        let mut paid = self.paid.lock().unwrap_or_else(PoisonError::into_inner);
        if paid.len() >= PAYMENTS_REMEMBERED_MAX {
            paid.clear();
        }
        paid.insert(hash, payment.clone());
    }

    /// The default payer's channel engine for the order's currency, opened by name
    /// ([`RailPayer::DEFAULT_RAIL`]) on the first order in that currency.
    async fn default_engine(
        key: &AdvertiserKey,
        engines: &Mutex<HashMap<Currency, Arc<ChannelPayer<AdvertiserKey>>>>,
        order: &PaymentOrder,
    ) -> Result<Arc<ChannelPayer<AdvertiserKey>>> {
        let currency = order.charge.currency();
        {
            let engines = engines.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(engine) = engines.get(&currency) {
                return Ok(Arc::clone(engine));
            }
            if engines.len() >= DEFAULT_CURRENCIES_MAX {
                return Err(Error::payment_refused(
                    PaymentRefusal::CurrencyMismatch,
                    format!(
                        "the default payer handles at most {DEFAULT_CURRENCIES_MAX} currencies"
                    ),
                ));
            }
        }
        let options = RailOptions {
            currencies: vec![RailCurrency::with_scale(currency, order.scale).map_err(Error::from)?],
            // The advertiser's own account issues the deposits: test money.
            issuer: AccountName::for_key(&key.public_key()),
            channel: ChannelConfig {
                scale: order.scale,
                deposits: vec![Money::from_atomic(currency, DEFAULT_DEPOSIT_UNITS, 0)?],
            },
            ..RailOptions::default()
        };
        let channels = attn_payment_plugins::registry::open_channels(Self::DEFAULT_RAIL, &options)
            .await
            .map_err(Error::from)?;
        let mut engines = engines.lock().unwrap_or_else(PoisonError::into_inner);
        // Two first orders may race to open it: the first one stored wins.
        let engine = engines
            .entry(currency)
            .or_insert_with(|| Arc::new(ChannelPayer::new(channels, key.clone())));
        Ok(Arc::clone(engine))
    }

    /// Pays on the rail; `Ok(true)` when final (post it), `Ok(false)` when the rail
    /// answered pending (leave it pending).
    async fn pay_on_rail(&self, order: &PaymentOrder) -> Result<(Payment, bool)> {
        let payment_id = hex::encode(order.impression_hash.0);
        match &self.route {
            Route::Vouchers(payer) => {
                let voucher = payer
                    .pay(&order.persona, &order.charge, order.now_ms)
                    .await
                    .map_err(Error::from)?;
                Ok((self.voucher_payment(voucher, payment_id), true))
            }
            Route::DefaultVouchers { key, engines } => {
                let engine = Self::default_engine(key, engines, order).await?;
                let voucher = engine
                    .pay(&order.persona, &order.charge, order.now_ms)
                    .await
                    .map_err(Error::from)?;
                Ok((self.voucher_payment(voucher, payment_id), true))
            }
            Route::Direct { rail, account } => {
                let request = PayRequest::new(
                    PaymentId::new(payment_id.clone()).map_err(Error::from)?,
                    account.clone(),
                    AccountName::for_key(&order.persona),
                    order.charge,
                    "attn impression",
                )
                .map_err(Error::from)?;
                let status = rail.pay(&request).await.map_err(Error::from)?;
                let settled = match status.state {
                    PaymentState::Succeeded => true,
                    PaymentState::Pending => false,
                    PaymentState::Failed { reason, retryable } => {
                        let reason = format!("the rail failed it: {reason}");
                        return Err(if retryable {
                            Error::Payment(reason)
                        } else {
                            Error::payment_refused(PaymentRefusal::Declined, reason)
                        });
                    }
                    PaymentState::Unknown => {
                        return Err(Error::payment_refused(
                            PaymentRefusal::Internal,
                            "the rail does not know the payment it just accepted",
                        ));
                    }
                };
                let payment = Payment {
                    rail: self.rail_id.clone(),
                    voucher: None,
                    payment_id: Some(payment_id),
                };
                Ok((payment, settled))
            }
        }
    }

    fn voucher_payment(&self, voucher: Signed<Voucher>, payment_id: String) -> Payment {
        Payment {
            rail: self.rail_id.clone(),
            voucher: Some(voucher),
            payment_id: Some(payment_id),
        }
    }

    fn impression(&self, books: &Books, order: &PaymentOrder) -> Result<AcceptedImpression> {
        let amount_atomic = books
            .definition()
            .to_atomic(&order.charge)
            .map_err(Error::from)?;
        Ok(books.impression(
            order.impression_hash,
            order.persona.as_bytes(),
            amount_atomic,
        ))
    }
}

#[async_trait::async_trait]
impl ImpressionPayer for RailPayer {
    fn rail(&self) -> &str {
        &self.rail_id
    }

    async fn pay(&self, order: &PaymentOrder) -> Result<Payment> {
        if order.advertiser != self.advertiser {
            return Err(Error::payment_refused(
                PaymentRefusal::Internal,
                "order names another advertiser",
            ));
        }
        if let Some(payment) = self.remembered(&order.impression_hash) {
            return Ok(payment);
        }
        if self.books.is_some() && self.unresolved().len() >= UNRESOLVED_MAX {
            return Err(Error::Payment(format!(
                "{UNRESOLVED_MAX} payments wait for reconcile; refusing more"
            )));
        }
        // Debit what is owed in the books before asking the rail to settle it.
        let accepted = match &self.books {
            Some(books) => {
                let impression = self.impression(books, order)?;
                books
                    .accept(&impression, order.now_ms)
                    .await
                    .map_err(Error::from)?;
                Some((books, impression))
            }
            None => None,
        };
        match self.pay_on_rail(order).await {
            Ok((payment, settled)) => {
                if let Some((books, impression)) = &accepted {
                    let posted = if settled {
                        match books.post(impression, order.now_ms).await {
                            Ok(()) => true,
                            Err(error) => {
                                // Paid but not posted: reconcile posts it later; the
                                // persona already holds its payment.
                                tracing::warn!(%error, impression = %order.impression_hash, "paid impression not posted");
                                false
                            }
                        }
                    } else {
                        false
                    };
                    if !posted {
                        self.unresolved().insert(order.impression_hash, *impression);
                    }
                }
                self.remember(order.impression_hash, &payment);
                Ok(payment)
            }
            Err(error) => {
                if let Some((books, impression)) = &accepted
                    && let Err(void_error) = books.void(impression, order.now_ms).await
                {
                    tracing::warn!(%void_error, impression = %order.impression_hash, "unpaid impression not voided");
                }
                Err(error)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use attn_settlement::flow::{FeeRates, escrow_of, wallet_of};
    use attn_settlement::{
        AccountFlags, AccountId, AccountKind, Ledger, LedgerBackend, LedgerId, NewAccount,
        Transfer, TransferId,
    };

    fn order(key: &AdvertiserKey, persona: PublicKey, n: u8, atomic: u64) -> PaymentOrder {
        PaymentOrder {
            impression_hash: Digest32([n; 32]),
            advertiser: key.public_key(),
            persona,
            charge: Money::from_atomic(Currency::new("USD").expect("usd"), atomic, 9)
                .expect("money"),
            charge_atomic: atomic,
            scale: 9,
            now_ms: 1,
        }
    }

    #[tokio::test]
    async fn default_vouchers_are_cumulative_with_increasing_sequence_and_idempotent() {
        let key = AdvertiserKey::from_secret_bytes(&[1; 32]);
        let persona = AdvertiserKey::from_secret_bytes(&[2; 32]).public_key();
        let payer = RailPayer::new(key.clone());
        assert_eq!(payer.rail(), RailPayer::DEFAULT_RAIL);
        let first = payer.pay(&order(&key, persona, 1, 5)).await.expect("pays");
        let second = payer.pay(&order(&key, persona, 2, 7)).await.expect("pays");
        let again = payer.pay(&order(&key, persona, 2, 7)).await.expect("pays");
        assert_eq!(second, again);
        let first = first.voucher.expect("voucher").open().expect("valid");
        let second = second.voucher.expect("voucher").open().expect("valid");
        assert_eq!(first.channel_id, second.channel_id);
        assert_eq!(second.sequence, first.sequence + 1);
        assert_eq!(second.cumulative.to_atomic(9).expect("atomic"), 12);
    }

    #[tokio::test]
    async fn a_payer_refuses_orders_for_another_advertiser() {
        let key = AdvertiserKey::from_secret_bytes(&[1; 32]);
        let other = AdvertiserKey::from_secret_bytes(&[3; 32]);
        let payer = RailPayer::new(key);
        let persona = other.public_key();
        assert!(matches!(
            payer.pay(&order(&other, persona, 1, 5)).await,
            Err(Error::PaymentRefused {
                cause: PaymentRefusal::Internal,
                ..
            })
        ));
    }

    /// The rail is chosen by name; each impression is pending, then posted once the
    /// voucher is signed; an unaffordable one is voided and refused.
    #[tokio::test]
    async fn rails_by_name_settle_in_the_books() {
        let key = AdvertiserKey::from_secret_bytes(&[1; 32]);
        let persona = AdvertiserKey::from_secret_bytes(&[2; 32]).public_key();
        let ledger: Arc<dyn LedgerBackend> = attn_settlement::open("sqlite::memory:")
            .await
            .expect("ledger");
        let definition = Ledger {
            id: LedgerId(1),
            currency: Currency::new("USD").expect("usd"),
            scale: 9,
        };
        ledger.create_ledgers(&[definition]).await.expect("define");
        let escrow = escrow_of(definition.id, key.public_key().as_bytes());
        let account = |id, kind, flags| NewAccount {
            id,
            ledger: definition.id,
            kind,
            flags,
            user_data: 0,
        };
        ledger
            .create_accounts(
                &[
                    account(AccountId(1), AccountKind::RailClearing, AccountFlags::NONE),
                    account(
                        escrow,
                        AccountKind::AdvertiserEscrow,
                        AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS,
                    ),
                    account(
                        AccountId(2),
                        AccountKind::InterfaceProviderPayee,
                        AccountFlags::NONE,
                    ),
                    account(
                        AccountId(3),
                        AccountKind::ContentServerPayee,
                        AccountFlags::NONE,
                    ),
                ],
                0,
            )
            .await
            .expect("accounts");
        ledger
            .submit(
                &[Transfer::single(
                    TransferId(1),
                    AccountId(1),
                    escrow,
                    100,
                    definition.id,
                    9,
                )],
                0,
            )
            .await
            .expect("fund the escrow");
        let books = Arc::new(
            Books::new(
                Arc::clone(&ledger),
                definition,
                escrow,
                AccountId(2),
                AccountId(3),
                FeeRates {
                    interface_provider_ppm: 100_000,
                    content_server_ppm: 0,
                },
                60_000,
            )
            .expect("books"),
        );
        for spec in ["channel:sandbox", "sandbox"] {
            let options = RailOptions {
                currencies: vec![
                    RailCurrency::with_scale(Currency::new("USD").expect("usd"), 9).expect("scale"),
                ],
                issuer: AccountName::for_key(&key.public_key()),
                ..RailOptions::default()
            };
            let payer = RailPayer::open(spec, &options, key.clone())
                .await
                .expect("open")
                .with_books(Arc::clone(&books));
            assert_eq!(payer.rail(), spec);
            let n = if spec == "sandbox" { 10 } else { 20 };
            let payment = payer.pay(&order(&key, persona, n, 40)).await.expect("pays");
            assert_eq!(payment.voucher.is_some(), spec.starts_with("channel:"));
        }
        let wallet =
            attn_settlement::flow::earnings(&*ledger, wallet_of(definition.id, persona.as_bytes()))
                .await
                .expect("wallet");
        assert_eq!((wallet.posted_atomic, wallet.pending_atomic), (80, 0));
        // 100 - 2 × (40 + 4) = 12 left: an impression of 40 is refused whole.
        let payer = RailPayer::new(key.clone()).with_books(Arc::clone(&books));
        assert!(payer.pay(&order(&key, persona, 30, 40)).await.is_err());
        assert!(ledger.check().await.expect("check").is_ok());
    }

    /// A rail that answers `Pending` leaves the impression pending in the books until
    /// reconcile finds the payment succeeded and posts it.
    #[tokio::test]
    async fn pending_rail_payments_are_posted_by_reconcile() {
        use attn_payment_plugins::sandbox::{SandboxConfig, SandboxRail};
        let key = AdvertiserKey::from_secret_bytes(&[1; 32]);
        let persona = AdvertiserKey::from_secret_bytes(&[2; 32]).public_key();
        let ledger: Arc<dyn LedgerBackend> =
            attn_settlement::open("memory:").await.expect("ledger");
        let definition = Ledger {
            id: LedgerId(1),
            currency: Currency::new("USD").expect("usd"),
            scale: 9,
        };
        ledger.create_ledgers(&[definition]).await.expect("define");
        let escrow = escrow_of(definition.id, key.public_key().as_bytes());
        let account = |id, kind| NewAccount {
            id,
            ledger: definition.id,
            kind,
            flags: AccountFlags::NONE,
            user_data: 0,
        };
        ledger
            .create_accounts(
                &[
                    account(escrow, AccountKind::AdvertiserEscrow),
                    account(AccountId(2), AccountKind::InterfaceProviderPayee),
                    account(AccountId(3), AccountKind::ContentServerPayee),
                ],
                0,
            )
            .await
            .expect("accounts");
        let books = Arc::new(
            Books::new(
                Arc::clone(&ledger),
                definition,
                escrow,
                AccountId(2),
                AccountId(3),
                FeeRates::default(),
                0,
            )
            .expect("books"),
        );
        // The advertiser issues on this sandbox; each payment stays pending for two
        // status calls.
        let rail = SandboxRail::new(SandboxConfig {
            pending_polls: 2,
            ..SandboxConfig::new(
                vec![RailCurrency::with_scale(definition.currency, 9).expect("scale")],
                AccountName::for_key(&key.public_key()),
            )
        })
        .expect("sandbox");
        let payer = RailPayer::with_rail(Arc::new(rail), key.clone()).with_books(books);
        payer
            .pay(&order(&key, persona, 1, 40))
            .await
            .expect("accepted, pending");
        let wallet = wallet_of(definition.id, persona.as_bytes());
        let earned = || async {
            let e = attn_settlement::flow::earnings(&*ledger, wallet)
                .await
                .expect("wallet");
            (e.posted_atomic, e.pending_atomic)
        };
        assert_eq!(earned().await, (0, 40));
        let first = payer.reconcile(2).await.expect("reconcile");
        assert_eq!(
            first,
            Reconciled {
                posted: 0,
                voided: 0,
                unresolved: 1
            }
        );
        let second = payer.reconcile(3).await.expect("reconcile");
        assert_eq!(
            second,
            Reconciled {
                posted: 1,
                voided: 0,
                unresolved: 0
            }
        );
        assert_eq!(earned().await, (40, 0));
        assert_eq!(
            payer.reconcile(4).await.expect("idle"),
            Reconciled::default()
        );
        assert!(ledger.check().await.expect("check").is_ok());
    }
}
