//! Money: a currency and a non-negative [`Decimal`], with checked arithmetic and an
//! exact conversion to integer atomic units. Never a float.

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;

use crate::error::{Error, Result};
use crate::limits::{AMOUNT_MAX_CHARS, CURRENCY_MAX_CHARS, CURRENCY_MIN_CHARS, MONEY_SCALE_MAX};

/// A currency code: 3 to 8 ASCII uppercase letters or digits, starting with a letter
/// (`USD`, `EUR`, `USDC`). Stored inline, so it is `Copy`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency {
    bytes: [u8; CURRENCY_MAX_CHARS],
    len: u8,
}

impl Currency {
    /// Parses and validates a currency code.
    ///
    /// # Example
    /// ```
    /// use attn_receipts::Currency;
    /// assert_eq!(Currency::new("USD")?.as_str(), "USD");
    /// assert!(Currency::new("usd").is_err());
    /// # Ok::<(), attn_receipts::Error>(())
    /// ```
    pub fn new(code: &str) -> Result<Self> {
        let raw = code.as_bytes();
        let valid = (CURRENCY_MIN_CHARS..=CURRENCY_MAX_CHARS).contains(&raw.len())
            && raw[0].is_ascii_uppercase()
            && raw
                .iter()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
        if !valid {
            return Err(Error::InvalidCurrency(code.chars().take(16).collect()));
        }
        let mut bytes = [0u8; CURRENCY_MAX_CHARS];
        bytes[..raw.len()].copy_from_slice(raw);
        Ok(Self {
            bytes,
            len: raw.len() as u8,
        })
    }

    /// The code as a string.
    pub fn as_str(&self) -> &str {
        // Only ASCII is ever stored (checked in `new`).
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or_default()
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Currency({})", self.as_str())
    }
}

impl FromStr for Currency {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::new(s)
    }
}

/// A non-negative amount of one currency, with at most [`MONEY_SCALE_MAX`]
/// fractional digits.
///
/// Arithmetic is checked: it never overflows silently, never goes negative, and never
/// mixes currencies.
///
/// # Example
/// ```
/// use attn_receipts::Money;
/// let price = Money::parse("USD", "0.0025")?;
/// let total = price.checked_add(&Money::parse("USD", "0.0075")?)?;
/// assert_eq!(total.to_atomic(4)?, 100);
/// assert!(price.to_atomic(2).is_err()); // 0.0025 USD is not a whole number of cents
/// # Ok::<(), attn_receipts::Error>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Money {
    currency: Currency,
    amount: Decimal,
}

impl Money {
    /// An amount, validated: non-negative, at most [`MONEY_SCALE_MAX`] fractional digits.
    pub fn new(currency: Currency, amount: Decimal) -> Result<Self> {
        if amount.is_sign_negative() && !amount.is_zero() {
            return Err(Error::InvalidAmount {
                amount: amount.to_string(),
                reason: "negative",
            });
        }
        let amount = amount.normalize();
        if amount.scale() > MONEY_SCALE_MAX {
            return Err(Error::InvalidAmount {
                amount: amount.to_string(),
                reason: "more than 18 fractional digits",
            });
        }
        Ok(Self { currency, amount })
    }

    /// Zero of a currency.
    pub fn zero(currency: Currency) -> Self {
        Self {
            currency,
            amount: Decimal::ZERO,
        }
    }

    /// Parses a currency code and a plain decimal string (`"12.50"`): digits with at
    /// most one point, no sign, no exponent, at most [`AMOUNT_MAX_CHARS`] characters.
    pub fn parse(currency: &str, amount: &str) -> Result<Self> {
        let currency = Currency::new(currency)?;
        let bad = |reason| Error::InvalidAmount {
            amount: amount.chars().take(AMOUNT_MAX_CHARS).collect(),
            reason,
        };
        if amount.is_empty() {
            return Err(bad("empty"));
        }
        if amount.len() > AMOUNT_MAX_CHARS {
            return Err(bad("longer than 40 characters"));
        }
        let mut points = 0;
        for b in amount.bytes() {
            match b {
                b'0'..=b'9' => {}
                b'.' => points += 1,
                b'-' => return Err(bad("negative")),
                _ => return Err(bad("not a plain decimal number")),
            }
        }
        if points > 1 || amount.starts_with('.') || amount.ends_with('.') {
            return Err(bad("not a plain decimal number"));
        }
        if let Some((_, fraction)) = amount.split_once('.')
            && fraction.len() > MONEY_SCALE_MAX as usize
        {
            return Err(bad("more than 18 fractional digits"));
        }
        let value = Decimal::from_str_exact(amount).map_err(|_| bad("out of range"))?;
        Self::new(currency, value)
    }

