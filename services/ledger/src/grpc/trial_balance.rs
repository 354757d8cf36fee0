//! `GetTrialBalance`: the tenant's balances by account and currency, now or as they stood at a time.

use joule_proto::v1;

use super::LedgerGrpc;
use super::status::{Error, time};
use crate::projections::{balances, postings};
use crate::wire;

pub(super) async fn get(
    server: &LedgerGrpc,
    request: v1::TrialBalanceRequest,
) -> Result<v1::TrialBalance, Error> {
    let tenant = server.tenant(&request.tenant_id)?;
    let balance = match time("as_of", request.as_of.as_ref())? {
        None => balances::trial_balance(&server.pool, &server.schema, &tenant).await?,
        Some(as_of) => {
            postings::trial_balance_at(&server.pool, &server.schema, &tenant, as_of).await?
        }
    };
    Ok(wire::trial_balance(balance))
}
