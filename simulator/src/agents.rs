//! The agents: personas (honest users and Sybil bots), advertisers, bundling
//! specialists, and how they are drawn from the config's streams.

use crate::config::{Config, ValueModel, to_atomic};
use crate::reputation::{Issuers, SEGMENTS, View};
use crate::rng::{StreamName, Streams};

/// The `farm` of an honest user.
pub const HONEST: u32 = u32::MAX;
/// The `bundler` of an advertiser that bids for itself.
pub const DIRECT: u32 = u32::MAX;

/// One persona: an honest user or a farm's bot. Kept small (1M of them fit in ~100 MB).
#[derive(Clone, Copy, Debug)]
pub struct Persona {
    /// Latent probability of a click per impression.
    pub click_through: f32,
    /// Latent probability of a conversion per click (0 for bots).
    pub conversion: f32,
    /// Multiplier of an advertiser's value per conversion.
    pub value_multiplier: f32,
    /// Blocked categories (bit `c` = category `c`).
    pub blocked: u32,
    /// The farm, or [`HONEST`].
    pub farm: u32,
    /// The public view of its receipts.
    pub view: View,
}

impl Persona {
    /// Whether this persona is an honest user.
    pub fn is_honest(&self) -> bool {
        self.farm == HONEST
    }
}

/// Draws every persona: honest users `0..users.count`, then each farm's personas.
pub fn personas(config: &Config, streams: &Streams, issuers: &Issuers) -> Vec<Persona> {
    let stream = streams.stream(StreamName::UserTraits);
    let users = &config.users;
    let mean_propensity = users.click_through.mean() * users.conversion.mean();
    let mut personas = Vec::with_capacity(config.personas() as usize);
    for id in 0..users.count {
        let mut rng = stream.agent(id, 0);
        let click_through = rng.draw(&users.click_through).clamp(0.0, 1.0);
        let conversion = rng.draw(&users.conversion).clamp(0.0, 1.0);
        let value_multiplier = rng.draw(&users.value_per_conversion).max(0.0);
        let mut blocked = 0u32;
        for category in 0..config.categories {
            if rng.bernoulli(users.block_probability) {
                blocked |= 1 << category;
            }
        }
        // History: receipts proportional to the user's propensity, from a few issuers.
        let relative = if mean_propensity > 0.0 {
            click_through * conversion / mean_propensity
        } else {
            1.0
        };
        let expected = users.history_receipts * relative;
        let receipts = (expected * 2.0 * rng.unit()).round() as u32;
        let mut view = View::default();
        let issuers_drawn = users.history_issuers.min(issuers.honest);
        for i in 0..issuers_drawn {
            let issuer = rng.below(u64::from(issuers.honest)) as u32;
            let share = receipts / issuers_drawn + u32::from(i < receipts % issuers_drawn);
            if share > 0 {
                view.add(issuer, share);
            }
        }
        personas.push(Persona {
            click_through: click_through as f32,
            conversion: conversion as f32,
            value_multiplier: value_multiplier as f32,
            blocked,
            farm: HONEST,
            view,
        });
    }
    for farm in 0..config.sybil.farms {
        for persona in 0..config.sybil.personas_per_farm {
            let mut bot = Persona {
                click_through: config.sybil.bot_click_through as f32,
                conversion: 0.0,
                value_multiplier: 0.0,
                blocked: 0,
                farm,
                view: View::default(),
            };
            mint(&mut bot, config, issuers, persona);
            personas.push(bot);
        }
    }
    personas
}

/// A farm's keys mint `sybil.receipts_per_round` receipts to one of its personas,
/// spread evenly over the keys.
pub fn mint(persona: &mut Persona, config: &Config, issuers: &Issuers, index: u64) {
    for (issuer, share) in mint_shares(persona.farm, config, issuers, index) {
        persona.view.add(issuer, share);
    }
}

