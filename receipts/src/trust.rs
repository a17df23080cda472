//! Trust, not truth: each verifier weighs each issuer by its own trust, computed from
//! its own seed set and the signed [`TrustStatement`]s advertisers publish about
//! each other, then turns a [`ReputationView`] into a score.
//!
//! # Layout
//! - [`eigentrust`]: personalised EigenTrust (Kamvar, Schlosser, Garcia-Molina 2003,
//!   §4.5 "pre-trusted peers") by power iteration over an index-based graph. Pure,
//!   allocation-light, deterministic: the simulator calls it directly.
//! - [`TrustNetwork`]: the same over keys, from signed statements (batch-verified,
//!   the latest statement per pair wins, weight 0 revokes), with per-issuer weights.
//! - [`ReputationPolicy`]: the pluggable scoring policy; [`TrustWeighted`] is the
//!   default.
//!
//! # The iteration
//! With `n` advertisers, `p` uniform on the seed set `S`, and `C` the row-normalised
//! matrix of statement weights (`C[i][j] = w_ij / Σ_k w_ik`):
//!
//! ```text
//! t⁰ = p,    tᵏ⁺¹ = (1 − d)·p + d·(Cᵀ tᵏ + m(tᵏ)·p)
//! ```
//!
//! where `d` is the damping and `m(t)` the trust held by advertisers that trust
//! nobody, returned to the seeds. Trust sums to 1 at every step. An advertiser no seed
//! reaches by a path of statements never receives any: its trust is exactly `0`,
//! however many statements it and its accomplices sign about each other. That is
//! what makes a Sybil farm's self-minted receipts worthless.
//!
//! An issuer's **weight** is `1` for a seed, else `min(1, t_i / mean seed trust)`:
//! trust relative to the verifier's own seeds, never more than a seed.
//!
//! # Example
//! ```
//! use attn_receipts::trust::{eigentrust, EigenTrustParams};
//! // 0 is the seed; 0 trusts 1; 2 and 3 (a farm) trust each other.
//! let edges = [(0, 1, 1.0), (2, 3, 1.0), (3, 2, 1.0)];
//! let trust = eigentrust(4, &edges, &[0], &EigenTrustParams::default())?;
//! assert!(trust[1] > 0.0);
//! assert_eq!(trust[2], 0.0);
//! assert_eq!(trust[3], 0.0);
//! # Ok::<(), attn_receipts::Error>(())
//! ```

use std::collections::HashMap;
use std::ops::Deref;

use crate::error::{Error, Result};
use crate::keys::PublicKey;
use crate::limits::{
    TRUST_ITERATIONS_MAX, TRUST_NODES_MAX, TRUST_SEEDS_MAX, TRUST_STATEMENTS_MAX,
    TRUST_WEIGHT_PPM_MAX,
};
use crate::messages::TrustStatement;
use crate::reputation::ReputationView;
use crate::signed::{SignatureBatch, Signed};

/// Default damping: the share of trust that flows along statements each step; the
/// rest returns to the seeds.
pub const DAMPING_DEFAULT: f64 = 0.85;
/// Default most power-iteration steps (0.85^128 < 1e-9).
pub const ITERATIONS_DEFAULT: u32 = 128;
/// Default convergence threshold on the L1 change of the trust vector.
pub const TOLERANCE_DEFAULT: f64 = 1e-12;

/// Parameters of the personalised EigenTrust iteration.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EigenTrustParams {
    /// Damping `d` in `[0, 1)`.
    pub damping: f64,
    /// Most iterations (at most [`TRUST_ITERATIONS_MAX`]).
    pub iterations_max: u32,
    /// Stop once an iteration changes the vector by less than this (L1); `0` runs
    /// every iteration.
    pub tolerance: f64,
}

impl Default for EigenTrustParams {
    fn default() -> Self {
        Self {
            damping: DAMPING_DEFAULT,
            iterations_max: ITERATIONS_DEFAULT,
            tolerance: TOLERANCE_DEFAULT,
        }
    }
}

