//! Pedersen commitments to receipt values: `C = v·B + r·B_blinding` over Ristretto,
//! with the generators of the `bulletproofs` crate ([`PedersenGens::default`]), so
//! that a persona can later prove ranges of sums of its receipts' values.
//!
//! The issuer picks a random blinding `r`, puts `C` in the signed receipt and hands the
//! opening `(v, r)` only to the persona.

use bulletproofs::PedersenGens;
use curve25519_dalek::ristretto::RistrettoPoint;
use curve25519_dalek::scalar::Scalar;
use rand_core::CryptoRngCore;

use crate::messages::{Commitment, CommitmentOpening};

/// The Pedersen generators every attn commitment uses.
pub fn pedersen_gens() -> PedersenGens {
    PedersenGens::default()
}

impl Commitment {
    /// The commitment to `value_atomic` with blinding `blinding`.
    pub fn commit(value_atomic: u64, blinding: &Scalar) -> Self {
        Self(Self::point(value_atomic, blinding).compress())
    }

    /// The uncompressed commitment point.
    pub fn point(value_atomic: u64, blinding: &Scalar) -> RistrettoPoint {
        pedersen_gens().commit(Scalar::from(value_atomic), *blinding)
    }
}

impl CommitmentOpening {
    /// A fresh opening of `value_atomic` with a random blinding.
    pub fn random(receipt_id: [u8; 16], value_atomic: u64, rng: &mut impl CryptoRngCore) -> Self {
        Self {
            receipt_id,
            value_atomic,
            blinding: Scalar::random(rng),
        }
    }

    /// The commitment this opening opens.
    pub fn commitment(&self) -> Commitment {
        Commitment::commit(self.value_atomic, &self.blinding)
    }

    /// Whether this opening opens `commitment`.
    pub fn opens(&self, commitment: &Commitment) -> bool {
        self.commitment() == *commitment
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::OsRng;

    #[test]
    fn an_opening_opens_only_its_commitment() {
        let opening = CommitmentOpening::random([1; 16], 1234, &mut OsRng);
        let commitment = opening.commitment();
        assert!(opening.opens(&commitment));
        let other = CommitmentOpening {
            value_atomic: 1235,
            ..opening.clone()
        };
        assert!(!other.opens(&commitment));
    }

    #[test]
    fn commitments_add_homomorphically() {
        let a = CommitmentOpening::random([1; 16], 40, &mut OsRng);
        let b = CommitmentOpening::random([2; 16], 2, &mut OsRng);
        let sum = Commitment::point(40, &a.blinding) + Commitment::point(2, &b.blinding);
        assert_eq!(sum, Commitment::point(42, &(a.blinding + b.blinding)));
    }
}
