//! The settlement flow of an impression: accepted → pending, paid → posted, payment
//! failed → voided; fees split in the same linked batch.
//!
//! An accepted impression becomes, in ONE linked batch (all or none), pending
//! transfers from the advertiser's escrow to:
//! - the user's wallet, keyed by the hash of the signed impression (so a replayed
//!   impression can never be paid twice), for the impression's price: exactly what
//!   the persona signed and what its payment (a channel voucher) carries;
//! - the interface provider and the content server, for their rates in parts per
//!   million of the price, rounded down, keyed by derived ids:
//!   `SHA-256("attn/v1/ledger/leg" ‖ impression hash ‖ leg)[..16]`.
//!
//! The fees are on top of the price, not taken out of it: the user is paid the price
//! it sold its attention for, which it can check against its own signed impression
//! without knowing anybody's fee rates, and the advertiser's escrow pays price plus
//! fees (see `docs/ledger.md`). A fee leg that rounds to zero is left out (a zero
//! transfer is not a transfer). The legs are a pure function of the
//! [`AcceptedImpression`], so [`post`] and [`void`] re-derive them after any restart;
//! all three are idempotent. [`Books`] is the same flow bound to one advertiser's
//! accounts, creating each persona's wallet on first use.
//!
//! The figures shown to a user come from [`earnings`]: posted and pending sums read
//! from the ledger, never estimated; a pending amount only leaves "pending" by a
//! recorded post, void or expiry.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};

use attn_receipts::signed::Digest32;

use crate::backend::LedgerBackend;
use crate::error::{Error, Rejection};
use crate::model::{AccountFlags, AccountKind, AccountOutcome, Ledger, NewAccount};
use crate::model::{
    AccountId, Earnings, LedgerId, Transfer, TransferFlags, TransferId, TransferOutcome,
};

/// Transfer code: an impression paid to a user.
pub const CODE_IMPRESSION: u16 = 1;
/// Transfer code: the interface provider's fee on an impression.
pub const CODE_INTERFACE_PROVIDER_FEE: u16 = 2;
/// Transfer code: the content server's fee on an impression.
pub const CODE_CONTENT_SERVER_FEE: u16 = 3;
/// One million parts per million: the whole amount.
pub const PPM_ONE: u32 = 1_000_000;

const LEG_DOMAIN: &[u8] = b"attn/v1/ledger/leg";

/// Fee rates, in parts per million of an impression's amount.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct FeeRates {
    /// The interface provider's share.
    pub interface_provider_ppm: u32,
    /// The content server's share.
    pub content_server_ppm: u32,
}

/// An impression the advertiser accepted, to settle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AcceptedImpression {
    /// The hash of the signed impression (its idempotency key).
    pub impression_hash: Digest32,
    /// The ledger (currency) of every account below.
    pub ledger: LedgerId,
    /// The advertiser's escrow, debited.
    pub advertiser_escrow: AccountId,
    /// The user's wallet, credited the price.
    pub user_wallet: AccountId,
    /// The interface provider's payee account.
    pub interface_provider: AccountId,
    /// The content server's payee account.
    pub content_server: AccountId,
    /// The impression's price: what the user is paid, in atomic units. The escrow is
    /// debited this plus the fees.
    pub amount_atomic: u64,
    /// The fee rates, each in parts per million of the price.
    pub fees: FeeRates,
    /// How long the payment may take before the reservation expires (ms, 0 = never).
    pub timeout_ms: u64,
}

/// Which part of an impression a transfer is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Leg {
    /// Escrow → user wallet.
    User,
    /// Escrow → interface provider.
    InterfaceProvider,
    /// Escrow → content server.
    ContentServer,
}

impl Leg {
    fn label(self) -> &'static [u8] {
        match self {
            Self::User => b"user",
            Self::InterfaceProvider => b"interface-provider",
            Self::ContentServer => b"content-server",
        }
    }
}

