//! The [`PaymentRail`] trait, its contract, the values it speaks in, and
//! [`split_payable`], which carries amounts below a rail's precision forward.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use attn_receipts::limits::{MONEY_SCALE_MAX, PAYMENT_ID_MAX_BYTES, RAIL_NAME_MAX_BYTES};
use attn_receipts::{Currency, Money};
use rust_decimal::{Decimal, RoundingStrategy};

use crate::error::{Error, Result};

/// Most bytes of a rail account name (`from`, `to`, `account`).
pub const ACCOUNT_NAME_MAX_BYTES: usize = 128;
/// Most bytes of a payment memo.
pub const MEMO_MAX_BYTES: usize = 256;
/// Most bytes of a failure reason in a [`PaymentState::Failed`].
pub const FAILURE_REASON_MAX_BYTES: usize = 256;
/// Most currencies one rail declares.
pub const RAIL_CURRENCIES_MAX: usize = 32;
/// Most bytes of a rail id (the name it is chosen by, e.g. `channel:ledger`).
pub const RAIL_ID_MAX_BYTES: usize = RAIL_NAME_MAX_BYTES;
/// Largest proportional fee, in parts per million (100 %).
pub const FEE_PPM_MAX: u32 = 1_000_000;

fn bounded_text(field: &'static str, text: &str, max: usize, allow_empty: bool) -> Result<()> {
    if text.is_empty() && !allow_empty {
        return Err(Error::invalid(field, "empty"));
    }
    if text.len() > max {
        return Err(Error::invalid(
            field,
            format!("{} bytes exceeds the maximum of {max}", text.len()),
        ));
    }
    if text.chars().any(char::is_control) {
        return Err(Error::invalid(field, "contains a control character"));
    }
    Ok(())
}

macro_rules! name_type {
    ($(#[$doc:meta])* $name:ident, $field:literal, $max:expr) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// Validates: 1 to the maximum bytes, no control characters.
            pub fn new(text: impl Into<String>) -> Result<Self> {
                let text = text.into();
                bounded_text($field, &text, $max, false)?;
                Ok(Self(text))
            }

            /// The text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({:?})"), self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = Error;
            fn from_str(text: &str) -> Result<Self> {
                Self::new(text)
            }
        }
    };
}

name_type!(
    /// A payment's idempotency key: 1 to [`PAYMENT_ID_MAX_BYTES`] bytes. For an
    /// impression, the hex of the signed impression's hash.
    PaymentId,
    "payment_id",
    PAYMENT_ID_MAX_BYTES
);
name_type!(
    /// An account on a rail, named by a string: 1 to [`ACCOUNT_NAME_MAX_BYTES`] bytes.
    /// Keys map to names with [`AccountName::for_key`].
    AccountName,
    "account",
    ACCOUNT_NAME_MAX_BYTES
);

impl AccountName {
    /// The conventional account of an Ed25519 key (a persona, an advertiser):
    /// `key:` followed by the key's 64 hex digits. Every attn component that names
    /// a party's account on a rail uses this, so the SDK, the client and `attn demo`
    /// agree without configuration.
    pub fn for_key(key: &attn_receipts::PublicKey) -> Self {
        Self(format!("key:{}", key.to_hex()))
    }
}

/// How final a rail's success is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Finality {
    /// Success is final and irreversible.
    Final,
    /// Success may still be reversed for a while (e.g. a card rail).
    Reversible,
    /// Success is a signed promise settled later (a channel voucher).
    Promise,
}

/// One currency a rail moves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RailCurrency {
    /// The currency.
    pub currency: Currency,
    /// Fractional digits the rail keeps (2 for cents), at most [`MONEY_SCALE_MAX`].
    pub scale: u32,
    /// The smallest payment accepted (at least one atomic unit).
    pub minimum: Money,
}

impl RailCurrency {
    /// A currency at `scale` whose minimum is one atomic unit.
    pub fn with_scale(currency: Currency, scale: u32) -> Result<Self> {
        let minimum = Money::from_atomic(currency, 1, scale)
            .map_err(|error| Error::invalid("scale", error.to_string()))?;
        Self::new(currency, scale, minimum)
    }

