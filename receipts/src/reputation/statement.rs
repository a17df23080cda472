//! The statement one aggregated range proof proves, and its transcript.
//!
//! For the disclosed issuers `i = 0..m` (sorted by key), with receipts `j` of issuer
//! `i` committing `C_ij = v_ij·B + r_ij·B_blinding` and bracket floor `f_i`:
//!
//! ```text
//! V_i = Σ_j C_ij − f_i·B = (Σ_j v_ij − f_i)·B + (Σ_j r_ij)·B_blinding
//! ```
//!
//! The persona knows each `V_i`'s opening (it holds every `(v_ij, r_ij)`), and proves
//! with one aggregated Bulletproofs range proof (Bünz et al. 2018, §4.3) that every
//! `V_i` opens to a value in `[0, 2^64)`, i.e. that issuer `i`'s receipts sum to at
//! least `f_i`. The aggregation needs a power-of-two number of values: the list is
//! padded with the identity point, the commitment to `0` with blinding `0`, which
//! both sides add without it being sent.
//!
//! The merlin transcript starts with the label [`TRANSCRIPT_LABEL`] and binds, before
//! the proof's own messages, the proof version, the persona key, the window, and
//! every `(issuer, bracket)` pair: a range proof made for one persona, window or set
//! of brackets does not verify for another.

use std::sync::OnceLock;

use bulletproofs::{BulletproofGens, PedersenGens, RangeProof};
use curve25519_dalek::ristretto::{CompressedRistretto, RistrettoPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::Identity;
use merlin::Transcript;
use rand_core::CryptoRngCore;

use crate::commitment::pedersen_gens;
use crate::error::{Error, Result};
use crate::keys::PublicKey;
use crate::limits::ISSUERS_PER_PROOF_MAX;
use crate::messages::{IssuerBracket, REPUTATION_PROOF_VERSION};

use super::scale::bracket_floor;

/// The merlin transcript label of the reputation range proof, versioned.
pub const TRANSCRIPT_LABEL: &[u8] = b"attn/v1/reputation-range-proof";
/// Bits of each proven value: the range is `[0, 2^64)`.
pub const RANGE_BITS: usize = 64;

/// The Bulletproofs generators for [`RANGE_BITS`] bits and up to
/// [`ISSUERS_PER_PROOF_MAX`] values, computed once per process.
pub(crate) fn bulletproof_gens() -> &'static BulletproofGens {
    static GENS: OnceLock<BulletproofGens> = OnceLock::new();
    GENS.get_or_init(|| BulletproofGens::new(RANGE_BITS, ISSUERS_PER_PROOF_MAX))
}

/// The transcript of a proof's statement.
pub(crate) fn transcript(
    persona: &PublicKey,
    window_start_ms: u64,
    window_end_ms: u64,
    brackets: &[IssuerBracket],
) -> Transcript {
    let mut transcript = Transcript::new(TRANSCRIPT_LABEL);
    transcript.append_u64(b"version", u64::from(REPUTATION_PROOF_VERSION));
    transcript.append_message(b"persona", persona.as_bytes());
    transcript.append_u64(b"window_start_ms", window_start_ms);
    transcript.append_u64(b"window_end_ms", window_end_ms);
    transcript.append_u64(b"issuers", brackets.len() as u64);
    for bracket in brackets {
        transcript.append_message(b"issuer", bracket.issuer.as_bytes());
        transcript.append_u64(b"bracket", u64::from(bracket.bracket));
    }
    transcript
}

/// The Pedersen generators ([`crate::commitment::pedersen_gens`]), computed once:
/// deriving `B_blinding` hashes to the curve, which costs more than the rest of a
/// floor's computation.
fn gens() -> &'static PedersenGens {
    static GENS: OnceLock<PedersenGens> = OnceLock::new();
    GENS.get_or_init(pedersen_gens)
}

/// `f·B` for the floor `f` of a bracket, or `None` past the scale. `B` is the
/// Ristretto basepoint, so the precomputed basepoint table does the multiplication.
pub(crate) fn floor_point(bracket: u32) -> Option<RistrettoPoint> {
    bracket_floor(bracket).map(|floor| RistrettoPoint::mul_base(&Scalar::from(floor)))
}