/// The derived id of an impression's `leg` in `phase` ("pending", "post", "void").
/// The user leg's pending transfer is the impression hash itself.
pub fn leg_id(impression_hash: &Digest32, leg: Leg, phase: &str) -> TransferId {
    if leg == Leg::User && phase == "pending" {
        return TransferId::from_digest(impression_hash);
    }
    let digest = Sha256::new()
        .chain_update(LEG_DOMAIN)
        .chain_update([0u8])
        .chain_update(impression_hash.0)
        .chain_update(leg.label())
        .chain_update([0u8])
        .chain_update(phase.as_bytes())
        .finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    TransferId::from_bytes(bytes)
}

/// The legs of an impression: `(leg, credit account, amount, code)`, the user's first,
/// zero fees left out. An error if the rates add up to more than the whole price.
pub fn legs(impression: &AcceptedImpression) -> Result<Vec<(Leg, AccountId, u64, u16)>, Error> {
    let fees = impression.fees;
    let total_ppm = u64::from(fees.interface_provider_ppm) + u64::from(fees.content_server_ppm);
    if total_ppm > u64::from(PPM_ONE) {
        return Err(Error::InvalidFees(
            "fee rates add up to more than 1,000,000 ppm",
        ));
    }
    let share = |ppm: u32| -> u64 {
        let product = u128::from(impression.amount_atomic) * u128::from(ppm) / u128::from(PPM_ONE);
        // ppm ≤ 1,000,000, so the share is at most the price.
        u64::try_from(product).unwrap_or(impression.amount_atomic)
    };
    let interface = share(fees.interface_provider_ppm);
    let content = share(fees.content_server_ppm);
    debug_assert!(interface + content <= impression.amount_atomic);
    let mut legs = vec![(
        Leg::User,
        impression.user_wallet,
        impression.amount_atomic,
        CODE_IMPRESSION,
    )];
    if interface > 0 {
        legs.push((
            Leg::InterfaceProvider,
            impression.interface_provider,
            interface,
            CODE_INTERFACE_PROVIDER_FEE,
        ));
    }
    if content > 0 {
        legs.push((
            Leg::ContentServer,
            impression.content_server,
            content,
            CODE_CONTENT_SERVER_FEE,
        ));
    }
    Ok(legs)
}

/// What an impression costs its advertiser's escrow: the price plus the fees.
pub fn escrow_debit(impression: &AcceptedImpression) -> Result<u64, Error> {
    legs(impression)?
        .iter()
        .try_fold(0u64, |total, (_, _, amount, _)| total.checked_add(*amount))
        .ok_or(Error::InvalidFees("price plus fees overflows"))
}

fn linked(mut batch: Vec<Transfer>) -> Vec<Transfer> {
    let last = batch.len().saturating_sub(1);
    for (index, transfer) in batch.iter_mut().enumerate() {
        if index < last {
            transfer.flags = transfer.flags.union(TransferFlags::LINKED);
        }
    }
    batch
}

/// The linked batch of pending transfers for an accepted impression.
pub fn pending_batch(impression: &AcceptedImpression) -> Result<Vec<Transfer>, Error> {
    let hash = &impression.impression_hash;
    Ok(linked(
        legs(impression)?
            .into_iter()
            .map(|(leg, credit, amount, code)| Transfer {
                id: leg_id(hash, leg, "pending"),
                debit_account: impression.advertiser_escrow,
                credit_account: credit,
                amount,
                ledger: impression.ledger,
                code,
                user_data: 0,
                flags: TransferFlags::PENDING,
                pending_id: TransferId(0),
                timeout_ms: impression.timeout_ms,
            })
            .collect(),
    ))
}

/// The linked batch that posts (`post = true`) or voids every leg in full.
pub fn resolve_batch(impression: &AcceptedImpression, post: bool) -> Result<Vec<Transfer>, Error> {
    let hash = &impression.impression_hash;
    Ok(linked(
        legs(impression)?
            .into_iter()
            .map(|(leg, _, amount, _)| {
                let pending = leg_id(hash, leg, "pending");
                if post {
                    Transfer::post(leg_id(hash, leg, "post"), pending, amount)
                } else {
                    Transfer::void(leg_id(hash, leg, "void"), pending)
                }
            })
            .collect(),
    ))
}