    /// The currency.
    pub fn currency(&self) -> Currency {
        self.currency
    }

    /// The amount.
    pub fn amount(&self) -> Decimal {
        self.amount
    }

    /// Whether the amount is zero.
    pub fn is_zero(&self) -> bool {
        self.amount.is_zero()
    }

    fn same_currency(&self, other: &Self) -> Result<()> {
        if self.currency == other.currency {
            Ok(())
        } else {
            Err(Error::CurrencyMismatch {
                left: self.currency.to_string(),
                right: other.currency.to_string(),
            })
        }
    }

    /// `self + other`; an error on currency mismatch or overflow.
    pub fn checked_add(&self, other: &Self) -> Result<Self> {
        self.same_currency(other)?;
        let sum = self
            .amount
            .checked_add(other.amount)
            .ok_or(Error::AmountOutOfRange("addition overflows"))?;
        Self::new(self.currency, sum)
    }

    /// `self - other`; an error on currency mismatch or if the result would be negative.
    pub fn checked_sub(&self, other: &Self) -> Result<Self> {
        self.same_currency(other)?;
        if other.amount > self.amount {
            return Err(Error::AmountOutOfRange("subtraction goes below zero"));
        }
        Self::new(self.currency, self.amount - other.amount)
    }

    /// `self * parts_per_million / 1_000_000`, exact (an error if the result would need
    /// more than [`MONEY_SCALE_MAX`] fractional digits or overflow).
    pub fn checked_mul_ppm(&self, parts_per_million: u32) -> Result<Self> {
        let product = self
            .amount
            .checked_mul(Decimal::from(parts_per_million))
            .and_then(|p| p.checked_div(Decimal::from(1_000_000u32)))
            .ok_or(Error::AmountOutOfRange("multiplication overflows"))?;
        Self::new(self.currency, product)
    }

    /// The amount in integer atomic units of `scale` fractional digits (`scale` 2
    /// counts cents). An error if the amount has more fractional digits than `scale`
    /// (converting would lose value) or does not fit in a `u64`.
    pub fn to_atomic(&self, scale: u32) -> Result<u64> {
        let loss = || Error::PrecisionLoss {
            amount: self.to_string(),
            scale,
        };
        if scale > MONEY_SCALE_MAX {
            return Err(loss());
        }
        if self.amount.scale() > scale {
            return Err(loss());
        }
        let factor = 10u64.pow(scale);
        let scaled = self
            .amount
            .checked_mul(Decimal::from(factor))
            .ok_or(Error::AmountOutOfRange("atomic amount overflows"))?;
        let mantissa = scaled.normalize();
        if mantissa.scale() != 0 {
            return Err(loss());
        }
        u64::try_from(mantissa.mantissa())
            .map_err(|_| Error::AmountOutOfRange("atomic amount exceeds u64"))
    }

    /// The amount of `atomic` units of `scale` fractional digits.
    pub fn from_atomic(currency: Currency, atomic: u64, scale: u32) -> Result<Self> {
        if scale > MONEY_SCALE_MAX {
            return Err(Error::AmountOutOfRange("scale above 18"));
        }
        let amount = Decimal::try_from_i128_with_scale(i128::from(atomic), scale)
            .map_err(|_| Error::AmountOutOfRange("atomic amount does not fit a decimal"))?;
        Self::new(currency, amount)
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.amount, self.currency)
    }
}

impl fmt::Debug for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Money({} {})", self.amount, self.currency)
    }
}

impl PartialOrd for Money {
    /// Amounts of different currencies are not comparable.
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        (self.currency == other.currency).then(|| self.amount.cmp(&other.amount))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn usd(s: &str) -> Money {
        Money::parse("USD", s).expect("valid amount")
    }

