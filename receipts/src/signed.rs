//! Signed envelopes: `Signed { body, signer, signature }` with
//! `signature = Ed25519(signer, DOMAIN || 0x00 || body)`.
//!
//! The verifier checks the signature over the bytes it received, then decodes them:
//! nothing is ever re-encoded to be verified. Each kind of message has its own domain
//! tag ([`Kind::DOMAIN`]), so a signature of one kind never verifies as another.

use std::fmt;
use std::marker::PhantomData;

use ed25519_dalek::Signature;
use prost::Message;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::keys::{PublicKey, Signer};

/// A 32-byte SHA-256 digest.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Digest32(pub [u8; 32]);

impl Digest32 {
    /// SHA-256 of the concatenation of `parts`.
    pub fn of(parts: &[&[u8]]) -> Self {
        let mut hasher = Sha256::new();
        for part in parts {
            hasher.update(part);
        }
        Self(hasher.finalize().into())
    }

    /// Lowercase hex.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Display for Digest32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Digest32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest32({})", &self.to_hex()[..16])
    }
}

/// A kind of signed message: its domain tag, its size bound, its wire type, and the
/// key that must have signed it.
pub trait Kind: Sized + TryFrom<<Self as Kind>::Wire, Error = Error> {
    /// The domain tag, e.g. `attn/v1/bid`.
    const DOMAIN: &'static str;
    /// The message name used in errors.
    const NAME: &'static str;
    /// The largest body accepted.
    const BODY_MAX_BYTES: usize;
    /// The generated protobuf type.
    type Wire: Message + Default;
    /// The wire form of this value.
    fn to_wire(&self) -> Self::Wire;
    /// The key the body says signed it (a bid's advertiser, an impression's persona…).
    fn claimed_signer(&self) -> &PublicKey;
}

/// Every domain tag of the protocol.
pub const DOMAINS: [&str; 9] = [
    "attn/v1/bid-request",
    "attn/v1/bid",
    "attn/v1/auction-result",
    "attn/v1/impression",
    "attn/v1/receipt",
    "attn/v1/reputation",
    "attn/v1/voucher",
    "attn/v1/trust",
    "attn/v1/receipts-pull",
];

/// The bytes that are signed: `DOMAIN || 0x00 || body`.
///
/// The zero byte ends the tag: `attn/v1/bid` is a prefix of `attn/v1/bid-request`, so
/// without it a bid-request signature would also be a signature over
/// `attn/v1/bid || "-request…"`. No tag contains a zero byte.
pub fn signed_message(domain: &str, body: &[u8]) -> Vec<u8> {
    debug_assert!(!domain.as_bytes().contains(&0));
    let mut message = Vec::with_capacity(domain.len() + 1 + body.len());
    message.extend_from_slice(domain.as_bytes());
    message.push(0);
    message.extend_from_slice(body);
    message
}

/// A signed envelope of kind `T`. Holding one says nothing about its validity: call
/// [`Signed::verify`] or [`Signed::open`] (or verify many with [`verify_batch`]).
pub struct Signed<T> {
    body: Vec<u8>,
    signer: PublicKey,
    signature: Signature,
    kind: PhantomData<fn() -> T>,
}

impl<T> Clone for Signed<T> {
    fn clone(&self) -> Self {
        Self {
            body: self.body.clone(),
            signer: self.signer,
            signature: self.signature,
            kind: PhantomData,
        }
    }
}

impl<T> PartialEq for Signed<T> {
    fn eq(&self, other: &Self) -> bool {
        self.body == other.body
            && self.signer == other.signer
            && self.signature.to_bytes() == other.signature.to_bytes()
    }
}

impl<T> Eq for Signed<T> {}

impl<T: Kind> fmt::Debug for Signed<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Signed<{}>(signer {:?}, {} bytes)",
            T::NAME,
            self.signer,
            self.body.len()
        )
    }
}