/// The `(issuer, receipts)` a farm's keys mint to its persona number `index` in a round.
pub fn mint_shares<'a>(
    farm: u32,
    config: &'a Config,
    issuers: &'a Issuers,
    index: u64,
) -> impl Iterator<Item = (u32, u32)> + 'a {
    let keys = config.sybil.keys_per_farm;
    let total = config.sybil.receipts_per_round;
    (0..keys).filter_map(move |k| {
        // Rotate which key gets the remainder so keys issue equally overall.
        let slot = (u64::from(k) + index) % u64::from(keys);
        let share = total / keys + u32::from((slot as u32) < total % keys);
        (share > 0).then(|| (issuers.farm_key(farm, k), share))
    })
}

/// One honest advertiser.
#[derive(Clone, Debug)]
pub struct Advertiser {
    /// Its public key bytes (its id).
    pub key: [u8; 32],
    /// Its value per conversion (per-conversion model), atomic units.
    pub value_atomic: f64,
    /// Its creative's category.
    pub category: u32,
    /// The specialist bidding for it, or [`DIRECT`].
    pub bundler: u32,
    /// Its budget for the run, atomic units (`None` = unlimited).
    pub budget_atomic: Option<u64>,
    /// What it has spent so far, atomic units.
    pub spent_atomic: u64,
}

impl Advertiser {
    /// Budget left (`u64::MAX` if unlimited).
    pub fn remaining_atomic(&self) -> u64 {
        self.budget_atomic
            .map_or(u64::MAX, |budget| budget.saturating_sub(self.spent_atomic))
    }
}

/// Draws every advertiser. Keys come from the `Keys` stream (agent = advertiser).
pub fn advertisers(config: &Config, streams: &Streams) -> Vec<Advertiser> {
    let traits = streams.stream(StreamName::AdvertiserTraits);
    let keys = streams.stream(StreamName::Keys);
    let clients = config.bundlers.clients;
    (0..config.advertisers.count)
        .map(|a| {
            let mut rng = traits.agent(u64::from(a), 0);
            let value = rng.draw(&config.advertisers.value);
            let secret = keys.agent(u64::from(a), 0).bytes32();
            let key = attn_receipts::AdvertiserKey::from_secret_bytes(&secret)
                .public_key()
                .to_bytes();
            let bundler = if a < config.bundlers.count * clients {
                a / clients
            } else {
                DIRECT
            };
            Advertiser {
                key,
                value_atomic: match config.advertisers.value_model {
                    ValueModel::PerConversion => value * crate::config::ATOMIC_PER_UNIT,
                    ValueModel::PerImpression => 0.0,
                },
                category: a % config.categories,
                bundler,
                budget_atomic: (config.advertisers.budget > 0.0)
                    .then(|| to_atomic(config.advertisers.budget)),
                spent_atomic: 0,
            }
        })
        .collect()
}

/// A bundling specialist: bids for its clients from a model of segments it learns
/// from its clients' impressions and conversions, keeping a margin.
#[derive(Clone, Debug)]
pub struct Bundler {
    /// Its clients (advertiser indices).
    pub clients: Vec<u32>,
    /// Impressions its clients won, per segment.
    pub impressions: Vec<u64>,
    /// Sum of value multipliers of the conversions its clients got, per segment, in
    /// millionths.
    pub conversion_value_micros: Vec<u64>,
    /// Its margin, parts per million of what a client pays.
    pub margin_ppm: u64,
}

/// Prior weight (in impressions) of a specialist's segment estimates.
pub const BUNDLER_PRIOR_IMPRESSIONS: f64 = 200.0;

impl Bundler {
    /// Its estimate of a segment's value per impression per unit of value per
    /// conversion (shrunk toward `base_rate`).
    pub fn rate(&self, segment: usize, base_rate: f64) -> f64 {
        (self.conversion_value_micros[segment] as f64 / 1e6 + BUNDLER_PRIOR_IMPRESSIONS * base_rate)
            / (self.impressions[segment] as f64 + BUNDLER_PRIOR_IMPRESSIONS)
    }
}

/// The specialists of a config.
pub fn bundlers(config: &Config) -> Vec<Bundler> {
    let clients = config.bundlers.clients;
    (0..config.bundlers.count)
        .map(|b| Bundler {
            clients: (b * clients..(b + 1) * clients).collect(),
            impressions: vec![0; SEGMENTS],
            conversion_value_micros: vec![0; SEGMENTS],
            margin_ppm: (config.bundlers.margin * 1e6).round() as u64,
        })
        .collect()
}
