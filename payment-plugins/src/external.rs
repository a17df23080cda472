//! `external`: a rail in another process, in any language, behind the `PaymentRail`
//! gRPC service of `proto/attn/v1/payment_rail.proto`.
//!
//! [`ExternalRail`] is the client: every call has a deadline and a bounded number of
//! retries (safe, since `pay` is idempotent by payment id), and every answer is
//! validated before it is believed. [`serve`] is the other side: it serves any
//! [`PaymentRail`] over gRPC (the example binary `attn-example-rail` serves a sandbox).
//!
//! Errors cross the wire as a gRPC status code plus the metadata entry
//! `attn-rail-error` holding [`Error::kind`], so a remote rail's insufficient funds
//! stay insufficient funds on this side.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use attn_proto::v1 as wire;
use attn_proto::v1::payment_rail_client::PaymentRailClient;
use attn_proto::v1::payment_rail_server::{PaymentRail as PaymentRailService, PaymentRailServer};
use attn_receipts::limits::MESSAGE_MAX_BYTES;
use attn_receipts::{Currency, Money};
use tonic::transport::{Channel, Endpoint};

use crate::error::{Error, Result};
use crate::rail::{
    AccountName, Capabilities, FAILURE_REASON_MAX_BYTES, FeeModel, Finality, PayRequest, PaymentId,
    PaymentRail, PaymentState, PaymentStatus, RAIL_CURRENCIES_MAX, RAIL_ID_MAX_BYTES, RailCurrency,
};

/// The metadata key carrying [`Error::kind`] on a failed call.
pub const ERROR_KIND_METADATA: &str = "attn-rail-error";
/// Most attempts of one call.
pub const EXTERNAL_ATTEMPTS_MAX: u32 = 8;
/// Longest deadline of one attempt.
pub const EXTERNAL_TIMEOUT_MAX: Duration = Duration::from_secs(60);

/// How the client talks to the remote rail.
#[derive(Clone, Copy, Debug)]
pub struct ExternalConfig {
    /// Deadline of one attempt (at most [`EXTERNAL_TIMEOUT_MAX`]).
    pub timeout: Duration,
    /// Attempts per call, `1..=EXTERNAL_ATTEMPTS_MAX`.
    pub attempts: u32,
    /// Pause before the first retry; doubles each time.
    pub backoff: Duration,
}

impl Default for ExternalConfig {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(5),
            attempts: 4,
            backoff: Duration::from_millis(50),
        }
    }
}

fn money_to_wire(money: &Money) -> wire::Money {
    money.into()
}

fn finality_to_wire(finality: Finality) -> wire::Finality {
    match finality {
        Finality::Final => wire::Finality::Final,
        Finality::Reversible => wire::Finality::Reversible,
        Finality::Promise => wire::Finality::Promise,
    }
}

/// The wire form of capabilities.
pub fn capabilities_to_wire(capabilities: &Capabilities) -> wire::RailCapabilities {
    wire::RailCapabilities {
        rail_id: capabilities.rail_id.clone(),
        currencies: capabilities
            .currencies
            .iter()
            .map(|entry| wire::RailCurrency {
                currency: entry.currency.to_string(),
                scale: entry.scale,
                minimum: Some(money_to_wire(&entry.minimum)),
            })
            .collect(),
        finality: finality_to_wire(capabilities.finality) as i32,
        fee_fixed: capabilities.fees.fixed.as_ref().map(money_to_wire),
        fee_ppm: capabilities.fees.ppm,
    }
}

/// The wire form of a status.
pub fn status_to_wire(status: &PaymentStatus) -> wire::PaymentStatus {
    let (state, failure_reason, retryable) = match &status.state {
        PaymentState::Unknown => (wire::PaymentState::Unknown, String::new(), false),
        PaymentState::Pending => (wire::PaymentState::Pending, String::new(), false),
        PaymentState::Succeeded => (wire::PaymentState::Succeeded, String::new(), false),
        PaymentState::Failed { reason, retryable } => {
            (wire::PaymentState::Failed, reason.clone(), *retryable)
        }
    };
    wire::PaymentStatus {
        payment_id: status.payment_id.to_string(),
        state: state as i32,
        amount: status.amount.as_ref().map(money_to_wire),
        fee: status.fee.as_ref().map(money_to_wire),
        failure_reason,
        retryable,
    }
}

