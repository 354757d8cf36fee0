//! `GetTrialBalance`: the tenant's balances by account and currency.

use joule_proto::v1;

use super::LedgerGrpc;
use super::status::Error;
use crate::projections::balances;
use crate::wire;

pub(super) async fn get(
    server: &LedgerGrpc,
    request: v1::TrialBalanceRequest,
) -> Result<v1::TrialBalance, Error> {
    let tenant = server.tenant(&request.tenant_id)?;
    let balance = balances::trial_balance(&server.pool, &server.schema, &tenant).await?;
    Ok(wire::trial_balance(balance))
}