async fn submit_all(
    ledger: &dyn LedgerBackend,
    batch: &[Transfer],
    now_ms: u64,
) -> Result<Vec<TransferOutcome>, Error> {
    let outcomes = ledger.submit(batch, now_ms).await?;
    let failure = outcomes
        .iter()
        .enumerate()
        .find_map(|(index, outcome)| match outcome {
            TransferOutcome::Rejected(reason) if *reason != Rejection::LinkedEventFailed => {
                Some((index, *reason))
            }
            _ => None,
        });
    if let Some((index, reason)) = failure {
        return Err(Error::Rejected {
            index,
            id: batch[index].id,
            reason,
        });
    }
    Ok(outcomes)
}

/// Records an accepted impression as pending transfers (one linked batch).
/// Idempotent: accepting it again returns `AlreadyExists` outcomes.
///
/// # Example
/// ```
/// use attn_receipts::{Currency, signed::Digest32};
/// use attn_settlement::{flow, *};
/// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
/// let ledger = MemoryLedger::new();
/// let usd = Ledger { id: LedgerId(1), currency: Currency::new("USD")?, scale: 6 };
/// ledger.create_ledgers(&[usd]).await?;
/// let open = |id, kind| NewAccount { id: AccountId(id), ledger: usd.id, kind,
///     flags: AccountFlags::NONE, user_data: 0 };
/// ledger.create_accounts(&[
///     open(1, AccountKind::RailClearing), open(2, AccountKind::AdvertiserEscrow),
///     open(3, AccountKind::UserWallet), open(4, AccountKind::InterfaceProviderPayee),
///     open(5, AccountKind::ContentServerPayee)], 0).await?;
/// ledger.submit(&[Transfer::single(TransferId(1), AccountId(1), AccountId(2), 1_000_000, usd.id, 9)], 0).await?;
/// let impression = flow::AcceptedImpression {
///     impression_hash: Digest32::of(&[b"a signed impression"]),
///     ledger: usd.id, advertiser_escrow: AccountId(2), user_wallet: AccountId(3),
///     interface_provider: AccountId(4), content_server: AccountId(5),
///     amount_atomic: 2_500,
///     fees: flow::FeeRates { interface_provider_ppm: 100_000, content_server_ppm: 50_000 },
///     timeout_ms: 60_000,
/// };
/// flow::accept(&ledger, &impression, 10).await?;
/// // The user is paid the price; the fees (250 + 125) come on top, from the escrow.
/// assert_eq!(flow::earnings(&ledger, AccountId(3)).await?.pending_atomic, 2_500);
/// flow::post(&ledger, &impression, 20).await?;
/// let earned = flow::earnings(&ledger, AccountId(3)).await?;
/// assert_eq!((earned.posted_atomic, earned.pending_atomic), (2_500, 0));
/// assert_eq!(flow::earnings(&ledger, AccountId(2)).await?.posted_atomic, 1_000_000 - 2_875);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub async fn accept(
    ledger: &dyn LedgerBackend,
    impression: &AcceptedImpression,
    now_ms: u64,
) -> Result<Vec<TransferOutcome>, Error> {
    submit_all(ledger, &pending_batch(impression)?, now_ms).await
}

/// Posts every leg of an accepted impression (the payment succeeded).
pub async fn post(
    ledger: &dyn LedgerBackend,
    impression: &AcceptedImpression,
    now_ms: u64,
) -> Result<Vec<TransferOutcome>, Error> {
    submit_all(ledger, &resolve_batch(impression, true)?, now_ms).await
}

