//! The one error type of `attn-payment-plugins`, classified by [`Error::is_retryable`].

/// Everything that can go wrong with a payment rail.
///
/// An `Err` from [`crate::PaymentRail::pay`] means the rail recorded nothing under the
/// payment id: the caller may retry the same id (when [`Error::is_retryable`]) or fix
/// the cause and pay again under the same id. A payment the rail accepted and later
/// failed is not an error: it is a [`crate::PaymentState::Failed`] status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// This error occurs when a request field is malformed or out of bounds (an empty
    /// or over-long payment id, account name or memo; a payment to oneself).
    #[error("invalid {field}: {reason}")]
    InvalidRequest {
        /// The field at fault.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// This error occurs when an amount is in a currency the rail does not move.
    #[error("rail {rail} does not move {currency}")]
    UnsupportedCurrency {
        /// The rail.
        rail: String,
        /// The currency asked for.
        currency: String,
    },
    /// This error occurs when an amount has more fractional digits than the rail keeps
    /// for its currency. Use [`crate::split_payable`] to carry the remainder forward.
    #[error("{amount} has more than the {scale} fractional digits rail {rail} keeps")]
    PrecisionLoss {
        /// The rail.
        rail: String,
        /// The amount.
        amount: String,
        /// The rail's scale for the currency.
        scale: u32,
    },
    /// This error occurs when an amount is zero or below the rail's minimum payment.
    #[error("{amount} is below the minimum {minimum} of rail {rail}")]
    BelowMinimum {
        /// The rail.
        rail: String,
        /// The amount.
        amount: String,
        /// The rail's minimum.
        minimum: String,
    },
    /// This error occurs when the payer's account cannot cover the amount and the fee.
    /// Nothing was recorded; the same payment id may be paid once the account is
    /// funded.
    #[error("account {account} cannot pay {amount} on rail {rail}")]
    InsufficientFunds {
        /// The rail.
        rail: String,
        /// The payer's account.
        account: String,
        /// The amount asked for (fee included).
        amount: String,
    },
    /// This error occurs when a payment id is reused for a different payment (another
    /// payer, payee or amount). The first payment stands.
    #[error("payment id {payment_id:?} was already used for a different payment")]
    PaymentIdConflict {
        /// The payment id.
        payment_id: String,
    },
    /// This error occurs when the rail (its database, its remote process, its network)
    /// cannot be reached or is busy. Retrying the same call later may succeed.
    #[error("rail {rail} is unavailable: {reason}")]
    Unavailable {
        /// The rail.
        rail: String,
        /// Why.
        reason: String,
    },
    /// This error occurs when a call to the rail does not answer in time. The payment
    /// may or may not have been recorded: retry the same payment id, or ask its status.
    #[error("rail {rail} did not answer within {after_ms} ms")]
    Timeout {
        /// The rail.
        rail: String,
        /// The deadline, in milliseconds.
        after_ms: u64,
    },
    /// This error occurs when a remote rail answers something that breaks the
    /// protocol (a missing field, another payment's id, a foreign currency, an
    /// over-long reason).
    #[error("rail {rail} answered invalidly: {reason}")]
    InvalidResponse {
        /// The rail.
        rail: String,
        /// What was wrong with the answer.
        reason: String,
    },
    /// This error occurs when the rail's own storage fails or holds data it cannot
    /// read back (a corrupt channel file, a ledger invariant).
    #[error("rail {rail} storage failed: {reason}")]
    Storage {
        /// The rail.
        rail: String,
        /// Why.
        reason: String,
    },
    /// This error occurs when a rail specification (`channel:ledger`) names no known
    /// rail or is malformed.
    #[error("unknown rail spec {spec:?}: {reason}; known rails: {known}")]
    InvalidSpec {
        /// The spec as given (truncated).
        spec: String,
        /// What is wrong.
        reason: String,
        /// The known rails and their syntax.
        known: &'static str,
    },
    /// This error occurs when a channel voucher is refused by the payee (see
    /// [`crate::channel::VoucherRejection`]). A refused voucher changes nothing.
    #[error("voucher refused: {0}")]
    VoucherRejected(crate::channel::VoucherRejection),
    /// This error occurs when a channel id names no channel, or a channel that is
    /// already closed.
    #[error("channel {channel}: {reason}")]
    Channel {
        /// The channel id, hex.
        channel: String,
        /// What is wrong.
        reason: &'static str,
    },
}

impl Error {
    /// Whether repeating the same call, unchanged and with nobody else acting, may
    /// succeed: the rail was unreachable, busy or slow. A retry of `pay` under the
    /// same payment id never pays twice, so it is always safe; it is only useful when
    /// this is true.
    ///
    /// Insufficient funds are not retryable in this sense: someone must fund the
    /// account first (then paying the same id again is the right move).
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Unavailable { .. } | Self::Timeout { .. })
    }

    /// A short stable name of the variant, used on the wire (`attn-rail-error`
    /// metadata of the gRPC service) so an out-of-process rail's errors keep their
    /// class.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::InvalidRequest { .. } => "invalid-request",
            Self::UnsupportedCurrency { .. } => "unsupported-currency",
            Self::PrecisionLoss { .. } => "precision-loss",
            Self::BelowMinimum { .. } => "below-minimum",
            Self::InsufficientFunds { .. } => "insufficient-funds",
            Self::PaymentIdConflict { .. } => "payment-id-conflict",
            Self::Unavailable { .. } => "unavailable",
            Self::Timeout { .. } => "timeout",
            Self::InvalidResponse { .. } => "invalid-response",
            Self::Storage { .. } => "storage",
            Self::InvalidSpec { .. } => "invalid-spec",
            Self::VoucherRejected(_) => "voucher-rejected",
            Self::Channel { .. } => "channel",
        }
    }

    pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Self::InvalidRequest {
            field,
            reason: reason.into(),
        }
    }

    pub(crate) fn storage(rail: &str, reason: impl std::fmt::Display) -> Self {
        Self::Storage {
            rail: rail.to_string(),
            reason: reason.to_string(),
        }
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_transport_failures_are_retryable() {
        let retryable = Error::Unavailable {
            rail: "x".into(),
            reason: "down".into(),
        };
        assert!(retryable.is_retryable());
        assert!(
            Error::Timeout {
                rail: "x".into(),
                after_ms: 5
            }
            .is_retryable()
        );
        let funds = Error::InsufficientFunds {
            rail: "x".into(),
            account: "a".into(),
            amount: "1 USD".into(),
        };
        assert!(!funds.is_retryable());
        assert!(
            !Error::PaymentIdConflict {
                payment_id: "p".into()
            }
            .is_retryable()
        );
        assert_eq!(funds.kind(), "insufficient-funds");
    }
}