fn bad_answer(rail: &str, reason: impl Into<String>) -> Error {
    Error::InvalidResponse {
        rail: rail.to_string(),
        reason: reason.into(),
    }
}

fn wire_money(rail: &str, field: &str, value: Option<wire::Money>) -> Result<Money> {
    let value = value.ok_or_else(|| bad_answer(rail, format!("{field} is missing")))?;
    Money::try_from(value).map_err(|e| bad_answer(rail, format!("{field}: {e}")))
}

/// Validates capabilities from the wire.
pub fn capabilities_from_wire(rail: &str, value: wire::RailCapabilities) -> Result<Capabilities> {
    if value.currencies.len() > RAIL_CURRENCIES_MAX {
        return Err(bad_answer(rail, "too many currencies"));
    }
    let currencies = value
        .currencies
        .into_iter()
        .map(|entry| {
            let currency =
                Currency::new(&entry.currency).map_err(|e| bad_answer(rail, e.to_string()))?;
            let minimum = wire_money(rail, "minimum", entry.minimum)?;
            RailCurrency::new(currency, entry.scale, minimum)
                .map_err(|e| bad_answer(rail, e.to_string()))
        })
        .collect::<Result<Vec<_>>>()?;
    let finality = match wire::Finality::try_from(value.finality) {
        Ok(wire::Finality::Final) => Finality::Final,
        Ok(wire::Finality::Reversible) => Finality::Reversible,
        Ok(wire::Finality::Promise) => Finality::Promise,
        _ => return Err(bad_answer(rail, "finality is unspecified or unknown")),
    };
    let fixed = value
        .fee_fixed
        .map(|m| Money::try_from(m).map_err(|e| bad_answer(rail, format!("fee_fixed: {e}"))))
        .transpose()?;
    let capabilities = Capabilities {
        rail_id: value.rail_id,
        currencies,
        finality,
        fees: FeeModel {
            fixed,
            ppm: value.fee_ppm,
        },
    };
    capabilities
        .validate()
        .map_err(|e| bad_answer(rail, e.to_string()))?;
    Ok(capabilities)
}

/// Validates a status from the wire: the id asked about, a defined state, bounded
/// reason, amounts in a currency of the rail.
pub fn status_from_wire(
    rail: &str,
    capabilities: &Capabilities,
    asked: &PaymentId,
    value: wire::PaymentStatus,
) -> Result<PaymentStatus> {
    if value.payment_id != asked.as_str() {
        return Err(bad_answer(rail, "the status names another payment"));
    }
    if value.failure_reason.len() > FAILURE_REASON_MAX_BYTES {
        return Err(bad_answer(
            rail,
            "failure_reason exceeds FAILURE_REASON_MAX_BYTES",
        ));
    }
    let state = match wire::PaymentState::try_from(value.state) {
        Ok(wire::PaymentState::Unknown) => PaymentState::Unknown,
        Ok(wire::PaymentState::Pending) => PaymentState::Pending,
        Ok(wire::PaymentState::Succeeded) => PaymentState::Succeeded,
        Ok(wire::PaymentState::Failed) => PaymentState::Failed {
            reason: value.failure_reason,
            retryable: value.retryable,
        },
        _ => return Err(bad_answer(rail, "state is unspecified or unknown")),
    };
    let optional = |field: &str, money: Option<wire::Money>| -> Result<Option<Money>> {
        let Some(money) = money else { return Ok(None) };
        let money = wire_money(rail, field, Some(money))?;
        let entry = capabilities
            .currency(money.currency())
            .map_err(|e| bad_answer(rail, e.to_string()))?;
        money
            .to_atomic(entry.scale)
            .map_err(|_| bad_answer(rail, format!("{field} is finer than the rail's scale")))?;
        Ok(Some(money))
    };
    let amount = optional("amount", value.amount)?;
    let fee = optional("fee", value.fee)?;
    if matches!(state, PaymentState::Succeeded | PaymentState::Pending) && amount.is_none() {
        return Err(bad_answer(
            rail,
            "a succeeded or pending payment without its amount",
        ));
    }
    Ok(PaymentStatus {
        payment_id: asked.clone(),
        state,
        amount,
        fee,
    })
}

