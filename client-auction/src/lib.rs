//! attn's user side: the sealed-bid auction mechanisms (pure functions: first-price,
//! second-price, GSP and VCG over ranked slots) and the client runtime that sells a
//! user's ad slots to bidders over gRPC.
//!
//! The mechanisms must never do I/O, read a clock or draw randomness: the simulator
//! runs them as they are. This crate must never depend on `attn-bidder-sdk`,
//! `attn-simulator` or the `attn` binary.
//!
//! # Layout
//! - [`mechanism`]: winners and prices, pure.
//! - [`client`]: the client runtime (fan-out over gRPC, deadlines, signing, wallet).

pub mod client;
pub mod mechanism;
pub mod preferences;
