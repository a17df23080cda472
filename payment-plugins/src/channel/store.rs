//! Where channel state lives: in memory (shared by clones, so a test can "restart" a
//! rail on it) or in a file.
//!
//! The file is a log of JSON lines, each a whole record (a channel, or a rail
//! payment); the last record of an id wins. Appending one line per change keeps a
//! voucher at one small write; with `durable` each append is `fsync`ed before the
//! change is visible, so an acknowledged voucher survives a crash. A torn last line
//! (a crash mid-write) is ignored on open. The log is compacted, by writing the live
//! records to a temporary file, `fsync`ing it and renaming it over the log, when it
//! opens and whenever it grows past [`COMPACT_FACTOR`] times the live records.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use attn_receipts::{Digest32, Money, PublicKey, Signed, Voucher};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::rail::{AccountName, PaymentId};

/// Most bytes of one log line; a longer line is corruption.
pub const STORE_LINE_MAX_BYTES: usize = 16 * 1024;
/// Most channels one store holds (open and closed).
pub const CHANNELS_MAX: usize = 1_000_000;
/// Most rail payments one store remembers (the channel rail's idempotency records).
pub const CHANNEL_PAYMENTS_MAX: usize = 4_000_000;
/// The log is compacted when it holds more than this many lines per live record.
pub const COMPACT_FACTOR: usize = 4;
/// ... and at least this many lines.
pub const COMPACT_LINES_MIN: usize = 4_096;

const STORE_NAME: &str = "channel-store";

/// Where a channel stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Phase {
    /// Its deposit is being paid into escrow on the base rail.
    Opening,
    /// It takes vouchers.
    Open,
    /// Frozen: the settlement below is being paid on the base rail.
    Closing(Settlement),
    /// Settled on the base rail.
    Closed(Settlement),
}

/// How a channel was (or is being) settled on the base rail.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settlement {
    /// Paid from escrow to the payee: the latest voucher plus what the previous
    /// channel carried, down to the base rail's precision.
    #[serde(with = "money")]
    pub to_payee: Money,
    /// Returned from escrow to the payer.
    #[serde(with = "money")]
    pub to_payer: Money,
    /// Below the base rail's precision: carried into the next channel of the pair.
    #[serde(with = "money")]
    pub carried_out: Money,
    /// The base rail's fees on the two payments.
    #[serde(with = "money")]
    pub fees: Money,
}

/// One channel, both sides (a store used by only one side leaves the other's fields
/// at zero).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Channel {
    /// Its id.
    #[serde(with = "digest")]
    pub id: Digest32,
    /// Which channel of the pair (payer, payee, currency) it is, from 0.
    pub nonce: u64,
    /// The payer's key.
    #[serde(with = "key")]
    pub payer: PublicKey,
    /// The payee's key.
    #[serde(with = "key")]
    pub payee: PublicKey,
    /// The payer's account on the base rail (deposit from, refund to).
    #[serde(with = "account")]
    pub payer_account: AccountName,
    /// The payee's account on the base rail (settlement to).
    #[serde(with = "account")]
    pub payee_account: AccountName,
    /// The escrow account on the base rail.
    #[serde(with = "account")]
    pub escrow: AccountName,
    /// Escrowed.
    #[serde(with = "money")]
    pub deposit: Money,
    /// Owed from the previous channel of the pair, below the base precision.
    #[serde(with = "money")]
    pub carried_in: Money,
    /// Payer side: promised so far.
    #[serde(with = "money")]
    pub issued: Money,
    /// Payer side: the last voucher's sequence.
    pub issued_sequence: u64,
    /// Payee side: the latest accepted cumulative amount.
    #[serde(with = "money")]
    pub accepted: Money,
    /// Payee side: the latest accepted sequence.
    pub accepted_sequence: u64,
    /// Payee side: the latest accepted voucher.
    #[serde(with = "voucher")]
    pub latest: Option<Signed<Voucher>>,
    /// Where it stands.
    pub phase: Phase,
}

/// A payment made through the channel rail's [`crate::PaymentRail`] view.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RailPayment {
    /// The payer.
    #[serde(with = "account")]
    pub from: AccountName,
    /// The payee.
    #[serde(with = "account")]
    pub to: AccountName,
    /// The amount.
    #[serde(with = "money")]
    pub amount: Money,
    /// The channel it went through.
    #[serde(with = "digest")]
    pub channel: Digest32,
    /// The voucher that carried it.
    pub sequence: u64,
}

