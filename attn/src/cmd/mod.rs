//! One module per subcommand group.

pub mod bench;
pub mod bench_auction;
pub mod bench_e2e;
pub mod bench_envelopes;
pub mod bench_ledger;
pub mod bench_sim;
pub mod bench_vouchers;
pub mod bidder;
pub mod client;
pub mod demo;
pub mod keys;
pub mod ledger;
pub mod proof;
pub mod receipts;
pub mod simulate;