fn status_code(error: &Error) -> tonic::Code {
    match error {
        Error::InvalidRequest { .. }
        | Error::UnsupportedCurrency { .. }
        | Error::PrecisionLoss { .. }
        | Error::BelowMinimum { .. }
        | Error::InvalidSpec { .. }
        | Error::VoucherRejected(_) => tonic::Code::InvalidArgument,
        Error::InsufficientFunds { .. } | Error::Channel { .. } => tonic::Code::FailedPrecondition,
        Error::PaymentIdConflict { .. } => tonic::Code::AlreadyExists,
        Error::Unavailable { .. } => tonic::Code::Unavailable,
        Error::Timeout { .. } => tonic::Code::DeadlineExceeded,
        Error::InvalidResponse { .. } | Error::Storage { .. } => tonic::Code::Internal,
    }
}

/// The gRPC status of an error, with its kind in the `attn-rail-error` metadata.
pub fn error_to_status(error: &Error) -> tonic::Status {
    let mut status = tonic::Status::new(status_code(error), error.to_string());
    if let Ok(kind) = error.kind().parse() {
        status.metadata_mut().insert(ERROR_KIND_METADATA, kind);
    }
    status
}

/// The error of a gRPC status from a remote rail.
pub fn status_to_error(rail: &str, status: &tonic::Status) -> Error {
    let kind = status
        .metadata()
        .get(ERROR_KIND_METADATA)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let message: String = status
        .message()
        .chars()
        .take(FAILURE_REASON_MAX_BYTES)
        .collect();
    let rail = rail.to_string();
    match (kind, status.code()) {
        ("insufficient-funds", _) | ("", tonic::Code::FailedPrecondition) => {
            Error::InsufficientFunds {
                rail,
                account: String::new(),
                amount: message,
            }
        }
        ("payment-id-conflict", _) | ("", tonic::Code::AlreadyExists) => Error::PaymentIdConflict {
            payment_id: message,
        },
        ("unsupported-currency", _) => Error::UnsupportedCurrency {
            rail,
            currency: message,
        },
        ("precision-loss", _) => Error::PrecisionLoss {
            rail,
            amount: message,
            scale: 0,
        },
        ("below-minimum", _) => Error::BelowMinimum {
            rail,
            amount: message,
            minimum: String::new(),
        },
        ("invalid-request", _) | ("", tonic::Code::InvalidArgument) => Error::InvalidRequest {
            field: "remote",
            reason: message,
        },
        // No kind: the answer did not come from a rail service but from the
        // transport (a reset connection, a dead process). Retrying is safe (`pay` is
        // idempotent) and may reach a restarted rail.
        ("", tonic::Code::Unknown | tonic::Code::Internal)
            if !status.metadata().contains_key(ERROR_KIND_METADATA) =>
        {
            Error::Unavailable {
                rail,
                reason: message,
            }
        }
        (
            _,
            tonic::Code::Unavailable
            | tonic::Code::ResourceExhausted
            | tonic::Code::Aborted
            | tonic::Code::Cancelled,
        ) => Error::Unavailable {
            rail,
            reason: message,
        },
        (_, tonic::Code::DeadlineExceeded) => Error::Timeout { rail, after_ms: 0 },
        _ => Error::InvalidResponse {
            rail,
            reason: format!("{:?}: {message}", status.code()),
        },
    }
}

/// The client of a remote rail.
#[derive(Clone, Debug)]
pub struct ExternalRail {
    url: String,
    client: PaymentRailClient<Channel>,
    config: ExternalConfig,
    capabilities: Capabilities,
}

impl ExternalRail {
    /// Connects to the rail at `url` (`http://host:port`) and fetches its
    /// capabilities (validated). The rail's id is `external:<remote id>` when that
    /// fits [`RAIL_ID_MAX_BYTES`], else `external`.
    pub async fn connect(url: &str, config: ExternalConfig) -> Result<Self> {
        if config.attempts == 0 || config.attempts > EXTERNAL_ATTEMPTS_MAX {
            return Err(Error::invalid(
                "attempts",
                format!("must be 1 to {EXTERNAL_ATTEMPTS_MAX}"),
            ));
        }
        if config.timeout.is_zero() || config.timeout > EXTERNAL_TIMEOUT_MAX {
            return Err(Error::invalid(
                "timeout",
                "must be positive and at most 60 s",
            ));
        }
        let label = "external";
        let endpoint = Endpoint::from_shared(url.to_string())
            .map_err(|e| Error::invalid("url", e.to_string()))?
            .connect_timeout(config.timeout)
            .timeout(config.timeout);
        let channel = endpoint.connect_lazy();
        let client = PaymentRailClient::new(channel)
            .max_decoding_message_size(MESSAGE_MAX_BYTES)
            .max_encoding_message_size(MESSAGE_MAX_BYTES);
        let mut rail = Self {
            url: url.to_string(),
            client,
            config,
            capabilities: Capabilities {
                rail_id: label.into(),
                currencies: Vec::new(),
                finality: Finality::Final,
                fees: FeeModel::FREE,
            },
        };
        let answer = rail
            .call(
                |mut client| async move { client.capabilities(wire::CapabilitiesRequest {}).await },
            )
            .await?;
        let mut capabilities = capabilities_from_wire(label, answer)?;
        let id = format!("external:{}", capabilities.rail_id);
        capabilities.rail_id = if id.len() <= RAIL_ID_MAX_BYTES {
            id
        } else {
            label.into()
        };
        rail.capabilities = capabilities;
        Ok(rail)
    }