    /// A validated currency entry: scale at most 18, minimum in the currency,
    /// expressible at the scale, and nonzero.
    pub fn new(currency: Currency, scale: u32, minimum: Money) -> Result<Self> {
        if scale > MONEY_SCALE_MAX {
            return Err(Error::invalid("scale", format!("{scale} exceeds 18")));
        }
        if minimum.currency() != currency {
            return Err(Error::invalid("minimum", "in another currency"));
        }
        if minimum.is_zero() || minimum.to_atomic(scale).is_err() {
            return Err(Error::invalid(
                "minimum",
                format!("{minimum} is zero or not a whole number of units at scale {scale}"),
            ));
        }
        Ok(Self {
            currency,
            scale,
            minimum,
        })
    }

    /// One atomic unit (`10^-scale`).
    pub fn unit(&self) -> Money {
        // Scale is at most 18 (checked at construction), so this cannot fail.
        Money::from_atomic(self.currency, 1, self.scale).unwrap_or(self.minimum)
    }

    /// Checks that `amount` can be paid as it is: this currency, no more fractional
    /// digits than the scale, at least the minimum. Returns its atomic units.
    pub fn check(&self, rail: &str, amount: &Money) -> Result<u64> {
        if amount.currency() != self.currency {
            return Err(Error::UnsupportedCurrency {
                rail: rail.to_string(),
                currency: amount.currency().to_string(),
            });
        }
        if amount.amount().scale() > self.scale {
            return Err(Error::PrecisionLoss {
                rail: rail.to_string(),
                amount: amount.to_string(),
                scale: self.scale,
            });
        }
        // Digits fit the scale, so the only failure left is range: more atomic units
        // than a u64 holds. That is not a precision loss (splitting would not help).
        let atomic = amount.to_atomic(self.scale).map_err(|_| {
            Error::invalid(
                "amount",
                format!(
                    "{amount} exceeds the largest amount of u64 atomic units at scale {}",
                    self.scale
                ),
            )
        })?;
        if amount.is_zero() || amount.amount() < self.minimum.amount() {
            return Err(Error::BelowMinimum {
                rail: rail.to_string(),
                amount: amount.to_string(),
                minimum: self.minimum.to_string(),
            });
        }
        Ok(atomic)
    }
}

/// The fees a rail charges the payer on top of the amount: `fixed + amount * ppm / 10^6`,
/// rounded up to the rail's scale.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FeeModel {
    /// A fixed fee per payment (in the currency it names; zero for others).
    pub fixed: Option<Money>,
    /// A proportional fee in parts per million, at most [`FEE_PPM_MAX`].
    pub ppm: u32,
}

impl FeeModel {
    /// No fee at all.
    pub const FREE: Self = Self {
        fixed: None,
        ppm: 0,
    };

    /// The fee for `amount` on a currency of `scale` digits, rounded up to the scale
    /// (a rail never charges less than its model says).
    pub fn fee(&self, amount: &Money, scale: u32) -> Result<Money> {
        let currency = amount.currency();
        let proportional = amount
            .amount()
            .checked_mul(Decimal::from(self.ppm))
            .and_then(|p| p.checked_div(Decimal::from(1_000_000u32)))
            .map(|p| p.round_dp_with_strategy(scale, RoundingStrategy::AwayFromZero))
            .ok_or_else(|| Error::invalid("amount", "fee overflows"))?;
        let fixed = match self.fixed {
            Some(fixed) if fixed.currency() == currency => fixed.amount(),
            _ => Decimal::ZERO,
        };
        let total = proportional
            .checked_add(fixed)
            .ok_or_else(|| Error::invalid("amount", "fee overflows"))?;
        Money::new(currency, total).map_err(|error| Error::invalid("amount", error.to_string()))
    }
}

/// What a rail is and can do. Constant for the life of a rail value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Capabilities {
    /// The rail's id, e.g. `sandbox` or `channel:ledger`; 1 to [`RAIL_ID_MAX_BYTES`].
    pub rail_id: String,
    /// The currencies it moves; 1 to [`RAIL_CURRENCIES_MAX`], each at most once.
    pub currencies: Vec<RailCurrency>,
    /// How final its success is.
    pub finality: Finality,
    /// What it charges.
    pub fees: FeeModel,
}