/// Damping at which a Sybil farm holds less trust than its endorsers send it.
///
/// A set `A` of advertisers that holds no seed gets trust only over statements into
/// it, so at the fixed point its total trust is `T(A) = d·X(A) + d·(what A's members
/// pass to each other) ≤ d·X(A) + d·T(A)`, that is
///
/// ```text
/// T(A) ≤ d / (1 − d) · X(A),    X(A) = Σ_{i ∉ A, j ∈ A} t_i · C[i][j]
/// ```
///
/// where `X(A)` is the trust its outside endorsers send it over their statements
/// (the "attack edges"). A farm whose keys trust only each other reaches the bound:
/// what flows in stays for `1/(1 − d)` steps on average. At the default `d = 0.85` the
/// farm holds 5.7 times what its endorsers send it, and draws that much trust away
/// from honest advertisers; at `d ≤ 1/2` it holds at most what they send it, and at
/// `d = 0.4` two thirds of it, so a farm weighs at most two thirds of the sum over its
/// attack edges of the endorser's weight times the share of its statements that edge
/// carries. The price: trust spreads less far from the seeds, so honest advertisers
/// far from them weigh less. `docs/simulator.md` ("sybil-attack-edges") measures both
/// settings in a market.
pub const DAMPING_SYBIL_BOUNDED: f64 = 0.4;

impl EigenTrustParams {
    fn check(&self) -> Result<()> {
        if !(0.0..1.0).contains(&self.damping) {
            return Err(Error::TrustInput(format!(
                "damping {} is not in [0, 1)",
                self.damping
            )));
        }
        if self.iterations_max > TRUST_ITERATIONS_MAX {
            return Err(Error::TrustInput(format!(
                "{} iterations is above {TRUST_ITERATIONS_MAX}",
                self.iterations_max
            )));
        }
        if !self.tolerance.is_finite() || self.tolerance < 0.0 {
            return Err(Error::TrustInput(format!(
                "tolerance {} is not a finite non-negative number",
                self.tolerance
            )));
        }
        Ok(())
    }
}

/// Personalised EigenTrust over `nodes` advertisers numbered `0..nodes`: `edges` are
/// `(truster, trustee, weight)` (weights finite and non-negative; self-edges are
/// ignored, repeated edges add up), `seeds` the verifier's pre-trusted advertisers
/// (repeats ignored). Returns each node's trust, summing to 1 (or all zero when there
/// is no seed).
///
/// # Errors
/// [`Error::TrustInput`] when an index is past `nodes`, a weight is negative or not
/// finite, the parameters are out of range, or `nodes`, `edges` or `seeds` exceed
/// [`TRUST_NODES_MAX`], [`TRUST_STATEMENTS_MAX`] or [`TRUST_SEEDS_MAX`].
pub fn eigentrust(
    nodes: usize,
    edges: &[(u32, u32, f64)],
    seeds: &[u32],
    params: &EigenTrustParams,
) -> Result<Vec<f64>> {
    params.check()?;
    let bound = |what: &str, len: usize, max: usize| {
        if len > max {
            Err(Error::TrustInput(format!("{len} {what} is above {max}")))
        } else {
            Ok(())
        }
    };
    bound("nodes", nodes, TRUST_NODES_MAX)?;
    bound("edges", edges.len(), TRUST_STATEMENTS_MAX)?;
    bound("seeds", seeds.len(), TRUST_SEEDS_MAX)?;
    let index = |node: u32| {
        let at = node as usize;
        if at < nodes {
            Ok(at)
        } else {
            Err(Error::TrustInput(format!(
                "node {node} is past the {nodes} nodes"
            )))
        }
    };
    let mut out_weight = vec![0.0f64; nodes];
    let mut flows = Vec::with_capacity(edges.len());
    for &(from, to, weight) in edges {
        let (from, to) = (index(from)?, index(to)?);
        if !weight.is_finite() || weight < 0.0 {
            return Err(Error::TrustInput(format!(
                "edge {from} → {to} has weight {weight}"
            )));
        }
        if from != to && weight > 0.0 {
            out_weight[from] += weight;
            flows.push((from, to, weight));
        }
    }
    let mut seed_nodes = Vec::with_capacity(seeds.len());
    for &seed in seeds {
        let seed = index(seed)?;
        if !seed_nodes.contains(&seed) {
            seed_nodes.push(seed);
        }
    }
    let mut trust = vec![0.0f64; nodes];
    if seed_nodes.is_empty() {
        return Ok(trust);
    }
    // Row-normalise once.
    for flow in &mut flows {
        flow.2 /= out_weight[flow.0];
    }
    let seed_share = 1.0 / seed_nodes.len() as f64;
    for &seed in &seed_nodes {
        trust[seed] = seed_share;
    }
    let damping = params.damping;
    let mut next = vec![0.0f64; nodes];
    for _ in 0..params.iterations_max {
        next.fill(0.0);
        let mut dangling = 0.0;
        for (node, total) in out_weight.iter().enumerate() {
            if *total <= 0.0 {
                dangling += trust[node];
            }
        }
        for &(from, to, share) in &flows {
            next[to] += damping * trust[from] * share;
        }
        let restart = (1.0 - damping) + damping * dangling;
        for &seed in &seed_nodes {
            next[seed] += restart * seed_share;
        }
        let change: f64 = trust.iter().zip(&next).map(|(a, b)| (a - b).abs()).sum();
        std::mem::swap(&mut trust, &mut next);
        if change < params.tolerance {
            break;
        }
    }
    Ok(trust)
}

