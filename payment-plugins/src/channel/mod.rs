//! `channel`: unidirectional payment channels over any base rail.
//!
//! The payer escrows a deposit once on the base rail; each micropayment is a
//! payer-signed [`Voucher`] carrying the *cumulative* amount; the payee verifies it and
//! keeps only the latest; closing settles the latest on the base rail in one payment
//! (and returns the rest of the deposit in another). A micropayment of a fraction of a
//! cent costs one signature and one verification, not one transfer.
//!
//! # Layout
//! - [`voucher`]: the pure core (terms, payer side, payee side, checks).
//! - [`store`]: channel state in memory or in a crash-safe file log.
//! - [`Channels`]: the engine over a base rail and a store: open, issue, accept,
//!   close. [`ChannelPayer`] is the payer's handle (the bidder SDK pays with it);
//!   [`Channels::accept`] is the payee's (the client verifies and stores with it).
//! - [`ChannelRail`]: the whole as a [`PaymentRail`] (both ends in one process), so
//!   it passes the conformance kit and `channel:<base>` works wherever a rail does.
//!
//! # Escrow and trust
//! The escrow is an account of the base rail named `escrow:<channel id>`. On a
//! custodial base (the ledger) the custodian moves it only when a channel closes; the
//! payee trusts the deposit because [`Channels::register`] checks the escrow balance
//! on the base rail before accepting vouchers of a channel it did not see open.

pub mod store;
pub mod voucher;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use attn_receipts::{AdvertiserKey, Currency, Digest32, Money, PublicKey, Signed, Signer, Voucher};
use rust_decimal::{Decimal, RoundingStrategy};

use crate::error::{Error, Result};
use crate::rail::{
    AccountName, Capabilities, FeeModel, Finality, PayRequest, PaymentId, PaymentRail,
    PaymentState, PaymentStatus, RAIL_ID_MAX_BYTES, RailCurrency, split_payable,
};
use store::{Channel, ChannelStore, Event, Phase, RailPayment, Settlement, State};
pub use voucher::{ChannelTerms, PayeeSide, PayerSide, VoucherRejection, channel_id};

/// Most attempts of one [`ChannelPayer::pay`] when other payers race it for the
/// channel's capacity.
pub const PAY_ATTEMPTS_MAX: u32 = 8;
/// Most `status` polls while a base-rail payment of an open or close is pending.
pub const BASE_POLLS_MAX: u32 = 200;
/// Pause between two such polls.
pub const BASE_POLL_INTERVAL: Duration = Duration::from_millis(5);
/// Most channel nonces [`Channels::receive`] tries to recognise a channel it never
/// saw (a pair's channels are numbered from 0; a pair that rolled over this many
/// channels is registered explicitly with [`Channels::register`]).
pub const NONCE_SEARCH_MAX: u64 = 4_096;
/// Default fractional digits of voucher amounts (nano-units).
pub const VOUCHER_SCALE_DEFAULT: u32 = 9;

/// How channels are run.
#[derive(Clone, Debug)]
pub struct ChannelConfig {
    /// Fractional digits vouchers carry (at least the base rail's scale, at most 18).
    pub scale: u32,
    /// The deposit of a new channel, per currency; a payment larger than it gets a
    /// deposit of its own size. A currency without one deposits each payment's size.
    pub deposits: Vec<Money>,
}

impl Default for ChannelConfig {
    fn default() -> Self {
        Self {
            scale: VOUCHER_SCALE_DEFAULT,
            deposits: Vec::new(),
        }
    }
}

/// The channel engine: channels of any number of payers and payees over one base
/// rail, in one store. Share it as `Arc<Channels>`.
pub struct Channels {
    base: Arc<dyn PaymentRail>,
    store: ChannelStore,
    config: ChannelConfig,
    /// Serialises opening and closing, which wait on the base rail.
    operations: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Channels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Channels(over {}, {:?})", self.base.id(), self.store)
    }
}

fn escrow_of(id: &Digest32) -> Result<AccountName> {
    AccountName::new(format!("escrow:{id}"))
}

fn base_id(channel: &Digest32, what: &str) -> Result<PaymentId> {
    PaymentId::new(format!("channel:{channel}:{what}"))
}

fn money_error(error: attn_receipts::Error) -> Error {
    Error::invalid("amount", error.to_string())
}

fn unknown_channel(id: &Digest32) -> Error {
    Error::Channel {
        channel: id.to_hex(),
        reason: "no such channel",
    }
}

impl Channels {
    /// The engine over `base`, keeping state in `store`.
    pub fn new(
        base: Arc<dyn PaymentRail>,
        store: ChannelStore,
        config: ChannelConfig,
    ) -> Result<Self> {
        if config.scale > attn_receipts::limits::MONEY_SCALE_MAX {
            return Err(Error::invalid("scale", "exceeds 18"));
        }
        for entry in &base.capabilities().currencies {
            if entry.scale > config.scale {
                return Err(Error::invalid(
                    "scale",
                    format!(
                        "vouchers must be at least as precise as the base's {} digits",
                        entry.scale
                    ),
                ));
            }
        }
        for deposit in &config.deposits {
            base.capabilities()
                .currency(deposit.currency())?
                .check(base.id(), deposit)?;
        }
        Ok(Self {
            base,
            store,
            config,
            operations: tokio::sync::Mutex::new(()),
        })
    }