impl Capabilities {
    /// Validates the bounds above.
    pub fn validate(&self) -> Result<()> {
        bounded_text("rail_id", &self.rail_id, RAIL_ID_MAX_BYTES, false)?;
        if self.currencies.is_empty() || self.currencies.len() > RAIL_CURRENCIES_MAX {
            return Err(Error::invalid(
                "currencies",
                format!(
                    "{} currencies; a rail declares 1 to {RAIL_CURRENCIES_MAX}",
                    self.currencies.len()
                ),
            ));
        }
        for (index, entry) in self.currencies.iter().enumerate() {
            RailCurrency::new(entry.currency, entry.scale, entry.minimum)?;
            if self.currencies[..index]
                .iter()
                .any(|other| other.currency == entry.currency)
            {
                return Err(Error::invalid("currencies", "a currency appears twice"));
            }
        }
        if self.fees.ppm > FEE_PPM_MAX {
            return Err(Error::invalid("fee_ppm", "exceeds 1,000,000"));
        }
        Ok(())
    }

    /// The entry of `currency`, or [`Error::UnsupportedCurrency`].
    pub fn currency(&self, currency: Currency) -> Result<&RailCurrency> {
        self.currencies
            .iter()
            .find(|entry| entry.currency == currency)
            .ok_or_else(|| Error::UnsupportedCurrency {
                rail: self.rail_id.clone(),
                currency: currency.to_string(),
            })
    }

    /// The fee of paying `amount` (validated against the currency's entry first).
    pub fn quote(&self, amount: &Money) -> Result<Money> {
        let entry = self.currency(amount.currency())?;
        entry.check(&self.rail_id, amount)?;
        self.fees.fee(amount, entry.scale)
    }
}

/// A payment to make. Construct with [`PayRequest::new`], which validates it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PayRequest {
    /// The idempotency key.
    pub payment_id: PaymentId,
    /// The payer's account.
    pub from: AccountName,
    /// The payee's account.
    pub to: AccountName,
    /// The amount the payee receives.
    pub amount: Money,
    /// Free text for the payee, at most [`MEMO_MAX_BYTES`].
    pub memo: String,
}

impl PayRequest {
    /// A validated request: payer and payee differ, the memo is bounded.
    pub fn new(
        payment_id: PaymentId,
        from: AccountName,
        to: AccountName,
        amount: Money,
        memo: impl Into<String>,
    ) -> Result<Self> {
        let request = Self {
            payment_id,
            from,
            to,
            amount,
            memo: memo.into(),
        };
        request.validate()?;
        Ok(request)
    }

    /// Checks what the types do not: payer differs from payee, memo bounded.
    pub fn validate(&self) -> Result<()> {
        if self.from == self.to {
            return Err(Error::invalid("to", "payer and payee are the same account"));
        }
        bounded_text("memo", &self.memo, MEMO_MAX_BYTES, true)
    }

    /// Whether `other` asks for the same payment (same payer, payee and amount; the
    /// memo is informational and ignored). A rail answers a retry that is the same
    /// payment with the first outcome, and any other reuse of the id with
    /// [`Error::PaymentIdConflict`].
    pub fn same_payment(&self, other: &Self) -> bool {
        self.payment_id == other.payment_id
            && self.from == other.from
            && self.to == other.to
            && self.amount == other.amount
    }
}

/// Where a payment stands. `Pending` is a normal answer, not an error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PaymentState {
    /// The rail has no payment with this id.
    Unknown,
    /// Accepted and reserved, not final yet: ask [`PaymentRail::status`] again later.
    Pending,
    /// Done, with the finality the rail claims.
    Succeeded,
    /// Failed for good after it was accepted; nothing moved.
    Failed {
        /// Why, at most [`FAILURE_REASON_MAX_BYTES`].
        reason: String,
        /// Whether paying the same payment id again may succeed.
        retryable: bool,
    },
}

/// A payment's status as the rail reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PaymentStatus {
    /// The payment id asked about.
    pub payment_id: PaymentId,
    /// Where it stands.
    pub state: PaymentState,
    /// The amount moved (succeeded) or to move (pending); `None` when unknown.
    pub amount: Option<Money>,
    /// The fee charged; `None` when unknown.
    pub fee: Option<Money>,
}

