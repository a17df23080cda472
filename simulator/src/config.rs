//! The TOML configuration of a run: every key, its default, and its validation.
//!
//! Parsing is strict: an unknown key, a value of the wrong type or a name outside an
//! allowed set is an error naming the key and the allowed values ([`Config::from_toml`]).
//! `docs/simulator.md` documents every key; keep the two in step.

use serde::{Deserialize, Serialize};

use crate::error::Error;

/// Most users in one run.
pub const USERS_MAX: u64 = 10_000_000;
/// Most advertisers in one run: every one may bid in every auction, and an auction
/// takes at most [`attn_receipts::limits::BIDS_PER_AUCTION_MAX`] bids.
pub const ADVERTISERS_MAX: u32 = attn_receipts::limits::BIDS_PER_AUCTION_MAX as u32;
/// Most rounds in one run.
pub const ROUNDS_MAX: u32 = 100_000;
/// Most ad opportunities per persona and round.
pub const OPPORTUNITIES_MAX: u32 = 64;
/// Most ranked slots per auction (the protocol's bound).
pub const SLOTS_MAX: u32 = attn_receipts::limits::SLOTS_PER_REQUEST_MAX as u32;
/// Most content categories (a user's blocked set is a 32-bit mask).
pub const CATEGORIES_MAX: u32 = 32;
/// Most Sybil farms.
pub const FARMS_MAX: u32 = 1_000;
/// Most personas in all farms together.
pub const SYBIL_PERSONAS_MAX: u64 = 10_000_000;
/// Most self-owned advertiser keys per farm: a persona discloses at most
/// [`crate::reputation::VIEW_ISSUERS_MAX`] issuers.
pub const KEYS_PER_FARM_MAX: u32 = 8;
/// Most shading factors a learning bidder explores.
pub const LEARNING_ARMS_MAX: usize = 64;
/// Most bundling specialists.
pub const BUNDLERS_MAX: u32 = 64;
/// Largest money amount in a config (values, reserves, budgets), in currency units.
pub const AMOUNT_MAX: f64 = 1e9;
/// Atomic units per currency unit: every amount in the engine is an integer number of
/// micro-units.
pub const ATOMIC_PER_UNIT: f64 = 1_000_000.0;

/// A whole run's configuration. `Default` is the `baseline` scenario's shape at a
/// small size.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The master seed every random stream is derived from.
    pub seed: u64,
    /// Number of discrete rounds.
    pub rounds: u32,
    /// Number of content categories (advertiser `a` is in category `a % categories`).
    pub categories: u32,
    /// Whether signatures are modelled (skipped) or real.
    pub crypto: CryptoMode,
    /// The auction.
    pub auction: AuctionConfig,
    /// Honest users.
    pub users: UsersConfig,
    /// Advertisers.
    pub advertisers: AdvertisersConfig,
    /// Sybil farms.
    pub sybil: SybilConfig,
    /// How verifiers weigh receipt issuers.
    pub trust: TrustConfig,
    /// How reputation views turn into scores.
    pub reputation: ReputationConfig,
    /// Bundling specialists.
    pub bundlers: BundlersConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            seed: 1,
            rounds: 10,
            categories: 8,
            crypto: CryptoMode::Modelled,
            auction: AuctionConfig::default(),
            users: UsersConfig::default(),
            advertisers: AdvertisersConfig::default(),
            sybil: SybilConfig::default(),
            trust: TrustConfig::default(),
            reputation: ReputationConfig::default(),
            bundlers: BundlersConfig::default(),
        }
    }
}

/// `crypto`: whether bids and impressions are really signed and verified.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CryptoMode {
    /// Signatures are assumed valid and not computed (the default).
    Modelled,
    /// Every bid and impression is signed and verified with `attn-receipts`.
    Real,
}

/// `[auction]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuctionConfig {
    /// `first-price`, `second-price`, `gsp` or `vcg`.
    pub mechanism: MechanismName,
    /// Ranked slots per auction.
    pub slots: u32,
    /// Click weight of each slot, best first, in (0, 10]; absent: 1.0, 0.7, 0.49, …
    pub click_weights: Option<Vec<f64>>,
    /// Reserve price per unit of attention, in currency units.
    pub reserve: f64,
    /// Whether an advertiser may win at most one slot of an auction.
    pub one_slot_per_advertiser: bool,
}