/// Voids every leg of an accepted impression (the payment failed).
pub async fn void(
    ledger: &dyn LedgerBackend,
    impression: &AcceptedImpression,
    now_ms: u64,
) -> Result<Vec<TransferOutcome>, Error> {
    submit_all(ledger, &resolve_batch(impression, false)?, now_ms).await
}

/// An account's posted and pending figures, read from the ledger.
pub async fn earnings(ledger: &dyn LedgerBackend, account: AccountId) -> Result<Earnings, Error> {
    let found = ledger.lookup_accounts(&[account]).await?;
    let stored = found
        .first()
        .filter(|a| a.id == account)
        .ok_or(Error::AccountNotFound(account))?;
    let b = stored.balances;
    Ok(Earnings {
        account,
        ledger: stored.ledger,
        posted_atomic: b.credit_balance_posted(),
        pending_atomic: i128::from(b.credits_pending) - i128::from(b.debits_pending),
    })
}

/// Most wallet ids a [`Books`] remembers having created (past it, it forgets them all
/// and asks the ledger again, which is idempotent).
pub const WALLETS_CACHE_MAX: usize = 100_000;

/// One advertiser's books: the ledger, its escrow, the fee payees and rates. Accepting
/// an impression creates the persona's wallet on first use (see [`wallet_of`]), then
/// runs [`accept`]; [`Books::post`] and [`Books::void`] resolve it.
pub struct Books {
    ledger: Arc<dyn LedgerBackend>,
    definition: Ledger,
    advertiser_escrow: AccountId,
    interface_provider: AccountId,
    content_server: AccountId,
    fees: FeeRates,
    timeout_ms: u64,
    wallets: Mutex<HashSet<AccountId>>,
}

impl std::fmt::Debug for Books {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Books")
            .field("ledger", &self.definition)
            .field("advertiser_escrow", &self.advertiser_escrow)
            .field("fees", &self.fees)
            .finish_non_exhaustive()
    }
}

/// The user-wallet account of the persona with public key `persona` on `ledger`:
/// `SHA-256("attn/v1/ledger/wallet" ‖ 0 ‖ ledger ‖ persona)[..16]`. Every component
/// (the SDK that pays, the demo that shows earnings) derives the same id.
pub fn wallet_of(ledger: LedgerId, persona: &[u8; 32]) -> AccountId {
    AccountId::derive(b"attn/v1/ledger/wallet", ledger, persona)
}

/// The advertiser-escrow account of the advertiser with public key `advertiser`.
pub fn escrow_of(ledger: LedgerId, advertiser: &[u8; 32]) -> AccountId {
    AccountId::derive(b"attn/v1/ledger/escrow", ledger, advertiser)
}

