//! The round loop: scores, bids, the product's mechanism, clicks and conversions,
//! receipts, settlement in the product's ledger, invariants.
//!
//! # Determinism
//! Personas are cut into shards of [`SHARD_PERSONAS`] (a constant, never derived from
//! the thread count). Within a round, shards run in parallel (rayon); each persona's
//! draws come from its own counter-based stream for that round, each shard gets a fixed
//! share of every advertiser's round budget, and shard results are integers summed in
//! shard order. So the same config and seed give the same bytes with 1 or 64 threads.
//!
//! # Budgets
//! Budgets are paced evenly over rounds: at the start of a round an advertiser may
//! spend `remaining / rounds left`, shared among the shards in proportion to what their
//! audience is worth to a bidder (the sum of the personas' reputation scores with
//! per-conversion values, the number of personas with per-impression values), rounded
//! down; within a shard it stops bidding once its next win could exceed its share. So
//! shards of personas nobody trusts take no budget, and an advertiser can never exceed
//! its budget, which the ledger also enforces.

use attn_client_auction::mechanism::{self, Candidate, Rules, SlotSpec};
use rayon::prelude::*;

use crate::agents::{self, Advertiser, Bundler, DIRECT, Persona};
use crate::config::{Config, CryptoMode, Distribution, ValueModel, to_atomic};
use crate::crypto::{Count, RealCrypto};
use crate::error::Error;
use crate::ledger::{MarketLedger, Payee, Payment};
use crate::reputation::{self, Issuers, SEGMENTS, Scoring, TrustGraph};
use crate::rng::{Stream, StreamName, Streams};
use crate::strategy::{self, BidContext, RoundFeedback, Strategy};

/// Personas per shard: the unit of parallel work and of budget pacing.
pub const SHARD_PERSONAS: usize = 1_024;

/// What one round did (the rows of `rounds.csv`). Amounts are atomic units.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct RoundStats {
    /// Round number, from 0.
    pub round: u32,
    /// Auctions run.
    pub auctions: u64,
    /// Slots offered (auctions × slots).
    pub slots_offered: u64,
    /// Slots sold (impressions shown).
    pub impressions: u64,
    /// Clicks.
    pub clicks: u64,
    /// Conversions.
    pub conversions: u64,
    /// What personas were paid.
    pub revenue_atomic: u64,
    /// What honest users were paid.
    pub honest_revenue_atomic: u64,
    /// What Sybil personas were paid.
    pub sybil_revenue_atomic: u64,
    /// Advertisers' true value of the impressions shown (the market's welfare).
    pub welfare_atomic: u64,
    /// The welfare of the efficient assignment of the same opportunities.
    pub optimal_welfare_atomic: u64,
    /// What advertisers paid (charges plus specialists' fees).
    pub advertiser_spend_atomic: u64,
    /// What bundling specialists kept.
    pub bundler_margin_atomic: u64,
    /// Signatures made (`crypto = "real"`).
    pub signatures: u64,
    /// Signatures verified (`crypto = "real"`).
    pub verifications: u64,
    /// Advertisers whose budget is spent.
    pub budgets_exhausted: u32,
}

impl RoundStats {
    fn add(&mut self, other: &RoundStats) {
        self.auctions += other.auctions;
        self.slots_offered += other.slots_offered;
        self.impressions += other.impressions;
        self.clicks += other.clicks;
        self.conversions += other.conversions;
        self.revenue_atomic += other.revenue_atomic;
        self.honest_revenue_atomic += other.honest_revenue_atomic;
        self.sybil_revenue_atomic += other.sybil_revenue_atomic;
        self.welfare_atomic += other.welfare_atomic;
        self.optimal_welfare_atomic += other.optimal_welfare_atomic;
        self.advertiser_spend_atomic += other.advertiser_spend_atomic;
        self.bundler_margin_atomic += other.bundler_margin_atomic;
        self.signatures += other.signatures;
        self.verifications += other.verifications;
    }

    fn count(&mut self, count: Count) {
        self.signatures += count.signatures;
        self.verifications += count.verifications;
    }