impl Default for AuctionConfig {
    fn default() -> Self {
        Self {
            mechanism: MechanismName::SecondPrice,
            slots: 1,
            click_weights: None,
            reserve: 0.0,
            one_slot_per_advertiser: true,
        }
    }
}

/// The mechanism names of `[auction] mechanism`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MechanismName {
    /// Each winner pays its bid.
    FirstPrice,
    /// The winner pays the highest losing bid or the reserve.
    SecondPrice,
    /// Generalised second price.
    Gsp,
    /// Vickrey–Clarke–Groves.
    Vcg,
}

impl MechanismName {
    /// The product's mechanism.
    pub fn mechanism(self) -> attn_receipts::Mechanism {
        match self {
            Self::FirstPrice => attn_receipts::Mechanism::FirstPrice,
            Self::SecondPrice => attn_receipts::Mechanism::SecondPrice,
            Self::Gsp => attn_receipts::Mechanism::Gsp,
            Self::Vcg => attn_receipts::Mechanism::Vcg,
        }
    }

    /// The config name.
    pub fn name(self) -> &'static str {
        self.mechanism().name()
    }
}

/// A distribution of a real value, written `{ dist = "uniform", low = 0, high = 1 }`,
/// `{ dist = "lognormal", mu = 0, sigma = 0.5 }` or `{ dist = "fixed", value = 1 }`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "dist", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Distribution {
    /// Uniform on `[low, high]`.
    Uniform {
        /// Lower bound.
        low: f64,
        /// Upper bound.
        high: f64,
    },
    /// `exp(N(mu, sigma²))`.
    Lognormal {
        /// Mean of the logarithm.
        mu: f64,
        /// Standard deviation of the logarithm.
        sigma: f64,
    },
    /// Always `value`.
    Fixed {
        /// The value.
        value: f64,
    },
}

impl Distribution {
    /// The mean.
    pub fn mean(&self) -> f64 {
        match *self {
            Self::Uniform { low, high } => (low + high) / 2.0,
            Self::Lognormal { mu, sigma } => (mu + sigma * sigma / 2.0).exp(),
            Self::Fixed { value } => value,
        }
    }

