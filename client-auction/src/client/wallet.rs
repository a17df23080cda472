//! The user's wallet store: every impression the client delivered, with the
//! advertiser's acknowledgement (the payment and the signed view receipt), kept as
//! received, a refused voucher included (as evidence). The latest *valid* voucher of
//! each payment channel is kept by the payee engine's store instead
//! ([`super::Client::latest_vouchers`]).

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use attn_proto::Message as _;
use attn_proto::v1 as wire;
use attn_receipts::{Impression, ImpressionAck, Signed};

use super::error::{Error, Result};

/// Most entries a [`FileWallet`] line may hold, in bytes (an ack with a receipt and
/// a voucher is about 1 KiB, hex-encoded).
pub const WALLET_LINE_MAX_BYTES: usize = 64 * 1024;

/// One delivered impression and its acknowledgement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WalletEntry {
    /// The bidder's name in the registry.
    pub bidder: String,
    /// The impression the persona signed.
    pub impression: Signed<Impression>,
    /// The advertiser's answer: payment and signed view receipt.
    pub ack: ImpressionAck,
}

/// Where a client keeps its acks.
///
/// Contract: `record` MUST be durable when it returns `Ok` for a store that claims
/// durability; it is called once per acknowledged impression, possibly from several
/// tasks at once, and MUST NOT block for long (it runs on the async runtime).
pub trait WalletStore: Send + Sync {
    /// Keeps one entry.
    fn record(&self, entry: &WalletEntry) -> Result<()>;
    /// Every entry, in the order recorded.
    fn entries(&self) -> Result<Vec<WalletEntry>>;
}

/// A wallet in memory.
#[derive(Debug, Default)]
pub struct MemoryWallet {
    entries: Mutex<Vec<WalletEntry>>,
}

impl MemoryWallet {
    /// An empty wallet.
    pub fn new() -> Self {
        Self::default()
    }
}

impl WalletStore for MemoryWallet {
    fn record(&self, entry: &WalletEntry) -> Result<()> {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(entry.clone());
        Ok(())
    }

    fn entries(&self) -> Result<Vec<WalletEntry>> {
        Ok(self
            .entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone())
    }
}

/// A wallet in an append-only text file: one line per entry, `bidder`, the signed
/// impression and the ack, each as hex of its protobuf encoding, separated by
/// spaces. Each record is flushed and synced before `record` returns.
#[derive(Debug)]
pub struct FileWallet {
    path: PathBuf,
    file: Mutex<File>,
}

impl FileWallet {
    /// Opens (or creates) the wallet file at `path`, with owner-only permissions.
    pub fn open(path: &Path) -> Result<Self> {
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

    fn parse(line: &str) -> Result<WalletEntry> {
        let bad = |why: String| Error::Wallet(format!("corrupted line: {why}"));
        let mut parts = line.split(' ');
        let (Some(bidder), Some(impression), Some(ack), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad("expected three fields".into()));
        };
        let impression = hex::decode(impression).map_err(|e| bad(e.to_string()))?;
        let impression =
            wire::Signed::decode(impression.as_slice()).map_err(|e| bad(e.to_string()))?;
        let ack = hex::decode(ack).map_err(|e| bad(e.to_string()))?;
        let ack = wire::ImpressionAck::decode(ack.as_slice()).map_err(|e| bad(e.to_string()))?;
        Ok(WalletEntry {
            bidder: bidder.to_string(),
            impression: Signed::try_from(impression)?,
            ack: ImpressionAck::try_from(ack)?,
        })
    }
}

impl WalletStore for FileWallet {
    fn record(&self, entry: &WalletEntry) -> Result<()> {
        let line = format!(
            "{} {} {}\n",
            entry.bidder.replace(' ', "_"),
            hex::encode(entry.impression.to_wire().encode_to_vec()),
            hex::encode(wire::ImpressionAck::from(&entry.ack).encode_to_vec())
        );
        let mut file = self.file.lock().unwrap_or_else(PoisonError::into_inner);
        file.write_all(line.as_bytes())
            .and_then(|()| file.sync_data())
            .map_err(|error| Error::Wallet(format!("{}: {error}", self.path.display())))
    }

    fn entries(&self) -> Result<Vec<WalletEntry>> {
        let file = File::open(&self.path)
            .map_err(|error| Error::Wallet(format!("{}: {error}", self.path.display())))?;
        let mut entries = Vec::new();
        for line in BufReader::new(file).lines() {
            let line = line.map_err(|error| Error::Wallet(error.to_string()))?;
            if line.len() > WALLET_LINE_MAX_BYTES {
                return Err(Error::Wallet(format!(
                    "a line of {} bytes, at most {WALLET_LINE_MAX_BYTES}",
                    line.len()
                )));
            }
            if !line.is_empty() {
                entries.push(Self::parse(&line)?);
            }
        }
        Ok(entries)
    }
}