    /// The remote rail's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    async fn call<T, F, Fut>(&self, mut attempt: F) -> Result<T>
    where
        F: FnMut(PaymentRailClient<Channel>) -> Fut,
        Fut: std::future::Future<Output = std::result::Result<tonic::Response<T>, tonic::Status>>,
    {
        let rail = self.capabilities.rail_id.as_str();
        let mut backoff = self.config.backoff;
        let mut last = None;
        for number in 0..self.config.attempts {
            if number > 0 {
                tokio::time::sleep(backoff).await;
                backoff = backoff.saturating_mul(2);
            }
            let error =
                match tokio::time::timeout(self.config.timeout, attempt(self.client.clone())).await
                {
                    Ok(Ok(response)) => return Ok(response.into_inner()),
                    Ok(Err(status)) => status_to_error(rail, &status),
                    Err(_) => Error::Timeout {
                        rail: rail.into(),
                        after_ms: u64::try_from(self.config.timeout.as_millis())
                            .unwrap_or(u64::MAX),
                    },
                };
            if !error.is_retryable() {
                return Err(error);
            }
            last = Some(error);
        }
        Err(last.unwrap_or(Error::Unavailable {
            rail: rail.into(),
            reason: "no attempt made".into(),
        }))
    }
}

#[async_trait]
impl PaymentRail for ExternalRail {
    fn id(&self) -> &str {
        &self.capabilities.rail_id
    }

    fn capabilities(&self) -> &Capabilities {
        &self.capabilities
    }

    async fn quote(&self, amount: &Money) -> Result<Money> {
        self.capabilities.quote(amount)?;
        let request = wire::QuoteRequest {
            amount: Some(money_to_wire(amount)),
        };
        let answer = self
            .call(|mut client| {
                let request = request.clone();
                async move { client.quote(request).await }
            })
            .await?;
        let fee = wire_money(self.id(), "fee", answer.fee)?;
        if fee.currency() != amount.currency() {
            return Err(bad_answer(self.id(), "a fee in another currency"));
        }
        Ok(fee)
    }

    async fn pay(&self, request: &PayRequest) -> Result<PaymentStatus> {
        request.validate()?;
        self.capabilities.quote(&request.amount)?;
        let message = wire::PayRequest {
            payment_id: request.payment_id.to_string(),
            from: request.from.to_string(),
            to: request.to.to_string(),
            amount: Some(money_to_wire(&request.amount)),
            memo: request.memo.clone(),
        };
        let answer = self
            .call(|mut client| {
                let message = message.clone();
                async move { client.pay(message).await }
            })
            .await?;
        let status = status_from_wire(self.id(), &self.capabilities, &request.payment_id, answer)?;
        if status.state == PaymentState::Unknown {
            return Err(bad_answer(self.id(), "pay answered UNKNOWN"));
        }
        if let Some(amount) = status.amount
            && amount != request.amount
        {
            return Err(bad_answer(self.id(), "pay answered another amount"));
        }
        Ok(status)
    }

    async fn status(&self, payment_id: &PaymentId) -> Result<PaymentStatus> {
        let message = wire::StatusRequest {
            payment_id: payment_id.to_string(),
        };
        let answer = self
            .call(|mut client| {
                let message = message.clone();
                async move { client.status(message).await }
            })
            .await?;
        status_from_wire(self.id(), &self.capabilities, payment_id, answer)
    }