    fn validate(&self, key: &str, min: f64, max: f64) -> Result<(), Error> {
        let in_range = |v: f64| v.is_finite() && v >= min && v <= max;
        match *self {
            Self::Uniform { low, high } => {
                if !in_range(low) || !in_range(high) || low > high {
                    return Err(Error::value(
                        key,
                        format!(
                            "uniform needs {min} <= low <= high <= {max}, got low = {low}, high = {high}"
                        ),
                    ));
                }
            }
            Self::Lognormal { mu, sigma } => {
                if !mu.is_finite() || !sigma.is_finite() || !(0.0..=5.0).contains(&sigma) {
                    return Err(Error::value(
                        key,
                        format!(
                            "lognormal needs a finite mu and 0 <= sigma <= 5, got mu = {mu}, sigma = {sigma}"
                        ),
                    ));
                }
                if min > 0.0 || self.mean() > max {
                    return Err(Error::value(
                        key,
                        format!(
                            "lognormal values must lie in [{min}, {max}]; use uniform or fixed here"
                        ),
                    ));
                }
            }
            Self::Fixed { value } => {
                if !in_range(value) {
                    return Err(Error::value(
                        key,
                        format!("fixed needs {min} <= value <= {max}, got {value}"),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// `[users]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UsersConfig {
    /// Number of honest users (one persona each).
    pub count: u64,
    /// Ad opportunities (auctions) per persona and round.
    pub opportunities_per_round: u32,
    /// Latent probability of a click per impression (values in [0, 1]).
    pub click_through: Distribution,
    /// Latent probability of a conversion per click (values in [0, 1]).
    pub conversion: Distribution,
    /// Multiplier of an advertiser's value per conversion for this user (basket size).
    pub value_per_conversion: Distribution,
    /// Probability that a user blocks each category.
    pub block_probability: f64,
    /// Mean number of receipts in a user's history at the start.
    pub history_receipts: f64,
    /// Number of distinct advertisers a user's history comes from.
    pub history_issuers: u32,
}

impl Default for UsersConfig {
    fn default() -> Self {
        Self {
            count: 1_000,
            opportunities_per_round: 2,
            click_through: Distribution::Uniform {
                low: 0.01,
                high: 0.05,
            },
            conversion: Distribution::Uniform {
                low: 0.05,
                high: 0.25,
            },
            value_per_conversion: Distribution::Fixed { value: 1.0 },
            block_probability: 0.1,
            history_receipts: 10.0,
            history_issuers: 3,
        }
    }
}

/// `[advertisers]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdvertisersConfig {
    /// Number of honest advertisers.
    pub count: u32,
    /// Private values: per conversion, or per impression (see `value_model`), in
    /// currency units.
    pub value: Distribution,
    /// `per-conversion` or `per-impression`.
    pub value_model: ValueModel,
    /// `truthful`, `bne`, `shade` or `learning`.
    pub strategy: StrategyName,
    /// The factor of `shade` (bid = factor × value), in (0, 1].
    pub shade: f64,
    /// The learning bidder's bandit.
    pub learning: LearningConfig,
    /// Each advertiser's budget for the whole run, in currency units; 0 = unlimited.
    pub budget: f64,
}

impl Default for AdvertisersConfig {
    fn default() -> Self {
        Self {
            count: 10,
            value: Distribution::Uniform {
                low: 0.0,
                high: 1.0,
            },
            value_model: ValueModel::PerImpression,
            strategy: StrategyName::Truthful,
            shade: 0.8,
            learning: LearningConfig::default(),
            budget: 0.0,
        }
    }
}

/// How advertisers value an impression.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ValueModel {
    /// Each advertiser has one value per conversion; an impression on user `u` is worth
    /// `value × ctr(u) × conversion(u) × value_per_conversion(u)`, which the advertiser
    /// estimates from `u`'s public reputation view.
    PerConversion,
    /// Each advertiser's value for each impression is a fresh independent draw (the
    /// textbook independent private values setting).
    PerImpression,
}

/// The built-in strategies of `[advertisers] strategy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StrategyName {
    /// Bid the value.
    Truthful,
    /// The symmetric Bayes–Nash equilibrium bid (closed form; see `strategy::Bne`).
    Bne,
    /// Bid a fixed fraction of the value.
    Shade,
    /// An epsilon-greedy bandit over shading factors.
    Learning,
}

/// `[advertisers.learning]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LearningConfig {
    /// The shading factors explored (arms), each in (0, 1].
    pub factors: Vec<f64>,
    /// Probability of exploring a random arm in a round.
    pub epsilon: f64,
}

impl Default for LearningConfig {
    fn default() -> Self {
        Self {
            factors: vec![0.5, 0.6, 0.7, 0.8, 0.9, 1.0],
            epsilon: 0.1,
        }
    }
}

/// `[sybil]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SybilConfig {
    /// Number of farms.
    pub farms: u32,
    /// Personas per farm (each runs auctions like a user).
    pub personas_per_farm: u64,
    /// Self-owned advertiser keys per farm, which mint receipts to its personas and
    /// endorse each other.
    pub keys_per_farm: u32,
    /// Per farm, the number of honest advertisers that endorse one of its keys.
    pub attack_edges: u32,
    /// Probability that a bot clicks an impression (bots never convert).
    pub bot_click_through: f64,
    /// Receipts each farm mints to each of its personas per round.
    pub receipts_per_round: u32,
}

impl Default for SybilConfig {
    fn default() -> Self {
        Self {
            farms: 0,
            personas_per_farm: 100,
            keys_per_farm: 2,
            attack_edges: 0,
            bot_click_through: 0.05,
            receipts_per_round: 10,
        }
    }
}

/// `[trust]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrustConfig {
    /// `none` (every receipt counts) or `eigentrust`.
    pub weighting: Weighting,
    /// Number of honest advertisers in the verifiers' seed set (the first ones),
    /// capped at `advertisers.count`.
    pub seeds: u32,
    /// Honest advertisers each honest advertiser endorses, capped at
    /// `advertisers.count − 1`.
    pub edges_per_advertiser: u32,
    /// Damping of the verifiers' EigenTrust, in `[0, 1)`: the share of trust that
    /// flows along endorsements each step.
    pub damping: f64,
}

