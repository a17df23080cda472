//! The one error type of `attn-bidder-sdk`, and its mapping to gRPC status codes (the
//! only place where SDK errors become wire errors).

use attn_receipts::RequestId;

/// Everything that can go wrong in the bidder SDK.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// This error occurs when a message received from a client does not validate
    /// (shape, size, signature, or a field out of range); the inner error names the
    /// message and field at fault.
    #[error("invalid message from the client: {0}")]
    Invalid(#[from] attn_receipts::Error),
    /// This error occurs when a signed time (a request's, an impression's, a pull's)
    /// is further from this bidder's clock than `limits::CLOCK_SKEW_MAX_MS`.
    #[error("stale or future-dated message: created at {created_at_ms} ms, now {now_ms} ms")]
    Stale {
        /// The time the message claims.
        created_at_ms: u64,
        /// This bidder's clock.
        now_ms: u64,
    },
    /// This error occurs when an impression names a request this bidder holds no bid
    /// for: it never bid, or the bid expired from the bounded cache.
    #[error("no bid of this bidder for request {request_id}")]
    UnknownBid {
        /// The request the impression names.
        request_id: RequestId,
    },
    /// This error occurs when an impression does not match the bid it names (another
    /// bid hash, persona, slot, creative, currency or advertiser).
    #[error("impression does not match the bid: {field}: {reason}")]
    ImpressionMismatch {
        /// The impression field at fault.
        field: &'static str,
        /// What differs.
        reason: String,
    },
    /// This error occurs when the price evidence of an impression does not justify
    /// the amount charged (a forged or inconsistent runner-up bid, floor or VCG set).
    #[error("price evidence refused: {0}")]
    BadEvidence(String),
    /// This error occurs when an impression, or a receipts pull, was already
    /// accepted once: the same envelope hash, the same (request, slot), or the same
    /// pull nonce.
    #[error("replayed {what}")]
    Replay {
        /// What was replayed.
        what: &'static str,
    },
    /// This error occurs when an impression already accepted is delivered again. It
    /// is refused (`ALREADY_EXISTS`) and nothing is paid twice; the status details
    /// carry the first answer, an encoded `attn.v1.ImpressionAck`, for a client whose
    /// first answer was lost.
    #[error("replayed impression: accepted once already")]
    AlreadyAccepted(Box<attn_receipts::ImpressionAck>),
    /// This error occurs when the same impression is delivered again while its first
    /// delivery is still being paid for. Retry: once the first completes, a retry
    /// receives its answer.
    #[error("this impression is still being accepted; retry")]
    InProgress,
    /// This error occurs when the daily budget cannot cover a charge.
    #[error(
        "daily budget exhausted: {needed_atomic} needed, {remaining_atomic} left (atomic units)"
    )]
    BudgetExhausted {
        /// The amount asked for.
        needed_atomic: u64,
        /// What is left today.
        remaining_atomic: u64,
    },
    /// This error occurs when the payment rail or the ledger behind
    /// [`crate::ImpressionPayer`] could not be reached, was busy or did not answer in
    /// time: a retry may succeed. The impression is not accepted and may be delivered
    /// again.
    #[error("payment failed: {0}")]
    Payment(String),
    /// This error occurs when the payer refused a payment that retrying will not fix
    /// until someone acts: the advertiser's account or escrow cannot cover the charge,
    /// the charge is below the rail's minimum or finer than it keeps, the rail or
    /// ledger is in another currency, the payment id was used for another payment,
    /// the rail declined it for good, or the payer's own storage or setup is broken.
    /// Nothing was paid; the impression is not accepted.
    #[error("payment refused ({cause}): {reason}")]
    PaymentRefused {
        /// Which kind of refusal, deciding the gRPC code.
        cause: PaymentRefusal,
        /// The rail's or the ledger's own words.
        reason: String,
    },
    /// This error occurs when the bidder's options are inconsistent (a budget in
    /// another currency than the bidder trades in, a zero capacity…).
    #[error("invalid bidder options: {0}")]
    Config(String),
    /// This error occurs when the gRPC server cannot bind or serve, or the metrics
    /// endpoint cannot be installed.
    #[error("transport: {0}")]
    Transport(String),
    /// This error occurs when a threshold signing round cannot complete: fewer than
    /// the threshold of signer tasks answered in time, a signer refused the message
    /// under its policy, or a signature share did not verify (the reason names the
    /// signer).
    #[error("threshold signing failed: {0}")]
    ThresholdSigning(String),
}

