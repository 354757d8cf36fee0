//! `ListPostings` (the general ledger, filtered and paged) and `GetChartOfAccounts`.

use joule_proto::v1;
use joule_store::Page;

use super::LedgerGrpc;
use super::status::{Error, invalid, time};
use crate::projections::postings::{self, Filter};
use crate::rules::chart::CHART;
use crate::wire;

fn text(raw: &str) -> Option<String> {
    Some(raw.trim().to_owned()).filter(|t| !t.is_empty())
}

pub(super) async fn list(
    server: &LedgerGrpc,
    request: v1::ListPostingsRequest,
) -> Result<v1::ListPostingsResponse, Error> {
    let tenant = server.tenant(&request.tenant_id)?;
    let entry = text(&request.entry_id)
        .map(|e| e.parse().map_err(|_| invalid("entry_id", "is not an id")))
        .transpose()?;
    let filter = Filter {
        account: text(&request.account),
        entry,
        source_type: text(&request.source_type),
        source_id: text(&request.source_id),
        posted_after: time("posted_after", request.posted_after.as_ref())?,
        posted_before: time("posted_before", request.posted_before.as_ref())?,
    };
    let page = Page::requested(&request.cursor, request.page_size)
        .map_err(|e| invalid("cursor", e.to_string()))?;
    let (rows, next) = postings::list(&server.pool, &server.schema, &tenant, &filter, page).await?;
    Ok(v1::ListPostingsResponse {
        postings: rows.into_iter().map(wire::posting).collect(),
        next_cursor: Page::next_cursor(next),
    })
}

pub(super) fn chart() -> v1::ChartOfAccounts {
    v1::ChartOfAccounts {
        accounts: CHART
            .iter()
            .map(|a| v1::LedgerAccount {
                code: a.code.into(),
                name: a.name.into(),
                kind: a.kind.as_str().into(),
                normal_balance: a.normal.as_str().into(),
            })
            .collect(),
    }
}

pub(super) async fn statement(
    server: &LedgerGrpc,
    request: v1::AccountStatementRequest,
) -> Result<v1::AccountStatement, Error> {
    let tenant = server.tenant(&request.tenant_id)?;
    let account: joule_domain::AccountId = request
        .account_id
        .trim()
        .parse()
        .map_err(|e: joule_domain::IdError| invalid("account_id", e.to_string()))?;
    let from = time("from", request.from.as_ref())?;
    let to = time("to", request.to.as_ref())?;
    if let (Some(from), Some(to)) = (from, to)
        && to < from
    {
        return Err(invalid("to", "must not be before from"));
    }
    let statement = crate::projections::statements::statement(
        &server.pool,
        &server.schema,
        &tenant,
        account,
        from,
        to,
    )
    .await?;
    Ok(wire::statement(account, statement))
}