impl PaymentStatus {
    /// The status of an id the rail never recorded.
    pub fn unknown(payment_id: PaymentId) -> Self {
        Self {
            payment_id,
            state: PaymentState::Unknown,
            amount: None,
            fee: None,
        }
    }

    /// Whether the payment succeeded.
    pub fn is_succeeded(&self) -> bool {
        self.state == PaymentState::Succeeded
    }
}

/// A payment rail: a way to move money from one account to another.
///
/// # Contract
///
/// This is modelled on Interledger's settlement-engine RFC (the ledger asks the
/// engine to settle what it owes, keyed by an idempotency id) and LDK's plugin traits
/// (the implementer's duties are written down, "in progress" is a normal answer).
///
/// An implementation MUST:
/// - **pay at most once per payment id.** `pay` is idempotent: a retry of the same
///   payment (same payer, payee and amount; see [`PayRequest::same_payment`]) returns
///   the first outcome and moves nothing, from any number of concurrent or sequential
///   callers, and after the rail is re-created on the same storage (a restart). Reuse
///   of an id for a different payment is refused with [`Error::PaymentIdConflict`].
/// - **record nothing when it returns `Err` from `pay`.** An error leaves the payment
///   id unused, so the caller may pay it again (after funding the account, or at once
///   when [`Error::is_retryable`]). A rail that cannot tell whether it recorded the
///   payment (a timeout) returns a retryable error, and the retry settles it.
/// - **never report [`PaymentState::Succeeded`] before the finality it claims** in
///   [`Capabilities::finality`]: a `Final` rail only once the money cannot come back,
///   a `Promise` rail only once the payee holds the signed promise.
/// - return [`PaymentState::Pending`] when the payment is accepted but not final;
///   the payment then becomes `Succeeded` or `Failed` without further calls to `pay`.
/// - refuse, with an error and without rounding, an amount in a currency it does not
///   declare ([`Error::UnsupportedCurrency`]), with more fractional digits than its
///   scale ([`Error::PrecisionLoss`]), or below its minimum ([`Error::BelowMinimum`]);
///   and a payer that cannot cover amount plus fee ([`Error::InsufficientFunds`]),
///   never letting an account other than one it documents as an issuer go negative,
///   even under concurrent payments.
/// - report the status of an id it never recorded as [`PaymentState::Unknown`].
/// - be safe to call from many tasks at once (`Send + Sync`).
///
/// An implementation MUST NOT:
/// - pay twice for one payment id, or pay part of a payment;
/// - refund or reverse a payment on its own initiative;
/// - round an amount, up or down.
///
/// A caller MUST:
/// - debit what it owes in its own books (its ledger) *before* asking the rail to
///   settle it, keyed by the same id, so that a crash in between leaves a debt to
///   settle, never a payment without a record;
/// - retry a failed or ambiguous settlement under the same payment id rather than
///   refund it: money is only returned by a new, explicit payment;
/// - carry amounts below the rail's precision forward, not drop them: split what is
///   owed with [`split_payable`], pay the payable part, and add the remainder to the
///   next settlement.
///
/// `Arc<R>`, `Box<R>` and `&R` are rails when `R` is, so `Arc<dyn PaymentRail>` plugs
/// in wherever a rail is expected.
#[async_trait]
pub trait PaymentRail: Send + Sync {
    /// The rail's id (the name it is chosen by, e.g. `sandbox`, `channel:ledger`).
    fn id(&self) -> &str;

    /// What the rail moves and how. Constant for the life of the value.
    fn capabilities(&self) -> &Capabilities;

    /// The fee the rail would charge the payer to move `amount`. Errors like `pay` for
    /// an amount it would refuse.
    async fn quote(&self, amount: &Money) -> Result<Money> {
        self.capabilities().quote(amount)
    }

    /// Pays `request.amount` from `request.from` to `request.to`, once per payment id
    /// (see the contract). Returns the payment's status: `Succeeded` or `Pending`
    /// (or `Failed` when a retry finds a payment that failed for good).
    async fn pay(&self, request: &PayRequest) -> Result<PaymentStatus>;