    /// The base rail.
    pub fn base(&self) -> &Arc<dyn PaymentRail> {
        &self.base
    }

    /// The store.
    pub fn store(&self) -> &ChannelStore {
        &self.store
    }

    /// A channel by id.
    pub fn channel(&self, id: &Digest32) -> Option<Channel> {
        self.store.read(|state| state.channels.get(id).cloned())
    }

    /// The open channel of a pair, if any.
    pub fn open_channel(
        &self,
        payer: &PublicKey,
        payee: &PublicKey,
        currency: Currency,
    ) -> Option<Channel> {
        self.store
            .read(|state| state.open_in_pair(payer, payee, currency).cloned())
    }

    /// The id of the open channel of a pair, if any (no copy of the channel).
    fn open_channel_id(
        &self,
        payer: &PublicKey,
        payee: &PublicKey,
        currency: Currency,
    ) -> Option<Digest32> {
        self.store
            .read(|state| state.open_in_pair(payer, payee, currency).map(|c| c.id))
    }

    fn base_entry(&self, currency: Currency) -> Result<RailCurrency> {
        self.base.capabilities().currency(currency).copied()
    }

    fn voucher_amount(&self, amount: &Money) -> Result<()> {
        self.base_entry(amount.currency())?;
        if amount.is_zero() {
            return Err(Error::BelowMinimum {
                rail: "channel".into(),
                amount: amount.to_string(),
                minimum: Money::from_atomic(amount.currency(), 1, self.config.scale)
                    .map_err(money_error)?
                    .to_string(),
            });
        }
        amount
            .to_atomic(self.config.scale)
            .map_err(|_| Error::PrecisionLoss {
                rail: "channel".into(),
                amount: amount.to_string(),
                scale: self.config.scale,
            })?;
        Ok(())
    }

    /// The deposit for a channel that must carry at least `amount`: the configured
    /// deposit, or `amount` rounded up to the base scale if larger, capped by
    /// `available` when that covers `amount` (never below what `amount` needs).
    fn deposit_for(&self, amount: &Money, available: Option<&Money>) -> Result<Money> {
        let entry = self.base_entry(amount.currency())?;
        let needed = amount
            .amount()
            .round_dp_with_strategy(entry.scale, RoundingStrategy::AwayFromZero)
            .max(entry.minimum.amount());
        let mut deposit = self
            .config
            .deposits
            .iter()
            .find(|d| d.currency() == amount.currency())
            .map_or(needed, |d| d.amount());
        // Capped by what the payer holds, when that covers the payment at all (an
        // issuer account reports zero and may still pay; a poor payer is refused
        // by the base rail either way).
        if let Some(available) = available
            && available.amount() >= needed
        {
            deposit = deposit.min(available.amount());
        }
        Money::new(amount.currency(), deposit.max(needed)).map_err(money_error)
    }

    async fn wait_base(&self, status: PaymentStatus) -> Result<PaymentStatus> {
        let mut status = status;
        for _ in 0..BASE_POLLS_MAX {
            if status.state != PaymentState::Pending {
                break;
            }
            tokio::time::sleep(BASE_POLL_INTERVAL).await;
            status = self.base.status(&status.payment_id).await?;
        }
        match &status.state {
            PaymentState::Succeeded => Ok(status),
            PaymentState::Pending => Err(Error::Unavailable {
                rail: self.base.id().into(),
                reason: format!("payment {} still pending", status.payment_id),
            }),
            PaymentState::Failed { reason, .. } => Err(Error::Unavailable {
                rail: self.base.id().into(),
                reason: format!("payment {} failed: {reason}", status.payment_id),
            }),
            PaymentState::Unknown => Err(Error::InvalidResponse {
                rail: self.base.id().into(),
                reason: format!("payment {} unknown right after pay", status.payment_id),
            }),
        }
    }

    /// Opens a channel from `payer` to `payee`, paying `deposit` from `payer_account`
    /// into escrow on the base rail. Resumes an opening interrupted by a crash or a
    /// retryable error. Fails if the pair already has an open channel.
    pub async fn open(
        &self,
        payer: PublicKey,
        payer_account: AccountName,
        payee: PublicKey,
        payee_account: AccountName,
        deposit: Money,
    ) -> Result<Channel> {
        let _operation = self.operations.lock().await;
        self.open_locked(payer, payer_account, payee, payee_account, deposit)
            .await
    }

