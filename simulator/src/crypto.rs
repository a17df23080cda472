//! `crypto = "real"`: every message of the market is signed with the product's keys in
//! the product's envelopes ([`Signed`]) and verified, to measure what cryptography costs
//! at market scale. Outcomes are the same as with `crypto = "modelled"`: nothing here
//! draws from the agents' random streams (keys come from the `Keys` stream, receipt ids
//! and commitment blindings are hashes of who, when and which).
//!
//! What is signed and verified:
//! - at setup, one [`TrustStatement`] per endorsement of the trust graph, signed by the
//!   truster and batch-verified ([`attn_receipts::verify_batch`]);
//! - per auction, every [`Bid`], signed by its advertiser and batch-verified;
//! - per impression, the [`Impression`], signed by the persona and verified;
//! - per conversion, a [`ConversionReceipt`] with a Pedersen commitment to its value,
//!   signed by the advertiser and verified by the persona;
//! - per round and Sybil persona, the receipts its farm's keys mint, signed by those keys
//!   and batch-verified.

use attn_receipts::{
    AdvertiserKey, Bid, Commitment, ConversionReceipt, Creative, Currency, Digest32, Impression,
    Money, PersonaKey, PublicKey, ReceiptKind, RequestId, Signed, TrustStatement,
};
use curve25519_dalek::scalar::Scalar;
use sha2::{Digest, Sha256};

use crate::error::Error;
use crate::reputation::{Issuers, TrustGraph};
use crate::rng::Stream;

/// Agent ids at or above this in the `Keys` stream are personas' keys.
const PERSONA_KEY_BASE: u64 = 1 << 40;
/// Agent ids at or above this in the `Keys` stream are farms' keys (by issuer index).
const FARM_KEY_BASE: u64 = 1 << 41;
/// The decimals of the market's currency (atomic units are micro-units).
const SCALE: u32 = 6;

/// Signatures made and verified by a unit of work.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Count {
    /// Signatures made.
    pub signatures: u64,
    /// Signatures verified.
    pub verifications: u64,
}

impl Count {
    fn both(n: u64) -> Self {
        Self {
            signatures: n,
            verifications: n,
        }
    }
}

fn crypto(error: attn_receipts::Error) -> Error {
    Error::Crypto(error.to_string())
}

/// The keys of a market run with `crypto = "real"`.
pub struct RealCrypto {
    /// Every issuer's key: honest advertisers first, then each farm's keys.
    issuers: Vec<AdvertiserKey>,
    keys_stream: Stream,
    currency: Currency,
}

impl RealCrypto {
    /// Draws every issuer's key from the `Keys` stream: advertiser `a`'s is agent `a`
    /// (the key [`crate::agents::advertisers`] publishes).
    pub fn new(issuers: &Issuers, keys_stream: Stream) -> Result<Self, Error> {
        let keys = (0..issuers.len() as u64)
            .map(|issuer| {
                let agent = if issuer < u64::from(issuers.honest) {
                    issuer
                } else {
                    FARM_KEY_BASE + issuer
                };
                AdvertiserKey::from_secret_bytes(&keys_stream.agent(agent, 0).bytes32())
            })
            .collect();
        Ok(Self {
            issuers: keys,
            keys_stream,
            currency: Currency::new("USD").map_err(crypto)?,
        })
    }

    /// The key of persona `id`.
    pub fn persona_key(&self, id: u64) -> PersonaKey {
        PersonaKey::from_secret_bytes(&self.keys_stream.agent(PERSONA_KEY_BASE + id, 0).bytes32())
    }

    fn money(&self, atomic: u64) -> Result<Money, Error> {
        Money::from_atomic(self.currency, atomic, SCALE).map_err(crypto)
    }

    /// Signs every endorsement of `graph` as a [`TrustStatement`] by its truster and
    /// batch-verifies them.
    pub fn trust_statements(&self, graph: &TrustGraph) -> Result<Count, Error> {
        let envelopes: Vec<Signed<TrustStatement>> = graph
            .edges
            .iter()
            .map(|(truster, trustee, weight)| {
                let key = &self.issuers[*truster as usize];
                let statement = TrustStatement {
                    truster: key.public_key(),
                    trustee: self.issuers[*trustee as usize].public_key(),
                    weight_ppm: (weight * 1e6).round() as u32,
                    issued_at_ms: 0,
                };
                Signed::sign(key, &statement)
            })
            .collect();
        attn_receipts::verify_batch(&envelopes).map_err(crypto)?;
        Ok(Count::both(envelopes.len() as u64))
    }

    /// Signs one bid per `(advertiser, price)` of an auction and batch-verifies them.
    pub fn bids(
        &self,
        request_id: &[u8; 16],
        bids: impl Iterator<Item = (u32, u64)>,
        round: u32,
    ) -> Result<Count, Error> {
        let envelopes = bids
            .map(|(advertiser, price_atomic)| {
                let key = &self.issuers[advertiser as usize];
                let bid = Bid {
                    request_id: RequestId(*request_id),
                    advertiser: key.public_key(),
                    price: self.money(price_atomic)?,
                    slot_ids: Vec::new(),
                    creative: Creative {
                        creative_id: format!("creative-{advertiser}"),
                        categories: Vec::new(),
                        content_hash: Digest32([0; 32]),
                        url: None,
                    },
                    rail: "sandbox".into(),
                    created_at_ms: u64::from(round) * 1_000,
                };
                Ok(Signed::sign(key, &bid))
            })
            .collect::<Result<Vec<_>, Error>>()?;
        attn_receipts::verify_batch(&envelopes).map_err(crypto)?;
        Ok(Count::both(envelopes.len() as u64))
    }

