//! The error type of the client runtime.

/// Everything that can go wrong in the client runtime. A bidder that misbehaves is
/// never an error of the auction: it is a [`crate::client::DropReason`] in the
/// outcome's diagnostics.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// This error occurs when a value the client builds or receives does not validate
    /// (a slot, a floor, an ack); the inner error names the message and field.
    #[error(transparent)]
    Invalid(#[from] attn_receipts::Error),
    /// This error occurs when the bidder registry cannot be read or holds an invalid
    /// entry (a bad endpoint, a bad key, too many bidders, a name used twice).
    #[error("bidder registry: {0}")]
    Registry(String),
    /// This error occurs when the client's configuration is inconsistent (a `tmax`
    /// out of range, a floor in another currency, no slot, too many slots).
    #[error("client configuration: {0}")]
    Config(String),
    /// This error occurs when a bidder refused an impression or a receipts pull, or
    /// could not be reached after every attempt.
    #[error("bidder {bidder}: {message}")]
    Bidder {
        /// The bidder's name in the registry.
        bidder: String,
        /// What went wrong, with the gRPC status when there was one.
        message: String,
    },
    /// This error occurs when a bidder's answer to an impression or a pull does not
    /// check out (a receipt signed by another key, a voucher to someone else…).
    #[error("bidder {bidder} answered with an invalid {what}: {reason}")]
    BadAnswer {
        /// The bidder's name in the registry.
        bidder: String,
        /// What was invalid.
        what: &'static str,
        /// Why.
        reason: String,
    },
    /// This error occurs when the payee side of the payment-channel engine refuses a
    /// winner's voucher: a bad signature, a channel with no deposit in escrow on the
    /// base rail, a sequence or cumulative amount not above the latest kept (a replay,
    /// or a voucher that arrived after a newer one), more than the deposit, a closed
    /// channel, or the base rail out of reach.
    #[error("bidder {bidder}: voucher refused: {source}")]
    VoucherRefused {
        /// The bidder's name in the registry.
        bidder: String,
        /// What the engine answered.
        source: attn_payment_plugins::Error,
    },
    /// This error occurs when the wallet store cannot be read or written.
    #[error("wallet: {0}")]
    Wallet(String),
}

/// Shorthand for results of the client runtime.
pub type Result<T, E = Error> = std::result::Result<T, E>;
