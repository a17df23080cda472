//! The market simulator economists run with `attn simulate`: deterministic,
//! agent-based, on the product's own mechanisms (`attn_client_auction::mechanism`),
//! reputation weighting and ledger rules (`attn_settlement::MemoryLedger` and
//! `flow`).
//!
//! Nothing in attn may depend on this crate, and it must never do network I/O. It
//! reads no clock: the same config and seed give byte-identical outputs, whatever the
//! number of threads. See `docs/simulator.md` for the model and every config key.
//!
//! # Layout
//! - [`config`]: the TOML config, defaults, validation.
//! - [`rng`]: the master seed split into named counter-based streams.
//! - [`agents`]: personas (honest users, Sybil bots), advertisers, specialists.
//! - [`strategy`]: the [`Strategy`] trait and `truthful`, `bne`, `shade`, `learning`.
//! - [`reputation`]: views, the trust graph, issuer weights, scores, segments.
//! - [`crypto`]: `crypto = "real"`: every message signed and verified.
//! - [`ledger`]: the market's accounts in the product's in-memory ledger; invariants.
//! - [`engine`]: [`Simulation`], the round loop.
//! - [`output`]: `rounds.csv`, `summary.json`, plots of a run.
//! - [`sweep`]: grids × seeds in parallel, `manifest.csv`, `sweep.csv`, plots.
//! - [`theory`]: closed forms the tests check the engine against.
//! - [`plot`]: SVG line charts.
//! - [`error`]: the crate's one error type, [`Error`].
//!
//! # Example
//! ```
//! use attn_simulator::{Config, Simulation};
//! let mut config = Config::default();
//! config.users.count = 50;
//! config.rounds = 2;
//! let mut simulation = Simulation::new(config)?;
//! let round = simulation.step()?;
//! assert_eq!(round.auctions, 100);
//! # Ok::<(), attn_simulator::Error>(())
//! ```

pub mod agents;
pub mod config;
pub mod crypto;
pub mod engine;
pub mod error;
pub mod ledger;
pub mod output;
pub mod plot;
pub mod reputation;
pub mod rng;
pub mod strategy;
pub mod sweep;
pub mod theory;

pub use config::Config;
pub use engine::{RoundStats, Simulation};
pub use error::Error;
pub use output::{Summary, run_to_dir};
pub use strategy::Strategy;
pub use sweep::{Sweep, run_sweep};