    /// Signs the impression of a won slot with the persona's key and verifies it.
    #[allow(clippy::too_many_arguments)]
    pub fn impression(
        &self,
        request_id: &[u8; 16],
        persona: &PersonaKey,
        advertiser: u32,
        slot: usize,
        charge_atomic: u64,
        round: u32,
    ) -> Result<Count, Error> {
        let impression = Impression {
            request_id: RequestId(*request_id),
            persona: persona.public_key(),
            slot_id: format!("slot-{slot}"),
            advertiser: self.issuers[advertiser as usize].public_key(),
            creative_id: format!("creative-{advertiser}"),
            charge: self.money(charge_atomic)?,
            shown_at_ms: u64::from(round) * 1_000,
            evidence_hash: Digest32([0; 32]),
            bid_hash: Digest32([0; 32]),
        };
        Signed::sign(persona, &impression)
            .verify()
            .map_err(crypto)?;
        Ok(Count::both(1))
    }

    fn receipt(
        &self,
        issuer: u32,
        persona: PublicKey,
        tag: (u32, u64, u64),
        value_atomic: u64,
    ) -> Signed<ConversionReceipt> {
        let (round, persona_id, index) = tag;
        let digest: [u8; 32] = Sha256::new()
            .chain_update(b"attn/sim/v1/receipt\0")
            .chain_update(issuer.to_le_bytes())
            .chain_update(round.to_le_bytes())
            .chain_update(persona_id.to_le_bytes())
            .chain_update(index.to_le_bytes())
            .finalize()
            .into();
        let mut receipt_id = [0u8; 16];
        receipt_id.copy_from_slice(&digest[..16]);
        let blinding = Scalar::from_bytes_mod_order(digest);
        let receipt = ConversionReceipt {
            receipt_id,
            persona,
            issuer: self.issuers[issuer as usize].public_key(),
            kind: ReceiptKind::Conversion,
            issued_at_ms: u64::from(round) * 1_000,
            categories: Vec::new(),
            value_commitment: Commitment::commit(value_atomic, &blinding),
            public_value: None,
            impression_hash: None,
        };
        Signed::sign(&self.issuers[issuer as usize], &receipt)
    }

    /// The conversion receipt advertiser `issuer` gives persona `persona_id` for
    /// conversion `index` of `round`: committed, signed, verified by the persona.
    pub fn conversion(
        &self,
        issuer: u32,
        persona: &PersonaKey,
        tag: (u32, u64, u64),
        value_atomic: u64,
    ) -> Result<Count, Error> {
        self.receipt(issuer, persona.public_key(), tag, value_atomic)
            .verify()
            .map_err(crypto)?;
        Ok(Count::both(1))
    }

    /// The receipts a farm's keys mint to one persona in a round, `(issuer, count)`,
    /// signed and batch-verified.
    pub fn mint(
        &self,
        persona: &PersonaKey,
        round: u32,
        persona_id: u64,
        shares: impl Iterator<Item = (u32, u32)>,
    ) -> Result<Count, Error> {
        let public = persona.public_key();
        let mut envelopes = Vec::new();
        for (issuer, count) in shares {
            for index in 0..count {
                envelopes.push(self.receipt(
                    issuer,
                    public,
                    (round, persona_id, u64::from(index)),
                    1_000_000,
                ));
            }
        }
        attn_receipts::verify_batch(&envelopes).map_err(crypto)?;
        Ok(Count::both(envelopes.len() as u64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::rng::{StreamName, Streams};

    #[test]
    fn advertiser_keys_match_the_published_ones_and_everything_verifies() {
        let mut config = Config::default();
        config.sybil.farms = 1;
        let streams = Streams::new(4);
        let issuers = Issuers::of(&config);
        let real = RealCrypto::new(&issuers, streams.stream(StreamName::Keys)).unwrap();
        let advertisers = crate::agents::advertisers(&config, &streams);
        for (a, advertiser) in advertisers.iter().enumerate() {
            assert_eq!(real.issuers[a].public_key().to_bytes(), advertiser.key);
        }
        let graph = TrustGraph::build(&config, &issuers, &streams);
        assert_eq!(
            real.trust_statements(&graph).unwrap().signatures,
            graph.edges.len() as u64
        );
        let persona = real.persona_key(3);
        assert_eq!(
            real.bids(&[1; 16], [(0, 5), (1, 7)].into_iter(), 0)
                .unwrap(),
            Count::both(2)
        );
        real.impression(&[1; 16], &persona, 1, 0, 7, 0).unwrap();
        real.conversion(1, &persona, (0, 3, 0), 42).unwrap();
        let farm_key = issuers.farm_key(0, 1);
        assert_eq!(
            real.mint(&persona, 0, 3, [(farm_key, 3)].into_iter())
                .unwrap(),
            Count::both(3)
        );
    }
}
