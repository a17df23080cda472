//! The persona's receipts with their openings, kept on disk: what
//! `attn receipts list` shows and what a reputation proof is built from
//! (`attn proof build`). The wallet store ([`super::wallet`]) keeps acks, whose
//! view receipts carry no opening; the openings arrive only with a receipts pull
//! ([`super::Client::pull_receipts`]), and are kept here.
//!
//! # Format
//! An append-only text file (by default `$ATTN_HOME/receipts.txt`), one receipt per
//! line: the lowercase hex of the protobuf encoding of an `attn.v1.ReceiptWithOpening`
//! (the issuer's `Signed` receipt and the `CommitmentOpening`). Lines are at most
//! [`RECEIPT_LINE_MAX_BYTES`]; the file holds at most [`RECEIPTS_STORED_MAX`]
//! receipts. The file is created owner-only (the openings are the persona's secrets
//! of value), each append is synced before [`ReceiptsFile::add`] returns, and a
//! receipt already stored (same issuer and receipt id) is not stored twice.

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use attn_proto::Message as _;
use attn_proto::v1 as wire;
use attn_receipts::limits::RECEIPT_BODY_MAX_BYTES;
use attn_receipts::{PublicKey, ReceiptWithOpening};

use super::error::{Error, Result};

/// Most bytes of one line (a receipt of at most
/// [`RECEIPT_BODY_MAX_BYTES`] with its opening and envelope, hex-encoded).
pub const RECEIPT_LINE_MAX_BYTES: usize = 2 * (RECEIPT_BODY_MAX_BYTES + 1024);
/// Most receipts one file holds.
pub const RECEIPTS_STORED_MAX: usize = 1_000_000;

/// The receipts file.
#[derive(Debug)]
pub struct ReceiptsFile {
    path: PathBuf,
    file: Mutex<File>,
}

impl ReceiptsFile {
    /// Opens (or creates) the receipts file at `path`, owner-only.
    pub fn open(path: &Path) -> Result<Self> {
        if let Some(folder) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(folder)
                .map_err(|error| Error::Wallet(format!("{}: {error}", folder.display())))?;
        }
        let mut options = OpenOptions::new();
        options.create(true).append(true).read(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let file = options
            .open(path)
            .map_err(|error| Error::Wallet(format!("{}: {error}", path.display())))?;
        Ok(Self {
            path: path.to_path_buf(),
            file: Mutex::new(file),
        })
    }

    /// Every stored receipt, in the order stored.
    ///
    /// # Errors
    /// [`Error::Wallet`] for an unreadable file, an over-long or corrupted line, or
    /// more than [`RECEIPTS_STORED_MAX`] receipts.
    pub fn receipts(&self) -> Result<Vec<ReceiptWithOpening>> {
        let _guard = self.file.lock().unwrap_or_else(PoisonError::into_inner);
        let file = File::open(&self.path)
            .map_err(|error| Error::Wallet(format!("{}: {error}", self.path.display())))?;
        let mut receipts = Vec::new();
        for (number, line) in BufReader::new(file).lines().enumerate() {
            let line = line.map_err(|error| Error::Wallet(error.to_string()))?;
            if line.is_empty() {
                continue;
            }
            if receipts.len() >= RECEIPTS_STORED_MAX {
                return Err(Error::Wallet(format!(
                    "{} holds more than {RECEIPTS_STORED_MAX} receipts",
                    self.path.display()
                )));
            }
            receipts.push(parse(&line).map_err(|why| {
                Error::Wallet(format!(
                    "{} line {}: {why}",
                    self.path.display(),
                    number + 1
                ))
            })?);
        }
        Ok(receipts)
    }

    /// The stored receipts addressed to `persona`.
    pub fn receipts_of(&self, persona: &PublicKey) -> Result<Vec<ReceiptWithOpening>> {
        Ok(self
            .receipts()?
            .into_iter()
            .filter(|item| {
                item.receipt
                    .decode_verified()
                    .is_ok_and(|receipt| receipt.persona == *persona)
            })
            .collect())
    }