/// Each node's weight from its trust: `1` for a seed, else
/// `min(1, trust / mean seed trust)`; all zero when there is no seed.
pub fn weights_relative_to_seeds(trust: &[f64], seeds: &[u32]) -> Vec<f64> {
    let seeds: Vec<usize> = seeds
        .iter()
        .map(|s| *s as usize)
        .filter(|s| *s < trust.len())
        .collect();
    let seed_mean = seeds.iter().map(|s| trust[*s]).sum::<f64>() / seeds.len().max(1) as f64;
    let mut weights: Vec<f64> = trust
        .iter()
        .map(|t| {
            if seed_mean > 0.0 {
                (t / seed_mean).min(1.0)
            } else {
                0.0
            }
        })
        .collect();
    for seed in seeds {
        weights[seed] = 1.0;
    }
    weights
}

/// A verifier's trust in advertisers, from its seeds and signed statements.
#[derive(Clone, Debug)]
pub struct TrustNetwork {
    keys: Vec<PublicKey>,
    index: HashMap<PublicKey, u32>,
    trust: Vec<f64>,
    weights: Vec<f64>,
}

impl TrustNetwork {
    /// Computes the network from the verifier's `seeds` and `statements`: every
    /// signature is checked in one batch, the latest statement per (truster, trustee)
    /// wins (ties: the higher weight), and a weight of 0 revokes.
    ///
    /// # Errors
    /// [`Error::BadSignatures`] naming the bad statements, the decode errors of a
    /// statement, and [`Error::TrustInput`] past the limits.
    pub fn compute(
        seeds: &[PublicKey],
        statements: &[Signed<TrustStatement>],
        params: &EigenTrustParams,
    ) -> Result<Self> {
        if statements.len() > TRUST_STATEMENTS_MAX {
            return Err(Error::TrustInput(format!(
                "{} statements is above {TRUST_STATEMENTS_MAX}",
                statements.len()
            )));
        }
        let mut batch = SignatureBatch::with_capacity(statements.len());
        for statement in statements {
            batch.push(statement);
        }
        batch.verify()?;
        let opened = statements
            .iter()
            .map(Signed::decode_verified)
            .collect::<Result<Vec<_>>>()?;
        Self::from_verified(seeds, &opened, params)
    }

    /// Computes the network from statements whose signatures were already checked
    /// (e.g. kept in a verified store).
    pub fn from_verified(
        seeds: &[PublicKey],
        statements: &[TrustStatement],
        params: &EigenTrustParams,
    ) -> Result<Self> {
        let mut keys = Vec::new();
        let mut index = HashMap::new();
        let mut intern = |key: PublicKey, keys: &mut Vec<PublicKey>| -> Result<u32> {
            if let Some(at) = index.get(&key) {
                return Ok(*at);
            }
            let at = u32::try_from(keys.len())
                .ok()
                .filter(|at| (*at as usize) < TRUST_NODES_MAX)
                .ok_or_else(|| Error::TrustInput(format!("more than {TRUST_NODES_MAX} nodes")))?;
            keys.push(key);
            index.insert(key, at);
            Ok(at)
        };
        let seed_nodes = seeds
            .iter()
            .map(|seed| intern(*seed, &mut keys))
            .collect::<Result<Vec<_>>>()?;
        let mut latest: HashMap<(u32, u32), (u64, u32)> = HashMap::new();
        for statement in statements {
            let from = intern(statement.truster, &mut keys)?;
            let to = intern(statement.trustee, &mut keys)?;
            let candidate = (statement.issued_at_ms, statement.weight_ppm);
            latest
                .entry((from, to))
                .and_modify(|held| *held = (*held).max(candidate))
                .or_insert(candidate);
        }
        let mut edges: Vec<(u32, u32, f64)> = latest
            .into_iter()
            .filter(|(_, (_, weight_ppm))| *weight_ppm > 0)
            .map(|((from, to), (_, weight_ppm))| {
                (
                    from,
                    to,
                    f64::from(weight_ppm) / f64::from(TRUST_WEIGHT_PPM_MAX),
                )
            })
            .collect();
        // Sums in a fixed order, so the result does not depend on hashing.
        edges.sort_by_key(|edge| (edge.0, edge.1));
        let trust = eigentrust(keys.len(), &edges, &seed_nodes, params)?;
        let weights = weights_relative_to_seeds(&trust, &seed_nodes);
        Ok(Self {
            keys,
            index,
            trust,
            weights,
        })
    }