impl Error {
    /// The gRPC status a client receives for this error.
    pub fn to_status(&self) -> tonic::Status {
        let message = self.to_string();
        match self {
            Self::Invalid(_) | Self::Stale { .. } => tonic::Status::invalid_argument(message),
            Self::UnknownBid { .. } => tonic::Status::not_found(message),
            Self::ImpressionMismatch { .. } | Self::BadEvidence(_) => {
                tonic::Status::failed_precondition(message)
            }
            Self::Replay { .. } => tonic::Status::already_exists(message),
            Self::AlreadyAccepted(ack) => {
                use attn_proto::Message as _;
                let first = attn_proto::v1::ImpressionAck::from(ack.as_ref());
                tonic::Status::with_details(
                    tonic::Code::AlreadyExists,
                    message,
                    first.encode_to_vec().into(),
                )
            }
            Self::BudgetExhausted { .. } => tonic::Status::resource_exhausted(message),
            Self::Payment(_) | Self::Transport(_) | Self::InProgress => {
                tonic::Status::unavailable(message)
            }
            Self::PaymentRefused { cause, .. } => match cause {
                PaymentRefusal::InsufficientFunds
                | PaymentRefusal::Conflict
                | PaymentRefusal::Declined => tonic::Status::failed_precondition(message),
                PaymentRefusal::InvalidAmount | PaymentRefusal::CurrencyMismatch => {
                    tonic::Status::invalid_argument(message)
                }
                PaymentRefusal::Internal => tonic::Status::internal(message),
            },
            Self::Config(_) => tonic::Status::internal(message),
            Self::ThresholdSigning(_) => tonic::Status::unavailable(message),
        }
    }
}

/// Why a payer refused a payment for good (see [`Error::PaymentRefused`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PaymentRefusal {
    /// The advertiser's rail account or ledger escrow cannot cover the charge
    /// (`FAILED_PRECONDITION`: it pays once funded).
    InsufficientFunds,
    /// The charge is zero, below the rail's minimum, finer than the rail or ledger
    /// keeps, or above its maximum (`INVALID_ARGUMENT`).
    InvalidAmount,
    /// The rail or the ledger does not move the charge's currency
    /// (`INVALID_ARGUMENT`).
    CurrencyMismatch,
    /// The payment id (the impression hash) was already used for a different
    /// payment, or a transfer with its id differs (`FAILED_PRECONDITION`).
    Conflict,
    /// The rail accepted the payment, then failed it for good
    /// (`FAILED_PRECONDITION`).
    Declined,
    /// The payer's storage, configuration or rail answered something it cannot use:
    /// an operator must act (`INTERNAL`).
    Internal,
}

impl PaymentRefusal {
    /// A short stable name (`insufficient-funds`, …), used as a metrics label.
    pub fn name(self) -> &'static str {
        match self {
            Self::InsufficientFunds => "insufficient-funds",
            Self::InvalidAmount => "invalid-amount",
            Self::CurrencyMismatch => "currency-mismatch",
            Self::Conflict => "conflict",
            Self::Declined => "declined",
            Self::Internal => "internal",
        }
    }
}

impl std::fmt::Display for PaymentRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl Error {
    /// A refused payment of `cause`.
    pub fn payment_refused(cause: PaymentRefusal, reason: impl std::fmt::Display) -> Self {
        Self::PaymentRefused {
            cause,
            reason: reason.to_string(),
        }
    }

    /// Whether a client may usefully deliver the same message again (the payment
    /// rail, the ledger or the threshold signers were unreachable or busy).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::Payment(_) | Self::Transport(_) | Self::ThresholdSigning(_)
        )
    }
}

/// A rail's error, classified: only [`attn_payment_plugins::Error::is_retryable`]
/// errors (unreachable, busy, slow) become the retryable [`Error::Payment`].
impl From<attn_payment_plugins::Error> for Error {
    fn from(error: attn_payment_plugins::Error) -> Self {
        use attn_payment_plugins::Error as Rail;
        let cause = match &error {
            _ if error.is_retryable() => return Self::Payment(error.to_string()),
            Rail::InsufficientFunds { .. } => PaymentRefusal::InsufficientFunds,
            Rail::BelowMinimum { .. } | Rail::PrecisionLoss { .. } => PaymentRefusal::InvalidAmount,
            Rail::UnsupportedCurrency { .. } => PaymentRefusal::CurrencyMismatch,
            Rail::PaymentIdConflict { .. } => PaymentRefusal::Conflict,
            _ => PaymentRefusal::Internal,
        };
        Self::payment_refused(cause, error)
    }
}