    /// Where the payment `payment_id` stands; [`PaymentState::Unknown`] if the rail
    /// never recorded it.
    async fn status(&self, payment_id: &PaymentId) -> Result<PaymentStatus>;

    /// What `account` holds in `currency` (zero for an account the rail never saw).
    async fn balance(&self, account: &AccountName, currency: Currency) -> Result<Money>;
}

impl fmt::Debug for dyn PaymentRail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PaymentRail({})", self.id())
    }
}

macro_rules! forward_rail {
    ($($pointer:tt)*) => {
        #[async_trait]
        impl<R: PaymentRail + ?Sized> PaymentRail for $($pointer)* {
            fn id(&self) -> &str {
                (**self).id()
            }
            fn capabilities(&self) -> &Capabilities {
                (**self).capabilities()
            }
            async fn quote(&self, amount: &Money) -> Result<Money> {
                (**self).quote(amount).await
            }
            async fn pay(&self, request: &PayRequest) -> Result<PaymentStatus> {
                (**self).pay(request).await
            }
            async fn status(&self, payment_id: &PaymentId) -> Result<PaymentStatus> {
                (**self).status(payment_id).await
            }
            async fn balance(&self, account: &AccountName, currency: Currency) -> Result<Money> {
                (**self).balance(account, currency).await
            }
        }
    };
}
forward_rail!(Arc<R>);
forward_rail!(Box<R>);
forward_rail!(&R);

