//! The example strategy the `attn` CLI and the demo serve: a base price per unit,
//! raised when the request's context matches the advertiser's interests, and varied
//! per request by a deterministic factor so that several example bidders compete.

use std::time::Duration;

use attn_receipts::{Creative, Digest32, Money};

use crate::strategy::{BidContext, BidDecision, Bidder};

/// An example strategy.
#[derive(Clone, Debug)]
pub struct ExampleBidder {
    /// Creative id (also hashed into the creative's content hash).
    pub creative_id: String,
    /// Category tags of the creative.
    pub categories: Vec<String>,
    /// Base price per unit of attention, in atomic units of the request's scale.
    pub base_price_atomic: u64,
    /// Context tags that raise the price by half.
    pub interests: Vec<String>,
    /// Time the strategy takes to decide (to show slow bidders in the demo).
    pub think_time: Duration,
}

impl ExampleBidder {
    /// A strategy bidding around `base_price_atomic` with creative `creative_id`.
    pub fn new(creative_id: &str, base_price_atomic: u64) -> Self {
        Self {
            creative_id: creative_id.into(),
            categories: Vec::new(),
            base_price_atomic,
            interests: Vec::new(),
            think_time: Duration::ZERO,
        }
    }

    /// The price this strategy offers for a request, in atomic units: the base,
    /// +50% on a matching interest, times a factor in [0.80, 1.20] drawn from the
    /// request id and the advertiser key.
    pub fn price_atomic(&self, context: &BidContext) -> u64 {
        let mut price = u128::from(self.base_price_atomic);
        if self.interests.iter().any(|tag| context.has_tag(tag)) {
            price = price * 3 / 2;
        }
        let draw = Digest32::of(&[&context.request.request_id.0, context.advertiser.as_bytes()]);
        let factor = 80 + u128::from(draw.0[0]) % 41;
        u64::try_from(price * factor / 100).unwrap_or(u64::MAX)
    }
}

impl Bidder for ExampleBidder {
    async fn bid(&self, context: &BidContext) -> Option<BidDecision> {
        if !self.think_time.is_zero() {
            tokio::time::sleep(self.think_time).await;
        }
        let price = Money::from_atomic(
            context.request.currency,
            self.price_atomic(context),
            context.scale,
        )
        .ok()?;
        Some(BidDecision {
            price,
            slot_ids: Vec::new(),
            creative: Creative {
                creative_id: self.creative_id.clone(),
                categories: self.categories.clone(),
                content_hash: Digest32::of(&[self.creative_id.as_bytes()]),
                url: None,
            },
        })
    }
}