    async fn balance(&self, account: &AccountName, currency: Currency) -> Result<Money> {
        let entry = *self.capabilities.currency(currency)?;
        let message = wire::BalanceRequest {
            account: account.to_string(),
            currency: currency.to_string(),
        };
        let answer = self
            .call(|mut client| {
                let message = message.clone();
                async move { client.balance(message).await }
            })
            .await?;
        let balance = wire_money(self.id(), "balance", answer.balance)?;
        if balance.currency() != currency || balance.to_atomic(entry.scale).is_err() {
            return Err(bad_answer(
                self.id(),
                "a balance in another currency or scale",
            ));
        }
        Ok(balance)
    }
}

/// Serves a rail as the gRPC `PaymentRail` service: validates every request once,
/// maps errors to status codes (with `attn-rail-error`).
#[derive(Clone, Debug)]
pub struct RailService<R: ?Sized> {
    rail: Arc<R>,
}

impl<R: PaymentRail + ?Sized> RailService<R> {
    /// A service over `rail`.
    pub fn new(rail: Arc<R>) -> Self {
        Self { rail }
    }
}

fn request_money(
    value: Option<wire::Money>,
    field: &'static str,
) -> std::result::Result<Money, tonic::Status> {
    let value = value.ok_or_else(|| error_to_status(&Error::invalid(field, "missing")))?;
    Money::try_from(value).map_err(|e| error_to_status(&Error::invalid(field, e.to_string())))
}

fn respond<T>(result: Result<T>) -> std::result::Result<tonic::Response<T>, tonic::Status> {
    result
        .map(tonic::Response::new)
        .map_err(|e| error_to_status(&e))
}

#[tonic::async_trait]
impl<R: PaymentRail + ?Sized + 'static> PaymentRailService for RailService<R> {
    async fn capabilities(
        &self,
        _request: tonic::Request<wire::CapabilitiesRequest>,
    ) -> std::result::Result<tonic::Response<wire::RailCapabilities>, tonic::Status> {
        Ok(tonic::Response::new(capabilities_to_wire(
            self.rail.capabilities(),
        )))
    }

    async fn quote(
        &self,
        request: tonic::Request<wire::QuoteRequest>,
    ) -> std::result::Result<tonic::Response<wire::QuoteResponse>, tonic::Status> {
        let amount = request_money(request.into_inner().amount, "amount")?;
        respond(
            self.rail
                .quote(&amount)
                .await
                .map(|fee| wire::QuoteResponse {
                    fee: Some(money_to_wire(&fee)),
                }),
        )
    }

    async fn pay(
        &self,
        request: tonic::Request<wire::PayRequest>,
    ) -> std::result::Result<tonic::Response<wire::PaymentStatus>, tonic::Status> {
        let message = request.into_inner();
        let parsed = (|| {
            PayRequest::new(
                PaymentId::new(message.payment_id)?,
                AccountName::new(message.from)?,
                AccountName::new(message.to)?,
                request_money(message.amount, "amount")
                    .map_err(|s| Error::invalid("amount", s.message()))?,
                message.memo,
            )
        })();
        let request = parsed.map_err(|e| error_to_status(&e))?;
        respond(self.rail.pay(&request).await.map(|s| status_to_wire(&s)))
    }

    async fn status(
        &self,
        request: tonic::Request<wire::StatusRequest>,
    ) -> std::result::Result<tonic::Response<wire::PaymentStatus>, tonic::Status> {
        let id =
            PaymentId::new(request.into_inner().payment_id).map_err(|e| error_to_status(&e))?;
        respond(self.rail.status(&id).await.map(|s| status_to_wire(&s)))
    }

    async fn balance(
        &self,
        request: tonic::Request<wire::BalanceRequest>,
    ) -> std::result::Result<tonic::Response<wire::BalanceResponse>, tonic::Status> {
        let message = request.into_inner();
        let account = AccountName::new(message.account).map_err(|e| error_to_status(&e))?;
        let currency = Currency::new(&message.currency)
            .map_err(|e| error_to_status(&Error::invalid("currency", e.to_string())))?;
        respond(
            self.rail
                .balance(&account, currency)
                .await
                .map(|balance| wire::BalanceResponse {
                    balance: Some(money_to_wire(&balance)),
                }),
        )
    }
}

