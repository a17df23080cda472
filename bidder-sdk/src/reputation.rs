//! Reputation proofs on the bid path: a bid request names the hash of its persona's
//! proof (`reputation_ref`) and attaches the proof itself only on first contact or
//! when a bidder asks. The SDK verifies an attached proof once (off the async
//! threads: a proof of 256 receipts takes milliseconds), keeps the resulting
//! [`ReputationView`] in a bounded [`ProofCache`] keyed by the proof's hash, and
//! answers later requests that only name the hash from the cache. Freshness comes
//! from the persona's signature over each request, which names the hash.
//!
//! A proof is only ever used for the persona that signed it: a request naming the
//! hash of another persona's proof gets nothing from the cache.
//!
//! # Example
//! ```
//! use attn_bidder_sdk::reputation::ProofCache;
//! use attn_receipts::reputation::{build_proof, Window};
//! use attn_receipts::PersonaKey;
//! let persona = PersonaKey::from_secret_bytes(&[1; 32]);
//! let now_ms = 1_700_000_000_000;
//! let proof = build_proof(&persona, &[], Window::ending_at(now_ms, 1_000), &mut rand::rngs::OsRng)?;
//! let cache = ProofCache::default();
//! assert!(cache.cached(&proof.hash(), &persona.public_key()).is_none());
//! let view = cache.verify(&proof, &persona.public_key(), now_ms)?;
//! assert_eq!(cache.cached(&proof.hash(), &persona.public_key()), Some(view));
//! # Ok::<(), attn_receipts::Error>(())
//! ```

use std::sync::Arc;
use std::time::Duration;

use attn_receipts::reputation::{ReputationView, verify_proof_for};
use attn_receipts::{BidRequest, Digest32, PublicKey, ReputationProof, Signed};
use moka::sync::Cache;
use rand::rngs::OsRng;

/// Default number of verified proofs kept.
pub const PROOF_CACHE_ENTRIES_DEFAULT: u64 = 100_000;
/// Default time a verified proof is kept before it must be verified again.
pub const PROOF_CACHE_TTL_DEFAULT: Duration = Duration::from_secs(24 * 60 * 60);
/// Most refused proofs remembered, so a proof sent again is refused without being
/// verified again.
pub const REFUSED_PROOFS_MAX: u64 = 10_000;
/// How long a refused proof is remembered (a proof whose window ends in the future
/// may become valid once the clock catches up).
pub const REFUSED_PROOF_TTL: Duration = Duration::from_secs(60);

/// What a bid request tells a bidder about its persona's reputation.
#[derive(Clone, Debug, PartialEq)]
pub enum Reputation {
    /// The request names no proof.
    None,
    /// The proof is verified (now or earlier) and is the persona's.
    Verified(Arc<ReputationView>),
    /// The request names a proof this bidder has not verified: ask for it
    /// (`want_reputation_proof`).
    Unknown(Digest32),
    /// The proof attached (or named) was refused.
    Refused(attn_receipts::Error),
}

impl Reputation {
    /// The verified view, if any.
    pub fn view(&self) -> Option<&Arc<ReputationView>> {
        match self {
            Self::Verified(view) => Some(view),
            _ => None,
        }
    }
}

/// Verified reputation proofs by hash: bounded ([`ProofCache::new`]'s
/// `entries_max`), each kept at most `ttl`. Cloning shares the cache.
#[derive(Clone)]
pub struct ProofCache {
    verified: Cache<Digest32, Arc<ReputationView>>,
    refused: Cache<Digest32, attn_receipts::Error>,
}

impl Default for ProofCache {
    fn default() -> Self {
        Self::new(PROOF_CACHE_ENTRIES_DEFAULT, PROOF_CACHE_TTL_DEFAULT)
    }
}

impl ProofCache {
    /// A cache of at most `entries_max` verified proofs, each kept at most `ttl`.
    pub fn new(entries_max: u64, ttl: Duration) -> Self {
        Self {
            verified: Cache::builder()
                .max_capacity(entries_max)
                .time_to_live(ttl)
                .build(),
            refused: Cache::builder()
                .max_capacity(REFUSED_PROOFS_MAX)
                .time_to_live(REFUSED_PROOF_TTL)
                .build(),
        }
    }

    /// The view of the proof with hash `proof_hash`, if verified and `persona`'s.
    pub fn cached(
        &self,
        proof_hash: &Digest32,
        persona: &PublicKey,
    ) -> Option<Arc<ReputationView>> {
        self.verified
            .get(proof_hash)
            .filter(|view| view.persona == *persona)
    }

    /// Whether a bidder should ask for the proof `request` names: it names one, does
    /// not attach it, and this cache has not verified it.
    pub fn wants_proof(&self, request: &BidRequest) -> bool {
        request.reputation_proof.is_none()
            && request
                .reputation_ref
                .is_some_and(|hash| self.cached(&hash, &request.persona).is_none())
    }

