//! The data model: ledgers, accounts, transfers and what a backend answers.
//!
//! Modelled on TigerBeetle's accounting: an account never stores a "balance", only
//! four monotone-or-pending sums (`debits_pending`, `debits_posted`, `credits_pending`,
//! `credits_posted`), from which any balance is derived. A transfer moves one amount
//! from a debit account to a credit account on the same ledger; its id is its
//! idempotency key.
//!
//! Amounts are integer atomic units in `u64`, capped at [`AMOUNT_MAX`] (`i64::MAX`), the
//! largest value both SQLite's `INTEGER` and PostgreSQL's `BIGINT` store exactly.
//! Negative amounts are not representable (the type is unsigned); amounts above the cap
//! are refused with [`Rejection::AmountExceedsMax`], zero with [`Rejection::AmountZero`].

use std::fmt;

use attn_receipts::signed::Digest32;
use attn_receipts::{Currency, Money};

use crate::error::{Error, Rejection};
use crate::rules::AMOUNT_MAX;

/// A ledger: one currency at one atomic scale. Accounts and transfers live on exactly
/// one ledger, and a transfer can only move value between accounts of its own ledger.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LedgerId(pub u32);

impl fmt::Display for LedgerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The definition of a ledger: its currency and the number of fractional digits of
/// its atomic unit (`2` counts cents).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ledger {
    /// The ledger's id (nonzero).
    pub id: LedgerId,
    /// The currency every amount on this ledger is in.
    pub currency: Currency,
    /// Fractional digits of one atomic unit, at most [`crate::rules::SCALE_MAX`].
    pub scale: u32,
}

impl Ledger {
    /// Converts an API-edge [`Money`] to this ledger's atomic units: an error on a
    /// currency mismatch, on precision loss, or above [`AMOUNT_MAX`].
    ///
    /// # Example
    /// ```
    /// use attn_receipts::{Currency, Money};
    /// use attn_settlement::{Ledger, LedgerId};
    /// let usd = Ledger { id: LedgerId(1), currency: Currency::new("USD")?, scale: 6 };
    /// assert_eq!(usd.to_atomic(&Money::parse("USD", "0.0025")?)?, 2_500);
    /// assert!(usd.to_atomic(&Money::parse("EUR", "1")?).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn to_atomic(&self, money: &Money) -> Result<u64, Error> {
        if money.currency() != self.currency {
            return Err(Error::CurrencyMismatch {
                ledger: self.id,
                expected: self.currency.to_string(),
                found: money.currency().to_string(),
            });
        }
        self.atomic_of(money.amount())
    }

    /// Converts a decimal amount of this ledger's currency to atomic units, refusing
    /// each bad amount with its own error: negative ([`Error::AmountNegative`]), more
    /// digits than the scale ([`Error::AmountTooPrecise`]), more than [`AMOUNT_MAX`]
    /// units ([`Error::AmountExceedsMax`]). Zero converts to zero; a transfer of zero
    /// is refused by the ledger ([`crate::Rejection::AmountZero`]).
    ///
    /// # Example
    /// ```
    /// use attn_receipts::Currency;
    /// use attn_settlement::{Error, Ledger, LedgerId};
    /// use rust_decimal::Decimal;
    /// let usd = Ledger { id: LedgerId(1), currency: Currency::new("USD")?, scale: 2 };
    /// assert_eq!(usd.atomic_of(Decimal::new(125, 2))?, 125);
    /// assert!(matches!(usd.atomic_of(Decimal::new(-1, 0)), Err(Error::AmountNegative(_))));
    /// assert!(matches!(usd.atomic_of(Decimal::new(1, 3)), Err(Error::AmountTooPrecise { .. })));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn atomic_of(&self, amount: rust_decimal::Decimal) -> Result<u64, Error> {
        if amount.is_sign_negative() && !amount.is_zero() {
            return Err(Error::AmountNegative(amount.to_string()));
        }
        let normalized = amount.normalize();
        if normalized.scale() > self.scale {
            return Err(Error::AmountTooPrecise {
                amount: amount.to_string(),
                scale: self.scale,
            });
        }
        let exceeds = || Error::AmountExceedsMax(amount.to_string());
        let factor = 10u64.checked_pow(self.scale).ok_or_else(exceeds)?;
        let scaled = normalized
            .checked_mul(rust_decimal::Decimal::from(factor))
            .ok_or_else(exceeds)?
            .normalize();
        let atomic = u64::try_from(scaled.mantissa()).map_err(|_| exceeds())?;
        debug_assert_eq!(scaled.scale(), 0);
        if atomic > AMOUNT_MAX {
            return Err(exceeds());
        }
        Ok(atomic)
    }

    /// Converts atomic units of this ledger back to [`Money`] for display at the edge.
    pub fn to_money(&self, atomic: u64) -> Result<Money, Error> {
        Money::from_atomic(self.currency, atomic, self.scale)
            .map_err(|source| Error::Money(source.to_string()))
    }
}