    /// The advertiser's trust (the network's trust sums to 1), 0 if unknown.
    pub fn trust(&self, advertiser: &PublicKey) -> f64 {
        self.index
            .get(advertiser)
            .map_or(0.0, |at| self.trust[*at as usize])
    }

    /// The advertiser's weight in `[0, 1]`: 1 for a seed, trust relative to the mean
    /// seed's otherwise, 0 if unknown or unreachable from the seeds.
    pub fn weight(&self, advertiser: &PublicKey) -> f64 {
        self.index
            .get(advertiser)
            .map_or(0.0, |at| self.weights[*at as usize])
    }

    /// Every advertiser the network knows, with its weight, in index order.
    pub fn weights(&self) -> impl Iterator<Item = (&PublicKey, f64)> {
        self.keys.iter().zip(self.weights.iter().copied())
    }
}

/// How a verifier turns a verified [`ReputationView`] into a score.
///
/// An implementation MUST return a finite, non-negative score, MUST give `0` to a
/// view none of whose issuers it trusts, and MUST be a pure function of the view
/// and its own state (no clock, no I/O): the bidder SDK calls it on the bid path, and
/// the simulator many times per round.
pub trait ReputationPolicy {
    /// The view's score.
    fn score(&self, view: &ReputationView) -> f64;
}

impl<T: Deref> ReputationPolicy for T
where
    T::Target: ReputationPolicy,
{
    fn score(&self, view: &ReputationView) -> f64 {
        self.deref().score(view)
    }
}

/// The default policy: `score = Σ_issuers weight(issuer) · bracket(issuer)`, the
/// bracket being the decade of value the issuer's receipts reach (see
/// [`crate::reputation::scale`]). Untrusted issuers weigh zero, so they add nothing.
///
/// # Example
/// ```
/// use attn_receipts::trust::{EigenTrustParams, ReputationPolicy, TrustNetwork, TrustWeighted};
/// use attn_receipts::AdvertiserKey;
/// let seed = AdvertiserKey::from_secret_bytes(&[1; 32]).public_key();
/// let network = TrustNetwork::compute(&[seed], &[], &EigenTrustParams::default())?;
/// let policy = TrustWeighted::new(network);
/// assert_eq!(policy.network().weight(&seed), 1.0);
/// # Ok::<(), attn_receipts::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct TrustWeighted {
    network: TrustNetwork,
}

impl TrustWeighted {
    /// The policy over `network`.
    pub fn new(network: TrustNetwork) -> Self {
        Self { network }
    }

    /// The trust network it weighs issuers by.
    pub fn network(&self) -> &TrustNetwork {
        &self.network
    }
}