/// Serves `rail` on `listener` until `shutdown` completes.
pub async fn serve<R: PaymentRail + ?Sized + 'static>(
    rail: Arc<R>,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send,
) -> Result<()> {
    let service = PaymentRailServer::new(RailService::new(rail))
        .max_decoding_message_size(MESSAGE_MAX_BYTES)
        .max_encoding_message_size(MESSAGE_MAX_BYTES);
    tonic::transport::Server::builder()
        .add_service(service)
        .serve_with_incoming_shutdown(
            tokio_stream::wrappers::TcpListenerStream::new(listener),
            shutdown,
        )
        .await
        .map_err(|e| Error::Unavailable {
            rail: "external".into(),
            reason: e.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn capabilities() -> Capabilities {
        Capabilities {
            rail_id: "remote".into(),
            currencies: vec![RailCurrency::with_scale(Currency::new("USD").unwrap(), 2).unwrap()],
            finality: Finality::Final,
            fees: FeeModel::FREE,
        }
    }

    #[test]
    fn capabilities_round_trip_and_bad_ones_are_refused() {
        let wire = capabilities_to_wire(&capabilities());
        assert_eq!(
            capabilities_from_wire("x", wire.clone()).unwrap(),
            capabilities()
        );
        let mut unspecified = wire.clone();
        unspecified.finality = 0;
        assert!(capabilities_from_wire("x", unspecified).is_err());
        let mut crowded = wire.clone();
        crowded.currencies = vec![wire.currencies[0].clone(); RAIL_CURRENCIES_MAX + 1];
        assert!(capabilities_from_wire("x", crowded).is_err());
        let mut long = wire;
        long.rail_id = "x".repeat(RAIL_ID_MAX_BYTES + 1);
        assert!(capabilities_from_wire("x", long).is_err());
    }

    #[test]
    fn statuses_are_validated() {
        let id = PaymentId::new("p").unwrap();
        let good = status_to_wire(&PaymentStatus {
            payment_id: id.clone(),
            state: PaymentState::Succeeded,
            amount: Some(Money::parse("USD", "1.25").unwrap()),
            fee: None,
        });
        assert!(status_from_wire("x", &capabilities(), &id, good.clone()).is_ok());
        let other = PaymentId::new("q").unwrap();
        assert!(status_from_wire("x", &capabilities(), &other, good.clone()).is_err());
        let mut fine = good.clone();
        fine.amount = Some(money_to_wire(&Money::parse("USD", "1.255").unwrap()));
        assert!(status_from_wire("x", &capabilities(), &id, fine).is_err());
        let mut foreign = good.clone();
        foreign.amount = Some(money_to_wire(&Money::parse("EUR", "1").unwrap()));
        assert!(status_from_wire("x", &capabilities(), &id, foreign).is_err());
        let mut verbose = good.clone();
        verbose.state = wire::PaymentState::Failed as i32;
        verbose.failure_reason = "r".repeat(FAILURE_REASON_MAX_BYTES + 1);
        assert!(status_from_wire("x", &capabilities(), &id, verbose).is_err());
        let mut unspecified = good;
        unspecified.state = 0;
        assert!(status_from_wire("x", &capabilities(), &id, unspecified).is_err());
    }

    #[test]
    fn errors_keep_their_class_across_the_wire() {
        let errors = [
            Error::InsufficientFunds {
                rail: "r".into(),
                account: "a".into(),
                amount: "1".into(),
            },
            Error::PaymentIdConflict {
                payment_id: "p".into(),
            },
            Error::BelowMinimum {
                rail: "r".into(),
                amount: "0".into(),
                minimum: "1".into(),
            },
            Error::PrecisionLoss {
                rail: "r".into(),
                amount: "0.001".into(),
                scale: 2,
            },
            Error::UnsupportedCurrency {
                rail: "r".into(),
                currency: "EUR".into(),
            },
            Error::Unavailable {
                rail: "r".into(),
                reason: "down".into(),
            },
        ];
        for error in errors {
            let back = status_to_error("r", &error_to_status(&error));
            assert_eq!(back.kind(), error.kind());
            assert_eq!(back.is_retryable(), error.is_retryable());
        }
        // A transport failure (no kind: not an answer of a rail) may be retried; a
        // rail's own storage failure may not.
        let transport = status_to_error("r", &tonic::Status::unknown("transport error"));
        assert!(transport.is_retryable(), "{transport:?}");
        let storage = status_to_error(
            "r",
            &error_to_status(&Error::Storage {
                rail: "r".into(),
                reason: "disk".into(),
            }),
        );
        assert!(!storage.is_retryable(), "{storage:?}");
    }
}
