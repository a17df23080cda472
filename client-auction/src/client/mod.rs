//! The client runtime: builds and signs bid requests, fans out to bidders over gRPC,
//! closes at `tmax`, runs the mechanism, signs results and delivers impressions.
//!
//! A bidder that is down, slow, or answers garbage never stalls or fails an
//! auction: every call is bounded by the deadline, every answer is validated once
//! and dropped with a named [`DropReason`] when it does not check out. Connections
//! are made lazily and kept, one HTTP/2 connection per bidder, shared by every
//! client (persona) built on the same [`Registry`].
//!
//! # Layout
//! - [`registry`]: bidders from TOML, with pooled connections.
//! - [`auction`]: [`Client`], [`ClientConfig`], [`Client::run_auction`], the outcome
//!   and its per-bidder diagnostics.
//! - [`show`]: [`Client::show`] (impressions, acks) and [`Client::pull_receipts`].
//! - [`payment`]: the payment of each ack checked ([`PaymentCheck`]); vouchers
//!   verified and kept by the payee engine ([`Client::with_channels`]).
//! - [`wallet`]: where acks are kept ([`WalletStore`], [`MemoryWallet`], [`FileWallet`]).
//! - [`receipts_store`]: the persona's receipts with their openings, on disk
//!   ([`ReceiptsFile`]), for reputation proofs.
//! - `reputation`: the persona's proof on its requests
//!   ([`Client::set_reputation_proof`]).
//! - [`error`]: the runtime's [`Error`].

pub mod auction;
pub mod error;
pub mod payment;
pub mod receipts_store;
pub mod registry;
mod reputation;
pub mod show;
pub mod wallet;

pub use auction::{
    AuctionOutcome, BidderDiagnostic, BidderStatus, CLOSE_MARGIN, Client, ClientConfig, DropReason,
    IMPRESSION_ATTEMPTS_MAX, Win,
};
pub use error::{Error, Result};
pub use payment::{Delivered, PaymentCheck};
pub use receipts_store::ReceiptsFile;
pub use registry::{BidderEntry, REGISTRY_BIDDERS_MAX, RegisteredBidder, Registry};
pub use show::{EVIDENCE_METADATA_KEY, ShowReport};
pub use wallet::{FileWallet, MemoryWallet, WalletEntry, WalletStore};
