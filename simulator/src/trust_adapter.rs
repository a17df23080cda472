//! The bridge from the simulator's trust graph to the product's trust weighting,
//! `attn_receipts::trust`: the same personalised EigenTrust and the same issuer
//! weights a verifier computes from signed `TrustStatement`s, called on the graph's
//! index-based edges with the seed set as the verifier's seeds.

use attn_receipts::trust::{self, EigenTrustParams};

use crate::error::Error;
use crate::reputation::TrustGraph;

/// Power-iteration steps. The simulator runs every step (tolerance 0), so the trust
/// vector, and with it every output byte, does not depend on when a residual falls
/// below a threshold.
pub const ITERATIONS: u32 = 128;

/// The product's parameters for a damping `d`.
pub fn params(damping: f64) -> EigenTrustParams {
    EigenTrustParams {
        damping,
        iterations_max: ITERATIONS,
        tolerance: 0.0,
    }
}

/// The trust of every issuer (summing to 1; 0 for issuers no seed reaches), from
/// `attn_receipts::trust::eigentrust`.
///
/// # Errors
/// [`Error::Trust`] when the product refuses the graph (past its limits) or the
/// damping.
pub fn eigentrust(graph: &TrustGraph, damping: f64) -> Result<Vec<f64>, Error> {
    trust::eigentrust(graph.nodes, &graph.edges, &graph.seeds, &params(damping))
        .map_err(|e| Error::Trust(e.to_string()))
}

/// Each issuer's weight in `[0, 1]` from its trust, as the product's verifiers weigh
/// issuers: 1 for a seed, else `min(1, trust / mean seed trust)`.
pub fn weights(graph: &TrustGraph, trust: &[f64]) -> Vec<f64> {
    trust::weights_relative_to_seeds(trust, &graph.seeds)
}
