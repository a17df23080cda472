//! Reputation proofs: a persona shows which advertisers vouched for it and a coarse
//! bracket of the value it created with each, never an exact amount, never a
//! category it withheld. See `docs/reputation.md` for the format and the maths.
//!
//! # Layout
//! - [`scale`]: the fixed log scale of brackets ([`bracket_floor`], [`bracket_of`]).
//! - [`policy`]: the client's [`DisclosurePolicy`] (sensitive categories and old
//!   receipts withheld by default) and the proof [`Window`].
//! - [`build_proof`] / [`prove_reputation`]: the client side, building and signing
//!   a proof with one aggregated Bulletproofs range proof.
//! - [`verify_proof`] / [`verify_proof_for`]: the verifier side, yielding a
//!   [`ReputationView`].
//! - `statement`: the proven statement and its merlin transcript
//!   ([`TRANSCRIPT_LABEL`]).
//!
//! # The statement
//! For each disclosed issuer `i` with receipts committing `C_ij` and bracket floor
//! `f_i`, the proof shows that `Σ_j C_ij − f_i·B` opens to a value in `[0, 2^64)`:
//! the issuer's receipts sum to at least `f_i`. All issuers are proven at once, the
//! list padded with the identity point to a power of two, on a transcript binding the
//! proof version, the persona key, the window and every `(issuer, bracket)` pair.
//!
//! The proof shows a lower bound only: a persona may claim a lower bracket than it
//! reached (which only hurts it), never a higher one.
//!
//! # Example
//! ```
//! use attn_receipts::issuance::{issue_receipt, ReceiptDraft};
//! use attn_receipts::reputation::{prove_reputation, verify_proof_for, DisclosurePolicy};
//! use attn_receipts::{AdvertiserKey, PersonaKey, ReceiptKind};
//! let mut rng = rand::rngs::OsRng;
//! let now_ms = 1_700_000_000_000;
//! let persona = PersonaKey::from_secret_bytes(&[1; 32]);
//! let clinic = AdvertiserKey::from_secret_bytes(&[2; 32]);
//! let bikes = AdvertiserKey::from_secret_bytes(&[3; 32]);
//! let wallet = vec![
//!     issue_receipt(&bikes, ReceiptDraft::new(persona.public_key(), ReceiptKind::Click, 50, now_ms - 9)
//!         .with_categories(["sports"]), &mut rng)?,
//!     issue_receipt(&clinic, ReceiptDraft::new(persona.public_key(), ReceiptKind::Conversion, 9_000, now_ms - 5)
//!         .with_categories(["health"]), &mut rng)?,
//! ];
//! let proof = prove_reputation(&persona, &wallet, &DisclosurePolicy::default(), now_ms, &mut rng)?;
//! let view = verify_proof_for(&proof, &persona.public_key(), now_ms, &mut rng)?;
//! assert_eq!(view.issuers.len(), 1); // the health receipt is withheld
//! assert_eq!(view.issuers[0].issuer, bikes.public_key());
//! assert_eq!(view.issuers[0].bracket, 2); // 50 ≥ 10
//! # Ok::<(), attn_receipts::Error>(())
//! ```

mod build;
pub mod policy;
pub mod scale;
mod statement;
mod verify;

pub use build::{build_proof, prove_reputation};
pub use policy::{DisclosurePolicy, SENSITIVE_CATEGORIES, Selection, Window};
pub use scale::{BRACKET_BASE, BRACKETS, bracket_floor, bracket_of};
pub use statement::{RANGE_BITS, TRANSCRIPT_LABEL};
pub use verify::{IssuerView, KindCounts, ReputationView, verify_proof, verify_proof_for};