impl ReputationPolicy for TrustWeighted {
    fn score(&self, view: &ReputationView) -> f64 {
        view.issuers
            .iter()
            .map(|entry| self.network.weight(&entry.issuer) * f64::from(entry.bracket))
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> EigenTrustParams {
        EigenTrustParams::default()
    }

    #[test]
    fn trust_sums_to_one_and_flows_only_from_the_seeds() -> Result<()> {
        let edges = [
            (0, 1, 1.0),
            (1, 2, 2.0),
            (1, 0, 1.0),
            (3, 4, 1.0),
            (4, 3, 1.0),
            (3, 0, 1.0),
        ];
        let trust = eigentrust(5, &edges, &[0], &params())?;
        let total: f64 = trust.iter().sum();
        assert!((total - 1.0).abs() < 1e-9, "total {total}");
        assert!(trust[1] > 0.0 && trust[2] > 0.0);
        // 3 and 4 trust the seed, but nobody reachable trusts them.
        assert_eq!(trust[3], 0.0);
        assert_eq!(trust[4], 0.0);
        Ok(())
    }

    #[test]
    fn no_seed_means_no_trust_and_damping_zero_keeps_it_on_the_seeds() -> Result<()> {
        assert_eq!(eigentrust(3, &[(0, 1, 1.0)], &[], &params())?, vec![0.0; 3]);
        let still = EigenTrustParams {
            damping: 0.0,
            ..params()
        };
        assert_eq!(
            eigentrust(3, &[(0, 1, 1.0)], &[0, 0], &still)?,
            vec![1.0, 0.0, 0.0]
        );
        Ok(())
    }

    #[test]
    fn bad_input_is_refused_by_name() {
        let bad = |edges: &[(u32, u32, f64)], seeds: &[u32], params: EigenTrustParams| {
            matches!(
                eigentrust(2, edges, seeds, &params),
                Err(Error::TrustInput(_))
            )
        };
        assert!(bad(&[(0, 2, 1.0)], &[0], params()));
        assert!(bad(&[(0, 1, -1.0)], &[0], params()));
        assert!(bad(&[(0, 1, f64::NAN)], &[0], params()));
        assert!(bad(&[], &[5], params()));
        assert!(bad(
            &[],
            &[0],
            EigenTrustParams {
                damping: 1.0,
                ..params()
            }
        ));
        assert!(bad(
            &[],
            &[0],
            EigenTrustParams {
                iterations_max: TRUST_ITERATIONS_MAX + 1,
                ..params()
            }
        ));
        let seeds: Vec<u32> = vec![0; TRUST_SEEDS_MAX + 1];
        assert!(bad(&[], &seeds, params()));
    }

    /// Honest 0..6 in a ring with chords (0 the seed), a farm 6..9 whose keys trust
    /// only each other, and `attack` honest advertisers trusting key 6.
    fn farm_graph(attack: u32) -> Vec<(u32, u32, f64)> {
        let mut edges = Vec::new();
        for i in 0..6 {
            edges.push((i, (i + 1) % 6, 1.0));
            edges.push((i, (i + 2) % 6, 0.5));
        }
        for a in 6..9 {
            for b in 6..9 {
                if a != b {
                    edges.push((a, b, 1.0));
                }
            }
        }
        for truster in 1..=attack {
            edges.push((truster, 6, 1.0));
        }
        edges
    }

    /// Trust the farm's outside endorsers send it: `Σ t_i · C[i][j]` over attack edges.
    fn inflow(trust: &[f64], edges: &[(u32, u32, f64)]) -> f64 {
        let mut out = [0.0; 9];
        for (from, _, weight) in edges {
            out[*from as usize] += weight;
        }
        edges
            .iter()
            .filter(|(from, to, _)| *from < 6 && *to >= 6)
            .map(|(from, _, weight)| trust[*from as usize] * weight / out[*from as usize])
            .sum()
    }

    fn bounded_params() -> EigenTrustParams {
        EigenTrustParams {
            damping: DAMPING_SYBIL_BOUNDED,
            ..EigenTrustParams::default()
        }
    }

    #[test]
    fn a_farm_holds_at_most_d_over_1_minus_d_times_its_inflow() -> Result<()> {
        for attack in 1..=4 {
            let edges = farm_graph(attack);
            for params in [params(), bounded_params()] {
                let trust = eigentrust(9, &edges, &[0], &params)?;
                let farm: f64 = trust[6..].iter().sum();
                let inflow = inflow(&trust, &edges);
                let factor = params.damping / (1.0 - params.damping);
                assert!(inflow > 0.0);
                // The farm trusts only itself: it reaches the bound.
                assert!(
                    (farm - factor * inflow).abs() < 1e-6 * farm,
                    "{attack} edges, d = {}: farm {farm}, inflow {inflow}",
                    params.damping
                );
            }
            let default = eigentrust(9, &edges, &[0], &params())?;
            let bounded = eigentrust(9, &edges, &[0], &bounded_params())?;
            // At 0.85 the farm keeps 5.7 times its inflow; at 0.4 two thirds of it.
            assert!(default[6..].iter().sum::<f64>() > 5.0 * inflow(&default, &edges));
            assert!(bounded[6..].iter().sum::<f64>() < 0.67 * inflow(&bounded, &edges));
        }
        Ok(())
    }

    #[test]
    fn weights_are_one_for_seeds_and_capped_at_one() {
        let weights = weights_relative_to_seeds(&[0.4, 0.1, 0.5, 0.0], &[0, 1]);
        assert_eq!(weights, vec![1.0, 1.0, 1.0, 0.0]);
        assert_eq!(weights_relative_to_seeds(&[0.0, 0.0], &[]), vec![0.0, 0.0]);
    }
}
