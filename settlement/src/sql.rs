//! What the SQLite and PostgreSQL backends share: row shapes, conversions between
//! stored integers and the model, and the mapping of database errors to [`Error`].

use foldhash::HashMap;
use std::sync::{Arc, LazyLock, Mutex, PoisonError, RwLock};

use sqlx::AssertSqlSafe;

use attn_receipts::Currency;

use crate::error::Error;
use crate::model::{
    Account, AccountFlags, AccountId, AccountKind, Balances, Ledger, LedgerId, Transfer,
    TransferFlags, TransferId, TransferRecord, TransferStatus,
};

/// An account as read: id, ledger, kind, flags, user_data, the four sums, created_at_ms.
pub(crate) type AccountRow = (Vec<u8>, i64, i64, i64, i64, i64, i64, i64, i64, i64);

/// A transfer as read: sequence, id, debit and credit account ids, amount, ledger, code,
/// user_data, flags, pending_id, timeout_ms, expires_at_ms, status, created_at_ms.
pub(crate) type TransferRow = (
    i64,
    Vec<u8>,
    Vec<u8>,
    Vec<u8>,
    i64,
    i64,
    i64,
    i64,
    i64,
    Option<Vec<u8>>,
    i64,
    Option<i64>,
    i64,
    i64,
);

/// A ledger as read: id, currency, scale.
pub(crate) type LedgerRow = (i64, String, i64);

fn unsigned(value: i64, what: &str) -> Result<u64, Error> {
    u64::try_from(value).map_err(|_| Error::Corrupt(format!("{what} is negative: {value}")))
}

fn narrow<T: TryFrom<i64>>(value: i64, what: &str) -> Result<T, Error> {
    T::try_from(value).map_err(|_| Error::Corrupt(format!("{what} out of range: {value}")))
}