impl<T: Kind> Signed<T> {
    /// Encodes `value` and signs it under `T`'s domain. The signer must be the key the
    /// value names (see [`Kind::claimed_signer`]), or [`Signed::open`] will refuse it.
    pub fn sign(signer: &impl Signer, value: &T) -> Self {
        let body = value.to_wire().encode_to_vec();
        Self::sign_body(signer, body)
    }

    /// Signs already-encoded body bytes under `T`'s domain.
    pub fn sign_body(signer: &impl Signer, body: Vec<u8>) -> Self {
        let signature = signer.sign_message(&signed_message(T::DOMAIN, &body));
        Self {
            body,
            signer: signer.public_key(),
            signature,
            kind: PhantomData,
        }
    }

    /// An envelope from its parts, checking only the body's size bound.
    pub fn from_parts(body: Vec<u8>, signer: PublicKey, signature: [u8; 64]) -> Result<Self> {
        if body.len() > T::BODY_MAX_BYTES {
            return Err(Error::TooLong {
                message: T::NAME,
                field: "body",
                len: body.len(),
                max: T::BODY_MAX_BYTES,
            });
        }
        Ok(Self {
            body,
            signer,
            signature: Signature::from_bytes(&signature),
            kind: PhantomData,
        })
    }

    /// The encoded body, as signed.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// The key that signed the envelope.
    pub fn signer(&self) -> PublicKey {
        self.signer
    }

    /// The signature bytes.
    pub fn signature_bytes(&self) -> [u8; 64] {
        self.signature.to_bytes()
    }

    /// The envelope's hash: `SHA-256(signer || signature || body)`. An impression's
    /// hash is its settlement transfer id; a proof's hash is its reputation reference.
    pub fn hash(&self) -> Digest32 {
        Digest32::of(&[
            self.signer.as_bytes(),
            &self.signature.to_bytes(),
            &self.body,
        ])
    }

    /// Checks the signature over `DOMAIN || 0x00 || body` (strict RFC 8032 verification:
    /// non-canonical and small-order components are refused).
    pub fn verify(&self) -> Result<()> {
        self.signer
            .verifying_key()
            .verify_strict(&signed_message(T::DOMAIN, &self.body), &self.signature)
            .map_err(|_| Error::BadSignature {
                domain: T::DOMAIN,
                signer: self.signer.to_hex(),
            })
    }

    /// Decodes and validates the body *without* checking the signature. Use only after
    /// the signature was checked, e.g. by [`verify_batch`].
    pub fn decode_verified(&self) -> Result<T> {
        self.decode_verified_with(T::try_from)
    }

    /// [`Signed::decode_verified`] with `validate` in place of the body's `TryFrom`
    /// (a message's validation that takes already parsed keys as they are).
    pub(crate) fn decode_verified_with(
        &self,
        validate: impl FnOnce(T::Wire) -> Result<T>,
    ) -> Result<T> {
        let wire = T::Wire::decode(self.body.as_slice()).map_err(|error| Error::Decode {
            message: T::NAME,
            reason: error.to_string(),
        })?;
        let value = validate(wire)?;
        if value.claimed_signer() != &self.signer {
            return Err(Error::SignerMismatch {
                message: T::NAME,
                signer: self.signer.to_hex(),
                claimed: value.claimed_signer().to_hex(),
            });
        }
        Ok(value)
    }

    /// Verifies the signature, then decodes and validates the body, and checks that
    /// the body names the envelope's signer.
    pub fn open(&self) -> Result<T> {
        self.verify()?;
        self.decode_verified()
    }

    /// The wire envelope.
    pub fn to_wire(&self) -> attn_proto::v1::Signed {
        attn_proto::v1::Signed {
            body: self.body.clone(),
            signer: self.signer.to_bytes().to_vec(),
            signature: self.signature.to_bytes().to_vec(),
        }
    }
}

impl<T: Kind> TryFrom<attn_proto::v1::Signed> for Signed<T> {
    type Error = Error;