impl TrustConfig {
    /// The seed set's size: `seeds`, capped at the number of advertisers.
    pub fn effective_seeds(&self, advertisers: u32) -> u32 {
        self.seeds.min(advertisers)
    }

    /// Endorsements per honest advertiser: `edges_per_advertiser`, capped at the
    /// number of other advertisers.
    pub fn effective_edges(&self, advertisers: u32) -> u32 {
        self.edges_per_advertiser.min(advertisers.saturating_sub(1))
    }
}

impl Default for TrustConfig {
    fn default() -> Self {
        Self {
            weighting: Weighting::Eigentrust,
            seeds: 3,
            edges_per_advertiser: 3,
            damping: attn_receipts::trust::DAMPING_DEFAULT,
        }
    }
}

/// `[trust] weighting`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Weighting {
    /// Every receipt counts the same, whoever issued it.
    None,
    /// Issuers are weighted by personalised EigenTrust from the seed set.
    Eigentrust,
}

/// `[reputation]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReputationConfig {
    /// With `weighting = none`: the receipt count at which a persona's score reaches 1.
    pub saturation: f64,
}

impl Default for ReputationConfig {
    fn default() -> Self {
        Self { saturation: 20.0 }
    }
}

/// `[bundlers]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BundlersConfig {
    /// Number of bundling specialists.
    pub count: u32,
    /// Advertisers each specialist bids for (taken from the first advertisers);
    /// `count × clients` must not exceed `advertisers.count`.
    pub clients: u32,
    /// The share of its clients' value a specialist keeps, in [0, 1).
    pub margin: f64,
}

impl Default for BundlersConfig {
    fn default() -> Self {
        Self {
            count: 0,
            clients: 5,
            margin: 0.1,
        }
    }
}