    async fn open_locked(
        &self,
        payer: PublicKey,
        payer_account: AccountName,
        payee: PublicKey,
        payee_account: AccountName,
        deposit: Money,
    ) -> Result<Channel> {
        let entry = self.base_entry(deposit.currency())?;
        entry.check(self.base.id(), &deposit)?;
        let currency = deposit.currency();
        let channel = self.store.transact(|state| {
            let pair = state.pair(&payer, &payee, currency);
            if let Some(existing) = pair.iter().find(|c| c.phase == Phase::Opening) {
                return Ok(((*existing).clone(), vec![]));
            }
            if pair.iter().any(|c| c.phase == Phase::Open) {
                return Err(Error::Channel {
                    channel: pair[pair.len() - 1].id.to_hex(),
                    reason: "the pair already has an open channel",
                });
            }
            let nonce = pair.last().map_or(0, |c| c.nonce + 1);
            let carried_in = pair
                .iter()
                .rev()
                .find_map(|c| match &c.phase {
                    Phase::Closing(s) | Phase::Closed(s) => Some(s.carried_out),
                    _ => None,
                })
                .unwrap_or(Money::zero(currency));
            let id = channel_id(&payer, &payee, currency, nonce);
            let channel = Channel {
                id,
                nonce,
                payer,
                payee,
                payer_account: payer_account.clone(),
                payee_account: payee_account.clone(),
                escrow: escrow_of(&id)?,
                deposit,
                carried_in,
                issued: Money::zero(currency),
                issued_sequence: 0,
                accepted: Money::zero(currency),
                accepted_sequence: 0,
                latest: None,
                phase: Phase::Opening,
            };
            Ok((channel.clone(), vec![Event::Channel(channel)]))
        })?;
        let request = PayRequest::new(
            base_id(&channel.id, "deposit")?,
            channel.payer_account.clone(),
            channel.escrow.clone(),
            channel.deposit,
            "channel deposit",
        )?;
        let paid = match self.base.pay(&request).await {
            Ok(status) => self.wait_base(status).await,
            Err(error) => Err(error),
        };
        match paid {
            Ok(_) => {
                let mut open = channel;
                open.phase = Phase::Open;
                self.store
                    .transact(|_| Ok((open.clone(), vec![Event::Channel(open.clone())])))
            }
            Err(error)
                if !error.is_retryable() && !matches!(error, Error::InvalidResponse { .. }) =>
            {
                // The base recorded nothing: the channel never opened. Its nonce is
                // spent; the pair's next channel takes the next one.
                let mut abandoned = channel;
                abandoned.phase = Phase::Closed(Settlement {
                    to_payee: Money::zero(currency),
                    to_payer: Money::zero(currency),
                    carried_out: abandoned.carried_in,
                    fees: Money::zero(currency),
                });
                self.store
                    .transact(|_| Ok(((), vec![Event::Channel(abandoned)])))?;
                Err(error)
            }
            Err(error) => Err(error),
        }
    }

    /// Makes the payee side know a channel it did not see open (a separate store):
    /// checks the escrow on the base rail holds at least the deposit, then records the
    /// channel as open. Idempotent.
    pub async fn register(
        &self,
        terms: ChannelTerms,
        nonce: u64,
        payer_account: AccountName,
        payee_account: AccountName,
    ) -> Result<()> {
        let currency = terms.deposit.currency();
        if channel_id(&terms.payer, &terms.payee, currency, nonce) != terms.channel_id {
            return Err(Error::VoucherRejected(VoucherRejection::WrongChannel));
        }
        if self.channel(&terms.channel_id).is_some() {
            return Ok(());
        }
        let escrow = escrow_of(&terms.channel_id)?;
        let held = self.base.balance(&escrow, currency).await?;
        if held.amount() < terms.deposit.amount() {
            return Err(Error::Channel {
                channel: terms.channel_id.to_hex(),
                reason: "the escrow on the base rail holds less than the deposit",
            });
        }
        let channel = Channel {
            id: terms.channel_id,
            nonce,
            payer: terms.payer,
            payee: terms.payee,
            payer_account,
            payee_account,
            escrow,
            deposit: terms.deposit,
            carried_in: Money::zero(currency),
            issued: Money::zero(currency),
            issued_sequence: 0,
            accepted: Money::zero(currency),
            accepted_sequence: 0,
            latest: None,
            phase: Phase::Open,
        };
        self.store.transact(|state| {
            if state.channels.contains_key(&channel.id) {
                return Ok(((), vec![]));
            }
            Ok(((), vec![Event::Channel(channel)]))
        })
    }

    /// Payer side: signs the next voucher of the open channel `id`, adding `amount`.
    /// The new state is stored before the voucher is returned.
    pub fn issue(
        &self,
        signer: &impl Signer,
        id: &Digest32,
        amount: &Money,
        now_ms: u64,
    ) -> Result<Signed<Voucher>> {
        self.voucher_amount(amount)?;
        self.store.transact(|state| {
            let channel = state.channels.get(id).ok_or_else(|| unknown_channel(id))?;
            let (voucher, updated) = issue_on(channel, signer, amount, now_ms)?;
            Ok((voucher, vec![Event::Channel(updated)]))
        })
    }

