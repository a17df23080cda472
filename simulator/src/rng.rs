//! Deterministic, counter-based random streams.
//!
//! One master seed is split into named streams, one per subsystem ([`StreamName`]).
//! Each stream is ChaCha8 keyed by `SHA-256("attn/sim/v1" ‖ seed ‖ name)`; within a
//! stream, an agent's draws for a round are the ChaCha keystream at nonce = the agent's
//! id and block position = `round × 2³²` words. Any agent's randomness for any round is
//! therefore reachable directly, whichever thread asks and in whatever order: results
//! do not depend on the number of threads or on scheduling.

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};
use sha2::{Digest, Sha256};

/// The named streams. Adding one never changes the draws of the others.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StreamName {
    /// Users' latent traits and initial histories (per user, round 0).
    UserTraits,
    /// Advertisers' private values and categories (per advertiser, round 0).
    AdvertiserTraits,
    /// An advertiser's strategy (per advertiser, per round).
    Strategy,
    /// Everything in one persona's auctions in one round (per persona, per round).
    Auctions,
    /// The trust graph (one agent: 0).
    TrustGraph,
    /// Sybil farms' attack edges (per farm).
    Sybil,
    /// Keys for `crypto = "real"` (per key holder).
    Keys,
}

impl StreamName {
    fn label(self) -> &'static str {
        match self {
            Self::UserTraits => "user-traits",
            Self::AdvertiserTraits => "advertiser-traits",
            Self::Strategy => "strategy",
            Self::Auctions => "auctions",
            Self::TrustGraph => "trust-graph",
            Self::Sybil => "sybil",
            Self::Keys => "keys",
        }
    }
}

/// The root of every stream of a run.
#[derive(Clone, Debug)]
pub struct Streams {
    seed: u64,
}

impl Streams {
    /// The streams of `seed`.
    pub fn new(seed: u64) -> Self {
        Self { seed }
    }

    /// A keyed stream, ready to hand out agent generators.
    pub fn stream(&self, name: StreamName) -> Stream {
        let mut hasher = Sha256::new();
        hasher.update(b"attn/sim/v1\0");
        hasher.update(self.seed.to_le_bytes());
        hasher.update(name.label().as_bytes());
        Stream {
            root: ChaCha8Rng::from_seed(hasher.finalize().into()),
        }
    }
}

/// One named stream.
#[derive(Clone, Debug)]
pub struct Stream {
    root: ChaCha8Rng,
}

impl Stream {
    /// The generator of `agent` in `round`.
    pub fn agent(&self, agent: u64, round: u32) -> AgentRng {
        let mut rng = self.root.clone();
        rng.set_stream(agent);
        rng.set_word_pos(u128::from(round) << 32);
        AgentRng { rng }
    }
}

/// An agent's generator for one round, with the draws the simulator needs.
#[derive(Clone, Debug)]
pub struct AgentRng {
    rng: ChaCha8Rng,
}

impl AgentRng {
    /// A uniform `u64`.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.rng.next_u64()
    }

    /// A uniform float in `[0, 1)` with 53 bits.
    #[inline]
    pub fn unit(&mut self) -> f64 {
        (self.rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// `true` with probability `p`.
    #[inline]
    pub fn bernoulli(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// A uniform integer in `0..n` (`n > 0`), by Lemire's multiply-shift (bias below
    /// 2⁻³² for the sizes used here).
    #[inline]
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.rng.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// A standard normal draw (Box–Muller; one of the pair is discarded so each call
    /// consumes a fixed number of words).
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.unit();
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// A draw from `distribution`.
    pub fn draw(&mut self, distribution: &crate::config::Distribution) -> f64 {
        use crate::config::Distribution;
        match *distribution {
            Distribution::Uniform { low, high } => low + (high - low) * self.unit(),
            Distribution::Lognormal { mu, sigma } => (mu + sigma * self.normal()).exp(),
            Distribution::Fixed { value } => value,
        }
    }

    /// 16 random bytes (a request id).
    pub fn bytes16(&mut self) -> [u8; 16] {
        let mut out = [0u8; 16];
        self.rng.fill_bytes(&mut out);
        out
    }

    /// 32 random bytes (a key seed).
    pub fn bytes32(&mut self) -> [u8; 32] {
        let mut out = [0u8; 32];
        self.rng.fill_bytes(&mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_reachable_in_any_order() {
        let stream = Streams::new(9).stream(StreamName::Auctions);
        let forward: Vec<u64> = (0..50)
            .map(|agent| stream.agent(agent, 3).next_u64())
            .collect();
        let backward: Vec<u64> = (0..50)
            .rev()
            .map(|agent| stream.agent(agent, 3).next_u64())
            .collect();
        assert!(forward.iter().eq(backward.iter().rev()));
        assert_ne!(stream.agent(1, 3).next_u64(), stream.agent(1, 4).next_u64());
        assert_ne!(stream.agent(1, 3).next_u64(), stream.agent(2, 3).next_u64());
    }

    #[test]
    fn names_and_seeds_separate_streams() {
        let a = Streams::new(1)
            .stream(StreamName::Auctions)
            .agent(0, 0)
            .next_u64();
        let b = Streams::new(1)
            .stream(StreamName::Strategy)
            .agent(0, 0)
            .next_u64();
        let c = Streams::new(2)
            .stream(StreamName::Auctions)
            .agent(0, 0)
            .next_u64();
        assert!(a != b && a != c && b != c);
    }

    #[test]
    fn draws_have_the_right_moments() {
        let mut rng = Streams::new(5).stream(StreamName::Auctions).agent(0, 0);
        let n = 20_000;
        let mean = (0..n).map(|_| rng.unit()).sum::<f64>() / n as f64;
        assert!((mean - 0.5).abs() < 0.01, "{mean}");
        let normals: Vec<f64> = (0..n).map(|_| rng.normal()).collect();
        let m = normals.iter().sum::<f64>() / n as f64;
        let v = normals.iter().map(|x| (x - m).powi(2)).sum::<f64>() / n as f64;
        assert!(m.abs() < 0.03 && (v - 1.0).abs() < 0.05, "{m} {v}");
        assert!((0..1000).all(|_| rng.below(7) < 7));
    }
}