    /// Stores the receipts not stored yet (same issuer and receipt id); returns how
    /// many were new. Synced before it returns.
    pub fn add(&self, receipts: &[ReceiptWithOpening]) -> Result<usize> {
        let stored = self.receipts()?;
        let mut known: HashSet<(PublicKey, [u8; 16])> = stored
            .iter()
            .map(|item| (item.receipt.signer(), item.opening.receipt_id))
            .collect();
        let mut text = String::new();
        let mut added = 0;
        for item in receipts {
            if !known.insert((item.receipt.signer(), item.opening.receipt_id)) {
                continue;
            }
            if stored.len() + added >= RECEIPTS_STORED_MAX {
                return Err(Error::Wallet(format!(
                    "{} would hold more than {RECEIPTS_STORED_MAX} receipts",
                    self.path.display()
                )));
            }
            let encoded = wire::ReceiptWithOpening {
                receipt: Some(item.receipt.to_wire()),
                opening: Some((&item.opening).into()),
            }
            .encode_to_vec();
            let line = hex::encode(encoded);
            if line.len() > RECEIPT_LINE_MAX_BYTES {
                return Err(Error::Wallet(format!(
                    "a receipt takes {} bytes, more than {RECEIPT_LINE_MAX_BYTES}",
                    line.len()
                )));
            }
            text.push_str(&line);
            text.push('\n');
            added += 1;
        }
        if added > 0 {
            let mut file = self.file.lock().unwrap_or_else(PoisonError::into_inner);
            file.write_all(text.as_bytes())
                .and_then(|()| file.sync_data())
                .map_err(|error| Error::Wallet(format!("{}: {error}", self.path.display())))?;
        }
        Ok(added)
    }
}

fn parse(line: &str) -> std::result::Result<ReceiptWithOpening, String> {
    if line.len() > RECEIPT_LINE_MAX_BYTES {
        return Err(format!(
            "{} bytes, more than {RECEIPT_LINE_MAX_BYTES}",
            line.len()
        ));
    }
    let bytes = hex::decode(line.trim()).map_err(|error| error.to_string())?;
    let item = wire::ReceiptWithOpening::decode(bytes.as_slice()).map_err(|e| e.to_string())?;
    let batch = attn_receipts::ReceiptsBatch::try_from(wire::ReceiptsBatch {
        receipts: vec![item],
    })
    .map_err(|error| error.to_string())?;
    batch
        .receipts
        .into_iter()
        .next()
        .ok_or_else(|| "empty".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use attn_receipts::issuance::{ReceiptDraft, issue_receipt};
    use attn_receipts::{AdvertiserKey, PersonaKey, ReceiptKind};
    use rand::rngs::OsRng;

    fn issued(persona: &PublicKey, value_atomic: u64) -> ReceiptWithOpening {
        let issuer = AdvertiserKey::from_secret_bytes(&[3; 32]);
        let draft = ReceiptDraft::new(*persona, ReceiptKind::Click, value_atomic, 1_000);
        issue_receipt(&issuer, draft, &mut OsRng).expect("receipt")
    }

    #[test]
    fn receipts_survive_reopening_once_each_and_by_persona() -> Result<()> {
        let folder = tempfile::tempdir().map_err(|e| Error::Wallet(e.to_string()))?;
        let path = folder.path().join("receipts.txt");
        let alice = PersonaKey::from_secret_bytes(&[1; 32]).public_key();
        let bob = PersonaKey::from_secret_bytes(&[2; 32]).public_key();
        let first = issued(&alice, 5);
        let second = issued(&bob, 7);
        {
            let store = ReceiptsFile::open(&path)?;
            assert_eq!(store.add(&[first.clone(), second.clone()])?, 2);
            assert_eq!(store.add(std::slice::from_ref(&first))?, 0);
        }
        let store = ReceiptsFile::open(&path)?;
        assert_eq!(store.receipts()?, vec![first.clone(), second]);
        assert_eq!(store.receipts_of(&alice)?, vec![first]);
        Ok(())
    }

    #[test]
    fn a_corrupted_or_overlong_line_is_named() -> Result<()> {
        let folder = tempfile::tempdir().map_err(|e| Error::Wallet(e.to_string()))?;
        let path = folder.path().join("receipts.txt");
        std::fs::write(&path, "zz\n").map_err(|e| Error::Wallet(e.to_string()))?;
        let store = ReceiptsFile::open(&path)?;
        assert!(matches!(store.receipts(), Err(Error::Wallet(why)) if why.contains("line 1")));
        std::fs::write(&path, "a".repeat(RECEIPT_LINE_MAX_BYTES + 2))
            .map_err(|e| Error::Wallet(e.to_string()))?;
        assert!(matches!(store.receipts(), Err(Error::Wallet(why)) if why.contains("more than")));
        Ok(())
    }
}