    /// Checks the envelope's shape (key, signature length, body size); the signature
    /// itself is checked by [`Signed::verify`] or [`verify_batch`].
    fn try_from(wire: attn_proto::v1::Signed) -> Result<Self> {
        let signer = PublicKey::try_from(wire.signer.as_slice()).map_err(|error| match error {
            Error::WrongLength { len, .. } => Error::WrongLength {
                message: "Signed",
                field: "signer",
                expected: 32,
                len,
            },
            _ => Error::InvalidKey {
                message: "Signed",
                field: "signer",
            },
        })?;
        let signature: [u8; 64] =
            wire.signature
                .as_slice()
                .try_into()
                .map_err(|_| Error::WrongLength {
                    message: "Signed",
                    field: "signature",
                    expected: 64,
                    len: wire.signature.len(),
                })?;
        Self::from_parts(wire.body, signer, signature)
    }
}

impl<T: Kind> From<&Signed<T>> for attn_proto::v1::Signed {
    fn from(signed: &Signed<T>) -> Self {
        signed.to_wire()
    }
}

/// A batch of signatures of any kinds, verified together with Ed25519 batch
/// verification (several times faster per signature than one by one). When the
/// batch fails, each signature is checked alone to name the bad ones.
#[derive(Default)]
pub struct SignatureBatch {
    messages: Vec<Vec<u8>>,
    signatures: Vec<Signature>,
    keys: Vec<ed25519_dalek::VerifyingKey>,
}

impl SignatureBatch {
    /// An empty batch with room for `capacity` signatures.
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            messages: Vec::with_capacity(capacity),
            signatures: Vec::with_capacity(capacity),
            keys: Vec::with_capacity(capacity),
        }
    }

    /// Adds an envelope; its position in the batch is the number of envelopes added
    /// before it.
    pub fn push<T: Kind>(&mut self, signed: &Signed<T>) {
        self.messages.push(signed_message(T::DOMAIN, &signed.body));
        self.signatures.push(signed.signature);
        self.keys.push(*signed.signer.verifying_key());
    }

    /// Number of signatures in the batch.
    pub fn len(&self) -> usize {
        self.signatures.len()
    }

    /// Whether the batch is empty.
    pub fn is_empty(&self) -> bool {
        self.signatures.is_empty()
    }

    /// Verifies every signature. On failure, [`Error::BadSignatures`] lists the
    /// positions of the bad ones.
    pub fn verify(&self) -> Result<()> {
        if self.is_empty() {
            return Ok(());
        }
        let messages: Vec<&[u8]> = self.messages.iter().map(Vec::as_slice).collect();
        if ed25519_dalek::verify_batch(&messages, &self.signatures, &self.keys).is_ok() {
            return Ok(());
        }
        let indices: Vec<usize> = (0..self.len())
            .filter(|&i| {
                self.keys[i]
                    .verify_strict(&self.messages[i], &self.signatures[i])
                    .is_err()
            })
            .collect();
        if indices.is_empty() {
            // Every signature verifies alone; the batch equation failed only for a
            // small-order component, which strict verification refuses anyway.
            return Ok(());
        }
        Err(Error::BadSignatures {
            indices,
            len: self.len(),
        })
    }
}

/// Verifies many envelopes of one kind at once.
///
/// # Example
/// ```
/// use attn_receipts::{verify_batch, AdvertiserKey, Signed, TrustStatement};
/// let truster = AdvertiserKey::from_secret_bytes(&[1; 32]);
/// let statements: Vec<_> = (0..8u8)
///     .map(|i| {
///         let trustee = AdvertiserKey::from_secret_bytes(&[i + 2; 32]).public_key();
///         let statement = TrustStatement {
///             truster: truster.public_key(),
///             trustee,
///             weight_ppm: 500_000,
///             issued_at_ms: 1,
///         };
///         Signed::sign(&truster, &statement)
///     })
///     .collect();
/// verify_batch(&statements)?;
/// # Ok::<(), attn_receipts::Error>(())
/// ```
pub fn verify_batch<T: Kind>(envelopes: &[Signed<T>]) -> Result<()> {
    let mut batch = SignatureBatch::with_capacity(envelopes.len());
    for envelope in envelopes {
        batch.push(envelope);
    }
    batch.verify()
}
