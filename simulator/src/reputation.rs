//! How reputation enters the market: public views, issuer trust, persona scores.
//!
//! Every persona publishes a **view**: for each of at most [`VIEW_ISSUERS_MAX`]
//! issuers (advertiser keys), how many value-bearing (conversion) receipts that issuer
//! gave it: in the product a proof discloses a value bracket per issuer, and views or
//! clicks create no value. Honest users start with a history drawn from their
//! propensities and gain a receipt for every conversion; each Sybil farm's keys mint
//! `sybil.receipts_per_round` receipts to each of its personas every round. Bots never
//! convert, so no honest issuer ever vouches for them.
//!
//! Verifiers turn a view into a **score** in `[0, 1]` at the start of each round:
//! - `weighting = none`: every receipt counts, `score = min(1, receipts / saturation)`.
//!   Self-minted receipts count like earned ones, so Sybil personas score like (or
//!   above) honest users.
//! - `weighting = eigentrust`: issuers are weighted by the product's trust weighting
//!   (`attn_receipts::trust`: personalised EigenTrust from the seed set over the
//!   advertisers' endorsements at `trust.damping`, [`issuer_trust`]), relative to the
//!   seed set: `w_i = min(1, t_i / mean seed trust)`, 1 for a seed ([`issuer_weights`]). As in EigenTrust, an issuer's trust is then shared among the
//!   receipts it issued (its out-edges to personas), normalised so that an issuer
//!   issuing `Q` receipts (the median number issued by a seed issuer) gives each one
//!   its full weight: a receipt of issuer `i` counts `w_i · Q / N_i`, where `N_i` is
//!   the number of receipts `i` issued in all views. Then
//!   `score = min(1, weighted receipts / saturation)`.
//!
//!   Consequences, which the tests pin: a farm's keys that no seed reaches weigh 0, so
//!   its personas score 0 and earn nothing; a farm's total weighted receipts are
//!   exactly `Q · Σ_keys w_k`, whatever the number of its personas and however many
//!   receipts its keys mint; and `Σ_keys w_k` is at most `d/(1 − d)` times the trust
//!   that flows in over its attack edges, whatever the number of its keys. Splitting
//!   the farm's budget over more personas can only lower each one's score.
//!
//! Advertisers use the score in the per-conversion value model: a direct advertiser
//! estimates an impression on persona `u` at `value × base_rate × score(u)`; bundling
//! specialists segment personas by (score bucket, number of issuers) and learn each
//! segment's conversion rate ([`segment`]).

use crate::config::{Config, Weighting};

/// Most issuers a persona's view discloses (a persona keeps its top issuers).
pub const VIEW_ISSUERS_MAX: usize = 8;
/// Score buckets used by segmenting bundlers.
pub const SCORE_BUCKETS: usize = 8;
/// Number of segments: score bucket × issuers disclosed (0..=VIEW_ISSUERS_MAX).
pub const SEGMENTS: usize = SCORE_BUCKETS * (VIEW_ISSUERS_MAX + 1);

/// A persona's public view: receipts per issuer, top issuers only.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct View {
    /// Issuer indices (see [`Issuers`]); only the first `len` are used.
    pub issuers: [u32; VIEW_ISSUERS_MAX],
    /// Receipts from each issuer.
    pub counts: [u32; VIEW_ISSUERS_MAX],
    /// Issuers in use.
    pub len: u8,
}

impl View {
    /// Adds `count` receipts from `issuer`. When the view is full and `issuer` is new,
    /// it replaces the issuer with the fewest receipts if it then has more.
    #[inline]
    pub fn add(&mut self, issuer: u32, count: u32) {
        let len = usize::from(self.len);
        for slot in 0..len {
            if self.issuers[slot] == issuer {
                self.counts[slot] = self.counts[slot].saturating_add(count);
                return;
            }
        }
        if len < VIEW_ISSUERS_MAX {
            self.issuers[len] = issuer;
            self.counts[len] = count;
            self.len += 1;
            return;
        }
        let (weakest, weakest_count) = self.counts[..len]
            .iter()
            .enumerate()
            .min_by_key(|(slot, count)| (**count, *slot))
            .map(|(slot, count)| (slot, *count))
            .unwrap_or((0, 0));
        if count > weakest_count {
            self.issuers[weakest] = issuer;
            self.counts[weakest] = count;
        }
    }

    /// Total receipts disclosed.
    pub fn total(&self) -> u64 {
        self.counts[..usize::from(self.len)]
            .iter()
            .map(|c| u64::from(*c))
            .sum()
    }