/// `V_i = sum_i − f_i·B` for every issuer, compressed and padded with the identity to
/// a power of two.
pub(crate) fn statement_commitments(
    sums: &[RistrettoPoint],
    floors: &[RistrettoPoint],
) -> Vec<CompressedRistretto> {
    assert_eq!(sums.len(), floors.len());
    let padded = sums.len().next_power_of_two();
    let mut commitments: Vec<CompressedRistretto> = sums
        .iter()
        .zip(floors)
        .map(|(sum, floor)| (sum - floor).compress())
        .collect();
    commitments.resize(padded, CompressedRistretto::identity());
    commitments
}

/// Proves that each `values[i]` (with blinding `blindings[i]`) is in `[0, 2^64)`.
/// Returns the proof bytes and the commitments it proves, padded.
pub(crate) fn prove(
    transcript: &mut Transcript,
    values: &[u64],
    blindings: &[Scalar],
    rng: &mut impl CryptoRngCore,
) -> Result<(Vec<u8>, Vec<CompressedRistretto>)> {
    assert_eq!(values.len(), blindings.len());
    assert!(!values.is_empty() && values.len() <= ISSUERS_PER_PROOF_MAX);
    let padded = values.len().next_power_of_two();
    let mut values = values.to_vec();
    let mut blindings = blindings.to_vec();
    values.resize(padded, 0);
    blindings.resize(padded, Scalar::ZERO);
    let (proof, commitments) = RangeProof::prove_multiple_with_rng(
        bulletproof_gens(),
        gens(),
        transcript,
        &values,
        &blindings,
        RANGE_BITS,
        rng,
    )
    .map_err(|error| Error::RangeProof(error.to_string()))?;
    Ok((proof.to_bytes(), commitments))
}

/// Verifies a range proof over `commitments` (already padded).
pub(crate) fn verify(
    transcript: &mut Transcript,
    proof: &[u8],
    commitments: &[CompressedRistretto],
    rng: &mut impl CryptoRngCore,
) -> Result<()> {
    let proof =
        RangeProof::from_bytes(proof).map_err(|error| Error::RangeProof(error.to_string()))?;
    proof
        .verify_multiple_with_rng(
            bulletproof_gens(),
            gens(),
            transcript,
            commitments,
            RANGE_BITS,
            rng,
        )
        .map_err(|error| Error::RangeProof(error.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::PersonaKey;
    use crate::messages::IssuerBracket;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn brackets() -> Vec<IssuerBracket> {
        vec![IssuerBracket {
            issuer: PersonaKey::from_secret_bytes(&[9; 32]).public_key(),
            bracket: 3,
        }]
    }

    #[test]
    fn floors_are_multiples_of_the_pedersen_value_generator() {
        for bracket in [0, 1, 7, super::super::BRACKETS - 1] {
            let floor = bracket_floor(bracket).expect("on the scale");
            assert_eq!(
                floor_point(bracket),
                Some(pedersen_gens().B * Scalar::from(floor))
            );
        }
        assert_eq!(floor_point(super::super::BRACKETS), None);
    }

    #[test]
    fn a_range_proof_verifies_only_on_its_own_transcript() -> Result<()> {
        let mut rng = StdRng::seed_from_u64(1);
        let alice = PersonaKey::from_secret_bytes(&[1; 32]).public_key();
        let bob = PersonaKey::from_secret_bytes(&[2; 32]).public_key();
        let values = [5u64, 7, 9];
        let blindings: Vec<Scalar> = values.iter().map(|_| Scalar::random(&mut rng)).collect();
        let (proof, commitments) = prove(
            &mut transcript(&alice, 0, 10, &brackets()),
            &values,
            &blindings,
            &mut rng,
        )?;
        assert_eq!(commitments.len(), 4);
        assert_eq!(commitments[3], CompressedRistretto::identity());
        verify(
            &mut transcript(&alice, 0, 10, &brackets()),
            &proof,
            &commitments,
            &mut rng,
        )?;
        for wrong in [
            transcript(&bob, 0, 10, &brackets()),
            transcript(&alice, 1, 10, &brackets()),
            transcript(&alice, 0, 11, &brackets()),
            transcript(&alice, 0, 10, &[]),
        ] {
            let mut wrong = wrong;
            assert!(matches!(
                verify(&mut wrong, &proof, &commitments, &mut rng),
                Err(Error::RangeProof(_))
            ));
        }
        Ok(())
    }
}