/// Splits `amount` into what a rail of `scale` fractional digits can pay now and the
/// remainder below its precision, which the caller carries forward to the next
/// settlement. `payable + remainder == amount`, `payable` has at most `scale` digits,
/// and `remainder` is less than one atomic unit.
///
/// `payable` may still be too large for a rail's `u64` atomic units: that is a range
/// question the rail answers ([`RailCurrency::check`]), not a precision one.
///
/// # Example
/// ```
/// use attn_payment_plugins::split_payable;
/// use attn_receipts::Money;
/// let owed = Money::parse("USD", "0.0125")?;
/// let (payable, carried) = split_payable(&owed, 2)?;
/// assert_eq!(payable, Money::parse("USD", "0.01")?);
/// assert_eq!(carried, Money::parse("USD", "0.0025")?);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn split_payable(amount: &Money, scale: u32) -> Result<(Money, Money)> {
    if scale > MONEY_SCALE_MAX {
        return Err(Error::invalid("scale", format!("{scale} exceeds 18")));
    }
    let payable = amount
        .amount()
        .round_dp_with_strategy(scale, RoundingStrategy::ToZero);
    let payable = Money::new(amount.currency(), payable)
        .map_err(|error| Error::invalid("amount", error.to_string()))?;
    let remainder = amount
        .checked_sub(&payable)
        .map_err(|error| Error::invalid("amount", error.to_string()))?;
    Ok((payable, remainder))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn usd(amount: &str) -> Money {
        Money::parse("USD", amount).unwrap()
    }

    #[test]
    fn names_are_bounded() {
        assert!(PaymentId::new("").is_err());
        assert!(PaymentId::new("x".repeat(PAYMENT_ID_MAX_BYTES)).is_ok());
        assert!(PaymentId::new("x".repeat(PAYMENT_ID_MAX_BYTES + 1)).is_err());
        assert!(AccountName::new("x".repeat(ACCOUNT_NAME_MAX_BYTES + 1)).is_err());
        assert!(AccountName::new("a\nb").is_err());
        let key = attn_receipts::PersonaKey::from_secret_bytes(&[1; 32]).public_key();
        assert!(AccountName::new(AccountName::for_key(&key).as_str()).is_ok());
    }

    #[test]
    fn requests_refuse_self_payment_and_long_memos() {
        let id = PaymentId::new("p").unwrap();
        let a = AccountName::new("a").unwrap();
        let b = AccountName::new("b").unwrap();
        assert!(PayRequest::new(id.clone(), a.clone(), a.clone(), usd("1"), "").is_err());
        assert!(
            PayRequest::new(
                id.clone(),
                a.clone(),
                b.clone(),
                usd("1"),
                "m".repeat(MEMO_MAX_BYTES + 1)
            )
            .is_err()
        );
        let request = PayRequest::new(id, a, b, usd("1"), "m".repeat(MEMO_MAX_BYTES)).unwrap();
        let mut other = request.clone();
        other.memo = "different".into();
        assert!(request.same_payment(&other));
        other.amount = usd("2");
        assert!(!request.same_payment(&other));
    }

    #[test]
    fn currency_checks_refuse_without_rounding() {
        let entry = RailCurrency::new(Currency::new("USD").unwrap(), 2, usd("0.05")).unwrap();
        assert_eq!(entry.check("r", &usd("0.05")), Ok(5));
        assert!(matches!(
            entry.check("r", &usd("0.051")),
            Err(Error::PrecisionLoss { .. })
        ));
        assert!(matches!(
            entry.check("r", &usd("0.04")),
            Err(Error::BelowMinimum { .. })
        ));
        assert!(matches!(
            entry.check("r", &Money::parse("EUR", "1").unwrap()),
            Err(Error::UnsupportedCurrency { .. })
        ));
        // Too many atomic units for a u64 is a range error, not a precision loss.
        let fine = RailCurrency::with_scale(Currency::new("USD").unwrap(), 10).unwrap();
        assert!(matches!(
            fine.check("r", &usd("1844674408")),
            Err(Error::InvalidRequest {
                field: "amount",
                ..
            })
        ));
        assert!(RailCurrency::new(Currency::new("USD").unwrap(), 19, usd("1")).is_err());
        assert!(RailCurrency::new(Currency::new("USD").unwrap(), 2, usd("0.001")).is_err());
    }

    #[test]
    fn capabilities_are_bounded() {
        let usd_entry = RailCurrency::with_scale(Currency::new("USD").unwrap(), 2).unwrap();
        let mut capabilities = Capabilities {
            rail_id: "r".into(),
            currencies: vec![usd_entry],
            finality: Finality::Final,
            fees: FeeModel::FREE,
        };
        assert!(capabilities.validate().is_ok());
        capabilities.currencies = vec![usd_entry; 2];
        assert!(capabilities.validate().is_err());
        capabilities.currencies = (0..=RAIL_CURRENCIES_MAX)
            .map(|i| {
                RailCurrency::with_scale(Currency::new(&format!("C{i:03}")).unwrap(), 2).unwrap()
            })
            .collect();
        assert!(capabilities.validate().is_err());
        capabilities.currencies = vec![usd_entry];
        capabilities.rail_id = "x".repeat(RAIL_ID_MAX_BYTES + 1);
        assert!(capabilities.validate().is_err());
    }

    #[test]
    fn fees_round_up_to_the_scale() {
        let fees = FeeModel {
            fixed: Some(usd("0.01")),
            ppm: 10_000,
        };
        assert_eq!(fees.fee(&usd("1.01"), 2).unwrap(), usd("0.03"));
        assert_eq!(
            fees.fee(&Money::parse("EUR", "100").unwrap(), 2).unwrap(),
            Money::parse("EUR", "1").unwrap()
        );
    }

    #[test]
    fn split_carries_what_the_scale_cannot_hold() {
        let (payable, carried) = split_payable(&usd("0.0125"), 2).unwrap();
        assert_eq!((payable, carried), (usd("0.01"), usd("0.0025")));
        let (payable, carried) = split_payable(&usd("3"), 0).unwrap();
        assert_eq!((payable, carried), (usd("3"), usd("0")));
        assert!(split_payable(&usd("1"), 19).is_err());
    }

    proptest! {
        #[test]
        fn split_loses_nothing(atomic in any::<u64>(), fine in 0u32..=18, scale in 0u32..=18) {
            let amount = Money::from_atomic(Currency::new("USD").unwrap(), atomic, fine).unwrap();
            let (payable, carried) = split_payable(&amount, scale).unwrap();
            prop_assert_eq!(payable.checked_add(&carried).unwrap(), amount);
            // At most `scale` fractional digits (whether the atomic count fits a u64
            // is a question of range, checked by the rail, not of precision).
            prop_assert!(payable.amount().scale() <= scale);
            prop_assert!(payable.amount() <= amount.amount());
            let unit = Money::from_atomic(amount.currency(), 1, scale).unwrap();
            prop_assert!(carried.amount() < unit.amount());
        }
    }
}
