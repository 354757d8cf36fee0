//! `/v1/ledger/trial-balance`, read from the ledger service.

use axum::extract::State;
use axum::{Extension, Json};
use joule_proto::v1::{self, TrialBalanceRequest};
use rust_decimal::Decimal;
use serde::Serialize;

use super::{Answer, AppState, upstream_decimal};
use crate::auth::Caller;
use crate::problem::ApiError;

const SERVICE: &str = "ledger";

#[derive(Debug, PartialEq, Serialize, schemars::JsonSchema)]
pub struct TrialBalanceRowView {
    pub account: String,
    pub currency: String,
    pub debit: Decimal,
    pub credit: Decimal,
    /// Debit minus credit.
    pub balance: Decimal,
}

#[derive(Debug, PartialEq, Serialize, schemars::JsonSchema)]
pub struct TrialBalanceView {
    pub accounts: Vec<TrialBalanceRowView>,
    pub total_debit: Decimal,
    pub total_credit: Decimal,
}

pub fn trial_balance_view(tb: v1::TrialBalance) -> Result<TrialBalanceView, ApiError> {
    let row = |r: v1::TrialBalanceRow| -> Result<TrialBalanceRowView, ApiError> {
        Ok(TrialBalanceRowView {
            debit: upstream_decimal(SERVICE, "debit", &r.debit)?,
            credit: upstream_decimal(SERVICE, "credit", &r.credit)?,
            balance: upstream_decimal(SERVICE, "balance", &r.balance)?,
            account: r.account,
            currency: r.currency,
        })
    };
    Ok(TrialBalanceView {
        total_debit: upstream_decimal(SERVICE, "total_debit", &tb.total_debit)?,
        total_credit: upstream_decimal(SERVICE, "total_credit", &tb.total_credit)?,
        accounts: tb.rows.into_iter().map(row).collect::<Result<_, _>>()?,
    })
}

pub async fn trial_balance(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<TrialBalanceView>, ApiError> {
    let request = TrialBalanceRequest {
        tenant_id: caller.tenant.to_string(),
    };
    let tb = state
        .ledger()
        .get_trial_balance(request)
        .await
        .answer(SERVICE)?;
    trial_balance_view(tb).map(Json)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn rows_become_accounts_with_string_amounts() {
        let tb = v1::TrialBalance {
            rows: vec![
                v1::TrialBalanceRow {
                    account: "accounts_receivable".into(),
                    currency: "EUR".into(),
                    debit: "4.40".into(),
                    credit: "0".into(),
                    balance: "4.40".into(),
                },
                v1::TrialBalanceRow {
                    account: "vat_payable".into(),
                    currency: "EUR".into(),
                    debit: "0".into(),
                    credit: "0.70".into(),
                    balance: "-0.70".into(),
                },
            ],
            total_debit: "4.40".into(),
            total_credit: "4.40".into(),
        };
        let value = serde_json::to_value(trial_balance_view(tb).unwrap()).unwrap();
        assert_eq!(
            value,
            json!({
                "accounts": [
                    {"account": "accounts_receivable", "currency": "EUR", "debit": "4.40", "credit": "0", "balance": "4.40"},
                    {"account": "vat_payable", "currency": "EUR", "debit": "0", "credit": "0.70", "balance": "-0.70"}
                ],
                "total_debit": "4.40",
                "total_credit": "4.40"
            })
        );
    }
}
