//! Keys encrypted at rest: Argon2id (memory-hard) derives a key from the passphrase,
//! XChaCha20-Poly1305 encrypts the secret. Pure functions over bytes; the caller
//! writes the file (owner-only permissions: see the `attn` binary).
//!
//! File layout (all integers little-endian):
//! ```text
//! magic "ATTNKEY1" (8) | kind (1) | m_cost_kib (4) | t_cost (4) | lanes (4)
//! | salt (16) | nonce (24) | ciphertext (32 + 16 tag) | SHA-256 of all before (32)
//! ```
//! The header is the AEAD's associated data. The trailing checksum tells a corrupted
//! file (checksum fails) from a wrong passphrase (checksum holds, decryption fails).

use argon2::{Algorithm, Argon2, Params, Version};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand_core::CryptoRngCore;
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::signed::Digest32;

const MAGIC: &[u8; 8] = b"ATTNKEY1";
const HEADER_LEN: usize = 8 + 1 + 12 + 16 + 24;
const SECRET_LEN: usize = 32;
const TAG_LEN: usize = 16;
/// Exact size of a key file.
pub const KEY_FILE_LEN: usize = HEADER_LEN + SECRET_LEN + TAG_LEN + 32;

/// Largest Argon2 memory cost accepted from a file (1 GiB), so a corrupted or hostile
/// file cannot make opening it exhaust memory.
pub const KDF_MEMORY_KIB_MAX: u32 = 1024 * 1024;
/// Largest Argon2 time cost accepted from a file.
pub const KDF_TIME_COST_MAX: u32 = 16;

/// What a key file holds.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum KeyKind {
    /// A wallet seed from which personas derive.
    WalletSeed,
    /// A single persona key.
    Persona,
    /// An advertiser key.
    Advertiser,
}

impl KeyKind {
    fn tag(self) -> u8 {
        match self {
            Self::WalletSeed => 1,
            Self::Persona => 2,
            Self::Advertiser => 3,
        }
    }

    fn from_tag(tag: u8) -> Result<Self> {
        match tag {
            1 => Ok(Self::WalletSeed),
            2 => Ok(Self::Persona),
            3 => Ok(Self::Advertiser),
            _ => Err(Error::CorruptedKeyFile("unknown key kind")),
        }
    }

    /// Lowercase name.
    pub fn name(self) -> &'static str {
        match self {
            Self::WalletSeed => "wallet",
            Self::Persona => "persona",
            Self::Advertiser => "advertiser",
        }
    }
}

/// Argon2id cost parameters.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct KdfParams {
    /// Memory, in KiB.
    pub memory_kib: u32,
    /// Passes over memory.
    pub time_cost: u32,
    /// Parallel lanes.
    pub lanes: u32,
}

impl KdfParams {
    /// The default for keys on disk: 64 MiB, 3 passes, 1 lane (above OWASP's
    /// recommended minimum for Argon2id).
    pub const DEFAULT: Self = Self {
        memory_kib: 64 * 1024,
        time_cost: 3,
        lanes: 1,
    };

    /// Cheap parameters, for tests only.
    pub const INSECURE_FOR_TESTS: Self = Self {
        memory_kib: 64,
        time_cost: 1,
        lanes: 1,
    };

    fn derive(&self, passphrase: &[u8], salt: &[u8]) -> Result<Zeroizing<[u8; 32]>> {
        if self.memory_kib > KDF_MEMORY_KIB_MAX || self.time_cost > KDF_TIME_COST_MAX {
            return Err(Error::CorruptedKeyFile("key derivation cost out of bounds"));
        }
        let params = Params::new(self.memory_kib, self.time_cost, self.lanes, Some(32))
            .map_err(|_| Error::CorruptedKeyFile("invalid key derivation parameters"))?;
        let mut key = Zeroizing::new([0u8; 32]);
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password_into(passphrase, salt, key.as_mut_slice())
            .map_err(|_| Error::CorruptedKeyFile("invalid key derivation parameters"))?;
        Ok(key)
    }
}