    /// The (issuer, count) pairs in use.
    pub fn entries(&self) -> impl Iterator<Item = (u32, u32)> + '_ {
        let len = usize::from(self.len);
        self.issuers[..len]
            .iter()
            .copied()
            .zip(self.counts[..len].iter().copied())
    }
}

/// Who the receipt issuers are: honest advertisers `0..honest`, then each farm's keys.
#[derive(Clone, Debug)]
pub struct Issuers {
    /// Honest advertisers.
    pub honest: u32,
    /// Keys per farm.
    pub keys_per_farm: u32,
    /// Farms.
    pub farms: u32,
}

impl Issuers {
    /// The issuers of a config.
    pub fn of(config: &Config) -> Self {
        Self {
            honest: config.advertisers.count,
            keys_per_farm: config.sybil.keys_per_farm,
            farms: config.sybil.farms,
        }
    }

    /// Number of issuers.
    pub fn len(&self) -> usize {
        (self.honest + self.keys_per_farm * self.farms) as usize
    }

    /// Whether there are none (never, for a valid config).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The issuer index of key `key` of farm `farm`.
    pub fn farm_key(&self, farm: u32, key: u32) -> u32 {
        self.honest + farm * self.keys_per_farm + key
    }

    /// The farm an issuer belongs to, if any.
    pub fn farm_of(&self, issuer: u32) -> Option<u32> {
        (issuer >= self.honest).then(|| (issuer - self.honest) / self.keys_per_farm)
    }
}

/// The advertisers' endorsement graph: `(truster, trustee, weight in (0, 1])`.
#[derive(Clone, Debug, Default)]
pub struct TrustGraph {
    /// Number of nodes (issuers).
    pub nodes: usize,
    /// Endorsements.
    pub edges: Vec<(u32, u32, f64)>,
    /// The verifiers' seed set.
    pub seeds: Vec<u32>,
}

impl TrustGraph {
    /// The graph of a run: each honest advertiser endorses `edges_per_advertiser` other
    /// honest advertisers; every farm key endorses every other key of its farm; per
    /// farm, `attack_edges` distinct honest advertisers endorse one of its keys; the
    /// seeds are the first `trust.seeds` advertisers.
    pub fn build(config: &Config, issuers: &Issuers, streams: &crate::rng::Streams) -> Self {
        use crate::rng::StreamName;
        let honest = issuers.honest;
        let mut edges = Vec::new();
        let graph_stream = streams.stream(StreamName::TrustGraph);
        for truster in 0..honest {
            let mut rng = graph_stream.agent(u64::from(truster), 0);
            let picks = pick_distinct(&mut rng, honest - 1, config.trust.effective_edges(honest));
            for pick in picks {
                let trustee = if pick >= truster { pick + 1 } else { pick };
                edges.push((truster, trustee, 1.0));
            }
        }
        let sybil_stream = streams.stream(StreamName::Sybil);
        for farm in 0..issuers.farms {
            for a in 0..issuers.keys_per_farm {
                for b in 0..issuers.keys_per_farm {
                    if a != b {
                        edges.push((issuers.farm_key(farm, a), issuers.farm_key(farm, b), 1.0));
                    }
                }
            }
            let mut rng = sybil_stream.agent(u64::from(farm), 0);
            for truster in pick_distinct(&mut rng, honest, config.sybil.attack_edges) {
                let key = rng.below(u64::from(issuers.keys_per_farm)) as u32;
                edges.push((truster, issuers.farm_key(farm, key), 1.0));
            }
        }
        Self {
            nodes: issuers.len(),
            edges,
            seeds: (0..config.trust.effective_seeds(honest)).collect(),
        }
    }
}

/// `count` distinct integers below `n`, drawn by a partial Fisher–Yates shuffle.
fn pick_distinct(rng: &mut crate::rng::AgentRng, n: u32, count: u32) -> Vec<u32> {
    let mut pool: Vec<u32> = (0..n).collect();
    let count = count.min(n) as usize;
    for i in 0..count {
        let j = i + rng.below((pool.len() - i) as u64) as usize;
        pool.swap(i, j);
    }
    pool.truncate(count);
    pool
}

