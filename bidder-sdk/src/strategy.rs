//! The one trait an advertiser implements: [`Bidder::bid`].

use std::future::Future;
use std::sync::Arc;

use attn_receipts::reputation::ReputationView;
use attn_receipts::{BidRequest, Creative, Digest32, Money, PublicKey};

use crate::reputation::Reputation;

/// What a strategy sees of one bid request, already verified by the SDK (the
/// persona's signature, sizes, currency, freshness).
#[derive(Clone, Debug)]
pub struct BidContext {
    /// The verified request.
    pub request: BidRequest,
    /// Hash of the signed request envelope.
    pub request_hash: Digest32,
    /// This bidder's advertiser key.
    pub advertiser: PublicKey,
    /// When the SDK received the request, ms since the epoch (this bidder's clock).
    pub received_at_ms: u64,
    /// When the SDK stops waiting for the strategy and answers "no bid".
    pub deadline: tokio::time::Instant,
    /// What is left of today's budget, in atomic units of [`BidContext::scale`].
    pub budget_remaining_atomic: u64,
    /// Fractional digits of the atomic unit of the request's currency.
    pub scale: u32,
    /// The persona's reputation: its proof verified (now, or earlier and cached by
    /// hash), or why there is none.
    pub reputation: Reputation,
}

impl BidContext {
    /// Whether the request carries context tag `tag`.
    pub fn has_tag(&self, tag: &str) -> bool {
        self.request.context_tags.iter().any(|t| t == tag)
    }

    /// The persona's verified reputation view, if its proof verified.
    pub fn reputation_view(&self) -> Option<&ReputationView> {
        self.reputation.view().map(|view| view.as_ref())
    }
}

/// A strategy's answer: the price per unit of attention, the slots, the creative.
/// The SDK fills in the request id, the advertiser, the rail and the time, and signs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BidDecision {
    /// The most paid per unit of attention; in the request's currency.
    pub price: Money,
    /// The slots bid for; empty means any slot of the request.
    pub slot_ids: Vec<String>,
    /// What would be shown.
    pub creative: Creative,
}

/// An advertiser's bidding strategy. The SDK calls [`Bidder::bid`] once per verified
/// request, concurrently for concurrent requests.
///
/// Contract:
/// - `bid` MUST be cancel-safe: the SDK drops the future when the request's
///   deadline passes (and answers "no bid"), so it must not leave shared state half
///   updated across an `.await`.
/// - `bid` MUST NOT assume it is told whether it won: wins arrive as impressions,
///   which the SDK verifies and pays on its own.
/// - Returning `None` is a normal "no bid".
///
/// Implement it with `async fn` (the future must be `Send`):
/// ```
/// use attn_bidder_sdk::{BidContext, BidDecision, Bidder};
/// struct Silent;
/// impl Bidder for Silent {
///     async fn bid(&self, _context: &BidContext) -> Option<BidDecision> {
///         None
///     }
/// }
/// ```
pub trait Bidder: Send + Sync + 'static {
    /// The bid for this request, or `None`.
    fn bid(&self, context: &BidContext) -> impl Future<Output = Option<BidDecision>> + Send;
}

impl<T: Bidder> Bidder for Arc<T> {
    fn bid(&self, context: &BidContext) -> impl Future<Output = Option<BidDecision>> + Send {
        (**self).bid(context)
    }
}
