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
    /// This error occurs when the payment rail behind [`crate::ImpressionPayer`] could
    /// not pay; the impression is not accepted and may be delivered again.
    #[error("payment failed: {0}")]
    Payment(String),
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
            Self::BudgetExhausted { .. } => tonic::Status::resource_exhausted(message),
            Self::Payment(_) | Self::Transport(_) => tonic::Status::unavailable(message),
            Self::Config(_) => tonic::Status::internal(message),
            Self::ThresholdSigning(_) => tonic::Status::unavailable(message),
        }
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