/// Each issuer's weight under the configured weighting: all 1 with `none`; with
/// `eigentrust`, the product's weight (`attn_receipts::trust`): 1 for a seed, else its
/// trust over the seed set's mean trust, capped at 1.
///
/// # Errors
/// [`crate::Error::Trust`] when the product refuses the graph.
pub fn issuer_weights(config: &Config, graph: &TrustGraph) -> Result<Vec<f64>, crate::Error> {
    match config.trust.weighting {
        Weighting::None => Ok(vec![1.0; graph.nodes]),
        Weighting::Eigentrust => {
            let trust = issuer_trust(config, graph)?;
            Ok(attn_receipts::trust::weights_relative_to_seeds(
                &trust,
                &graph.seeds,
            ))
        }
    }
}

/// The trust of every issuer (summing to 1 over the graph) from the product's trust
/// weighting, at the configured damping.
///
/// # Errors
/// [`crate::Error::Trust`] when the product refuses the graph.
pub fn issuer_trust(config: &Config, graph: &TrustGraph) -> Result<Vec<f64>, crate::Error> {
    let params = attn_receipts::trust::EigenTrustParams {
        damping: config.trust.damping,
        iterations_max: TRUST_ITERATIONS,
        tolerance: 0.0,
    };
    attn_receipts::trust::eigentrust(graph.nodes, &graph.edges, &graph.seeds, &params)
        .map_err(|e| crate::Error::Trust(e.to_string()))
}

/// Power-iteration steps of the verifiers' EigenTrust. The simulator runs every step
/// (tolerance 0), so the trust vector, and with it every output byte, does not depend
/// on when a residual falls below a threshold.
pub const TRUST_ITERATIONS: u32 = 128;

/// The round's scoring inputs, computed once per round from every view.
#[derive(Clone, Debug)]
pub struct Scoring {
    /// Weighting in force.
    pub weighting: Weighting,
    /// Per issuer: the weight of one receipt (`w_i · Q / N_i`), or 1.
    pub receipt_weight: Vec<f64>,
    /// Weighted receipts at which the score reaches 1.
    pub saturation: f64,
}

impl Scoring {
    /// The scoring for views whose receipts per issuer total `issued`.
    pub fn new(config: &Config, weights: &[f64], issued: &[u64], seeds: &[u32]) -> Self {
        let receipt_weight = match config.trust.weighting {
            Weighting::None => vec![1.0; weights.len()],
            Weighting::Eigentrust => {
                let mut seed_issued: Vec<u64> = seeds.iter().map(|s| issued[*s as usize]).collect();
                seed_issued.sort_unstable();
                let quota = seed_issued
                    .get(seed_issued.len() / 2)
                    .copied()
                    .unwrap_or(0)
                    .max(1) as f64;
                weights
                    .iter()
                    .zip(issued)
                    .map(|(w, n)| if *n == 0 { *w } else { w * quota / *n as f64 })
                    .collect()
            }
        };
        Self {
            weighting: config.trust.weighting,
            receipt_weight,
            saturation: config.reputation.saturation,
        }
    }

    /// The weighted receipts of a view.
    pub fn weighted(&self, view: &View) -> f64 {
        view.entries()
            .map(|(issuer, count)| self.receipt_weight[issuer as usize] * f64::from(count))
            .sum()
    }

    /// The score of a view, in `[0, 1]`.
    pub fn score(&self, view: &View) -> f64 {
        (self.weighted(view) / self.saturation).min(1.0)
    }
}

/// The segment of a persona: score bucket × number of issuers in its view.
pub fn segment(score: f64, view: &View) -> usize {
    let bucket = ((score * SCORE_BUCKETS as f64) as usize).min(SCORE_BUCKETS - 1);
    bucket * (VIEW_ISSUERS_MAX + 1) + usize::from(view.len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn views_keep_their_top_issuers() {
        let mut view = View::default();
        for issuer in 0..VIEW_ISSUERS_MAX as u32 {
            view.add(issuer, issuer + 1);
        }
        view.add(3, 1);
        assert_eq!(view.total(), (1..=8).sum::<u64>() + 1);
        view.add(100, 1); // not more than the weakest (1): ignored
        assert!(view.entries().all(|(i, _)| i != 100));
        view.add(101, 5);
        assert!(view.entries().any(|(i, c)| i == 101 && c == 5));
        assert!(view.entries().all(|(i, _)| i != 0));
        assert_eq!(usize::from(view.len), VIEW_ISSUERS_MAX);
    }

    #[test]
    fn segments_are_in_range() {
        let mut view = View::default();
        assert!(segment(1.0, &view) < SEGMENTS);
        for i in 0..20 {
            view.add(i, 1);
        }
        assert_eq!(segment(1.0, &view), SEGMENTS - 1);
        assert_eq!(segment(0.0, &View::default()), 0);
    }
}