/// One change, as logged.
#[derive(Clone, Debug, Serialize, Deserialize)]
// Events are built once per state change and written straight to the log, never
// held in bulk: the size of the largest variant costs nothing.
#[allow(clippy::large_enum_variant)]
pub enum Event {
    /// A channel's new state.
    Channel(Channel),
    /// A rail payment recorded.
    Payment {
        /// Its id.
        id: String,
        /// The payment.
        payment: RailPayment,
    },
}

/// The channels of one pair: (payer key, payee key, currency).
type PairKey = (PublicKey, PublicKey, attn_receipts::Currency);

fn pair_key(channel: &Channel) -> PairKey {
    (channel.payer, channel.payee, channel.deposit.currency())
}

/// What a store holds.
#[derive(Default, Debug)]
pub struct State {
    /// Channels by id.
    pub channels: HashMap<Digest32, Channel>,
    /// Rail payments by id.
    pub payments: HashMap<PaymentId, RailPayment>,
    /// The ids of each pair's channels by nonce, so that finding a pair's open
    /// channel (once per payment) does not scan every channel of the store.
    pairs: HashMap<PairKey, Vec<(u64, Digest32)>>,
}

impl State {
    fn apply(&mut self, event: Event) -> Result<()> {
        match event {
            Event::Channel(channel) => {
                let key = pair_key(&channel);
                let entry = (channel.nonce, channel.id);
                match self.channels.insert(channel.id, channel) {
                    Some(old) if pair_key(&old) == key && old.nonce == entry.0 => {}
                    old => {
                        if let Some(old) = old {
                            self.unindex(&pair_key(&old), &old.id);
                        }
                        let ids = self.pairs.entry(key).or_default();
                        let at = ids.partition_point(|e| *e < entry);
                        ids.insert(at, entry);
                    }
                }
            }
            Event::Payment { id, payment } => {
                let id = PaymentId::new(id).map_err(|e| Error::storage(STORE_NAME, e))?;
                self.payments.insert(id, payment);
            }
        }
        Ok(())
    }

    fn live(&self) -> usize {
        self.channels.len() + self.payments.len()
    }

    fn events(&self) -> impl Iterator<Item = Event> + '_ {
        self.channels
            .values()
            .cloned()
            .map(Event::Channel)
            .chain(self.payments.iter().map(|(id, payment)| Event::Payment {
                id: id.to_string(),
                payment: payment.clone(),
            }))
    }

    fn unindex(&mut self, key: &PairKey, id: &Digest32) {
        if let Some(ids) = self.pairs.get_mut(key) {
            ids.retain(|(_, other)| other != id);
            if ids.is_empty() {
                self.pairs.remove(key);
            }
        }
    }

    /// The channels of a pair (payer key, payee key, currency), by nonce.
    pub fn pair(
        &self,
        payer: &PublicKey,
        payee: &PublicKey,
        currency: attn_receipts::Currency,
    ) -> Vec<&Channel> {
        self.pair_channels(payer, payee, currency).collect()
    }

    /// The open channel of a pair with the highest nonce, if any.
    pub fn open_in_pair(
        &self,
        payer: &PublicKey,
        payee: &PublicKey,
        currency: attn_receipts::Currency,
    ) -> Option<&Channel> {
        self.pair_channels(payer, payee, currency)
            .rev()
            .find(|c| c.phase == Phase::Open)
    }

    /// The channels of a pair by nonce, from the pair index.
    fn pair_channels(
        &self,
        payer: &PublicKey,
        payee: &PublicKey,
        currency: attn_receipts::Currency,
    ) -> impl DoubleEndedIterator<Item = &Channel> {
        self.pairs
            .get(&(*payer, *payee, currency))
            .map_or(&[][..], Vec::as_slice)
            .iter()
            .filter_map(|(_, id)| self.channels.get(id))
    }
}

struct Log {
    path: PathBuf,
    file: File,
    durable: bool,
    lines: usize,
}

struct Inner {
    state: State,
    log: Option<Log>,
}

/// The channel store. Clones share it.
#[derive(Clone)]
pub struct ChannelStore(Arc<Mutex<Inner>>);

impl std::fmt::Debug for ChannelStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let inner = self.lock();
        let path = inner.log.as_ref().map(|log| log.path.display().to_string());
        write!(
            f,
            "ChannelStore({} channels, {path:?})",
            inner.state.channels.len()
        )
    }
}

