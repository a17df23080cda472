//! attn's domain types and cryptography: [`Money`], Ed25519 keys ([`PersonaKey`],
//! [`AdvertiserKey`], [`WalletSeed`] derivation), [`Signed`] envelopes with one domain
//! tag per kind and batch verification, the domain type of every protocol message
//! with validating `TryFrom` conversions from the wire, and keys encrypted at rest.
//!
//! This crate is the pure core every other attn crate depends on. It must never do
//! I/O, start a thread, read a clock, draw randomness it is not handed (`rng` and
//! `now` are parameters), or depend on async runtimes, databases or gRPC transports.
//! Its only protocol dependency is the generated messages of `attn-proto`, used
//! without the `grpc` feature.
//!
//! # Layout
//! - [`money`]: [`Currency`], [`Money`], atomic units.
//! - [`keys`]: [`PublicKey`], [`PersonaKey`], [`AdvertiserKey`], [`WalletSeed`].
//! - [`signed`]: [`Signed`], [`Kind`], [`SignatureBatch`], [`verify_batch`].
//! - [`messages`]: [`BidRequest`], [`Bid`], [`AuctionResult`], [`Impression`],
//!   [`ImpressionAck`], [`ConversionReceipt`], [`ReputationProof`], [`Voucher`],
//!   [`TrustStatement`] and their parts.
//! - [`keystore`]: passphrase encryption of keys at rest.
//! - [`limits`]: every bound of the protocol.
//! - [`threshold`]: FROST (RFC 9591) threshold keys for issuers (dealer, DKG,
//!   signing rounds) and t-of-n persona custody.
//! - [`issuance`]: issuing a [`ConversionReceipt`] with its value committed, and the
//!   opening for the persona.
//! - [`reputation`]: the disclosure policy, the reputation proof builder (one
//!   aggregated Bulletproofs range proof over every issuer's bracket) and its
//!   verifier, which yields a [`ReputationView`](reputation::ReputationView).
//! - [`trust`]: personalised EigenTrust over signed [`TrustStatement`]s and the
//!   scoring policy that turns a view into a number.
//!
//! # Example
//! ```
//! use attn_receipts::{Signed, TrustStatement, AdvertiserKey};
//! let alice = AdvertiserKey::from_secret_bytes(&[1; 32]);
//! let bob = AdvertiserKey::from_secret_bytes(&[2; 32]);
//! let statement = TrustStatement {
//!     truster: alice.public_key(),
//!     trustee: bob.public_key(),
//!     weight_ppm: 800_000,
//!     issued_at_ms: 1_700_000_000_000,
//! };
//! let envelope = Signed::sign(&alice, &statement);
//! assert_eq!(envelope.open()?, statement);
//! # Ok::<(), attn_receipts::Error>(())
//! ```

pub mod commitment;
pub mod error;
pub mod issuance;
pub mod keys;
pub mod keystore;
pub mod limits;
pub mod messages;
pub mod money;
pub mod reputation;
pub mod signed;
pub mod threshold;
pub mod trust;

pub use error::{Error, ReceiptFault, Result};
pub use keys::{AdvertiserKey, PersonaKey, PublicKey, Signer, WalletSeed};
pub use messages::*;
pub use money::{Currency, Money};
pub use signed::{DOMAINS, Digest32, Kind, SignatureBatch, Signed, verify_batch};
