//! The bridge from the simulator's trust graph to a trust weighting.
//!
//! Until `attn_receipts` ships its trust weighting (personalised EigenTrust behind a
//! policy trait), this module computes the same iteration itself; switching to the
//! product's means calling it here with the graph's edges as trust statements and the
//! seeds as the verifier's seed set, nothing else in the simulator changes.

use crate::reputation::TrustGraph;

/// Damping of the personalised EigenTrust iteration: the share of trust that flows
/// along endorsements; the rest returns to the seed set each step.
pub const DAMPING: f64 = 0.85;
/// Power-iteration steps (enough for a residual below 1e-9 at this damping).
pub const ITERATIONS: usize = 128;

/// Personalised EigenTrust: `t = (1 − d)·p + d·Cᵀt`, where `p` is uniform on the seeds
/// and `C` the row-normalised endorsement matrix; a node with no endorsements returns
/// its trust to the seeds. Trust sums to 1; nodes unreachable from the seeds get 0.
pub fn eigentrust(graph: &TrustGraph) -> Vec<f64> {
    let n = graph.nodes;
    if n == 0 || graph.seeds.is_empty() {
        return vec![0.0; n];
    }
    let mut out_weight = vec![0.0; n];
    for (from, _, weight) in &graph.edges {
        out_weight[*from as usize] += weight;
    }
    let seed_share = 1.0 / graph.seeds.len() as f64;
    let mut trust = vec![0.0; n];
    for seed in &graph.seeds {
        trust[*seed as usize] += seed_share;
    }
    let mut next = vec![0.0; n];
    for _ in 0..ITERATIONS {
        next.iter_mut().for_each(|t| *t = 0.0);
        let mut dangling = 0.0;
        for (node, total) in out_weight.iter().enumerate() {
            if *total <= 0.0 {
                dangling += trust[node];
            }
        }
        for (from, to, weight) in &graph.edges {
            let from = *from as usize;
            next[*to as usize] += DAMPING * trust[from] * weight / out_weight[from];
        }
        let restart = (1.0 - DAMPING) + DAMPING * dangling;
        for seed in &graph.seeds {
            next[*seed as usize] += restart * seed_share;
        }
        std::mem::swap(&mut trust, &mut next);
    }
    trust
}