fn write_events(path: &Path, events: impl Iterator<Item = Event>) -> Result<usize> {
    let temporary = path.with_extension("compacting");
    let mut file = File::create(&temporary).map_err(|e| Error::storage(STORE_NAME, e))?;
    let mut lines = 0;
    for event in events {
        let mut line = serde_json::to_vec(&event).map_err(|e| Error::storage(STORE_NAME, e))?;
        line.push(b'\n');
        file.write_all(&line)
            .map_err(|e| Error::storage(STORE_NAME, e))?;
        lines += 1;
    }
    file.sync_all().map_err(|e| Error::storage(STORE_NAME, e))?;
    std::fs::rename(&temporary, path).map_err(|e| Error::storage(STORE_NAME, e))?;
    if let Some(directory) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        // Make the rename itself durable.
        if let Ok(directory) = File::open(directory) {
            directory
                .sync_all()
                .map_err(|e| Error::storage(STORE_NAME, e))?;
        }
    }
    Ok(lines)
}

impl ChannelStore {
    /// An empty in-memory store.
    pub fn memory() -> Self {
        Self(Arc::new(Mutex::new(Inner {
            state: State::default(),
            log: None,
        })))
    }

    /// Opens (or creates) the log at `path`, compacting it. With `durable`, every
    /// change is `fsync`ed before it is visible.
    pub fn open_file(path: impl AsRef<Path>, durable: bool) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let mut state = State::default();
        if path.exists() {
            let file = File::open(&path).map_err(|e| Error::storage(STORE_NAME, e))?;
            let mut reader = BufReader::new(file);
            let mut line = Vec::new();
            let mut number = 0usize;
            loop {
                line.clear();
                let read = reader
                    .by_ref()
                    .take(STORE_LINE_MAX_BYTES as u64 + 1)
                    .read_until(b'\n', &mut line)
                    .map_err(|e| Error::storage(STORE_NAME, e))?;
                if read == 0 {
                    break;
                }
                number += 1;
                let complete = line.last() == Some(&b'\n');
                if line.len() > STORE_LINE_MAX_BYTES {
                    return Err(Error::storage(
                        STORE_NAME,
                        format!("line {number} exceeds {STORE_LINE_MAX_BYTES} bytes"),
                    ));
                }
                match serde_json::from_slice::<Event>(&line) {
                    Ok(event) => state.apply(event)?,
                    // A torn last line: the crash came before the change was visible.
                    Err(_) if !complete => break,
                    Err(error) => {
                        return Err(Error::storage(
                            STORE_NAME,
                            format!("line {number} of {} is corrupt: {error}", path.display()),
                        ));
                    }
                }
            }
        }
        let lines = write_events(&path, state.events())?;
        let file = OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(|e| Error::storage(STORE_NAME, e))?;
        Ok(Self(Arc::new(Mutex::new(Inner {
            state,
            log: Some(Log {
                path,
                file,
                durable,
                lines,
            }),
        }))))
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Events are written before they are applied, and applying cannot fail half
        // way, so a poisoned lock still guards a consistent state.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Reads the state.
    pub fn read<T>(&self, reader: impl FnOnce(&State) -> T) -> T {
        reader(&self.lock().state)
    }

    /// Atomically: decides from the state which events to record (or fails, recording
    /// nothing), logs them, then applies them. Returns the decision's value.
    pub fn transact<T>(&self, decide: impl FnOnce(&State) -> Result<(T, Vec<Event>)>) -> Result<T> {
        let mut inner = self.lock();
        let (value, events) = decide(&inner.state)?;
        if events.is_empty() {
            return Ok(value);
        }
        let new_channels = events
            .iter()
            .filter(|e| matches!(e, Event::Channel(c) if !inner.state.channels.contains_key(&c.id)))
            .count();
        let new_payments = events
            .iter()
            .filter(|e| matches!(e, Event::Payment { .. }))
            .count();
        if inner.state.channels.len() + new_channels > CHANNELS_MAX {
            return Err(Error::storage(
                STORE_NAME,
                format!("more than {CHANNELS_MAX} channels"),
            ));
        }
        if inner.state.payments.len() + new_payments > CHANNEL_PAYMENTS_MAX {
            return Err(Error::storage(
                STORE_NAME,
                format!("more than {CHANNEL_PAYMENTS_MAX} payments"),
            ));
        }
        let Inner { state, log } = &mut *inner;
        if let Some(log) = log.as_mut() {
            let mut bytes = Vec::new();
            for event in &events {
                let line = serde_json::to_vec(event).map_err(|e| Error::storage(STORE_NAME, e))?;
                if line.len() >= STORE_LINE_MAX_BYTES {
                    return Err(Error::storage(
                        STORE_NAME,
                        "record exceeds STORE_LINE_MAX_BYTES",
                    ));
                }
                bytes.extend_from_slice(&line);
                bytes.push(b'\n');
            }
            log.file
                .write_all(&bytes)
                .map_err(|e| Error::storage(STORE_NAME, e))?;
            if log.durable {
                log.file
                    .sync_data()
                    .map_err(|e| Error::storage(STORE_NAME, e))?;
            }
            log.lines += events.len();
        }
        for event in events {
            state.apply(event)?;
        }
        if let Some(log) = log.as_mut()
            && log.lines > COMPACT_LINES_MIN.max(COMPACT_FACTOR * state.live())
        {
            log.lines = write_events(&log.path, state.events())?;
            log.file = OpenOptions::new()
                .append(true)
                .open(&log.path)
                .map_err(|e| Error::storage(STORE_NAME, e))?;
        }
        Ok(value)
    }
}