    /// Verifies `voucher`'s signature and decodes it, taking its signer's key and the
    /// `payee`'s as they are ([`Voucher::open_knowing`]).
    fn open_voucher(payee: &PublicKey, voucher: &Signed<Voucher>) -> Result<Voucher> {
        Voucher::open_knowing(voucher, &[voucher.signer(), *payee]).map_err(|error| {
            Error::VoucherRejected(VoucherRejection::BadSignature(error.to_string()))
        })
    }

    /// Payee side: verifies `voucher` (signature, channel, parties, currency, sequence
    /// above the latest, cumulative above the latest and within the deposit) and
    /// stores it as the channel's latest. Returns the accepted cumulative amount. A
    /// refused voucher changes nothing; a replayed or reordered one is refused.
    /// `payee` is the key the caller receives for (a persona of its own).
    pub fn accept(&self, payee: &PublicKey, voucher: &Signed<Voucher>) -> Result<Money> {
        let body = Self::open_voucher(payee, voucher)?;
        if &body.payee != payee {
            return Err(Error::VoucherRejected(VoucherRejection::WrongParty(
                "payee",
            )));
        }
        self.store.transact(|state| {
            let channel = state
                .channels
                .get(&body.channel_id)
                .ok_or_else(|| unknown_channel(&body.channel_id))?;
            let updated = accept_on(channel, voucher, &body)?;
            Ok((body.cumulative, vec![Event::Channel(updated)]))
        })
    }

    /// Payee side, for a payee that keeps its own store (a client in another process
    /// than the payer): like [`Channels::accept`], but a voucher of a channel this
    /// store never saw is first checked against the base rail and the channel
    /// registered: its id must be one of the pair's ([`channel_id`] with a nonce
    /// below [`NONCE_SEARCH_MAX`]) and its escrow must hold a deposit, which becomes
    /// the limit of its vouchers. Both parties' accounts are [`AccountName::for_key`].
    pub async fn receive(&self, payee: &PublicKey, voucher: &Signed<Voucher>) -> Result<Money> {
        let body = Self::open_voucher(payee, voucher)?;
        if &body.payee != payee {
            return Err(Error::VoucherRejected(VoucherRejection::WrongParty(
                "payee",
            )));
        }
        if self.channel(&body.channel_id).is_none() {
            let currency = body.cumulative.currency();
            let nonce = (0..NONCE_SEARCH_MAX)
                .find(|nonce| channel_id(&body.payer, payee, currency, *nonce) == body.channel_id)
                .ok_or(Error::VoucherRejected(VoucherRejection::WrongChannel))?;
            let held = self
                .base
                .balance(&escrow_of(&body.channel_id)?, currency)
                .await?;
            if held.is_zero() {
                return Err(Error::Channel {
                    channel: body.channel_id.to_hex(),
                    reason: "no deposit in escrow on the base rail",
                });
            }
            let terms = ChannelTerms {
                channel_id: body.channel_id,
                payer: body.payer,
                payee: *payee,
                deposit: held,
            };
            self.register(
                terms,
                nonce,
                AccountName::for_key(&body.payer),
                AccountName::for_key(payee),
            )
            .await?;
        }
        self.accept(payee, voucher)
    }

    /// Closes channel `id`: freezes it, then pays on the base rail the latest accepted
    /// voucher, or in a payer's store the total it issued if that is more (plus what the previous channel carried, down to the base precision)
    /// from escrow to the payee in one payment, and the rest of the deposit back to
    /// the payer. Idempotent: closing a closed channel returns its settlement, and a
    /// close interrupted by a crash or a base-rail error is finished by calling it
    /// again (the base-rail payment ids are fixed, so nothing is paid twice).
    pub async fn close(&self, id: &Digest32) -> Result<Settlement> {
        let _operation = self.operations.lock().await;
        self.close_locked(id).await
    }

    async fn close_locked(&self, id: &Digest32) -> Result<Settlement> {
        let channel = self.channel(id).ok_or_else(|| unknown_channel(id))?;
        let settlement = match &channel.phase {
            Phase::Closed(settlement) => return Ok(settlement.clone()),
            Phase::Opening => {
                return Err(Error::Channel {
                    channel: id.to_hex(),
                    reason: "still opening",
                });
            }
            Phase::Closing(settlement) => settlement.clone(),
            Phase::Open => {
                let settlement = self.settlement_of(&channel).await?;
                let mut closing = channel.clone();
                closing.phase = Phase::Closing(settlement.clone());
                self.store.transact(|state| {
                    // A voucher accepted meanwhile would change what is owed.
                    if state.channels.get(id) != Some(&channel) {
                        return Err(Error::Unavailable {
                            rail: "channel".into(),
                            reason: "the channel changed while closing; close again".into(),
                        });
                    }
                    Ok(((), vec![Event::Channel(closing)]))
                })?;
                settlement
            }
        };
        for (what, to, amount) in [
            ("settle", &channel.payee_account, settlement.to_payee),
            ("refund", &channel.payer_account, settlement.to_payer),
        ] {
            if amount.is_zero() {
                continue;
            }
            let request = PayRequest::new(
                base_id(id, what)?,
                channel.escrow.clone(),
                to.clone(),
                amount,
                "channel close",
            )?;
            let status = self.base.pay(&request).await?;
            self.wait_base(status).await?;
        }
        let mut closed = channel;
        closed.phase = Phase::Closed(settlement.clone());
        self.store
            .transact(|_| Ok(((), vec![Event::Channel(closed)])))?;
        Ok(settlement)
    }