impl Config {
    /// Parses and validates a TOML configuration.
    ///
    /// # Example
    /// ```
    /// let config = attn_simulator::Config::from_toml("seed = 7\n[users]\ncount = 50\n")?;
    /// assert_eq!(config.users.count, 50);
    /// let error = attn_simulator::Config::from_toml("[auction]\nmechanism = \"dutch\"\n")
    ///     .unwrap_err().to_string();
    /// assert!(error.contains("mechanism") && error.contains("second-price"));
    /// # Ok::<(), attn_simulator::Error>(())
    /// ```
    pub fn from_toml(text: &str) -> Result<Self, Error> {
        let config: Config = toml::from_str(text).map_err(|error| Error::ConfigSyntax {
            message: error.to_string(),
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Parses a configuration from a TOML value tree (what sweeps edit).
    pub fn from_value(value: toml::Value) -> Result<Self, Error> {
        let config: Config =
            value
                .try_into()
                .map_err(|error: toml::de::Error| Error::ConfigSyntax {
                    message: error.to_string(),
                })?;
        config.validate()?;
        Ok(config)
    }

    /// The configuration as TOML text (echoed in outputs).
    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_else(|error| format!("# not serialisable: {error}"))
    }

    /// The click weights of the slots, in parts per million, best first.
    pub fn click_weights_ppm(&self) -> Vec<u32> {
        match &self.auction.click_weights {
            Some(weights) => weights.iter().map(|w| (w * 1e6).round() as u32).collect(),
            None => (0..self.auction.slots)
                .map(|rank| (0.7f64.powi(rank as i32) * 1e6).round() as u32)
                .collect(),
        }
    }

    /// Total personas: honest users plus every farm's personas.
    pub fn personas(&self) -> u64 {
        self.users.count + u64::from(self.sybil.farms) * self.sybil.personas_per_farm
    }

    /// Checks every range and every relation between keys.
    pub fn validate(&self) -> Result<(), Error> {
        let range = |key: &str, value: u64, min: u64, max: u64| {
            if value < min || value > max {
                Err(Error::value(
                    key,
                    format!("must be in {min}..={max}, got {value}"),
                ))
            } else {
                Ok(())
            }
        };
        let unit = |key: &str, value: f64| {
            if !(0.0..=1.0).contains(&value) {
                Err(Error::value(key, format!("must be in [0, 1], got {value}")))
            } else {
                Ok(())
            }
        };
        range("rounds", self.rounds.into(), 1, ROUNDS_MAX.into())?;
        range(
            "categories",
            self.categories.into(),
            1,
            CATEGORIES_MAX.into(),
        )?;

        let auction = &self.auction;
        range("auction.slots", auction.slots.into(), 1, SLOTS_MAX.into())?;
        if auction.mechanism == MechanismName::SecondPrice && auction.slots != 1 {
            return Err(Error::value(
                "auction.slots",
                "second-price sells exactly one slot; use gsp or vcg for several",
            ));
        }
        if let Some(weights) = &auction.click_weights {
            if weights.len() != auction.slots as usize {
                return Err(Error::value(
                    "auction.click_weights",
                    format!(
                        "needs one weight per slot ({}), got {}",
                        auction.slots,
                        weights.len()
                    ),
                ));
            }
            let max = f64::from(attn_receipts::limits::CLICK_WEIGHT_PPM_MAX) / 1e6;
            if weights.iter().any(|w| !(*w > 0.0 && *w <= max)) {
                return Err(Error::value(
                    "auction.click_weights",
                    format!("each weight must be in (0, {max}]"),
                ));
            }
            if weights.windows(2).any(|pair| pair[0] < pair[1]) {
                return Err(Error::value(
                    "auction.click_weights",
                    "weights must not increase with rank (best slot first)",
                ));
            }
        }
        money("auction.reserve", auction.reserve)?;

        let users = &self.users;
        range("users.count", users.count, 1, USERS_MAX)?;
        range(
            "users.opportunities_per_round",
            users.opportunities_per_round.into(),
            1,
            OPPORTUNITIES_MAX.into(),
        )?;
        users
            .click_through
            .validate("users.click_through", 0.0, 1.0)?;
        users.conversion.validate("users.conversion", 0.0, 1.0)?;
        users
            .value_per_conversion
            .validate("users.value_per_conversion", 0.0, 1e6)?;
        unit("users.block_probability", users.block_probability)?;
        if !(0.0..=1e6).contains(&users.history_receipts) {
            return Err(Error::value(
                "users.history_receipts",
                "must be in [0, 1000000]",
            ));
        }
        range(
            "users.history_issuers",
            users.history_issuers.into(),
            1,
            crate::reputation::VIEW_ISSUERS_MAX as u64,
        )?;

        let advertisers = &self.advertisers;
        range(
            "advertisers.count",
            advertisers.count.into(),
            1,
            ADVERTISERS_MAX.into(),
        )?;
        advertisers
            .value
            .validate("advertisers.value", 0.0, AMOUNT_MAX)?;
        if !(advertisers.shade > 0.0 && advertisers.shade <= 1.0) {
            return Err(Error::value(
                "advertisers.shade",
                format!("must be in (0, 1], got {}", advertisers.shade),
            ));
        }
        let learning = &advertisers.learning;
        if learning.factors.is_empty() || learning.factors.len() > LEARNING_ARMS_MAX {
            return Err(Error::value(
                "advertisers.learning.factors",
                format!("needs 1..={LEARNING_ARMS_MAX} factors"),
            ));
        }
        if learning.factors.iter().any(|f| !(*f > 0.0 && *f <= 1.0)) {
            return Err(Error::value(
                "advertisers.learning.factors",
                "each factor must be in (0, 1]",
            ));
        }
        unit("advertisers.learning.epsilon", learning.epsilon)?;
        money("advertisers.budget", advertisers.budget)?;
        if advertisers.strategy == StrategyName::Bne
            && auction.mechanism == MechanismName::FirstPrice
        {
            if auction.slots != 1 {
                return Err(Error::value(
                    "advertisers.strategy",
                    "bne has a closed form for first-price with one slot only; allowed with several slots: truthful, shade, learning",
                ));
            }
            if matches!(advertisers.value, Distribution::Lognormal { .. }) {
                return Err(Error::value(
                    "advertisers.strategy",
                    "bne in first-price has a closed form for uniform or fixed values only; allowed with lognormal: truthful, shade, learning",
                ));
            }
        }

        let sybil = &self.sybil;
        range("sybil.farms", sybil.farms.into(), 0, FARMS_MAX.into())?;
        range(
            "sybil.personas_per_farm",
            sybil.personas_per_farm,
            1,
            SYBIL_PERSONAS_MAX,
        )?;
        range(
            "sybil.personas_per_farm",
            u64::from(sybil.farms) * sybil.personas_per_farm,
            0,
            SYBIL_PERSONAS_MAX,
        )?;
        range(
            "sybil.keys_per_farm",
            sybil.keys_per_farm.into(),
            1,
            KEYS_PER_FARM_MAX.into(),
        )?;
        range(
            "sybil.attack_edges",
            sybil.attack_edges.into(),
            0,
            advertisers.count.into(),
        )?;
        unit("sybil.bot_click_through", sybil.bot_click_through)?;
        range(
            "sybil.receipts_per_round",
            sybil.receipts_per_round.into(),
            0,
            1_000_000,
        )?;

        // Seeds and endorsements are capped at what the advertisers allow (see
        // `TrustConfig::effective_seeds`), so that the defaults fit any market size.
        let trust = &self.trust;
        range("trust.seeds", trust.seeds.into(), 1, ADVERTISERS_MAX.into())?;
        range(
            "trust.edges_per_advertiser",
            trust.edges_per_advertiser.into(),
            0,
            ADVERTISERS_MAX.into(),
        )?;
        if !(0.0..1.0).contains(&trust.damping) {
            return Err(Error::value(
                "trust.damping",
                format!("must be in [0, 1), got {}", trust.damping),
            ));
        }
        if !(self.reputation.saturation >= 1.0 && self.reputation.saturation <= 1e9) {
            return Err(Error::value("reputation.saturation", "must be in [1, 1e9]"));
        }

        let bundlers = &self.bundlers;
        range(
            "bundlers.count",
            bundlers.count.into(),
            0,
            BUNDLERS_MAX.into(),
        )?;
        range(
            "bundlers.clients",
            bundlers.clients.into(),
            1,
            ADVERTISERS_MAX.into(),
        )?;
        if u64::from(bundlers.count) * u64::from(bundlers.clients) > u64::from(advertisers.count) {
            return Err(Error::value(
                "bundlers.clients",
                format!(
                    "bundlers.count × bundlers.clients ({} × {}) exceeds advertisers.count ({})",
                    bundlers.count, bundlers.clients, advertisers.count
                ),
            ));
        }
        if !(0.0..1.0).contains(&bundlers.margin) {
            return Err(Error::value(
                "bundlers.margin",
                format!("must be in [0, 1), got {}", bundlers.margin),
            ));
        }
        if self.personas() > USERS_MAX + SYBIL_PERSONAS_MAX {
            return Err(Error::value("users.count", "too many personas in total"));
        }
        Ok(())
    }
}

fn money(key: &str, value: f64) -> Result<(), Error> {
    if !(value.is_finite() && (0.0..=AMOUNT_MAX).contains(&value)) {
        return Err(Error::value(
            key,
            format!("must be an amount in [0, {AMOUNT_MAX}] currency units, got {value}"),
        ));
    }
    Ok(())
}

/// Currency units to atomic units (micro-units), rounded to nearest.
pub fn to_atomic(units: f64) -> u64 {
    (units.max(0.0) * ATOMIC_PER_UNIT).round() as u64
}

/// Atomic units to currency units (for reports only).
pub fn to_units(atomic: f64) -> f64 {
    atomic / ATOMIC_PER_UNIT
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(text: &str) -> String {
        Config::from_toml(text).unwrap_err().to_string()
    }

    #[test]
    fn defaults_are_valid_and_round_trip() {
        let config = Config::default();
        config.validate().unwrap();
        assert_eq!(Config::from_toml(&config.to_toml()).unwrap(), config);
        assert_eq!(Config::from_toml("").unwrap(), config);
    }

    #[test]
    fn unknown_keys_and_names_are_refused_with_the_allowed_values() {
        let e = error("[auction]\nmechanism = \"dutch\"\n");
        assert!(e.contains("mechanism"), "{e}");
        for allowed in ["first-price", "second-price", "gsp", "vcg"] {
            assert!(e.contains(allowed), "{e}");
        }
        let e = error("[users]\ncuont = 3\n");
        assert!(e.contains("cuont") && e.contains("count"), "{e}");
        let e = error("[advertisers]\nstrategy = \"greedy\"\n");
        assert!(e.contains("truthful") && e.contains("learning"), "{e}");
        let e = error("[advertisers]\nvalue = { dist = \"pareto\" }\n");
        assert!(e.contains("uniform") && e.contains("lognormal"), "{e}");
        let e = error("[trust]\nweighting = \"pagerank\"\n");
        assert!(e.contains("eigentrust"), "{e}");
        let e = error("crypto = \"fake\"\n");
        assert!(e.contains("modelled") && e.contains("real"), "{e}");
    }

    #[test]
    fn defaults_fit_a_market_of_two_advertisers() {
        let config = Config::from_toml("[advertisers]\ncount = 2\n").unwrap();
        assert_eq!(config.trust.effective_seeds(2), 2);
        assert_eq!(config.trust.effective_edges(2), 1);
        assert!(error("[trust]\nseeds = 0").contains("`trust.seeds`"));
        assert!(error("[trust]\ndamping = 1.0").contains("`trust.damping`"));
        assert!(error("[trust]\ndamping = -0.1").contains("`trust.damping`"));
        assert!(
            error("[advertisers]\ncount = 2\n[bundlers]\ncount = 1\nclients = 3")
                .contains("`bundlers.clients`")
        );
    }

    #[test]
    fn out_of_range_values_name_their_key() {
        assert!(error("rounds = 0").contains("`rounds`"));
        assert!(error("[users]\ncount = 0").contains("`users.count`"));
        assert!(error("[users]\ncount = 10000001").contains("`users.count`"));
        assert!(error("[advertisers]\ncount = 257").contains("`advertisers.count`"));
        assert!(error("[auction]\nslots = 17").contains("`auction.slots`"));
        assert!(error("[auction]\nslots = 2").contains("second-price"));
        assert!(
            error("[auction]\nmechanism = \"gsp\"\nslots = 2\nclick_weights = [0.5, 1.0]")
                .contains("`auction.click_weights`")
        );
        assert!(error("[auction]\nreserve = -1").contains("`auction.reserve`"));
        assert!(error("[bundlers]\nmargin = 1.0").contains("`bundlers.margin`"));
        assert!(error("[bundlers]\ncount = 3\nclients = 5").contains("`bundlers.clients`"));
        assert!(
            error("[advertisers]\nvalue = { dist = \"uniform\", low = 2, high = 1 }")
                .contains("`advertisers.value`")
        );
        assert!(error("[sybil]\nkeys_per_farm = 9").contains("`sybil.keys_per_farm`"));
        assert!(error("[sybil]\nattack_edges = 11").contains("`sybil.attack_edges`"));
        assert!(
            error("[auction]\nmechanism = \"first-price\"\n[advertisers]\nstrategy = \"bne\"\nvalue = { dist = \"lognormal\", mu = 0, sigma = 1 }")
                .contains("`advertisers.strategy`")
        );
        assert!(
            error("[advertisers.learning]\nfactors = []")
                .contains("`advertisers.learning.factors`")
        );
    }
}
