//! The SDK an advertiser builds a bidder with: implement one async trait
//! ([`Bidder`]), call one function ([`serve`]), and the SDK serves the
//! `attn.v1.Bidder` gRPC service: it verifies each request's persona signature,
//! enforces `tmax` on the strategy, signs bids bound to their request id (with one
//! key or a `t`-of-`n` FROST group, [`AdvertiserSigner`]), remembers
//! them (bounded, with a TTL) to verify the impressions that follow against the bid
//! and the price evidence, refuses replays, keeps the daily budget, pays through an
//! [`ImpressionPayer`], and answers with a signed view receipt. Receipts it issues
//! are served to the persona that proves it owns the key.
//!
//! It must never depend on `attn-client-auction`, `attn-simulator` or the `attn`
//! binary: an advertiser's bidder links only what it needs.
//!
//! See `docs/bidder-sdk.md` for integrating as an advertiser, in Rust or in any
//! language through the `.proto` files.
//!
//! # Layout
//! - [`strategy`]: the [`Bidder`] trait, [`BidContext`], [`BidDecision`].
//! - [`server`]: [`serve`], [`Options`], [`Running`], [`BidderHandle`] (the gRPC adapter).
//! - [`verify`]: impression and price-evidence verification (pure).
//! - [`budget`]: [`DailyBudget`] (reserve, then commit) and [`Pacing`] (pure).
//! - [`payer`]: the [`ImpressionPayer`] trait and [`RailPayer`] (any rail by name,
//!   optionally settled in a ledger's books; [`Reconciled`] is what a reconcile did).
//! - [`issuance`]: receipts kept for their persona to pull (internal).
//! - [`reputation`]: reputation proofs verified once and cached by hash
//!   ([`ProofCache`], [`Reputation`]).
//! - [`telemetry`]: metrics names and the Prometheus endpoint.
//! - [`threshold`]: FROST signing rounds between signer tasks ([`ThresholdSigner`]),
//!   what they agree to sign ([`BidsAndReceipts`], [`ReceiptsOnly`]) and what the
//!   server signs bids and receipts with ([`AdvertiserSigner`]: a key or a group).
//! - [`example`]: the example strategy the CLI and the demo serve.
//! - [`error`]: the crate's [`Error`].

pub mod budget;
pub mod error;
pub mod example;
mod issuance;
pub mod payer;
pub mod reputation;
pub mod server;
pub mod strategy;
pub mod telemetry;
pub mod threshold;
pub mod verify;

pub use budget::{DAY_MS, DailyBudget, Pacing, Reservation};
pub use error::{Error, PaymentRefusal, Result};
pub use example::ExampleBidder;
pub use issuance::{PERSONAS_MAX, RECEIPTS_PER_PERSONA_MAX};
pub use payer::{
    ChannelVoucherPayer, ImpressionPayer, Payment, PaymentOrder, RailPayer, Reconciled, channel_id,
};
pub use reputation::{ProofCache, Reputation};
pub use server::{
    BidderHandle, EVIDENCE_METADATA_KEY, EVIDENCE_METADATA_MAX_BYTES, Options, Running, now_ms,
    serve,
};
pub use strategy::{BidContext, BidDecision, Bidder};
pub use threshold::{
    AdvertiserSigner, BidsAndReceipts, ReceiptSigner, ReceiptsOnly, SigningPolicy, ThresholdSigner,
};