    async fn settlement_of(&self, channel: &Channel) -> Result<Settlement> {
        let currency = channel.deposit.currency();
        let entry = self.base_entry(currency)?;
        if let Some(latest) = &channel.latest {
            // What is stored is checked again before money moves on it.
            let body = latest
                .open()
                .map_err(|e| Error::storage("channel", format!("stored voucher: {e}")))?;
            if body.cumulative != channel.accepted || latest.signer() != channel.payer {
                return Err(Error::storage(
                    "channel",
                    "stored voucher does not match the channel",
                ));
            }
        }
        // What the payee is owed: the latest voucher it accepted, or, when this store
        // is the payer's, everything the payer promised (a voucher lost on its way is
        // still owed: an honest payer's close never pays less than it signed).
        let promised = if channel.issued.amount() > channel.accepted.amount() {
            channel.issued
        } else {
            channel.accepted
        };
        let owed = promised
            .checked_add(&channel.carried_in)
            .map_err(money_error)?;
        let (mut to_payee, mut carried_out) = split_payable(&owed, entry.scale)?;
        if !to_payee.is_zero() && to_payee.amount() < entry.minimum.amount() {
            (to_payee, carried_out) = (Money::zero(currency), owed);
        }
        if to_payee.amount() > channel.deposit.amount() {
            // Only the carried remainder can push past the deposit; it stays owed.
            let excess = to_payee
                .checked_sub(&channel.deposit)
                .map_err(money_error)?;
            carried_out = carried_out.checked_add(&excess).map_err(money_error)?;
            to_payee = channel.deposit;
        }
        let settle_fee = if to_payee.is_zero() {
            Money::zero(currency)
        } else {
            self.base.quote(&to_payee).await?
        };
        let rest = channel
            .deposit
            .checked_sub(&to_payee)
            .and_then(|rest| rest.checked_sub(&settle_fee))
            .map_err(money_error)?;
        let refund_fee = if rest.is_zero() {
            Money::zero(currency)
        } else {
            self.base
                .quote(&rest)
                .await
                .unwrap_or(Money::zero(currency))
        };
        let to_payer = rest
            .checked_sub(&refund_fee)
            .unwrap_or(Money::zero(currency));
        let fees = settle_fee.checked_add(&refund_fee).map_err(money_error)?;
        Ok(Settlement {
            to_payee,
            to_payer,
            carried_out,
            fees,
        })
    }

    /// Closes every channel not closed yet (open, or interrupted while closing).
    /// Returns each channel's settlement. `attn demo` calls it at the end.
    pub async fn close_all(&self) -> Result<Vec<(Digest32, Settlement)>> {
        let ids: Vec<Digest32> = self.store.read(|state| {
            let mut ids: Vec<(u64, Digest32)> = state
                .channels
                .values()
                .filter(|c| matches!(c.phase, Phase::Open | Phase::Closing(_)))
                .map(|c| (c.nonce, c.id))
                .collect();
            ids.sort();
            ids.into_iter().map(|(_, id)| id).collect()
        });
        let mut settled = Vec::with_capacity(ids.len());
        for id in ids {
            settled.push((id, self.close(&id).await?));
        }
        Ok(settled)
    }

    /// Makes sure the pair has an open channel with room for `amount`: closes a full
    /// one and opens a new one. Returns the open channel.
    async fn ensure_room(
        &self,
        payer: PublicKey,
        payer_account: &AccountName,
        payee: PublicKey,
        payee_account: &AccountName,
        amount: &Money,
        available: Option<&Money>,
    ) -> Result<Channel> {
        let _operation = self.operations.lock().await;
        let currency = amount.currency();
        if let Some(open) = self.open_channel(&payer, &payee, currency) {
            let room = open
                .deposit
                .checked_sub(&open.issued)
                .map_err(money_error)?;
            if room.amount() >= amount.amount() {
                return Ok(open);
            }
            self.close_locked(&open.id).await?;
        }
        let deposit = self.deposit_for(amount, available)?;
        self.open_locked(
            payer,
            payer_account.clone(),
            payee,
            payee_account.clone(),
            deposit,
        )
        .await
    }
}