/// A stored amount or sum: `u64` values up to `i64::MAX` are stored as they are.
pub(crate) fn stored(value: u64) -> i64 {
    // The rules refuse amounts and sums above i64::MAX (AMOUNT_MAX, BALANCE_MAX).
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// User data is stored as its two's-complement bit pattern.
pub(crate) fn stored_user_data(value: u64) -> i64 {
    value as i64
}

pub(crate) fn ledger_from_row(row: LedgerRow) -> Result<Ledger, Error> {
    let (id, currency, scale) = row;
    Ok(Ledger {
        id: LedgerId(narrow(id, "ledger id")?),
        currency: Currency::new(&currency)
            .map_err(|_| Error::Corrupt(format!("ledger {id} has currency {currency:?}")))?,
        scale: narrow(scale, "ledger scale")?,
    })
}

pub(crate) fn account_from_row(row: AccountRow) -> Result<Account, Error> {
    let (id, ledger, kind, flags, user_data, dp, dpo, cp, cpo, created) = row;
    let kind_code: u16 = narrow(kind, "account kind")?;
    Ok(Account {
        id: AccountId::from_slice(&id)?,
        ledger: LedgerId(narrow(ledger, "account ledger")?),
        kind: AccountKind::from_code(kind_code)
            .ok_or_else(|| Error::Corrupt(format!("unknown account kind {kind_code}")))?,
        flags: AccountFlags(narrow(flags, "account flags")?),
        user_data: user_data as u64,
        balances: Balances {
            debits_pending: unsigned(dp, "debits_pending")?,
            debits_posted: unsigned(dpo, "debits_posted")?,
            credits_pending: unsigned(cp, "credits_pending")?,
            credits_posted: unsigned(cpo, "credits_posted")?,
        },
        created_at_ms: unsigned(created, "created_at_ms")?,
    })
}

pub(crate) fn transfer_from_row(row: TransferRow) -> Result<TransferRecord, Error> {
    let (
        sequence,
        id,
        debit,
        credit,
        amount,
        ledger,
        code,
        user_data,
        flags,
        pending_id,
        timeout_ms,
        expires_at_ms,
        status,
        created,
    ) = row;
    let status_code: u8 = narrow(status, "transfer status")?;
    Ok(TransferRecord {
        transfer: Transfer {
            id: TransferId::from_slice(&id)?,
            debit_account: AccountId::from_slice(&debit)?,
            credit_account: AccountId::from_slice(&credit)?,
            amount: unsigned(amount, "amount")?,
            ledger: LedgerId(narrow(ledger, "transfer ledger")?),
            code: narrow(code, "transfer code")?,
            user_data: user_data as u64,
            flags: TransferFlags(narrow(flags, "transfer flags")?),
            pending_id: match pending_id {
                Some(bytes) => TransferId::from_slice(&bytes)?,
                None => TransferId(0),
            },
            timeout_ms: unsigned(timeout_ms, "timeout_ms")?,
        },
        status: TransferStatus::from_code(status_code)
            .ok_or_else(|| Error::Corrupt(format!("unknown transfer status {status_code}")))?,
        created_at_ms: unsigned(created, "created_at_ms")?,
        expires_at_ms: expires_at_ms
            .map(|v| unsigned(v, "expires_at_ms"))
            .transpose()?,
        sequence: unsigned(sequence, "sequence")?,
    })
}

/// Classifies a database error: lock contention and serialization failures are
/// [`Error::Busy`], lost or refused connections [`Error::Unavailable`] (both retried),
/// the rest [`Error::Database`].
pub(crate) fn map_error(error: sqlx::Error) -> Error {
    match &error {
        sqlx::Error::Database(database) => {
            let code = database.code().map(|c| c.into_owned()).unwrap_or_default();
            let sqlite_primary = code.parse::<i64>().ok().map(|c| c & 0xff);
            let busy = matches!(sqlite_primary, Some(5 | 6))
                || code == "40001" // serialization_failure
                || code == "40P01" // deadlock_detected
                || code == "55P03" // lock_not_available
                || (code == "23505" && database.message().contains("transfers")); // a concurrent insert of the same id: retry and see it
            let unavailable = matches!(sqlite_primary, Some(14)) // SQLITE_CANTOPEN
                || code.starts_with("08")
                || code == "57P01"
                || code == "57P02"
                || code == "57P03"
                || code == "53300";
            if busy {
                Error::Busy(error.to_string())
            } else if unavailable {
                Error::Unavailable(error.to_string())
            } else {
                Error::Database(error.to_string())
            }
        }
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => Error::Unavailable(error.to_string()),
        _ => Error::Database(error.to_string()),
    }
}

/// The migration error of a backend: a failing statement is [`Error::Migration`]
/// unless it is transient (busy, unavailable), which the caller may retry.
pub(crate) fn migration_error(error: sqlx::migrate::MigrateError) -> Error {
    match error {
        sqlx::migrate::MigrateError::Execute(inner) => match map_error(inner) {
            Error::Database(text) => Error::Migration(text),
            other => other,
        },
        other => Error::Migration(other.to_string()),
    }
}

/// Accounts as read, converted.
pub(crate) fn accounts_from_rows(rows: Vec<AccountRow>) -> Result<Vec<Account>, Error> {
    rows.into_iter().map(account_from_row).collect()
}

/// Transfers as read, converted.
pub(crate) fn transfers_from_rows(rows: Vec<TransferRow>) -> Result<Vec<TransferRecord>, Error> {
    rows.into_iter().map(transfer_from_row).collect()
}

/// Ledgers as read, by id.
pub(crate) fn ledgers_from_rows(rows: Vec<LedgerRow>) -> Result<HashMap<LedgerId, Ledger>, Error> {
    rows.into_iter()
        .map(|row| ledger_from_row(row).map(|l| (l.id, l)))
        .collect()
}

/// The ledgers a database backend has seen defined. Ledgers never change once
/// defined, so a batch naming only known ledgers needs not read them (see
/// [`crate::rules::ledgers_known`]).
#[derive(Default)]
pub(crate) struct LedgerCache(RwLock<HashMap<LedgerId, Ledger>>);

impl LedgerCache {
    pub(crate) fn get(&self) -> HashMap<LedgerId, Ledger> {
        self.0.read().map(|map| map.clone()).unwrap_or_default()
    }

    pub(crate) fn set(&self, ledgers: &HashMap<LedgerId, Ledger>) {
        if let Ok(mut map) = self.0.write() {
            map.clone_from(ledgers);
        }
    }
}

/// How `len` rows are written at most `max` rows per statement (`max` a power of two):
/// `(rows, size)` per statement, full statements of `max` rows and then one of the
/// smallest size of the set {1, 2, 3, 4, 6, 8, 12, 16, 24, …} (powers of two and
/// three quarters of them) that holds the rest, padded with rows that write nothing.
/// One statement per batch, in most cases: each statement is a round trip to
/// SQLite's thread, which cost more than the padding; a few sizes, so statements stay
/// prepared; padding at most a third of a statement.
pub(crate) fn padded_chunks(mut len: usize, max: usize) -> Vec<(usize, usize)> {
    debug_assert!(max.is_power_of_two());
    let mut chunks = Vec::new();
    while len > 0 {
        let rows = len.min(max);
        let power = rows.next_power_of_two();
        let size = if power >= 4 && rows <= power / 4 * 3 {
            power / 4 * 3
        } else {
            power
        };
        chunks.push((rows, size));
        len -= rows;
    }
    chunks
}

/// SQLite's most parameters per statement.
pub(crate) const PARAMETERS_MAX: usize = 32_766;

/// The most rows of `width` parameters a statement binds (with `fixed` more once):
/// a power of two under SQLite's 32,766 parameters, at most 8,192.
pub(crate) fn rows_per_statement(width: usize, fixed: usize) -> usize {
    const ROWS_MAX: usize = 8_192;
    let rows = (PARAMETERS_MAX - fixed) / width.max(1);
    (1usize << (usize::BITS - 1 - rows.leading_zeros())).min(ROWS_MAX)
}

/// The most statement texts kept.
const STATEMENT_TEXTS_MAX: usize = 512;

/// A statement's text, built by `build` the first time its key is asked for and
/// kept: the multi-row statements of a batch are long (a 1,024-row transfer insert is
/// 35 KB of placeholders), and building them per batch cost more than binding a row.
/// The key is the statement's name, its table, a variant (which columns, where a
/// statement has several shapes) and its row count.
pub(crate) fn statement_text(
    name: &'static str,
    table: &'static str,
    variant: u32,
    rows: usize,
    build: impl FnOnce() -> String,
) -> AssertSqlSafe<Arc<str>> {
    type Key = (&'static str, &'static str, u32, usize);
    static TEXTS: LazyLock<Mutex<std::collections::HashMap<Key, Arc<str>>>> =
        LazyLock::new(Mutex::default);
    let mut texts = TEXTS.lock().unwrap_or_else(PoisonError::into_inner);
    if texts.len() >= STATEMENT_TEXTS_MAX {
        // Shapes beyond the few a workload uses: start afresh rather than grow.
        texts.clear();
    }
    let text = texts
        .entry((name, table, variant, rows))
        .or_insert_with(|| Arc::from(build()));
    AssertSqlSafe(Arc::clone(text))
}

/// `count` groups of `width` `?` placeholders: `(?,?),(?,?)`.
pub(crate) fn placeholders(count: usize, width: usize) -> String {
    let group = format!("({})", vec!["?"; width].join(","));
    vec![group; count].join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padded_chunks_cover_every_row_with_few_shapes_and_little_padding() {
        let mut sizes = std::collections::BTreeSet::new();
        for len in 0..=9_000usize {
            let chunks = padded_chunks(len, 1_024);
            assert_eq!(chunks.iter().map(|(rows, _)| rows).sum::<usize>(), len);
            for &(rows, size) in &chunks {
                assert!(rows <= size && size <= 1_024, "{len}: {rows} in {size}");
                assert!(3 * (size - rows) < size, "{len}: {rows} in {size}");
                assert!(size.is_power_of_two() || (size / 3).is_power_of_two());
                sizes.insert(size);
            }
            assert!(chunks.len() <= len.div_ceil(1_024));
        }
        assert_eq!(sizes.len(), 20, "{sizes:?}");
        assert_eq!(padded_chunks(1_000, 8_192), [(1_000, 1_024)]);
        assert_eq!(padded_chunks(700, 8_192), [(700, 768)]);
        assert_eq!(padded_chunks(5, 8_192), [(5, 6)]);
        assert_eq!(rows_per_statement(4, 0), 4_096);
        assert_eq!(rows_per_statement(13, 0), 2_048);
        assert_eq!(rows_per_statement(1, 0), 8_192);
        assert_eq!(rows_per_statement(3, 2), 8_192);
        assert_eq!(placeholders(2, 2), "(?,?),(?,?)");
    }

    #[test]
    fn stored_values_round_trip_and_corruption_is_typed() {
        let row: AccountRow = (vec![0; 15], 1, 1, 0, -1, 0, 0, 0, 0, 0);
        assert!(matches!(account_from_row(row), Err(Error::Corrupt(_))));
        let row: AccountRow = (vec![0; 16], 1, 1, 0, -1, -5, 0, 0, 0, 0);
        assert!(matches!(account_from_row(row), Err(Error::Corrupt(_))));
        let row: AccountRow = (vec![0; 16], 1, 1, 0, -1, 5, 0, 0, 0, 0);
        let account = account_from_row(row).expect("valid row");
        assert_eq!(account.user_data, u64::MAX);
        assert_eq!(stored_user_data(account.user_data), -1);
        assert_eq!(stored(u64::MAX), i64::MAX);
    }
}
