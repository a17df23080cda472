//! The persona's reputation proof on its bid requests: every request names the
//! proof's hash (`reputation_ref`); the proof itself is attached to the first request
//! after it is set, and again to the next request after any bidder answered
//! `want_reputation_proof` (a bidder that had not seen it, or forgot it). One signed
//! request goes to every bidder, so attaching is all or nothing.

use std::sync::{Mutex, PoisonError};

use attn_receipts::{Digest32, ReputationProof, Signed};

use super::auction::Client;

/// What the client holds of its persona's proof.
#[derive(Debug, Default)]
pub(super) struct ReputationState {
    proof: Option<Signed<ReputationProof>>,
    attach_next: bool,
}

/// The state behind the client's lock.
pub(super) type SharedReputation = Mutex<ReputationState>;

impl Client {
    /// Sets the persona's current reputation proof (built with
    /// `attn_receipts::reputation::prove_reputation`): later requests name it, and
    /// the next one carries it. The proof must be this persona's.
    ///
    /// # Errors
    /// [`attn_receipts::Error::WrongPersona`] for another persona's proof.
    pub fn set_reputation_proof(
        &self,
        proof: Signed<ReputationProof>,
    ) -> Result<(), attn_receipts::Error> {
        if proof.signer() != self.persona() {
            return Err(attn_receipts::Error::WrongPersona {
                expected: self.persona().to_hex(),
                found: proof.signer().to_hex(),
            });
        }
        let mut state = self
            .reputation
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        state.proof = Some(proof);
        state.attach_next = true;
        Ok(())
    }

    /// The hash the persona's requests name, if a proof is set.
    pub fn reputation_ref(&self) -> Option<Digest32> {
        let state = self
            .reputation
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        state.proof.as_ref().map(Signed::hash)
    }

    /// The reference and, when due, the proof for the next request.
    pub(super) fn reputation_for_request(
        &self,
    ) -> (Option<Digest32>, Option<Signed<ReputationProof>>) {
        let mut state = self
            .reputation
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let Some(proof) = state.proof.clone() else {
            return (None, None);
        };
        let attach = std::mem::replace(&mut state.attach_next, false);
        (Some(proof.hash()), attach.then_some(proof))
    }

    /// Notes a bidder's answer: one that asks for the proof
    /// (`want_reputation_proof`) gets it with the next request.
    pub(super) fn noted(&self, want_reputation_proof: bool) {
        if want_reputation_proof {
            self.reputation
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .attach_next = true;
        }
    }
}