fn issue_on(
    channel: &Channel,
    signer: &impl Signer,
    amount: &Money,
    now_ms: u64,
) -> Result<(Signed<Voucher>, Channel)> {
    if channel.phase != Phase::Open {
        return Err(Error::VoucherRejected(VoucherRejection::ChannelClosed));
    }
    if signer.public_key() != channel.payer {
        return Err(Error::VoucherRejected(VoucherRejection::WrongParty(
            "payer",
        )));
    }
    let mut side = PayerSide {
        terms: terms_of(channel),
        cumulative: channel.issued,
        sequence: channel.issued_sequence,
    };
    let voucher = side
        .issue(signer, amount, now_ms)
        .map_err(Error::VoucherRejected)?;
    let mut updated = channel.clone();
    updated.issued = side.cumulative;
    updated.issued_sequence = side.sequence;
    Ok((voucher, updated))
}

fn accept_on(channel: &Channel, voucher: &Signed<Voucher>, body: &Voucher) -> Result<Channel> {
    if channel.phase != Phase::Open {
        return Err(Error::VoucherRejected(VoucherRejection::ChannelClosed));
    }
    if voucher.signer() != channel.payer {
        return Err(Error::VoucherRejected(VoucherRejection::BadSignature(
            "not signed by the channel's payer".into(),
        )));
    }
    voucher::check_body(
        &terms_of(channel),
        body,
        &channel.accepted,
        channel.accepted_sequence,
    )
    .map_err(Error::VoucherRejected)?;
    let mut updated = channel.clone();
    updated.accepted = body.cumulative;
    updated.accepted_sequence = body.sequence;
    updated.latest = Some(voucher.clone());
    Ok(updated)
}

fn terms_of(channel: &Channel) -> ChannelTerms {
    ChannelTerms {
        channel_id: channel.id,
        payer: channel.payer,
        payee: channel.payee,
        deposit: channel.deposit,
    }
}

/// The payer's handle: what the bidder SDK calls per accepted impression.
///
/// # Example
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
/// use std::sync::Arc;
/// use attn_payment_plugins::channel::{ChannelConfig, ChannelPayer, Channels, store::ChannelStore};
/// use attn_payment_plugins::sandbox::{SandboxConfig, SandboxRail};
/// use attn_payment_plugins::{AccountName, PayRequest, PaymentId, PaymentRail, RailCurrency};
/// use attn_receipts::{AdvertiserKey, Currency, Money, PersonaKey};
/// let usd = Currency::new("USD")?;
/// let issuer = AccountName::new("issuer")?;
/// let base = Arc::new(SandboxRail::new(SandboxConfig::new(vec![RailCurrency::with_scale(usd, 2)?], issuer.clone()))?);
/// let advertiser = AdvertiserKey::from_secret_bytes(&[1; 32]);
/// let persona = PersonaKey::from_secret_bytes(&[2; 32]).public_key();
/// // Fund the advertiser's account on the base rail.
/// let account = AccountName::for_key(&advertiser.public_key());
/// base.pay(&PayRequest::new(PaymentId::new("fund")?, issuer, account, Money::parse("USD", "10")?, "")?).await?;
/// let config = ChannelConfig { deposits: vec![Money::parse("USD", "1")?], ..ChannelConfig::default() };
/// let channels = Arc::new(Channels::new(base.clone(), ChannelStore::memory(), config)?);
/// let payer = ChannelPayer::new(channels.clone(), advertiser);
/// let price = Money::parse("USD", "0.0025")?;
/// for now_ms in 0..4 {
///     let voucher = payer.pay(&persona, &price, now_ms).await?;
///     channels.accept(&persona, &voucher)?; // the client's side
/// }
/// channels.close_all().await?;
/// assert_eq!(base.balance(&AccountName::for_key(&persona), usd).await?, Money::parse("USD", "0.01")?);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct ChannelPayer<S> {
    channels: Arc<Channels>,
    signer: S,
    account: AccountName,
}

impl<S: Signer + Send + Sync> ChannelPayer<S> {
    /// A payer paying from the base-rail account of its key ([`AccountName::for_key`]).
    pub fn new(channels: Arc<Channels>, signer: S) -> Self {
        let account = AccountName::for_key(&signer.public_key());
        Self::with_account(channels, signer, account)
    }

    /// A payer paying from `account` on the base rail.
    pub fn with_account(channels: Arc<Channels>, signer: S, account: AccountName) -> Self {
        Self {
            channels,
            signer,
            account,
        }
    }