mod money {
    use attn_receipts::Money;
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(value: &Money, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&format!("{} {}", value.currency(), value.amount()))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Money, D::Error> {
        let text = String::deserialize(deserializer)?;
        let (currency, amount) = text
            .split_once(' ')
            .ok_or_else(|| D::Error::custom("money is `CUR amount`"))?;
        Money::parse(currency, amount).map_err(D::Error::custom)
    }
}

mod key {
    use attn_receipts::PublicKey;
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(value: &PublicKey, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&value.to_hex())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<PublicKey, D::Error> {
        PublicKey::from_hex(&String::deserialize(deserializer)?).map_err(D::Error::custom)
    }
}

mod digest {
    use attn_receipts::Digest32;
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(value: &Digest32, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&value.to_hex())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Digest32, D::Error> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(String::deserialize(deserializer)?, &mut bytes)
            .map_err(D::Error::custom)?;
        Ok(Digest32(bytes))
    }
}

mod account {
    use crate::rail::AccountName;
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(value: &AccountName, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(value.as_str())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<AccountName, D::Error> {
        AccountName::new(String::deserialize(deserializer)?).map_err(D::Error::custom)
    }
}

mod voucher {
    use attn_receipts::{PublicKey, Signed, Voucher};
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(
        value: &Option<Signed<Voucher>>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            None => serializer.serialize_none(),
            Some(signed) => serializer.serialize_some(&format!(
                "{}.{}.{}",
                hex::encode(signed.body()),
                signed.signer().to_hex(),
                hex::encode(signed.signature_bytes())
            )),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Signed<Voucher>>, D::Error> {
        let Some(text) = Option::<String>::deserialize(deserializer)? else {
            return Ok(None);
        };
        let mut parts = text.split('.');
        let (Some(body), Some(signer), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(D::Error::custom(
                "a voucher is `body.signer.signature` in hex",
            ));
        };
        let body = hex::decode(body).map_err(D::Error::custom)?;
        let signer = PublicKey::from_hex(signer).map_err(D::Error::custom)?;
        let mut bytes = [0u8; 64];
        hex::decode_to_slice(signature, &mut bytes).map_err(D::Error::custom)?;
        Signed::from_parts(body, signer, bytes)
            .map(Some)
            .map_err(D::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use attn_receipts::{AdvertiserKey, Currency, PersonaKey};

    fn channel(nonce: u64) -> Channel {
        let payer = AdvertiserKey::from_secret_bytes(&[1; 32]);
        let payee = PersonaKey::from_secret_bytes(&[2; 32]).public_key();
        let usd = Currency::new("USD").unwrap();
        let id = super::super::voucher::channel_id(&payer.public_key(), &payee, usd, nonce);
        let voucher = Voucher {
            channel_id: id,
            payer: payer.public_key(),
            payee,
            cumulative: Money::parse("USD", "0.5").unwrap(),
            sequence: 3,
            created_at_ms: 9,
        };
        Channel {
            id,
            nonce,
            payer: payer.public_key(),
            payee,
            payer_account: AccountName::for_key(&payer.public_key()),
            payee_account: AccountName::for_key(&payee),
            escrow: AccountName::new(format!("escrow:{id}")).unwrap(),
            deposit: Money::parse("USD", "1").unwrap(),
            carried_in: Money::zero(usd),
            issued: voucher.cumulative,
            issued_sequence: 3,
            accepted: voucher.cumulative,
            accepted_sequence: 3,
            latest: Some(Signed::sign(&payer, &voucher)),
            phase: Phase::Open,
        }
    }

    #[test]
    fn the_file_log_survives_reopening_and_a_torn_tail() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("channels.log");
        let store = ChannelStore::open_file(&path, true).unwrap();
        let mut first = channel(0);
        store
            .transact(|_| Ok(((), vec![Event::Channel(first.clone())])))
            .unwrap();
        first.phase = Phase::Closed(Settlement {
            to_payee: Money::parse("USD", "0.5").unwrap(),
            to_payer: Money::parse("USD", "0.5").unwrap(),
            carried_out: Money::zero(first.deposit.currency()),
            fees: Money::zero(first.deposit.currency()),
        });
        store
            .transact(|_| Ok(((), vec![Event::Channel(first.clone())])))
            .unwrap();
        drop(store);
        // A crash mid-append leaves half a line.
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(b"{\"Channel\":{\"id\":\"ab").unwrap();
        drop(file);
        let store = ChannelStore::open_file(&path, true).unwrap();
        let reread = store.read(|state| state.channels.get(&first.id).cloned());
        assert_eq!(reread, Some(first));
        // Compaction on open left one line.
        assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 1);
    }

    #[test]
    fn corruption_and_over_long_lines_are_refused() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("channels.log");
        std::fs::write(&path, "not json\n{}\n").unwrap();
        assert!(matches!(
            ChannelStore::open_file(&path, false),
            Err(Error::Storage { .. })
        ));
        std::fs::write(&path, format!("{}\n", "x".repeat(STORE_LINE_MAX_BYTES + 1))).unwrap();
        let error = ChannelStore::open_file(&path, false).unwrap_err();
        assert!(error.to_string().contains("exceeds"), "{error}");
    }

