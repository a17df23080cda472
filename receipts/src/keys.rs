//! Ed25519 keys: public keys, the two kinds of secret key (a user's persona, an
//! advertiser's key), and hardened one-way derivation of personas from a wallet seed.
//!
//! Persona derivation follows SLIP-0010 for Ed25519 (hardened children only, so a
//! persona key reveals nothing about the seed or its sibling personas). Personas live
//! at the path `m / 1635021934' / index'` (1635021934 is "attn" in ASCII).

use std::fmt;

use ed25519_dalek::{SigningKey, VerifyingKey};
use hmac::{Hmac, Mac};
use rand_core::CryptoRngCore;
use sha2::Sha512;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::error::{Error, Result};

/// An Ed25519 public key that has been checked to be a valid, non-weak curve point.
///
/// Personas and advertisers are identified by their public key.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PublicKey(VerifyingKey);

impl PublicKey {
    /// Validates 32 bytes as a public key. Refuses non-points and weak (small-order)
    /// keys, which no honest party ever uses.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self> {
        let key = VerifyingKey::from_bytes(bytes).map_err(|_| Error::InvalidKey {
            message: "PublicKey",
            field: "bytes",
        })?;
        if key.is_weak() {
            return Err(Error::InvalidKey {
                message: "PublicKey",
                field: "bytes",
            });
        }
        Ok(Self(key))
    }

    /// The 32 bytes of the key.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// The 32 bytes of the key, borrowed.
    pub fn as_bytes(&self) -> &[u8; 32] {
        self.0.as_bytes()
    }

    /// The key as lowercase hex (64 characters).
    pub fn to_hex(&self) -> String {
        hex::encode(self.as_bytes())
    }

    /// Parses 64 hex characters.
    pub fn from_hex(text: &str) -> Result<Self> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text.trim(), &mut bytes).map_err(|_| Error::InvalidKey {
            message: "PublicKey",
            field: "hex",
        })?;
        Self::from_bytes(&bytes)
    }

    /// The dalek verifying key.
    pub fn verifying_key(&self) -> &VerifyingKey {
        &self.0
    }
}

impl std::hash::Hash for PublicKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_bytes().hash(state);
    }
}

impl PartialOrd for PublicKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for PublicKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_bytes().cmp(other.as_bytes())
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", &self.to_hex()[..16])
    }
}

impl TryFrom<&[u8]> for PublicKey {
    type Error = Error;
    fn try_from(bytes: &[u8]) -> Result<Self> {
        let array: &[u8; 32] = bytes.try_into().map_err(|_| Error::WrongLength {
            message: "PublicKey",
            field: "bytes",
            expected: 32,
            len: bytes.len(),
        })?;
        Self::from_bytes(array)
    }
}

/// What can sign an envelope: a persona key, an advertiser key, or a threshold
/// signer that produces plain Ed25519 signatures.
pub trait Signer {
    /// The public key signatures verify under.
    fn public_key(&self) -> PublicKey;
    /// Signs `message` (the envelope's `DOMAIN || body`).
    fn sign_message(&self, message: &[u8]) -> ed25519_dalek::Signature;
}

macro_rules! secret_key {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone, ZeroizeOnDrop)]
        pub struct $name {
            key: SigningKey,
        }

        impl $name {
            /// A fresh random key.
            pub fn generate(rng: &mut impl CryptoRngCore) -> Self {
                Self { key: SigningKey::generate(rng) }
            }

            /// The key of a 32-byte secret seed (RFC 8032 private key).
            pub fn from_secret_bytes(secret: &[u8; 32]) -> Self {
                Self { key: SigningKey::from_bytes(secret) }
            }

            /// The 32-byte secret. Handle with care: zeroized when dropped.
            pub fn secret_bytes(&self) -> Zeroizing<[u8; 32]> {
                Zeroizing::new(self.key.to_bytes())
            }

            /// The public key.
            pub fn public_key(&self) -> PublicKey {
                PublicKey(self.key.verifying_key())
            }
        }

        impl Signer for $name {
            fn public_key(&self) -> PublicKey {
                PublicKey(self.key.verifying_key())
            }
            fn sign_message(&self, message: &[u8]) -> ed25519_dalek::Signature {
                use ed25519_dalek::Signer as _;
                self.key.sign(message)
            }
        }

        impl fmt::Debug for $name {
            /// Prints the public key only; a secret is never printed.
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!($what, "({})"), &self.public_key().to_hex()[..16])
            }
        }
    };
}

secret_key!(
    /// A persona's secret key: the pseudonymous identity a user shows advertisers.
    /// Never derived from, signed by or stored beside the user's social identity.
    PersonaKey,
    "PersonaKey"
);
secret_key!(
    /// An advertiser's secret key; the advertiser's id is its public key.
    AdvertiserKey,
    "AdvertiserKey"
);

/// The path component under which personas are derived ("attn" in ASCII).
pub const PERSONA_PURPOSE: u32 = 0x6174_746e;
const HARDENED: u32 = 1 << 31;