    #[test]
    fn currency_codes_are_validated() {
        for good in ["USD", "EUR", "USDC", "BTC", "A1B2C3D4"] {
            assert!(Currency::new(good).is_ok(), "{good}");
        }
        for bad in ["", "US", "usd", "1USD", "USD$", "ABCDEFGHI", "ÜSD"] {
            assert!(
                matches!(Currency::new(bad), Err(Error::InvalidCurrency(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn amounts_are_plain_non_negative_decimals() {
        assert_eq!(usd("12.50").amount(), Decimal::new(125, 1));
        for bad in ["", "-1", "1e3", "1.2.3", ".5", "5.", "+1", " 1", "0x10"] {
            assert!(Money::parse("USD", bad).is_err(), "{bad:?}");
        }
        let long = "1".repeat(41);
        assert!(matches!(
            Money::parse("USD", &long),
            Err(Error::InvalidAmount {
                reason: "longer than 40 characters",
                ..
            })
        ));
        let fine = format!("0.{}", "1".repeat(19));
        assert!(matches!(
            Money::parse("USD", &fine),
            Err(Error::InvalidAmount {
                reason: "more than 18 fractional digits",
                ..
            })
        ));
        assert!(Money::new(Currency::new("USD").unwrap(), Decimal::NEGATIVE_ONE).is_err());
    }

    #[test]
    fn atomic_conversion_is_exact_or_refused() {
        assert_eq!(usd("12.34").to_atomic(2), Ok(1234));
        assert_eq!(usd("12.3").to_atomic(4), Ok(123_000));
        assert!(matches!(
            usd("0.001").to_atomic(2),
            Err(Error::PrecisionLoss { scale: 2, .. })
        ));
        assert!(matches!(
            usd("18446744073709551616").to_atomic(0),
            Err(Error::AmountOutOfRange(_))
        ));
        let usd_c = Currency::new("USD").unwrap();
        assert_eq!(Money::from_atomic(usd_c, 1234, 2).unwrap(), usd("12.34"));
    }

    #[test]
    fn arithmetic_refuses_mixing_currencies_and_going_negative() {
        let eur = Money::parse("EUR", "1").unwrap();
        assert!(matches!(
            usd("1").checked_add(&eur),
            Err(Error::CurrencyMismatch { .. })
        ));
        assert!(matches!(
            usd("1").checked_sub(&usd("2")),
            Err(Error::AmountOutOfRange(_))
        ));
        assert_eq!(usd("2").checked_mul_ppm(250_000).unwrap(), usd("0.5"));
        assert_eq!(usd("1").partial_cmp(&eur), None);
    }

    fn atomic() -> impl Strategy<Value = u64> {
        prop_oneof![0u64..1_000_000, any::<u64>()]
    }

    proptest! {
        #[test]
        fn atomic_round_trip(units in atomic(), scale in 0u32..=18) {
            let c = Currency::new("USD").unwrap();
            let m = Money::from_atomic(c, units, scale).unwrap();
            prop_assert_eq!(m.to_atomic(scale).unwrap(), units);
            // A finer scale never loses precision either.
            if scale < 18 {
                let finer = m.to_atomic(scale + 1);
                if let Ok(v) = finer { prop_assert_eq!(u128::from(v), u128::from(units) * 10); }
            }
        }

        #[test]
        fn addition_matches_integer_addition(a in 0u64..u64::MAX / 2, b in 0u64..u64::MAX / 2, scale in 0u32..=8) {
            let c = Currency::new("USD").unwrap();
            let x = Money::from_atomic(c, a, scale).unwrap();
            let y = Money::from_atomic(c, b, scale).unwrap();
            let sum = x.checked_add(&y).unwrap();
            prop_assert_eq!(sum.to_atomic(scale).unwrap(), a + b);
            prop_assert_eq!(sum.checked_sub(&y).unwrap(), x);
        }

        #[test]
        fn arithmetic_never_overflows_silently(a in any::<u64>(), b in any::<u64>()) {
            let c = Currency::new("USD").unwrap();
            let x = Money::from_atomic(c, a, 0).unwrap();
            let y = Money::from_atomic(c, b, 0).unwrap();
            match x.checked_add(&y).and_then(|s| s.to_atomic(0)) {
                Ok(v) => prop_assert_eq!(Some(v), a.checked_add(b)),
                Err(_) => prop_assert!(a.checked_add(b).is_none()),
            }
            match x.checked_sub(&y) {
                Ok(v) => prop_assert_eq!(v.to_atomic(0).unwrap(), a - b),
                Err(_) => prop_assert!(b > a),
            }
        }

        #[test]
        fn parse_display_round_trip(units in atomic(), scale in 0u32..=18) {
            let c = Currency::new("EUR").unwrap();
            let m = Money::from_atomic(c, units, scale).unwrap();
            let text = m.amount().to_string();
            prop_assert_eq!(Money::parse("EUR", &text).unwrap(), m);
        }
    }
}