    /// Verifies `proof` as `persona`'s at `now_ms` (unless already verified) and
    /// caches the result, refusals included. Blocks for the verification: call it
    /// off the async threads (see [`ProofCache::resolve`]).
    ///
    /// # Errors
    /// The verifier's errors ([`attn_receipts::reputation::verify_proof`]).
    pub fn verify(
        &self,
        proof: &Signed<ReputationProof>,
        persona: &PublicKey,
        now_ms: u64,
    ) -> Result<Arc<ReputationView>, attn_receipts::Error> {
        let hash = proof.hash();
        if let Some(view) = self.cached(&hash, persona) {
            return Ok(view);
        }
        if let Some(error) = self.refused.get(&hash) {
            return Err(error);
        }
        match verify_proof_for(proof, persona, now_ms, &mut OsRng) {
            Ok(view) => {
                let view = Arc::new(view);
                self.verified.insert(hash, Arc::clone(&view));
                Ok(view)
            }
            Err(error) => {
                self.refused.insert(hash, error.clone());
                Err(error)
            }
        }
    }

    /// The reputation a verified bid `request` carries at `now_ms`: the attached
    /// proof verified (on a blocking thread) and cached, or the named proof looked
    /// up. An attached proof whose hash is not the named one is refused.
    pub async fn resolve(&self, request: &BidRequest, now_ms: u64) -> Reputation {
        let Some(proof) = &request.reputation_proof else {
            return match request.reputation_ref {
                None => Reputation::None,
                Some(hash) => match self.cached(&hash, &request.persona) {
                    Some(view) => Reputation::Verified(view),
                    None => Reputation::Unknown(hash),
                },
            };
        };
        let hash = proof.hash();
        if request.reputation_ref.is_some_and(|named| named != hash) {
            return Reputation::Refused(attn_receipts::Error::InvalidField {
                message: "BidRequest",
                field: "reputation_ref",
                reason: "is not the hash of the attached proof".into(),
            });
        }
        if let Some(view) = self.cached(&hash, &request.persona) {
            return Reputation::Verified(view);
        }
        let cache = self.clone();
        let proof = proof.clone();
        let persona = request.persona;
        let verified =
            tokio::task::spawn_blocking(move || cache.verify(&proof, &persona, now_ms)).await;
        match verified {
            Ok(Ok(view)) => Reputation::Verified(view),
            Ok(Err(error)) => Reputation::Refused(error),
            Err(join) => Reputation::Refused(attn_receipts::Error::RangeProof(format!(
                "verification did not finish: {join}"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use attn_receipts::issuance::{ReceiptDraft, issue_receipt};
    use attn_receipts::reputation::{Window, build_proof};
    use attn_receipts::{AdvertiserKey, PersonaKey, ReceiptKind};

    const NOW_MS: u64 = 1_700_000_000_000;

    fn proof(persona: &PersonaKey) -> Signed<ReputationProof> {
        let issuer = AdvertiserKey::from_secret_bytes(&[5; 32]);
        let draft = ReceiptDraft::new(persona.public_key(), ReceiptKind::Click, 40, NOW_MS - 1);
        let receipt = issue_receipt(&issuer, draft, &mut OsRng).expect("receipt");
        build_proof(
            persona,
            &[receipt],
            Window::ending_at(NOW_MS, 1_000),
            &mut OsRng,
        )
        .expect("proof")
    }

    #[test]
    fn a_verified_proof_is_served_from_the_cache_only_to_its_persona() {
        let alice = PersonaKey::from_secret_bytes(&[1; 32]);
        let bob = PersonaKey::from_secret_bytes(&[2; 32]);
        let proof = proof(&alice);
        let cache = ProofCache::default();
        let view = cache
            .verify(&proof, &alice.public_key(), NOW_MS)
            .expect("verifies");
        assert_eq!(view.issuers[0].bracket, 2);
        assert_eq!(cache.cached(&proof.hash(), &alice.public_key()), Some(view));
        assert_eq!(cache.cached(&proof.hash(), &bob.public_key()), None);
        assert!(matches!(
            cache.verify(&proof, &bob.public_key(), NOW_MS),
            Err(attn_receipts::Error::WrongPersona { .. })
        ));
    }

    #[test]
    fn a_refused_proof_stays_refused_until_its_ttl() {
        let alice = PersonaKey::from_secret_bytes(&[1; 32]);
        let proof = proof(&alice);
        let cache = ProofCache::default();
        // A verifier whose clock is far behind sees a window that ends in the future.
        let early_ms = NOW_MS - 10 * 60 * 1_000;
        let first = cache.verify(&proof, &alice.public_key(), early_ms).err();
        assert!(matches!(
            first,
            Some(attn_receipts::Error::InvalidField {
                field: "window_end_ms",
                ..
            })
        ));
        // Sent again, it is refused from memory, without being verified again.
        assert_eq!(
            cache.verify(&proof, &alice.public_key(), NOW_MS).err(),
            first
        );
        assert_eq!(cache.cached(&proof.hash(), &alice.public_key()), None);
    }
}