/// A wallet seed from which a user derives any number of unlinkable personas.
///
/// # Example
/// ```
/// use attn_receipts::WalletSeed;
/// let seed = WalletSeed::from_bytes([7; 32]);
/// let first = seed.persona(0)?;
/// let second = seed.persona(1)?;
/// assert_ne!(first.public_key(), second.public_key());
/// assert_eq!(first.public_key(), seed.persona(0)?.public_key()); // deterministic
/// # Ok::<(), attn_receipts::Error>(())
/// ```
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct WalletSeed([u8; 32]);

impl WalletSeed {
    /// A fresh random seed.
    pub fn generate(rng: &mut impl CryptoRngCore) -> Self {
        let mut seed = [0u8; 32];
        rng.fill_bytes(&mut seed);
        Self(seed)
    }

    /// A seed from its 32 bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The 32 secret bytes. Zeroized when dropped.
    pub fn secret_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.0)
    }

    /// The persona at `index` (below 2^31): the SLIP-0010 hardened child
    /// `m / 1635021934' / index'`.
    pub fn persona(&self, index: u32) -> Result<PersonaKey> {
        if index >= HARDENED {
            return Err(Error::DerivationIndex(index));
        }
        let secret = slip10_derive(&self.0, &[PERSONA_PURPOSE, index])?;
        Ok(PersonaKey::from_secret_bytes(&secret))
    }
}

impl fmt::Debug for WalletSeed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WalletSeed(<secret>)")
    }
}

/// SLIP-0010 Ed25519 derivation of the hardened path `indices` (each below 2^31, all
/// taken hardened) from `seed`. Returns the child's 32-byte private key.
pub fn slip10_derive(seed: &[u8], indices: &[u32]) -> Result<Zeroizing<[u8; 32]>> {
    type HmacSha512 = Hmac<Sha512>;
    let split = |mac: HmacSha512| {
        let out = Zeroizing::new(<[u8; 64]>::from(mac.finalize().into_bytes()));
        let mut key = Zeroizing::new([0u8; 32]);
        let mut chain = Zeroizing::new([0u8; 32]);
        key.copy_from_slice(&out[..32]);
        chain.copy_from_slice(&out[32..]);
        (key, chain)
    };
    let mut mac = HmacSha512::new_from_slice(b"ed25519 seed").expect("HMAC takes any key length");
    mac.update(seed);
    let (mut key, mut chain) = split(mac);
    for &index in indices {
        if index >= HARDENED {
            return Err(Error::DerivationIndex(index));
        }
        let mut mac =
            HmacSha512::new_from_slice(chain.as_slice()).expect("HMAC takes any key length");
        mac.update(&[0]);
        mac.update(key.as_slice());
        mac.update(&(index | HARDENED).to_be_bytes());
        (key, chain) = split(mac);
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex<const N: usize>(s: &str) -> [u8; N] {
        let mut out = [0u8; N];
        hex::decode_to_slice(s, &mut out).expect("hex");
        out
    }

    /// SLIP-0010 test vector 1 for ed25519 (seed 000102…0f).
    #[test]
    fn slip10_ed25519_test_vector_1() {
        let seed: [u8; 16] = unhex("000102030405060708090a0b0c0d0e0f");
        assert_eq!(
            *slip10_derive(&seed, &[]).unwrap(),
            unhex::<32>("2b4be7f19ee27bbf30c667b642d5f4aa69fd169872f8fc3059c08ebae2eb19e7")
        );
        assert_eq!(
            *slip10_derive(&seed, &[0]).unwrap(),
            unhex::<32>("68e0fe46dfb67e368c75379acec591dad19df3cde26e63b93a8e704f1dade7a3")
        );
    }

    #[test]
    fn personas_are_deterministic_distinct_and_bounded() {
        let seed = WalletSeed::from_bytes([1; 32]);
        let a = seed.persona(0).unwrap().public_key();
        assert_eq!(a, seed.persona(0).unwrap().public_key());
        assert_ne!(a, seed.persona(1).unwrap().public_key());
        assert_ne!(
            a,
            WalletSeed::from_bytes([2; 32])
                .persona(0)
                .unwrap()
                .public_key()
        );
        assert_eq!(
            seed.persona(1 << 31).unwrap_err(),
            Error::DerivationIndex(1 << 31)
        );
    }

    #[test]
    fn debug_never_prints_secrets() {
        let key = PersonaKey::from_secret_bytes(&[0x42; 32]);
        let printed = format!("{key:?}");
        assert!(!printed.contains(&hex::encode([0x42; 32])));
        assert!(printed.starts_with("PersonaKey("));
        assert_eq!(
            format!("{:?}", WalletSeed::from_bytes([9; 32])),
            "WalletSeed(<secret>)"
        );
    }

    #[test]
    fn weak_and_malformed_public_keys_are_refused() {
        // The identity point is a small-order (weak) key.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert!(PublicKey::from_bytes(&identity).is_err());
        assert!(PublicKey::try_from(&[1u8; 31][..]).is_err());
        assert!(PublicKey::from_hex("zz").is_err());
        let good = PersonaKey::from_secret_bytes(&[3; 32]).public_key();
        assert_eq!(PublicKey::from_hex(&good.to_hex()).unwrap(), good);
    }
}