/// An account id: 128 bits, nonzero, chosen by the caller (TigerBeetle style), so
/// creating an account is idempotent too.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AccountId(pub u128);

/// A transfer id: 128 bits, nonzero, the transfer's idempotency key.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TransferId(pub u128);

macro_rules! id_impls {
    ($name:ident) => {
        impl $name {
            /// The id as 16 big-endian bytes (the storage form: byte order is numeric order).
            pub fn to_bytes(self) -> [u8; 16] {
                self.0.to_be_bytes()
            }

            /// The id from 16 big-endian bytes.
            pub fn from_bytes(bytes: [u8; 16]) -> Self {
                Self(u128::from_be_bytes(bytes))
            }

            /// The id from a stored byte string, which must be exactly 16 bytes long.
            pub fn from_slice(bytes: &[u8]) -> Result<Self, Error> {
                let array: [u8; 16] = bytes.try_into().map_err(|_| {
                    Error::Corrupt(format!(
                        "{} is {} bytes, not 16",
                        stringify!($name),
                        bytes.len()
                    ))
                })?;
                Ok(Self::from_bytes(array))
            }

            /// The id as 32 lowercase hex digits.
            pub fn to_hex(self) -> String {
                format!("{:032x}", self.0)
            }

            /// Parses 1 to 32 hex digits.
            pub fn from_hex(text: &str) -> Result<Self, Error> {
                if text.is_empty() || text.len() > 32 {
                    return Err(Error::InvalidId(text.chars().take(40).collect()));
                }
                u128::from_str_radix(text, 16)
                    .map(Self)
                    .map_err(|_| Error::InvalidId(text.chars().take(40).collect()))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.to_hex())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.to_hex())
            }
        }
    };
}
id_impls!(AccountId);
id_impls!(TransferId);

impl AccountId {
    /// A deterministic account id: `SHA-256(domain ‖ 0 ‖ ledger (4 bytes, big-endian)
    /// ‖ name)[..16]`, never zero. Lets every component name a party's account (a
    /// persona's wallet, an advertiser's escrow) from its key alone.
    pub fn derive(domain: &[u8], ledger: LedgerId, name: &[u8]) -> Self {
        use sha2::{Digest, Sha256};
        let digest = Sha256::new()
            .chain_update(domain)
            .chain_update([0u8])
            .chain_update(ledger.0.to_be_bytes())
            .chain_update(name)
            .finalize();
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&digest[..16]);
        Self(u128::from_be_bytes(bytes).max(1))
    }
}

impl TransferId {
    /// The transfer id of a 32-byte digest (for an impression: the hash of the signed
    /// impression): its first 16 bytes. A collision among `n` honest impressions has
    /// probability about `n² / 2¹²⁹`; a forged collision with someone else's impression
    /// needs a second preimage of SHA-256 truncated to 128 bits.
    pub fn from_digest(digest: &Digest32) -> Self {
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&digest.0[..16]);
        Self::from_bytes(bytes)
    }
}

/// What an account is for. The set of cases is closed, so it is an enum.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum AccountKind {
    /// A user's wallet: what the user earned.
    UserWallet = 1,
    /// An advertiser's escrow: the budget it deposited, paid out per impression.
    AdvertiserEscrow = 2,
    /// The clearing account of a payment rail (money entering or leaving the ledger).
    RailClearing = 3,
    /// The exchange's or a rail's fees.
    Fees = 4,
    /// The interface provider's share of each impression.
    InterfaceProviderPayee = 5,
    /// The content server's share of each impression.
    ContentServerPayee = 6,
}

impl AccountKind {
    /// Every kind, in code order.
    pub const ALL: [AccountKind; 6] = [
        Self::UserWallet,
        Self::AdvertiserEscrow,
        Self::RailClearing,
        Self::Fees,
        Self::InterfaceProviderPayee,
        Self::ContentServerPayee,
    ];

    /// The stored code.
    pub fn code(self) -> u16 {
        self as u16
    }

