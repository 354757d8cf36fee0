//! `ListTransactions`: a customer's transactions, filtered and paged.

use joule_proto::v1;
use uuid::Uuid;

use super::LedgerGrpc;
use super::status::{Error, invalid, time};
use crate::domain::journal::TransactionKind;
use crate::projections::transactions::{self, Filter};
use crate::wire;

const DEFAULT_PAGE: u32 = 50;
const MAX_PAGE: u32 = 500;

pub(super) async fn list(
    server: &LedgerGrpc,
    request: v1::ListTransactionsRequest,
) -> Result<v1::ListTransactionsResponse, Error> {
    let tenant = server.tenant(&request.tenant_id)?;
    let account = match request.account_id.trim() {
        "" => None,
        a => Some(
            a.parse()
                .map_err(|e: joule_domain::IdError| invalid("account_id", e.to_string()))?,
        ),
    };
    let uuid = |field: &'static str, raw: &str| -> Result<Option<Uuid>, Error> {
        match raw.trim() {
            "" => Ok(None),
            raw => raw
                .parse()
                .map(Some)
                .map_err(|_| invalid(field, "is not an id")),
        }
    };
    let within_fleets = match request.within_fleets.as_slice() {
        [] => None,
        fleets => Some(
            fleets
                .iter()
                .map(|f| uuid("within_fleets", f).map(Option::unwrap_or_default))
                .collect::<Result<Vec<_>, _>>()?,
        ),
    };
    let kinds = request
        .types
        .iter()
        .map(|t| {
            TransactionKind::parse(t.trim()).ok_or_else(|| {
                let known: Vec<_> = TransactionKind::ALL.iter().map(|k| k.as_str()).collect();
                invalid(
                    "types",
                    format!("{t:?} is not a type ({})", known.join(", ")),
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let after = match request.cursor.trim() {
        "" => 0,
        c => c
            .parse::<i64>()
            .ok()
            .filter(|c| *c >= 0)
            .ok_or_else(|| invalid("cursor", "is not a cursor of this list"))?,
    };
    let filter = Filter {
        tenant,
        account,
        kinds,
        occurred_after: time("occurred_after", request.occurred_after.as_ref())?,
        occurred_before: time("occurred_before", request.occurred_before.as_ref())?,
        fleet: uuid("fleet_id", &request.fleet_id)?,
        cost_centre: uuid("cost_centre_id", &request.cost_centre_id)?,
        within_fleets,
        after,
        limit: i64::from(match request.page_size {
            0 => DEFAULT_PAGE,
            n => n.min(MAX_PAGE),
        }),
    };
    let (rows, next) = transactions::list(&server.pool, &server.schema, &filter).await?;
    Ok(v1::ListTransactionsResponse {
        transactions: rows.into_iter().map(wire::transaction).collect(),
        next_cursor: next.map(|n| n.to_string()).unwrap_or_default(),
    })
}