    /// Pays `amount` to `payee` (credited at close to the payee's
    /// [`AccountName::for_key`] account): signs the next voucher of the pair's open
    /// channel, opening one (deposit from the payer's account) when there is none, or
    /// closing a full one and opening the next. Cumulative per channel; safe to call
    /// from many tasks at once.
    pub async fn pay(
        &self,
        payee: &PublicKey,
        amount: &Money,
        now_ms: u64,
    ) -> Result<Signed<Voucher>> {
        let payer = self.signer.public_key();
        self.channels.voucher_amount(amount)?;
        for _ in 0..PAY_ATTEMPTS_MAX {
            if let Some(open) = self
                .channels
                .open_channel_id(&payer, payee, amount.currency())
            {
                match self.channels.issue(&self.signer, &open, amount, now_ms) {
                    Ok(voucher) => return Ok(voucher),
                    Err(Error::VoucherRejected(
                        VoucherRejection::ExceedsDeposit { .. } | VoucherRejection::ChannelClosed,
                    )) => {}
                    Err(error) => return Err(error),
                }
            }
            let payee_account = AccountName::for_key(payee);
            // A deposit never asks for more than the payer's account holds.
            let available = self
                .channels
                .base
                .balance(&self.account, amount.currency())
                .await?;
            self.channels
                .ensure_room(
                    payer,
                    &self.account,
                    *payee,
                    &payee_account,
                    amount,
                    Some(&available),
                )
                .await?;
        }
        Err(Error::Unavailable {
            rail: "channel".into(),
            reason: format!("no room after {PAY_ATTEMPTS_MAX} attempts"),
        })
    }

    /// Closes every channel of this payer.
    pub async fn close_all(&self) -> Result<Vec<(Digest32, Settlement)>> {
        let payer = self.signer.public_key();
        let ids: Vec<Digest32> = self.channels.store.read(|state| {
            state
                .channels
                .values()
                .filter(|c| c.payer == payer && matches!(c.phase, Phase::Open | Phase::Closing(_)))
                .map(|c| c.id)
                .collect()
        });
        let mut settled = Vec::with_capacity(ids.len());
        for id in ids {
            settled.push((id, self.channels.close(&id).await?));
        }
        Ok(settled)
    }
}

/// The channel engine as a [`PaymentRail`], both ends in one process: `pay(from, to)`
/// signs a voucher with `from`'s key (derived from the rail's seed and the account
/// name), accepts it as `to`, and records the payment id. Finality is
/// [`Finality::Promise`]: success means the payee holds the signed voucher; the base
/// rail moves money at close. `balance` counts what closing every channel would
/// settle.
pub struct ChannelRail {
    channels: Arc<Channels>,
    seed: [u8; 32],
    capabilities: Capabilities,
}

impl std::fmt::Debug for ChannelRail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ChannelRail({})", self.capabilities.rail_id)
    }
}

impl ChannelRail {
    /// The rail over `channels`; `seed` derives each account's payer key.
    pub fn new(channels: Arc<Channels>, seed: [u8; 32]) -> Result<Self> {
        let base = channels.base.capabilities();
        let rail_id = format!("channel:{}", base.rail_id);
        if rail_id.len() > RAIL_ID_MAX_BYTES {
            return Err(Error::invalid(
                "rail_id",
                "the base rail's id is too long to wrap",
            ));
        }
        let currencies = base
            .currencies
            .iter()
            .map(|entry| RailCurrency::with_scale(entry.currency, channels.config.scale))
            .collect::<Result<Vec<_>>>()?;
        let capabilities = Capabilities {
            rail_id,
            currencies,
            finality: Finality::Promise,
            fees: FeeModel::FREE,
        };
        capabilities.validate()?;
        Ok(Self {
            channels,
            seed,
            capabilities,
        })
    }

    /// The engine, for the payer and payee APIs.
    pub fn channels(&self) -> &Arc<Channels> {
        &self.channels
    }

    /// The payer key of `account`: `SHA-256("attn/v1/channel-rail-key" || 0 || seed || account)`.
    pub fn key_of(&self, account: &AccountName) -> AdvertiserKey {
        let digest = Digest32::of(&[
            b"attn/v1/channel-rail-key\0",
            &self.seed,
            account.as_str().as_bytes(),
        ]);
        AdvertiserKey::from_secret_bytes(&digest.0)
    }

    fn status_of(payment_id: &PaymentId, payment: &RailPayment) -> PaymentStatus {
        PaymentStatus {
            payment_id: payment_id.clone(),
            state: PaymentState::Succeeded,
            amount: Some(payment.amount),
            fee: Some(Money::zero(payment.amount.currency())),
        }
    }