    #[test]
    fn a_pair_lists_its_channels_by_nonce_and_finds_the_open_one() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("channels.log");
        let store = ChannelStore::open_file(&path, false).unwrap();
        let closed = Phase::Closed(Settlement {
            to_payee: Money::parse("USD", "0.5").unwrap(),
            to_payer: Money::parse("USD", "0.5").unwrap(),
            carried_out: Money::parse("USD", "0").unwrap(),
            fees: Money::parse("USD", "0").unwrap(),
        });
        for (nonce, phase) in [(2, Phase::Opening), (0, closed.clone()), (1, Phase::Open)] {
            let mut c = channel(nonce);
            c.phase = phase;
            store
                .transact(|_| Ok(((), vec![Event::Channel(c)])))
                .unwrap();
        }
        // Another pair's channel stays out of this pair's list.
        let mut stranger = channel(0);
        stranger.payee = PersonaKey::from_secret_bytes(&[3; 32]).public_key();
        stranger.id = Digest32([4; 32]);
        store
            .transact(|_| Ok(((), vec![Event::Channel(stranger)])))
            .unwrap();
        let check = |store: &ChannelStore| {
            store.read(|state| {
                let first = channel(0);
                let usd = first.deposit.currency();
                let nonces: Vec<u64> = state
                    .pair(&first.payer, &first.payee, usd)
                    .iter()
                    .map(|c| c.nonce)
                    .collect();
                assert_eq!(nonces, [0, 1, 2]);
                let open = state.open_in_pair(&first.payer, &first.payee, usd);
                assert_eq!(open.map(|c| c.nonce), Some(1));
                let other = Currency::new("EUR").unwrap();
                assert!(state.pair(&first.payer, &first.payee, other).is_empty());
            })
        };
        check(&store);
        // Updating a channel keeps one entry; closing the open one leaves none open.
        let mut one = channel(1);
        one.phase = closed;
        store
            .transact(|_| Ok(((), vec![Event::Channel(one.clone())])))
            .unwrap();
        store.read(|state| {
            assert_eq!(
                state
                    .pair(&one.payer, &one.payee, one.deposit.currency())
                    .len(),
                3
            );
            assert!(
                state
                    .open_in_pair(&one.payer, &one.payee, one.deposit.currency())
                    .is_none()
            );
        });
        drop(store);
        // The index is rebuilt when the log is read again.
        let store = ChannelStore::open_file(&path, false).unwrap();
        store.read(|state| {
            assert_eq!(
                state
                    .pair(&one.payer, &one.payee, one.deposit.currency())
                    .len(),
                3
            );
        });
    }

    #[test]
    fn a_failed_decision_records_nothing() {
        let store = ChannelStore::memory();
        let result: Result<()> = store.transact(|_| Err(Error::invalid("x", "no")));
        assert!(result.is_err());
        assert_eq!(store.read(State::live), 0);
    }
}