    /// The kind of a stored code.
    pub fn from_code(code: u16) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.code() == code)
    }

    /// A short lowercase name.
    pub fn name(self) -> &'static str {
        match self {
            Self::UserWallet => "user-wallet",
            Self::AdvertiserEscrow => "advertiser-escrow",
            Self::RailClearing => "rail-clearing",
            Self::Fees => "fees",
            Self::InterfaceProviderPayee => "interface-provider-payee",
            Self::ContentServerPayee => "content-server-payee",
        }
    }
}

/// Account flags (a bit set).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct AccountFlags(pub u16);

impl AccountFlags {
    /// No flag.
    pub const NONE: Self = Self(0);
    /// `debits_pending + debits_posted` may never exceed `credits_posted`: the account
    /// cannot be overdrawn (a wallet or an escrow, which hold credit balances).
    pub const DEBITS_MUST_NOT_EXCEED_CREDITS: Self = Self(1);
    /// `credits_pending + credits_posted` may never exceed `debits_posted` (an account
    /// with a debit balance, such as a rail's clearing account with a limit).
    pub const CREDITS_MUST_NOT_EXCEED_DEBITS: Self = Self(2);
    /// Every defined bit.
    pub const ALL: Self = Self(3);

    /// Whether every bit of `other` is set.
    pub fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// The union.
    pub fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }
}

/// The four sums of an account, in atomic units. Each is at most
/// [`crate::rules::BALANCE_MAX`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Balances {
    /// Debits reserved by pending transfers not yet resolved.
    pub debits_pending: u64,
    /// Debits posted (final).
    pub debits_posted: u64,
    /// Credits reserved by pending transfers not yet resolved.
    pub credits_pending: u64,
    /// Credits posted (final).
    pub credits_posted: u64,
}

impl Balances {
    /// `credits_posted - debits_posted`, the posted balance of a credit-normal account
    /// (wallets, escrows, payees), signed.
    pub fn credit_balance_posted(&self) -> i128 {
        i128::from(self.credits_posted) - i128::from(self.debits_posted)
    }
}

/// An account as created by the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NewAccount {
    /// The id (nonzero); creating the same account twice is idempotent.
    pub id: AccountId,
    /// The ledger (must exist).
    pub ledger: LedgerId,
    /// What the account is for.
    pub kind: AccountKind,
    /// Balance constraints.
    pub flags: AccountFlags,
    /// Opaque data for the caller (e.g. an advertiser or user reference).
    pub user_data: u64,
}

/// An account as stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Account {
    /// The id.
    pub id: AccountId,
    /// The ledger.
    pub ledger: LedgerId,
    /// What the account is for.
    pub kind: AccountKind,
    /// Balance constraints.
    pub flags: AccountFlags,
    /// Opaque data for the caller.
    pub user_data: u64,
    /// The four sums.
    pub balances: Balances,
    /// When it was created (ms since the Unix epoch, as given to the backend).
    pub created_at_ms: u64,
}

impl Account {
    /// The stored account of a new one, with zero balances.
    pub fn open(new: NewAccount, now_ms: u64) -> Self {
        Self {
            id: new.id,
            ledger: new.ledger,
            kind: new.kind,
            flags: new.flags,
            user_data: new.user_data,
            balances: Balances::default(),
            created_at_ms: now_ms,
        }
    }
}

/// Transfer flags (a bit set).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct TransferFlags(pub u16);

impl TransferFlags {
    /// No flag: a single-phase transfer, posted at once.
    pub const NONE: Self = Self(0);
    /// Links this transfer to the next one of the batch: the chain succeeds or fails
    /// as a whole. The last transfer of a chain does not carry the flag.
    pub const LINKED: Self = Self(1);
    /// A two-phase transfer's first phase: reserves the amount in the pending sums.
    pub const PENDING: Self = Self(2);
    /// Posts the pending transfer named by `pending_id` (in full or in part).
    pub const POST_PENDING: Self = Self(4);
    /// Voids the pending transfer named by `pending_id`.
    pub const VOID_PENDING: Self = Self(8);
    /// Every defined bit.
    pub const ALL: Self = Self(15);

    /// Whether every bit of `other` is set.
    pub fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// The union.
    pub fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    /// The flags without [`Self::LINKED`] (linking is not part of what a transfer is).
    pub fn without_linked(self) -> Self {
        Self(self.0 & !Self::LINKED.0)
    }

