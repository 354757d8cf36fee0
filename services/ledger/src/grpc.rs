//! `joule.v1.LedgerService`: the trial balance from the `balances` projection, and the one mapping from
//! its errors to gRPC status codes.

use joule_domain::{Currency, TenantId};
use joule_proto::v1;
use joule_proto::v1::ledger_service_server::LedgerService;
use rust_decimal::Decimal;
use sqlx::PgPool;
use tonic::{Request, Response, Status};
use tracing::Instrument;

use crate::outbox::wire_amount;

#[derive(Debug, thiserror::Error)]
enum ReadError {
    #[error("{field}: {reason}")]
    InvalidArgument { field: &'static str, reason: String },
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("the balances add up beyond a decimal's range")]
    Overflow,
}

impl From<ReadError> for Status {
    fn from(error: ReadError) -> Self {
        match &error {
            ReadError::InvalidArgument { .. } => Status::invalid_argument(error.to_string()),
            ReadError::Overflow => Status::out_of_range(error.to_string()),
            ReadError::Database(_) => {
                tracing::error!(error = %error, "trial balance read failed");
                Status::unavailable("ledger store unavailable")
            }
        }
    }
}

pub struct LedgerGrpc {
    pool: PgPool,
    schema: String,
    default_tenant: TenantId,
}

impl LedgerGrpc {
    pub fn new(pool: PgPool, schema: &str, default_tenant: TenantId) -> Self {
        Self {
            pool,
            schema: schema.to_owned(),
            default_tenant,
        }
    }

    async fn trial_balance(
        &self,
        request: v1::TrialBalanceRequest,
    ) -> Result<v1::TrialBalance, ReadError> {
        let tenant = match request.tenant_id.as_str() {
            "" => self.default_tenant.clone(),
            t => t
                .parse()
                .map_err(|e: joule_domain::IdError| ReadError::InvalidArgument {
                    field: "tenant_id",
                    reason: e.to_string(),
                })?,
        };
        let rows: Vec<(String, String, Decimal, Decimal)> = sqlx::query_as(&format!(
            "SELECT account, currency, debit, credit FROM {}.balances WHERE tenant_id = $1 ORDER BY account, currency",
            self.schema
        ))
        .bind(tenant.as_str())
        .fetch_all(&self.pool)
        .await?;
        let minor_units = rows
            .iter()
            .filter_map(|(_, c, _, _)| c.parse::<Currency>().ok().map(|c| c.minor_units()))
            .max()
            .unwrap_or(0);
        let (total_debit, total_credit) = rows
            .iter()
            .try_fold((Decimal::ZERO, Decimal::ZERO), |(d, c), row| {
                Some((d.checked_add(row.2)?, c.checked_add(row.3)?))
            })
            .ok_or(ReadError::Overflow)?;
        let rows = rows
            .into_iter()
            .map(|(account, currency, debit, credit)| {
                let minor = currency
                    .parse::<Currency>()
                    .map(|c| c.minor_units())
                    .unwrap_or(0);
                let balance = debit.checked_sub(credit).ok_or(ReadError::Overflow)?;
                Ok(v1::TrialBalanceRow {
                    balance: wire_amount(balance, minor),
                    debit: wire_amount(debit, minor),
                    credit: wire_amount(credit, minor),
                    account,
                    currency,
                })
            })
            .collect::<Result<_, ReadError>>()?;
        Ok(v1::TrialBalance {
            rows,
            total_debit: wire_amount(total_debit, minor_units),
            total_credit: wire_amount(total_credit, minor_units),
        })
    }
}

#[tonic::async_trait]
impl LedgerService for LedgerGrpc {
    async fn get_trial_balance(
        &self,
        request: Request<v1::TrialBalanceRequest>,
    ) -> Result<Response<v1::TrialBalance>, Status> {
        let span = joule_telemetry::grpc_server_span("GetTrialBalance", &request);
        let result = self
            .trial_balance(request.into_inner())
            .instrument(span)
            .await;
        Ok(Response::new(result?))
    }
}