impl Books {
    /// Books on `ledger` (already defined by `definition`) for the advertiser whose
    /// escrow is `advertiser_escrow`; fees go to the two payees at `fees`; pending
    /// transfers expire after `timeout_ms` (0 = never). The accounts must exist.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        ledger: Arc<dyn LedgerBackend>,
        definition: Ledger,
        advertiser_escrow: AccountId,
        interface_provider: AccountId,
        content_server: AccountId,
        fees: FeeRates,
        timeout_ms: u64,
    ) -> Result<Self, Error> {
        if u64::from(fees.interface_provider_ppm) + u64::from(fees.content_server_ppm)
            > u64::from(PPM_ONE)
        {
            return Err(Error::InvalidFees(
                "fee rates add up to more than 1,000,000 ppm",
            ));
        }
        Ok(Self {
            ledger,
            definition,
            advertiser_escrow,
            interface_provider,
            content_server,
            fees,
            timeout_ms,
            wallets: Mutex::new(HashSet::new()),
        })
    }

    /// The ledger.
    pub fn ledger(&self) -> &Arc<dyn LedgerBackend> {
        &self.ledger
    }

    /// The ledger's definition (currency and scale).
    pub fn definition(&self) -> Ledger {
        self.definition
    }

    /// The impression to settle for `persona` at `amount_atomic` (this ledger's units).
    pub fn impression(
        &self,
        impression_hash: Digest32,
        persona: &[u8; 32],
        amount_atomic: u64,
    ) -> AcceptedImpression {
        AcceptedImpression {
            impression_hash,
            ledger: self.definition.id,
            advertiser_escrow: self.advertiser_escrow,
            user_wallet: wallet_of(self.definition.id, persona),
            interface_provider: self.interface_provider,
            content_server: self.content_server,
            amount_atomic,
            fees: self.fees,
            timeout_ms: self.timeout_ms,
        }
    }

    fn wallets(&self) -> std::sync::MutexGuard<'_, HashSet<AccountId>> {
        self.wallets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Creates the wallet of `impression` if this process has not seen it yet.
    async fn ensure_wallet(&self, wallet: AccountId, now_ms: u64) -> Result<(), Error> {
        if self.wallets().contains(&wallet) {
            return Ok(());
        }
        let account = NewAccount {
            id: wallet,
            ledger: self.definition.id,
            kind: AccountKind::UserWallet,
            flags: AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS,
            user_data: 0,
        };
        match self
            .ledger
            .create_accounts(&[account], now_ms)
            .await?
            .first()
        {
            Some(AccountOutcome::Created | AccountOutcome::AlreadyExists) => {
                let mut wallets = self.wallets();
                if wallets.len() >= WALLETS_CACHE_MAX {
                    wallets.clear();
                }
                wallets.insert(wallet);
                Ok(())
            }
            Some(AccountOutcome::Rejected(reason)) => Err(Error::Rejected {
                index: 0,
                id: TransferId(wallet.0),
                reason: *reason,
            }),
            None => Err(Error::Corrupt("create_accounts answered nothing".into())),
        }
    }

    /// Records `impression` as pending (its wallet created first if needed).
    pub async fn accept(&self, impression: &AcceptedImpression, now_ms: u64) -> Result<(), Error> {
        self.ensure_wallet(impression.user_wallet, now_ms).await?;
        accept(&*self.ledger, impression, now_ms).await.map(drop)
    }

    /// Posts `impression` (its payment succeeded).
    pub async fn post(&self, impression: &AcceptedImpression, now_ms: u64) -> Result<(), Error> {
        post(&*self.ledger, impression, now_ms).await.map(drop)
    }

    /// Voids `impression` (its payment failed).
    pub async fn void(&self, impression: &AcceptedImpression, now_ms: u64) -> Result<(), Error> {
        void(&*self.ledger, impression, now_ms).await.map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn impression(amount_atomic: u64, fees: FeeRates) -> AcceptedImpression {
        AcceptedImpression {
            impression_hash: Digest32::of(&[b"impression"]),
            ledger: LedgerId(1),
            advertiser_escrow: AccountId(2),
            user_wallet: AccountId(3),
            interface_provider: AccountId(4),
            content_server: AccountId(5),
            amount_atomic,
            fees,
            timeout_ms: 0,
        }
    }

    #[test]
    fn fees_come_on_top_of_the_price_rounded_down() {
        let fees = FeeRates {
            interface_provider_ppm: 333_333,
            content_server_ppm: 0,
        };
        let split = legs(&impression(10, fees)).expect("valid split");
        assert_eq!(split.len(), 2);
        assert_eq!((split[0].2, split[1].2), (10, 3));
        assert_eq!(escrow_debit(&impression(10, fees)).expect("debit"), 13);
        // A rate whose share of a tiny price rounds to zero leaves its leg out.
        assert_eq!(legs(&impression(2, fees)).expect("valid").len(), 1);
        let batch = pending_batch(&impression(10, fees)).expect("batch");
        assert!(batch[0].flags.contains(TransferFlags::LINKED));
        assert!(!batch[1].flags.contains(TransferFlags::LINKED));
        assert_eq!(
            batch[0].id,
            TransferId::from_digest(&impression(10, fees).impression_hash)
        );
    }

    #[test]
    fn fee_rates_above_the_whole_are_refused() {
        let over = FeeRates {
            interface_provider_ppm: 600_000,
            content_server_ppm: 400_001,
        };
        assert!(matches!(
            legs(&impression(10, over)),
            Err(Error::InvalidFees(_))
        ));
        // Fees as large as the price itself are the most allowed.
        let all = FeeRates {
            interface_provider_ppm: 1_000_000,
            content_server_ppm: 0,
        };
        assert_eq!(escrow_debit(&impression(10, all)).expect("debit"), 20);
    }

    #[test]
    fn derived_ids_are_distinct_and_stable() {
        let hash = Digest32::of(&[b"x"]);
        let mut ids: Vec<TransferId> = [Leg::User, Leg::InterfaceProvider, Leg::ContentServer]
            .into_iter()
            .flat_map(|leg| ["pending", "post", "void"].map(|phase| leg_id(&hash, leg, phase)))
            .collect();
        assert_eq!(leg_id(&hash, Leg::ContentServer, "post"), ids[7]);
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), 9);
    }

    #[tokio::test]
    async fn books_create_wallets_on_first_use_and_settle() {
        use crate::{MemoryLedger, Transfer};
        let ledger: Arc<dyn LedgerBackend> = Arc::new(MemoryLedger::new());
        let definition = Ledger {
            id: LedgerId(7),
            currency: attn_receipts::Currency::new("USD").expect("USD"),
            scale: 6,
        };
        ledger.create_ledgers(&[definition]).await.expect("ledger");
        let advertiser = [9u8; 32];
        let escrow = escrow_of(definition.id, &advertiser);
        let open = |id, kind, flags| NewAccount {
            id,
            ledger: definition.id,
            kind,
            flags,
            user_data: 0,
        };
        ledger
            .create_accounts(
                &[
                    open(AccountId(1), AccountKind::RailClearing, AccountFlags::NONE),
                    open(
                        escrow,
                        AccountKind::AdvertiserEscrow,
                        AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS,
                    ),
                    open(
                        AccountId(4),
                        AccountKind::InterfaceProviderPayee,
                        AccountFlags::NONE,
                    ),
                    open(
                        AccountId(5),
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
                    1_000,
                    definition.id,
                    9,
                )],
                0,
            )
            .await
            .expect("fund");
        let fees = FeeRates {
            interface_provider_ppm: 100_000,
            content_server_ppm: 0,
        };
        let books = Books::new(
            Arc::clone(&ledger),
            definition,
            escrow,
            AccountId(4),
            AccountId(5),
            fees,
            0,
        )
        .expect("books");
        let persona = [3u8; 32];
        let paid = books.impression(Digest32::of(&[b"paid"]), &persona, 500);
        let failed = books.impression(Digest32::of(&[b"failed"]), &persona, 300);
        books.accept(&paid, 1).await.expect("accept");
        books.accept(&failed, 2).await.expect("accept");
        books.post(&paid, 3).await.expect("post");
        books.void(&failed, 4).await.expect("void");
        let wallet = earnings(&*ledger, wallet_of(definition.id, &persona))
            .await
            .expect("the wallet was created");
        assert_eq!((wallet.posted_atomic, wallet.pending_atomic), (500, 0));
        assert_eq!(
            earnings(&*ledger, escrow)
                .await
                .expect("escrow")
                .posted_atomic,
            450
        );
        // An impression the escrow cannot cover is refused whole.
        let greedy = books.impression(Digest32::of(&[b"greedy"]), &persona, 420);
        assert!(matches!(
            books.accept(&greedy, 5).await,
            Err(Error::Rejected {
                reason: Rejection::ExceedsCredits,
                ..
            })
        ));
        assert!(ledger.check().await.expect("check").is_ok());
        assert!(
            Books::new(
                ledger,
                definition,
                escrow,
                AccountId(4),
                AccountId(5),
                FeeRates {
                    interface_provider_ppm: PPM_ONE,
                    content_server_ppm: 1
                },
                0
            )
            .is_err()
        );
    }
}