    fn recorded(&self, request: &PayRequest) -> Result<Option<PaymentStatus>> {
        self.channels
            .store
            .read(|state| match state.payments.get(&request.payment_id) {
                None => Ok(None),
                Some(payment)
                    if payment.from == request.from
                        && payment.to == request.to
                        && payment.amount == request.amount =>
                {
                    Ok(Some(Self::status_of(&request.payment_id, payment)))
                }
                Some(_) => Err(Error::PaymentIdConflict {
                    payment_id: request.payment_id.to_string(),
                }),
            })
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[async_trait]
impl PaymentRail for ChannelRail {
    fn id(&self) -> &str {
        &self.capabilities.rail_id
    }

    fn capabilities(&self) -> &Capabilities {
        &self.capabilities
    }

    async fn pay(&self, request: &PayRequest) -> Result<PaymentStatus> {
        request.validate()?;
        let entry = *self.capabilities.currency(request.amount.currency())?;
        entry.check(self.id(), &request.amount)?;
        if let Some(status) = self.recorded(request)? {
            return Ok(status);
        }
        let signer = self.key_of(&request.from);
        let payer = signer.public_key();
        let payee = self.key_of(&request.to).public_key();
        let currency = request.amount.currency();
        for _ in 0..PAY_ATTEMPTS_MAX {
            if let Some(open) = self.channels.open_channel(&payer, &payee, currency) {
                let outcome = self.channels.store.transact(|state: &State| {
                    if let Some(payment) = state.payments.get(&request.payment_id) {
                        if payment.from != request.from
                            || payment.to != request.to
                            || payment.amount != request.amount
                        {
                            return Err(Error::PaymentIdConflict {
                                payment_id: request.payment_id.to_string(),
                            });
                        }
                        return Ok((Self::status_of(&request.payment_id, payment), vec![]));
                    }
                    let channel = state
                        .channels
                        .get(&open.id)
                        .ok_or_else(|| unknown_channel(&open.id))?;
                    let (voucher, issued) = issue_on(channel, &signer, &request.amount, now_ms())?;
                    let body = Channels::open_voucher(&channel.payee, &voucher)?;
                    let accepted = accept_on(&issued, &voucher, &body)?;
                    let payment = RailPayment {
                        from: request.from.clone(),
                        to: request.to.clone(),
                        amount: request.amount,
                        channel: open.id,
                        sequence: body.sequence,
                    };
                    let status = Self::status_of(&request.payment_id, &payment);
                    Ok((
                        status,
                        vec![
                            Event::Channel(accepted),
                            Event::Payment {
                                id: request.payment_id.to_string(),
                                payment,
                            },
                        ],
                    ))
                });
                match outcome {
                    Ok(status) => return Ok(status),
                    Err(Error::VoucherRejected(
                        VoucherRejection::ExceedsDeposit { .. } | VoucherRejection::ChannelClosed,
                    )) => {}
                    Err(error) => return Err(error),
                }
            }
            let available = self.channels.base.balance(&request.from, currency).await?;
            self.channels
                .ensure_room(
                    payer,
                    &request.from,
                    payee,
                    &request.to,
                    &request.amount,
                    Some(&available),
                )
                .await?;
            if let Some(status) = self.recorded(request)? {
                return Ok(status);
            }
        }
        Err(Error::Unavailable {
            rail: self.id().into(),
            reason: format!("no room after {PAY_ATTEMPTS_MAX} attempts"),
        })
    }

    async fn status(&self, payment_id: &PaymentId) -> Result<PaymentStatus> {
        Ok(self
            .channels
            .store
            .read(|state| match state.payments.get(payment_id) {
                Some(payment) => Self::status_of(payment_id, payment),
                None => PaymentStatus::unknown(payment_id.clone()),
            }))
    }

    async fn balance(&self, account: &AccountName, currency: Currency) -> Result<Money> {
        self.capabilities.currency(currency)?;
        let base = self.channels.base.balance(account, currency).await?;
        let involved: Vec<(Channel, bool)> = self.channels.store.read(|state| {
            state
                .channels
                .values()
                .filter(|c| {
                    c.deposit.currency() == currency
                        && (&c.payer_account == account || &c.payee_account == account)
                })
                .map(|c| {
                    let latest_of_pair = state
                        .pair(&c.payer, &c.payee, currency)
                        .last()
                        .is_some_and(|last| last.id == c.id);
                    (c.clone(), latest_of_pair)
                })
                .collect()
        });
        let mut total = base.amount();
        for (channel, latest_of_pair) in involved {
            let is_payer = &channel.payer_account == account;
            let (to_payer, to_payee) = match &channel.phase {
                Phase::Opening => (Decimal::ZERO, Decimal::ZERO),
                Phase::Open => {
                    let owed = channel.accepted.amount().max(channel.issued.amount())
                        + channel.carried_in.amount();
                    (channel.deposit.amount() - owed, owed)
                }
                Phase::Closing(settlement) | Phase::Closed(settlement) => {
                    let closing = matches!(channel.phase, Phase::Closing(_));
                    let mut to_payer = Decimal::ZERO;
                    let mut to_payee = Decimal::ZERO;
                    if closing {
                        // Count the base payments not made yet.
                        let settled = self
                            .channels
                            .base
                            .status(&base_id(&channel.id, "settle")?)
                            .await?;
                        if !settled.is_succeeded() {
                            to_payee += settlement.to_payee.amount();
                        }
                        let refunded = self
                            .channels
                            .base
                            .status(&base_id(&channel.id, "refund")?)
                            .await?;
                        if !refunded.is_succeeded() {
                            to_payer += settlement.to_payer.amount();
                        }
                    }
                    if latest_of_pair {
                        // Still owed, carried into the pair's next channel.
                        to_payer -= settlement.carried_out.amount();
                        to_payee += settlement.carried_out.amount();
                    }
                    (to_payer, to_payee)
                }
            };
            total += if is_payer { to_payer } else { to_payee };
        }
        Money::new(currency, total.max(Decimal::ZERO)).map_err(money_error)
    }
}