    /// Whether this resolves a pending transfer (post or void).
    pub fn resolves_pending(self) -> bool {
        self.contains(Self::POST_PENDING) || self.contains(Self::VOID_PENDING)
    }
}

/// A transfer as submitted.
///
/// For a post or a void, `debit_account`, `credit_account`, `ledger` and `code` may be
/// zero to take them from the pending transfer (if nonzero they must match it).
/// A post's `amount` is the amount posted (at most the pending amount; the rest is
/// released); a void's `amount` is zero or the pending amount.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Transfer {
    /// The idempotency key (nonzero).
    pub id: TransferId,
    /// The account debited.
    pub debit_account: AccountId,
    /// The account credited.
    pub credit_account: AccountId,
    /// The amount in atomic units of the ledger, `1..=AMOUNT_MAX`.
    pub amount: u64,
    /// The ledger of both accounts.
    pub ledger: LedgerId,
    /// Why the transfer happened (nonzero; see [`crate::flow`] for the codes it uses).
    pub code: u16,
    /// Opaque data for the caller.
    pub user_data: u64,
    /// Flags.
    pub flags: TransferFlags,
    /// For a post or void: the pending transfer it resolves; otherwise zero.
    pub pending_id: TransferId,
    /// For a pending transfer: ms after which it expires (0 = never); otherwise zero.
    pub timeout_ms: u64,
}

impl Transfer {
    /// A single-phase transfer with no user data and no flags.
    pub fn single(
        id: TransferId,
        debit_account: AccountId,
        credit_account: AccountId,
        amount: u64,
        ledger: LedgerId,
        code: u16,
    ) -> Self {
        Self {
            id,
            debit_account,
            credit_account,
            amount,
            ledger,
            code,
            user_data: 0,
            flags: TransferFlags::NONE,
            pending_id: TransferId(0),
            timeout_ms: 0,
        }
    }

    /// A post of `pending_id` for `amount`, taking accounts, ledger and code from it.
    pub fn post(id: TransferId, pending_id: TransferId, amount: u64) -> Self {
        Self {
            id,
            debit_account: AccountId(0),
            credit_account: AccountId(0),
            amount,
            ledger: LedgerId(0),
            code: 0,
            user_data: 0,
            flags: TransferFlags::POST_PENDING,
            pending_id,
            timeout_ms: 0,
        }
    }

    /// A void of `pending_id`.
    pub fn void(id: TransferId, pending_id: TransferId) -> Self {
        Self {
            flags: TransferFlags::VOID_PENDING,
            amount: 0,
            ..Self::post(id, pending_id, 0)
        }
    }
}

/// Where a stored transfer stands. One meaning per word: *pending*, *posted*, *voided*.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum TransferStatus {
    /// A single-phase transfer or a post: its amount is in the posted sums.
    Posted = 0,
    /// A void: it moved nothing and released its pending transfer.
    Voided = 1,
    /// A pending transfer not resolved yet: its amount is in the pending sums.
    Pending = 2,
    /// A pending transfer that a post resolved.
    PendingPosted = 3,
    /// A pending transfer that a void resolved.
    PendingVoided = 4,
    /// A pending transfer whose timeout passed before it was resolved.
    PendingExpired = 5,
}

impl TransferStatus {
    /// The stored code.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The status of a stored code.
    pub fn from_code(code: u8) -> Option<Self> {
        [
            Self::Posted,
            Self::Voided,
            Self::Pending,
            Self::PendingPosted,
            Self::PendingVoided,
            Self::PendingExpired,
        ]
        .into_iter()
        .find(|status| status.code() == code)
    }

    /// A short lowercase name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Posted => "posted",
            Self::Voided => "voided",
            Self::Pending => "pending",
            Self::PendingPosted => "pending-posted",
            Self::PendingVoided => "pending-voided",
            Self::PendingExpired => "pending-expired",
        }
    }
}

/// A transfer as stored: the submitted fields resolved (a post or void carries its
/// pending transfer's accounts, ledger and code; a void carries the pending amount),
/// plus what the ledger recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TransferRecord {
    /// The resolved transfer (its `LINKED` flag is not stored).
    pub transfer: Transfer,
    /// Where it stands.
    pub status: TransferStatus,
    /// When it was recorded (ms, the `now` given to the backend).
    pub created_at_ms: u64,
    /// For a pending transfer with a timeout: when it expires (ms).
    pub expires_at_ms: Option<u64>,
    /// Its position in the ledger's log: strictly increasing in insertion order, the
    /// cursor of [`crate::LedgerBackend::history`]. Zero until stored.
    pub sequence: u64,
}