/// Encrypts a 32-byte secret under `passphrase`; returns the key file's bytes.
pub fn seal(
    kind: KeyKind,
    secret: &[u8; 32],
    passphrase: &[u8],
    params: KdfParams,
    rng: &mut impl CryptoRngCore,
) -> Result<Vec<u8>> {
    let mut salt = [0u8; 16];
    let mut nonce = [0u8; 24];
    rng.fill_bytes(&mut salt);
    rng.fill_bytes(&mut nonce);
    let mut file = Vec::with_capacity(KEY_FILE_LEN);
    file.extend_from_slice(MAGIC);
    file.push(kind.tag());
    file.extend_from_slice(&params.memory_kib.to_le_bytes());
    file.extend_from_slice(&params.time_cost.to_le_bytes());
    file.extend_from_slice(&params.lanes.to_le_bytes());
    file.extend_from_slice(&salt);
    file.extend_from_slice(&nonce);
    let key = params.derive(passphrase, &salt)?;
    let cipher = XChaCha20Poly1305::new(key.as_slice().into());
    let ciphertext = cipher
        .encrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: secret,
                aad: &file,
            },
        )
        .map_err(|_| Error::CorruptedKeyFile("encryption failed"))?;
    file.extend_from_slice(&ciphertext);
    let checksum = Digest32::of(&[&file]);
    file.extend_from_slice(&checksum.0);
    debug_assert_eq!(file.len(), KEY_FILE_LEN);
    Ok(file)
}

/// Decrypts a key file. [`Error::WrongPassphrase`] if the file is intact but the
/// passphrase is wrong; [`Error::CorruptedKeyFile`] if the file was altered.
pub fn open(file: &[u8], passphrase: &[u8]) -> Result<(KeyKind, Zeroizing<[u8; 32]>)> {
    if file.len() != KEY_FILE_LEN {
        return Err(Error::CorruptedKeyFile("wrong length"));
    }
    if &file[..8] != MAGIC {
        return Err(Error::CorruptedKeyFile("not an attn key file"));
    }
    let (content, checksum) = file.split_at(KEY_FILE_LEN - 32);
    if Digest32::of(&[content]).0 != checksum {
        return Err(Error::CorruptedKeyFile("checksum mismatch"));
    }
    let kind = KeyKind::from_tag(file[8])?;
    let word = |at: usize| u32::from_le_bytes([file[at], file[at + 1], file[at + 2], file[at + 3]]);
    let params = KdfParams {
        memory_kib: word(9),
        time_cost: word(13),
        lanes: word(17),
    };
    let salt = &file[21..37];
    let nonce = &file[37..61];
    let key = params.derive(passphrase, salt)?;
    let cipher = XChaCha20Poly1305::new(key.as_slice().into());
    let plaintext = Zeroizing::new(
        cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: &content[HEADER_LEN..],
                    aad: &content[..HEADER_LEN],
                },
            )
            .map_err(|_| Error::WrongPassphrase)?,
    );
    let mut secret = Zeroizing::new([0u8; 32]);
    secret.copy_from_slice(&plaintext);
    Ok((kind, secret))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::OsRng;

    fn sealed() -> Vec<u8> {
        seal(
            KeyKind::Persona,
            &[5; 32],
            b"correct horse",
            KdfParams::INSECURE_FOR_TESTS,
            &mut OsRng,
        )
        .expect("seals")
    }

    #[test]
    fn round_trip() {
        let (kind, secret) = open(&sealed(), b"correct horse").expect("opens");
        assert_eq!(kind, KeyKind::Persona);
        assert_eq!(*secret, [5; 32]);
    }

    #[test]
    fn wrong_passphrase_is_told_apart_from_corruption() {
        assert_eq!(
            open(&sealed(), b"battery staple").unwrap_err(),
            Error::WrongPassphrase
        );
        let file = sealed();
        for at in [0, 8, 12, 30, 50, 70, KEY_FILE_LEN - 1] {
            let mut bad = file.clone();
            bad[at] ^= 1;
            assert!(
                matches!(
                    open(&bad, b"correct horse"),
                    Err(Error::CorruptedKeyFile(_))
                ),
                "flip at {at}"
            );
        }
        assert!(matches!(
            open(&file[..40], b"x"),
            Err(Error::CorruptedKeyFile("wrong length"))
        ));
    }

    #[test]
    fn hostile_cost_parameters_are_refused_before_hashing() {
        let mut file = sealed();
        file[9..13].copy_from_slice(&(KDF_MEMORY_KIB_MAX + 1).to_le_bytes());
        let checksum = Digest32::of(&[&file[..KEY_FILE_LEN - 32]]);
        file[KEY_FILE_LEN - 32..].copy_from_slice(&checksum.0);
        assert_eq!(
            open(&file, b"correct horse").unwrap_err(),
            Error::CorruptedKeyFile("key derivation cost out of bounds")
        );
    }
}