    /// Advertisers' surplus: value − spend (may be negative).
    pub fn advertiser_surplus_atomic(&self) -> i128 {
        i128::from(self.welfare_atomic) - i128::from(self.advertiser_spend_atomic)
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct Tally {
    impressions: u64,
    value_atomic: u64,
    spend_atomic: u64,
    honest_atomic: u64,
    farm_atomic: u64,
    fee_atomic: u64,
}

struct ShardTotals {
    stats: RoundStats,
    advertisers: Vec<Tally>,
    farms: Vec<u64>,
    bundler_fees: Vec<u64>,
    /// Per bundler and segment: impressions and conversion value (micros).
    bundler_learning: Vec<(Vec<u64>, Vec<u64>)>,
}

impl ShardTotals {
    fn new(advertisers: usize, farms: usize, bundlers: usize) -> Self {
        Self {
            stats: RoundStats::default(),
            advertisers: vec![Tally::default(); advertisers],
            farms: vec![0; farms],
            bundler_fees: vec![0; bundlers],
            bundler_learning: vec![(vec![0; SEGMENTS], vec![0; SEGMENTS]); bundlers],
        }
    }

    fn absorb(&mut self, other: &ShardTotals) {
        self.stats.add(&other.stats);
        for (a, b) in self.advertisers.iter_mut().zip(&other.advertisers) {
            a.impressions += b.impressions;
            a.value_atomic += b.value_atomic;
            a.spend_atomic += b.spend_atomic;
            a.honest_atomic += b.honest_atomic;
            a.farm_atomic += b.farm_atomic;
            a.fee_atomic += b.fee_atomic;
        }
        for (a, b) in self.farms.iter_mut().zip(&other.farms) {
            *a += b;
        }
        for (a, b) in self.bundler_fees.iter_mut().zip(&other.bundler_fees) {
            *a += b;
        }
        for ((ai, av), (bi, bv)) in self
            .bundler_learning
            .iter_mut()
            .zip(&other.bundler_learning)
        {
            for (x, y) in ai.iter_mut().zip(bi) {
                *x += y;
            }
            for (x, y) in av.iter_mut().zip(bv) {
                *x += y;
            }
        }
    }
}

/// A running market.
pub struct Simulation {
    config: Config,
    personas: Vec<Persona>,
    advertisers: Vec<Advertiser>,
    strategies: Vec<Box<dyn Strategy>>,
    bundlers: Vec<Bundler>,
    issuers: Issuers,
    graph: TrustGraph,
    weights: Vec<f64>,
    ledger: MarketLedger,
    slots: Vec<SlotSpec>,
    auction_stream: Stream,
    strategy_stream: Stream,
    real: Option<RealCrypto>,
    /// Signatures made at setup (trust statements), reported with round 0.
    setup_crypto: Count,
    base_rate: f64,
    round: u32,
    honest_paid_atomic: u64,
    farms_paid_atomic: Vec<u64>,
    bundlers_paid_atomic: Vec<u64>,
    totals: RoundStats,
}

impl Simulation {
    /// A market with the built-in strategies named in the config.
    pub fn new(config: Config) -> Result<Self, Error> {
        let factory = {
            let config = config.clone();
            move |advertiser: u32| strategy::built_in(&config, advertiser)
        };
        Self::with_strategies(config, factory)
    }

    /// A market whose advertiser `a` bids with `factory(a)`: how economists plug in
    /// their own [`Strategy`].
    pub fn with_strategies(
        config: Config,
        mut factory: impl FnMut(u32) -> Box<dyn Strategy>,
    ) -> Result<Self, Error> {
        config.validate()?;
        let streams = Streams::new(config.seed);
        let issuers = Issuers::of(&config);
        let personas = agents::personas(&config, &streams, &issuers);
        let advertisers = agents::advertisers(&config, &streams);
        let strategies = (0..config.advertisers.count).map(&mut factory).collect();
        let bundlers = agents::bundlers(&config);
        let graph = TrustGraph::build(&config, &issuers, &streams);
        let weights = reputation::issuer_weights(&config, &graph)?;
        let budgets: Vec<Option<u64>> = advertisers.iter().map(|a| a.budget_atomic).collect();
        let ledger = MarketLedger::open(&budgets, config.sybil.farms, config.bundlers.count)?;
        let reserve_atomic = to_atomic(config.auction.reserve);
        let slots = config
            .click_weights_ppm()
            .into_iter()
            .enumerate()
            .map(|(rank, click_weight_ppm)| SlotSpec {
                rank: rank as u32,
                click_weight_ppm,
                reserve_atomic,
            })
            .collect();
        let real = match config.crypto {
            CryptoMode::Modelled => None,
            CryptoMode::Real => Some(RealCrypto::new(&issuers, streams.stream(StreamName::Keys))?),
        };
        let setup_crypto = match &real {
            Some(real) => real.trust_statements(&graph)?,
            None => Count::default(),
        };
        let users = &config.users;
        let base_rate = users.click_through.mean()
            * users.conversion.mean()
            * users.value_per_conversion.mean();
        Ok(Self {
            farms_paid_atomic: vec![0; config.sybil.farms as usize],
            bundlers_paid_atomic: vec![0; config.bundlers.count as usize],
            auction_stream: streams.stream(StreamName::Auctions),
            strategy_stream: streams.stream(StreamName::Strategy),
            real,
            setup_crypto,
            config,
            personas,
            advertisers,
            strategies,
            bundlers,
            issuers,
            graph,
            weights,
            ledger,
            slots,
            base_rate,
            round: 0,
            honest_paid_atomic: 0,
            totals: RoundStats::default(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Rounds run so far.
    pub fn rounds_done(&self) -> u32 {
        self.round
    }

    /// Whether every configured round has run.
    pub fn finished(&self) -> bool {
        self.round >= self.config.rounds
    }

    /// The totals over the rounds run so far.
    pub fn totals(&self) -> &RoundStats {
        &self.totals
    }

    /// Each issuer's trust weight relative to the seed set's mean (honest advertisers
    /// first, then each farm's keys); all 1 with `weighting = none`.
    pub fn issuer_weights(&self) -> &[f64] {
        &self.weights
    }

    /// The trust graph verifiers use.
    pub fn trust_graph(&self) -> &TrustGraph {
        &self.graph
    }

    /// Per farm, the sum of its keys' trust weights.
    pub fn farm_trust(&self) -> Vec<f64> {
        (0..self.issuers.farms)
            .map(|farm| {
                (0..self.issuers.keys_per_farm)
                    .map(|k| self.weights[self.issuers.farm_key(farm, k) as usize])
                    .sum()
            })
            .collect()
    }

    /// Per farm, what its personas were paid so far (atomic units).
    pub fn farm_revenue_atomic(&self) -> &[u64] {
        &self.farms_paid_atomic
    }

    /// Per farm, its personas' weighted receipts summed: the trust mass verifiers
    /// currently credit the farm with (`Q · Σ_keys w_k` with `eigentrust`).
    pub fn farm_weighted_receipts(&self) -> Vec<f64> {
        let scoring = self.scoring();
        let mut totals = vec![0.0; self.issuers.farms as usize];
        for persona in &self.personas {
            if !persona.is_honest() {
                totals[persona.farm as usize] += scoring.weighted(&persona.view);
            }
        }
        totals
    }

    /// Per farm, the sum of its personas' current reputation scores.
    pub fn farm_scores(&self) -> Vec<f64> {
        let scoring = self.scoring();
        let mut totals = vec![0.0; self.issuers.farms as usize];
        for persona in &self.personas {
            if !persona.is_honest() {
                totals[persona.farm as usize] += scoring.score(&persona.view);
            }
        }
        totals
    }

    /// Each advertiser's spend so far (atomic units).
    pub fn advertiser_spend_atomic(&self) -> Vec<u64> {
        self.advertisers.iter().map(|a| a.spent_atomic).collect()
    }

    fn scoring(&self) -> Scoring {
        let issued = self
            .personas
            .par_chunks(SHARD_PERSONAS)
            .map(|chunk| {
                let mut issued = vec![0u64; self.issuers.len()];
                for persona in chunk {
                    for (issuer, count) in persona.view.entries() {
                        issued[issuer as usize] += u64::from(count);
                    }
                }
                issued
            })
            .reduce(
                || vec![0u64; self.issuers.len()],
                |mut a, b| {
                    for (x, y) in a.iter_mut().zip(b) {
                        *x += y;
                    }
                    a
                },
            );
        Scoring::new(&self.config, &self.weights, &issued, &self.graph.seeds)
    }

    /// Runs one round and checks the invariants.
    pub fn step(&mut self) -> Result<RoundStats, Error> {
        let round = self.round;
        let rounds_left = u64::from(self.config.rounds.saturating_sub(round).max(1));
        let scoring = self.scoring();
        for (a, strategy) in self.strategies.iter_mut().enumerate() {
            let mut rng = self.strategy_stream.agent(a as u64, round);
            strategy.begin_round(round, &mut rng);
        }
        // Pacing: this round's budget is shared among the shards in proportion to the
        // audience's worth to a bidder (its reputation score with per-conversion
        // values, one per persona with per-impression values), in integer weights.
        let per_conversion = self.config.advertisers.value_model == ValueModel::PerConversion;
        let shard_weights: Vec<u64> = self
            .personas
            .par_chunks(SHARD_PERSONAS)
            .map(|chunk| {
                chunk
                    .iter()
                    .map(|persona| {
                        if per_conversion {
                            (scoring.score(&persona.view) * 1e6).round() as u64
                        } else {
                            1_000_000
                        }
                    })
                    .sum()
            })
            .collect();
        let round_budgets: Vec<Option<u64>> = self
            .advertisers
            .iter()
            .map(|a| a.budget_atomic.map(|_| a.remaining_atomic() / rounds_left))
            .collect();
        let allotment = Allotment {
            total_weight: shard_weights.iter().sum(),
            shard_weights,
            round_budgets,
        };
        let direct: Vec<u32> = (0..self.advertisers.len() as u32)
            .filter(|a| self.advertisers[*a as usize].bundler == DIRECT)
            .collect();
        let config = &self.config;
        let (value_low, value_high) = match config.advertisers.value {
            Distribution::Uniform { low, high } => (low, high),
            Distribution::Fixed { value } => (value, value),
            Distribution::Lognormal { .. } => (0.0, 0.0),
        };
        let context = RoundContext {
            config,
            round,
            mechanism: config.auction.mechanism.mechanism(),
            rules: Rules {
                one_slot_per_advertiser: config.auction.one_slot_per_advertiser,
            },
            slots: &self.slots,
            max_weight_ppm: self
                .slots
                .iter()
                .map(|s| s.click_weight_ppm)
                .max()
                .unwrap_or(0),
            reserve_atomic: to_atomic(config.auction.reserve),
            advertisers: &self.advertisers,
            strategies: &self.strategies,
            bundlers: &self.bundlers,
            direct: &direct,
            issuers: &self.issuers,
            scoring: &scoring,
            auction_stream: &self.auction_stream,
            real: self.real.as_ref(),
            allotment: &allotment,
            base_rate: self.base_rate,
            value_low_atomic: value_low * crate::config::ATOMIC_PER_UNIT,
            value_high_atomic: value_high * crate::config::ATOMIC_PER_UNIT,
        };
        let shard_results: Vec<Result<ShardTotals, Error>> = self
            .personas
            .par_chunks_mut(SHARD_PERSONAS)
            .enumerate()
            .map(|(shard, personas)| context.run_shard(shard, personas))
            .collect();
        let mut round_totals = ShardTotals::new(
            self.advertisers.len(),
            self.issuers.farms as usize,
            self.bundlers.len(),
        );
        for shard in shard_results {
            round_totals.absorb(&shard?);
        }
        self.finish_round(round, round_totals)
    }

    fn finish_round(&mut self, round: u32, totals: ShardTotals) -> Result<RoundStats, Error> {
        // Payments: what each advertiser owes honest users, farms and specialists.
        let mut payments = Vec::new();
        let mut fees = vec![0u64; self.bundlers.len()];
        for (a, tally) in totals.advertisers.iter().enumerate() {
            let advertiser = a as u32;
            payments.push(Payment {
                advertiser,
                payee: Payee::Honest,
                amount_atomic: tally.honest_atomic,
            });
            let bundler = self.advertisers[a].bundler;
            if bundler != DIRECT {
                fees[bundler as usize] += tally.fee_atomic;
                payments.push(Payment {
                    advertiser,
                    payee: Payee::Bundler(bundler),
                    amount_atomic: tally.fee_atomic,
                });
            }
            if tally.honest_atomic + tally.farm_atomic + tally.fee_atomic != tally.spend_atomic {
                return Err(Error::Invariant {
                    round,
                    message: format!("advertiser {a}'s spend differs from what it paid out"),
                });
            }
        }
        if fees != totals.bundler_fees {
            return Err(Error::Invariant {
                round,
                message: "specialists' fees differ from their clients' payments".into(),
            });
        }
        let owed: Vec<u64> = totals.advertisers.iter().map(|t| t.farm_atomic).collect();
        for (farm, advertiser, amount) in farm_payments(&owed, &totals.farms)
            .map_err(|message| Error::Invariant { round, message })?
        {
            payments.push(Payment {
                advertiser,
                payee: Payee::Farm(farm),
                amount_atomic: amount,
            });
        }
        self.ledger.settle_round(round, &payments)?;

        for (a, tally) in totals.advertisers.iter().enumerate() {
            let advertiser = &mut self.advertisers[a];
            advertiser.spent_atomic += tally.spend_atomic;
            if let Some(budget) = advertiser.budget_atomic
                && advertiser.spent_atomic > budget
            {
                return Err(Error::Invariant {
                    round,
                    message: format!(
                        "advertiser {a} spent {} over its budget {budget}",
                        advertiser.spent_atomic
                    ),
                });
            }
            self.strategies[a].end_round(&RoundFeedback {
                impressions: tally.impressions,
                value_atomic: tally.value_atomic,
                spend_atomic: tally.spend_atomic,
            });
        }
        for (bundler, (impressions, values)) in
            self.bundlers.iter_mut().zip(&totals.bundler_learning)
        {
            for s in 0..SEGMENTS {
                bundler.impressions[s] += impressions[s];
                bundler.conversion_value_micros[s] += values[s];
            }
        }
        self.honest_paid_atomic += totals.stats.honest_revenue_atomic;
        for (paid, earned) in self.farms_paid_atomic.iter_mut().zip(&totals.farms) {
            *paid += earned;
        }
        for (paid, earned) in self
            .bundlers_paid_atomic
            .iter_mut()
            .zip(&totals.bundler_fees)
        {
            *paid += earned;
        }
        let spent: Vec<u64> = self.advertisers.iter().map(|a| a.spent_atomic).collect();
        self.ledger.check_round(
            round,
            self.honest_paid_atomic,
            &self.farms_paid_atomic,
            &self.bundlers_paid_atomic,
            &spent,
        )?;
        let mut stats = totals.stats;
        stats.round = round;
        if round == 0 {
            stats.count(std::mem::take(&mut self.setup_crypto));
        }
        stats.budgets_exhausted = self
            .advertisers
            .iter()
            .filter(|a| a.budget_atomic.is_some() && a.remaining_atomic() == 0)
            .count() as u32;
        if stats.revenue_atomic + stats.bundler_margin_atomic != stats.advertiser_spend_atomic {
            return Err(Error::Invariant {
                round,
                message: "advertisers' spend differs from what personas and specialists got".into(),
            });
        }
        self.totals.add(&stats);
        self.totals.budgets_exhausted = stats.budgets_exhausted;
        self.round += 1;
        if self.finished() {
            self.ledger.full_check(round)?;
        }
        Ok(stats)
    }
}

/// Splits what advertisers owe farms (`owed[a]`) into (farm, advertiser, amount)
/// payments whose per-farm totals are `earned[f]`: a deterministic transport plan that
/// keeps both sides exact (the ledger settles in aggregate).
fn farm_payments(owed: &[u64], earned: &[u64]) -> Result<Vec<(u32, u32, u64)>, String> {
    if owed.iter().sum::<u64>() != earned.iter().sum::<u64>() {
        return Err("advertisers' payments to farms differ from the farms' earnings".into());
    }
    let mut owed = owed.to_vec();
    let mut out = Vec::new();
    let mut a = 0usize;
    for (farm, total) in earned.iter().enumerate() {
        let mut left = *total;
        while left > 0 {
            while owed[a] == 0 {
                a += 1;
            }
            let take = left.min(owed[a]);
            out.push((farm as u32, a as u32, take));
            owed[a] -= take;
            left -= take;
        }
    }
    Ok(out)
}

struct RoundContext<'a> {
    config: &'a Config,
    round: u32,
    mechanism: attn_receipts::Mechanism,
    rules: Rules,
    slots: &'a [SlotSpec],
    max_weight_ppm: u32,
    reserve_atomic: u64,
    advertisers: &'a [Advertiser],
    strategies: &'a [Box<dyn Strategy>],
    bundlers: &'a [Bundler],
    direct: &'a [u32],
    issuers: &'a Issuers,
    scoring: &'a Scoring,
    auction_stream: &'a Stream,
    real: Option<&'a RealCrypto>,
    allotment: &'a Allotment,
    base_rate: f64,
    value_low_atomic: f64,
    value_high_atomic: f64,
}

/// How a round's budgets are shared among shards.
struct Allotment {
    /// Per shard, its weight.
    shard_weights: Vec<u64>,
    /// The sum of the weights.
    total_weight: u64,
    /// Per advertiser, what it may spend this round (`None` = unlimited).
    round_budgets: Vec<Option<u64>>,
}

impl Allotment {
    /// What advertiser `a` may spend in `shard` (rounded down, so the shards' shares
    /// never add up to more than the round's budget).
    fn share(&self, a: usize, shard: usize) -> u64 {
        match self.round_budgets[a] {
            None => u64::MAX,
            Some(_) if self.total_weight == 0 => 0,
            Some(budget) => {
                (u128::from(budget) * u128::from(self.shard_weights[shard])
                    / u128::from(self.total_weight)) as u64
            }
        }
    }
}

/// Who a candidate bids for.
#[derive(Clone, Copy, Debug)]
struct CandidateMeta {
    advertiser: u32,
    bundler: u32,
}

impl RoundContext<'_> {
    fn run_shard(&self, shard: usize, personas: &mut [Persona]) -> Result<ShardTotals, Error> {
        let advertiser_count = self.advertisers.len();
        let mut totals = ShardTotals::new(
            advertiser_count,
            self.issuers.farms as usize,
            self.bundlers.len(),
        );
        let mut remaining: Vec<u64> = (0..advertiser_count)
            .map(|a| self.allotment.share(a, shard))
            .collect();
        let mut candidates: Vec<Candidate> = Vec::with_capacity(advertiser_count);
        let mut meta: Vec<CandidateMeta> = Vec::with_capacity(advertiser_count);
        let mut true_values = vec![0f64; advertiser_count];
        let mut draws = vec![0f64; advertiser_count];
        let mut bundle_bids: Vec<(u64, u32)> = Vec::with_capacity(advertiser_count);
        let mut best_values: Vec<f64> = Vec::with_capacity(self.slots.len() + 1);
        let mut top_prices: Vec<u64> = Vec::with_capacity(self.slots.len() + 2);
        let mut outcome = mechanism::Outcome::default();
        let config = self.config;
        let opportunities = config.users.opportunities_per_round;
        let per_impression = config.advertisers.value_model == ValueModel::PerImpression;
        let first_id = (shard * SHARD_PERSONAS) as u64;
        for (offset, persona) in personas.iter_mut().enumerate() {
            let id = first_id + offset as u64;
            let mut rng = self.auction_stream.agent(id, self.round);
            let score = self.scoring.score(&persona.view);
            let segment = reputation::segment(score, &persona.view);
            let honest = persona.is_honest();
            let persona_key = self.real.map(|real| real.persona_key(id));
            let mut conversions = 0u64;
            // Per-conversion: every bidder's estimate is its value times this factor.
            let common_factor = self.base_rate * score;
            for _ in 0..opportunities {
                let request_id = rng.bytes16();
                totals.stats.auctions += 1;
                totals.stats.slots_offered += self.slots.len() as u64;
                // True values (per unit of attention) and draws, for every advertiser.
                for (a, advertiser) in self.advertisers.iter().enumerate() {
                    true_values[a] = if per_impression {
                        // A bot's impression is worth nothing, whatever the draw.
                        draws[a] =
                            rng.draw(&config.advertisers.value) * crate::config::ATOMIC_PER_UNIT;
                        if honest { draws[a] } else { 0.0 }
                    } else if honest {
                        advertiser.value_atomic
                            * f64::from(persona.click_through)
                            * f64::from(persona.conversion)
                            * f64::from(persona.value_multiplier)
                    } else {
                        0.0
                    };
                }
                candidates.clear();
                meta.clear();
                top_prices.clear();
                // Direct advertisers.
                let (scale, bid_context) = if per_impression {
                    (
                        1.0,
                        BidContext {
                            mechanism: config.auction.mechanism,
                            reserve_atomic: self.reserve_atomic,
                            bidders: config.advertisers.count,
                            value_low_atomic: self.value_low_atomic,
                            value_high_atomic: self.value_high_atomic,
                        },
                    )
                } else {
                    (
                        common_factor,
                        BidContext {
                            mechanism: config.auction.mechanism,
                            reserve_atomic: self.reserve_atomic,
                            bidders: config.advertisers.count,
                            value_low_atomic: self.value_low_atomic * common_factor,
                            value_high_atomic: self.value_high_atomic * common_factor,
                        },
                    )
                };
                for &a in self.direct {
                    let advertiser = &self.advertisers[a as usize];
                    if persona.blocked & (1 << advertiser.category) != 0 {
                        continue;
                    }
                    let estimate = if per_impression {
                        draws[a as usize]
                    } else {
                        advertiser.value_atomic * scale
                    };
                    let price = self.strategies[a as usize].bid(estimate, &bid_context);
                    if price == 0 || price < self.reserve_atomic {
                        continue;
                    }
                    let max_charge = mul_ppm(price, self.max_weight_ppm);
                    if max_charge > remaining[a as usize] {
                        continue;
                    }
                    push_candidate(
                        &mut candidates,
                        &mut meta,
                        &mut top_prices,
                        self.slots.len(),
                        price,
                        advertiser,
                        a,
                        DIRECT,
                    );
                }
                // Bundling specialists: estimate per client from the segment model, keep
                // the margin, and submit only the best `slots` clients.
                for (b, bundler) in self.bundlers.iter().enumerate() {
                    bundle_bids.clear();
                    let rate = bundler.rate(segment, self.base_rate);
                    for &c in &bundler.clients {
                        let client = &self.advertisers[c as usize];
                        if persona.blocked & (1 << client.category) != 0 {
                            continue;
                        }
                        let estimate = if per_impression {
                            draws[c as usize]
                        } else {
                            client.value_atomic * rate
                        };
                        let price =
                            (estimate * (1.0 - bundler.margin_ppm as f64 / 1e6)).round() as u64;
                        if price == 0 || price < self.reserve_atomic {
                            continue;
                        }
                        let max_gross =
                            gross_up(mul_ppm(price, self.max_weight_ppm), bundler.margin_ppm);
                        if max_gross > remaining[c as usize] {
                            continue;
                        }
                        bundle_bids.push((price, c));
                    }
                    bundle_bids.sort_unstable_by(|x, y| y.0.cmp(&x.0).then(x.1.cmp(&y.1)));
                    for &(price, c) in bundle_bids.iter().take(self.slots.len()) {
                        push_candidate(
                            &mut candidates,
                            &mut meta,
                            &mut top_prices,
                            self.slots.len(),
                            price,
                            &self.advertisers[c as usize],
                            c,
                            b as u32,
                        );
                    }
                }
                // Efficient assignment of the same opportunity.
                best_values.clear();
                for (a, advertiser) in self.advertisers.iter().enumerate() {
                    let value = true_values[a];
                    if value > 0.0 && persona.blocked & (1 << advertiser.category) == 0 {
                        insert_top(&mut best_values, value, self.slots.len());
                    }
                }
                let optimal: f64 = best_values
                    .iter()
                    .zip(self.slots)
                    .map(|(v, s)| v * f64::from(s.click_weight_ppm) / 1e6)
                    .sum();
                totals.stats.optimal_welfare_atomic += optimal.round() as u64;
                if candidates.is_empty() {
                    continue;
                }
                // Tie-breaks: the product's hash, computed where it can matter (prices at
                // or above the (slots+1)-th highest), or for all with real crypto.
                let threshold = top_prices.last().copied().unwrap_or(0);
                let real = self.real.is_some();
                for candidate in candidates.iter_mut() {
                    if real || candidate.price_atomic >= threshold {
                        candidate.tiebreak =
                            mechanism::tiebreak(&request_id, &candidate.advertiser);
                    }
                }
                if let Some(real) = self.real {
                    let bids = candidates
                        .iter()
                        .zip(&meta)
                        .map(|(candidate, who)| (who.advertiser, candidate.price_atomic));
                    totals
                        .stats
                        .count(real.bids(&request_id, bids, self.round)?);
                }
                mechanism::run_into(
                    self.mechanism,
                    self.slots,
                    &candidates,
                    &self.rules,
                    &mut outcome,
                );
                for award in &outcome.awards {
                    let who = meta[award.candidate];
                    let a = who.advertiser as usize;
                    let slot = &self.slots[award.slot];
                    let charge = award.charge_atomic;
                    let fee = if who.bundler == DIRECT {
                        0
                    } else {
                        fee_on(charge, self.bundlers[who.bundler as usize].margin_ppm)
                    };
                    let gross = charge + fee;
                    if gross > remaining[a] {
                        return Err(Error::Invariant {
                            round: self.round,
                            message: format!("advertiser {a} won a charge over its budget share"),
                        });
                    }
                    if remaining[a] != u64::MAX {
                        remaining[a] -= gross;
                    }
                    let value = (true_values[a].max(0.0) * f64::from(slot.click_weight_ppm) / 1e6)
                        .round() as u64;
                    let tally = &mut totals.advertisers[a];
                    tally.impressions += 1;
                    tally.value_atomic += value;
                    tally.spend_atomic += gross;
                    let stats = &mut totals.stats;
                    stats.impressions += 1;
                    stats.revenue_atomic += charge;
                    stats.welfare_atomic += value;
                    stats.advertiser_spend_atomic += gross;
                    stats.bundler_margin_atomic += fee;
                    tally.fee_atomic += fee;
                    if honest {
                        stats.honest_revenue_atomic += charge;
                        tally.honest_atomic += charge;
                    } else {
                        stats.sybil_revenue_atomic += charge;
                        tally.farm_atomic += charge;
                        totals.farms[persona.farm as usize] += charge;
                    }
                    let clicked = rng.bernoulli(f64::from(persona.click_through));
                    let converted = clicked && rng.bernoulli(f64::from(persona.conversion));
                    stats.clicks += u64::from(clicked);
                    stats.conversions += u64::from(converted);
                    if who.bundler != DIRECT {
                        totals.bundler_fees[who.bundler as usize] += fee;
                        let learning = &mut totals.bundler_learning[who.bundler as usize];
                        learning.0[segment] += 1;
                        if converted {
                            learning.1[segment] +=
                                (f64::from(persona.value_multiplier) * 1e6).round() as u64;
                        }
                    }
                    // Receipts: a conversion receipt, the only kind that carries value
                    // (views and clicks prove no value created, so bots, which never
                    // convert, cannot earn honest issuers' receipts by being shown ads).
                    if converted {
                        persona.view.add(who.advertiser, 1);
                    }
                    if let (Some(real), Some(persona_key)) = (self.real, persona_key.as_ref()) {
                        totals.stats.count(real.impression(
                            &request_id,
                            persona_key,
                            who.advertiser,
                            award.slot,
                            charge,
                            self.round,
                        )?);
                        if converted {
                            let value_atomic = if per_impression {
                                to_atomic(f64::from(persona.value_multiplier))
                            } else {
                                (self.advertisers[a].value_atomic
                                    * f64::from(persona.value_multiplier))
                                .round() as u64
                            };
                            totals.stats.count(real.conversion(
                                who.advertiser,
                                persona_key,
                                (self.round, id, conversions),
                                value_atomic,
                            )?);
                            conversions += 1;
                        }
                    }
                }
            }
            if !honest {
                agents::mint(persona, config, self.issuers, id);
                if let (Some(real), Some(persona_key)) = (self.real, persona_key.as_ref()) {
                    let shares = agents::mint_shares(persona.farm, config, self.issuers, id);
                    totals
                        .stats
                        .count(real.mint(persona_key, self.round, id, shares)?);
                }
            }
        }
        Ok(totals)
    }
}

#[allow(clippy::too_many_arguments)]
#[inline]
fn push_candidate(
    candidates: &mut Vec<Candidate>,
    meta: &mut Vec<CandidateMeta>,
    top_prices: &mut Vec<u64>,
    slots: usize,
    price: u64,
    advertiser: &Advertiser,
    index: u32,
    bundler: u32,
) {
    candidates.push(Candidate {
        price_atomic: price,
        tiebreak: [0; 32],
        advertiser: advertiser.key,
        eligible: u32::MAX,
    });
    meta.push(CandidateMeta {
        advertiser: index,
        bundler,
    });
    // Keep the top (slots + 1) prices, descending.
    let keep = slots + 1;
    let position = top_prices.partition_point(|p| *p >= price);
    if position < keep {
        top_prices.insert(position, price);
        top_prices.truncate(keep);
    }
}

#[inline]
fn insert_top(values: &mut Vec<f64>, value: f64, keep: usize) {
    let position = values.partition_point(|v| *v >= value);
    if position < keep {
        values.insert(position, value);
        values.truncate(keep);
    }
}

#[inline]
fn mul_ppm(amount: u64, ppm: u32) -> u64 {
    (u128::from(amount) * u128::from(ppm) / 1_000_000) as u64
}

/// A specialist's fee on a client's charge: the client pays `charge / (1 − m)`, the
/// specialist keeps the difference (rounded down).
#[inline]
fn fee_on(charge: u64, margin_ppm: u64) -> u64 {
    (u128::from(charge) * u128::from(margin_ppm) / u128::from(1_000_000 - margin_ppm)) as u64
}

#[inline]
fn gross_up(charge: u64, margin_ppm: u64) -> u64 {
    charge + fee_on(charge, margin_ppm)
}