/// The answer to one transfer of a batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TransferOutcome {
    /// Recorded by this batch.
    Created {
        /// The recording time.
        created_at_ms: u64,
    },
    /// Recorded before with identical fields: nothing changed; this is the first
    /// result again (the first recording time).
    AlreadyExists {
        /// The first recording time.
        created_at_ms: u64,
    },
    /// Refused; nothing of it was recorded.
    Rejected(Rejection),
}

impl TransferOutcome {
    /// Whether the transfer is in the ledger after this batch (created now or before).
    pub fn is_recorded(&self) -> bool {
        !matches!(self, Self::Rejected(_))
    }
}

/// The answer to one account of a `create_accounts` call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AccountOutcome {
    /// Created now.
    Created,
    /// Created before with identical fields: nothing changed.
    AlreadyExists,
    /// Refused; nothing of it was recorded.
    Rejected(Rejection),
}

/// One page of an account's history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryPage {
    /// Transfers debiting or crediting the account, by increasing sequence.
    pub transfers: Vec<TransferRecord>,
    /// The cursor for the next page, if there may be more.
    pub next_cursor: Option<u64>,
}

impl HistoryPage {
    /// A page of at most `limit` transfers read after a cursor: a full page carries
    /// the cursor of its last transfer (there may be more), a shorter one none.
    pub fn new(transfers: Vec<TransferRecord>, limit: u32) -> Self {
        let next_cursor = (transfers.len() == limit as usize)
            .then(|| transfers.last().map(|r| r.sequence))
            .flatten();
        Self {
            transfers,
            next_cursor,
        }
    }
}

/// What a balance query returns: posted and pending, both read from the ledger.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Earnings {
    /// The account.
    pub account: AccountId,
    /// Its ledger.
    pub ledger: LedgerId,
    /// `credits_posted - debits_posted`: final, never decreases without a recorded
    /// debit.
    pub posted_atomic: i128,
    /// `credits_pending - debits_pending`: reserved, becomes posted or is released by a
    /// recorded void or expiry.
    pub pending_atomic: i128,
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::Decimal;
    use std::str::FromStr;

    fn usd() -> Ledger {
        Ledger {
            id: LedgerId(1),
            currency: Currency::new("USD").expect("USD"),
            scale: 2,
        }
    }

    #[test]
    fn amounts_at_the_edge_are_refused_with_typed_errors() {
        let ledger = usd();
        let decimal = |text: &str| Decimal::from_str(text).expect("decimal");
        assert_eq!(ledger.atomic_of(decimal("12.34")).ok(), Some(1_234));
        assert_eq!(ledger.atomic_of(decimal("0")).ok(), Some(0));
        assert_eq!(ledger.atomic_of(decimal("12.340000")).ok(), Some(1_234));
        assert!(matches!(
            ledger.atomic_of(decimal("-0.01")),
            Err(Error::AmountNegative(_))
        ));
        assert!(matches!(
            ledger.atomic_of(decimal("0.001")),
            Err(Error::AmountTooPrecise { scale: 2, .. })
        ));
        // AMOUNT_MAX is i64::MAX atomic units: 92,233,720,368,547,758.07 at scale 2.
        assert_eq!(
            ledger.atomic_of(decimal("92233720368547758.07")).ok(),
            Some(AMOUNT_MAX)
        );
        for over in ["92233720368547758.08", "184467440737095516.16", "1e26"] {
            let amount = Decimal::from_scientific(over)
                .or_else(|_| Decimal::from_str(over))
                .expect("decimal");
            assert!(
                matches!(ledger.atomic_of(amount), Err(Error::AmountExceedsMax(_))),
                "{over}"
            );
        }
        let euros = Money::parse("EUR", "1").expect("money");
        assert!(matches!(
            ledger.to_atomic(&euros),
            Err(Error::CurrencyMismatch { .. })
        ));
    }

    #[test]
    fn derived_account_ids_depend_on_every_input() {
        let a = AccountId::derive(b"d", LedgerId(1), b"key");
        assert_eq!(a, AccountId::derive(b"d", LedgerId(1), b"key"));
        assert_ne!(a, AccountId::derive(b"e", LedgerId(1), b"key"));
        assert_ne!(a, AccountId::derive(b"d", LedgerId(2), b"key"));
        assert_ne!(a, AccountId::derive(b"d", LedgerId(1), b"kez"));
        assert_ne!(a.0, 0);
    }
}
