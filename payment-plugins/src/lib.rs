//! The `PaymentRail` trait through which users are paid, the conformance kit every
//! rail passes, and the rails attn ships: `sandbox` (in memory), `ledger` (custodial,
//! over the settlement ledger), `channel` (a unidirectional payment channel over any
//! base rail: one signature per micropayment, one base payment per close) and
//! `external` (any rail in any language behind the `PaymentRail` gRPC service).
//!
//! It must never depend on the auction, the bidder SDK, the simulator or the `attn`
//! binary: those choose a rail by name through the [`registry`] and hold an
//! `Arc<dyn PaymentRail>`.
//!
//! # Layout
//! - [`rail`]: the [`PaymentRail`] trait and its contract, [`PayRequest`],
//!   [`PaymentStatus`], [`Capabilities`], [`split_payable`].
//! - [`conformance`] (feature `conformance`, on by default): the suite every rail runs.
//! - [`sandbox`]: the in-memory rail.
//! - [`ledger`]: the custodial rail over `attn-settlement`.
//! - [`channel`]: vouchers ([`channel::voucher`], pure), the channel store, the payer
//!   and payee APIs, and the channel rail.
//! - [`external`]: the gRPC client rail and [`external::serve`], which serves any rail.
//! - [`registry`]: [`open_rail`] by spec (`channel:ledger`, `external:http://…`).
//! - [`error`]: [`Error`], classified by [`Error::is_retryable`].
//!
//! See `docs/writing-a-rail.md` to write a new rail, in Rust or out of process.

pub mod channel;
#[cfg(feature = "conformance")]
pub mod conformance;
pub mod error;
pub mod external;
pub mod ledger;
pub mod rail;
pub mod registry;
pub mod sandbox;

pub use error::{Error, Result};
pub use rail::{
    ACCOUNT_NAME_MAX_BYTES, AccountName, Capabilities, FAILURE_REASON_MAX_BYTES, FeeModel,
    Finality, MEMO_MAX_BYTES, PayRequest, PaymentId, PaymentRail, PaymentState, PaymentStatus,
    RAIL_CURRENCIES_MAX, RAIL_ID_MAX_BYTES, RailCurrency, split_payable,
};
pub use registry::{RailOptions, open_rail};