/// A ledger's error, classified: only
/// [`attn_settlement::Error::is_transient`] errors (unreachable, busy) become the
/// retryable [`Error::Payment`].
impl From<attn_settlement::Error> for Error {
    fn from(error: attn_settlement::Error) -> Self {
        use attn_settlement::{Error as Ledger, Rejection};
        let cause = match &error {
            _ if error.is_transient() => return Self::Payment(error.to_string()),
            Ledger::Rejected {
                reason: Rejection::ExceedsCredits,
                ..
            } => PaymentRefusal::InsufficientFunds,
            Ledger::Rejected {
                reason: Rejection::ExistsWithDifferentFields(_),
                ..
            } => PaymentRefusal::Conflict,
            Ledger::Rejected {
                reason: Rejection::AmountZero | Rejection::AmountExceedsMax,
                ..
            }
            | Ledger::Money(_)
            | Ledger::AmountNegative(_)
            | Ledger::AmountExceedsMax(_)
            | Ledger::AmountTooPrecise { .. } => PaymentRefusal::InvalidAmount,
            Ledger::CurrencyMismatch { .. } => PaymentRefusal::CurrencyMismatch,
            _ => PaymentRefusal::Internal,
        };
        Self::payment_refused(cause, error)
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    fn rail(error: attn_payment_plugins::Error) -> tonic::Code {
        Error::from(error).to_status().code()
    }

    /// Retryable rail and ledger failures are `UNAVAILABLE` (a client delivers the
    /// impression again); failures a retry cannot fix never are.
    #[test]
    fn only_retryable_payment_failures_are_unavailable() {
        use attn_payment_plugins::Error as Rail;
        let r = || "rail".to_string();
        assert_eq!(
            rail(Rail::Unavailable {
                rail: r(),
                reason: "down".into()
            }),
            tonic::Code::Unavailable
        );
        assert_eq!(
            rail(Rail::Timeout {
                rail: r(),
                after_ms: 5
            }),
            tonic::Code::Unavailable
        );
        assert_eq!(
            rail(Rail::InsufficientFunds {
                rail: r(),
                account: "a".into(),
                amount: "1".into()
            }),
            tonic::Code::FailedPrecondition
        );
        assert_eq!(
            rail(Rail::PaymentIdConflict {
                payment_id: "p".into()
            }),
            tonic::Code::FailedPrecondition
        );
        assert_eq!(
            rail(Rail::BelowMinimum {
                rail: r(),
                amount: "0".into(),
                minimum: "0.01".into()
            }),
            tonic::Code::InvalidArgument
        );
        assert_eq!(
            rail(Rail::UnsupportedCurrency {
                rail: r(),
                currency: "EUR".into()
            }),
            tonic::Code::InvalidArgument
        );
        assert_eq!(
            rail(Rail::Storage {
                rail: r(),
                reason: "corrupt".into()
            }),
            tonic::Code::Internal
        );

        use attn_settlement::{Error as Ledger, Rejection, TransferId};
        let ledger = |error: Ledger| Error::from(error).to_status().code();
        assert_eq!(
            ledger(Ledger::Busy("locked".into())),
            tonic::Code::Unavailable
        );
        assert_eq!(
            ledger(Ledger::Unavailable("refused".into())),
            tonic::Code::Unavailable
        );
        assert_eq!(
            ledger(Ledger::Rejected {
                index: 0,
                id: TransferId(1),
                reason: Rejection::ExceedsCredits
            }),
            tonic::Code::FailedPrecondition
        );
        assert_eq!(
            ledger(Ledger::CurrencyMismatch {
                ledger: attn_settlement::LedgerId(1),
                expected: "USD".into(),
                found: "EUR".into()
            }),
            tonic::Code::InvalidArgument
        );
        assert_eq!(ledger(Ledger::Corrupt("bad".into())), tonic::Code::Internal);
        assert!(Error::from(Ledger::Busy("x".into())).is_retryable());
        assert!(!Error::from(Ledger::Corrupt("x".into())).is_retryable());
    }
}
