//! `/v1/sessions`: charging sessions, read from the sessions service, and the running cost of one,
//! read from pricing.

use axum::extract::{Path, State};
use axum::{Extension, Json};
use chrono::{DateTime, Utc};
use joule_domain::{AccountId, ChargerId, Energy, SessionId};
use joule_proto::v1::{self, GetSessionRequest, ListSessionsRequest};
use rust_decimal::Decimal;
use serde::Serialize;

use super::{
    Answer, AppState, listed, money, non_empty, optional_decimal, path_id, upstream_decimal,
};

use super::reach::Reach;
use crate::access::Scope;
use crate::auth::Caller;
use crate::extract::{Listed, RawQuery};
use crate::problem::ApiError;

const SERVICE: &str = "sessions";

#[derive(Debug, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Cost {
    pub excl_vat: Decimal,
    pub incl_vat: Decimal,
    pub currency: String,
}

#[derive(Debug, PartialEq, Serialize, schemars::JsonSchema)]
pub struct SessionView {
    pub id: String,
    pub charger_id: String,
    pub charge_point_id: String,
    pub connector_id: u32,
    pub transaction_id: String,
    pub token_uid: Option<String>,
    /// `None` when the token was unknown at the start.
    pub account_id: Option<String>,
    pub status: String,
    #[serde(serialize_with = "crate::time::rfc3339_opt")]
    pub started_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "crate::time::rfc3339_opt")]
    pub stopped_at: Option<DateTime<Utc>>,
    pub energy_kwh: Option<Decimal>,
    /// `None` until pricing priced the session.
    pub cost: Option<Cost>,
    pub invoice_id: Option<String>,
    pub flags: Vec<String>,
    /// Who held the token when the session started (later reassignments do not change them).
    pub fleet_id: Option<String>,
    pub driver_id: Option<String>,
    pub vehicle_id: Option<String>,
    pub cost_centre_id: Option<String>,
}

pub fn session_view(s: v1::Session) -> Result<SessionView, ApiError> {
    let energy_kwh =
        optional_decimal(SERVICE, "energy_wh", &s.energy_wh)?.map(|wh| Energy::from_wh(wh).kwh());
    let cost = match optional_decimal(SERVICE, "cost_excl_vat", &s.cost_excl_vat)? {
        None => None,
        Some(excl_vat) => Some(Cost {
            excl_vat: money(&s.currency, excl_vat),
            incl_vat: money(
                &s.currency,
                upstream_decimal(SERVICE, "cost_incl_vat", &s.cost_incl_vat)?,
            ),
            currency: s.currency.clone(),
        }),
    };
    Ok(SessionView {
        started_at: joule_proto::time::from_proto(s.started_at.as_ref()),
        stopped_at: joule_proto::time::from_proto(s.stopped_at.as_ref()),
        token_uid: non_empty(&s.token_uid).map(str::to_owned),
        account_id: non_empty(&s.account_id).map(str::to_owned),
        invoice_id: non_empty(&s.invoice_id).map(str::to_owned),
        fleet_id: non_empty(&s.fleet_id).map(str::to_owned),
        driver_id: non_empty(&s.driver_id).map(str::to_owned),
        vehicle_id: non_empty(&s.vehicle_id).map(str::to_owned),
        cost_centre_id: non_empty(&s.cost_centre_id).map(str::to_owned),
        id: s.id,
        charger_id: s.charger_id,
        charge_point_id: s.charge_point_id,
        connector_id: s.connector_id,
        transaction_id: s.transaction_id,
        status: s.status,
        energy_kwh,
        cost,
        flags: s.flags,
    })
}

pub async fn list_sessions(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    query: RawQuery<SessionQuery>,
) -> Result<Json<Listed<SessionView>>, ApiError> {
    let mut v = query.checked();
    let charger_id = query
        .get("charger_id")
        .and_then(|c| v.check("charger_id", c.parse::<ChargerId>()));
    let account_id = query
        .get("account_id")
        .and_then(|a| v.check("account_id", a.parse::<AccountId>()));
    let fleet_id = query.proto_id(&mut v, "fleet_id");
    let driver_id = query.proto_id(&mut v, "driver_id");
    let vehicle_id = query.proto_id(&mut v, "vehicle_id");
    let started_after = query.proto_time(&mut v, "started_after");
    let started_before = query.proto_time(&mut v, "started_before");
    v.finish()?;
    let page = query.page()?;
    let reach = Reach::of(&caller, Scope::SessionsRead, "sessions")?;
    let request = ListSessionsRequest {
        tenant_id: caller.tenant.to_string(),
        charger_id: charger_id.map(|c| c.to_string()).unwrap_or_default(),
        account_id: account_id.map(|a| a.to_string()).unwrap_or_default(),
        page_size: page.limit,
        cursor: page.cursor.unwrap_or_default(),
        fleet_id,
        driver_id,
        vehicle_id,
        status: query.get("status").unwrap_or_default().to_owned(),
        started_after,
        started_before,
        within_fleets: reach.fleets,
        within_driver: reach.driver,
    };
    let response = state
        .sessions()
        .list_sessions(request)
        .await
        .answer(SERVICE)?;
    listed(response.sessions, response.next_cursor, session_view).map(Json)
}

pub async fn get_session(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<SessionView>, ApiError> {
    let session_id: SessionId = path_id(&id, "session")?;
    let request = GetSessionRequest {
        tenant_id: caller.tenant.to_string(),
        session_id: session_id.to_string(),
    };
    let session = state
        .sessions()
        .get_session(request)
        .await
        .answer(SERVICE)?;
    reachable(&caller, &session)?;
    session_view(session).map(Json)
}

/// A fleet manager reads only sessions started with a token of her fleets, a driver only his own:
/// another is a 404.
fn reachable(caller: &Caller, session: &v1::Session) -> Result<(), ApiError> {
    let reach = Reach::of(caller, Scope::SessionsRead, "sessions")?;
    if reach.reaches(&session.fleet_id, &session.driver_id) {
        return Ok(());
    }
    Err(ApiError::NotFound(format!(
        "no session with id {}",
        session.id
    )))
}

/// The cost so far of a running session, or the final price of a priced one (`final`), from
/// pricing (`GetRunningCost`).
#[derive(Debug, PartialEq, Serialize, schemars::JsonSchema)]
pub struct RunningCostView {
    pub session_id: String,
    /// The session is priced: these are its final figures (after every adjustment), `as_of` its
    /// stop; false while they are an estimate.
    pub r#final: bool,
    pub currency: String,
    pub energy_kwh: Decimal,
    /// Unrounded, incl. everything a stop at `as_of` would cost (idle fee included).
    pub total_excl_vat: Decimal,
    pub total_incl_vat: Decimal,
    pub tariff_id: String,
    pub tariff_version: u32,
    #[serde(serialize_with = "crate::time::rfc3339_opt")]
    pub started_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "crate::time::rfc3339_opt")]
    pub as_of: Option<DateTime<Utc>>,
    /// The session's reading this estimate answers (0: the estimate at the start).
    pub sequence: u64,
    pub lines: Vec<CostLine>,
}

#[derive(Debug, PartialEq, Serialize, schemars::JsonSchema)]
pub struct CostLine {
    pub dimension: String,
    pub description: String,
    pub volume: Option<Decimal>,
    pub unit: String,
    pub unit_price: Option<Decimal>,
    pub vat_percent: Option<Decimal>,
    pub amount_excl_vat: Decimal,
    pub amount_incl_vat: Decimal,
}

const PRICING: &str = "pricing";

pub fn running_cost_view(r: v1::RunningCost) -> Result<RunningCostView, ApiError> {
    let cost = r.cost.ok_or_else(|| ApiError::UpstreamContract {
        service: PRICING,
        reason: "RunningCost without cost".into(),
    })?;
    let currency = cost.currency.clone();
    let amount =
        |field, raw: &str| upstream_decimal(PRICING, field, raw).map(|d| money(&currency, d));
    let lines = r
        .lines
        .into_iter()
        .map(|l| {
            Ok(CostLine {
                volume: optional_decimal(PRICING, "volume", &l.volume)?,
                unit_price: optional_decimal(PRICING, "unit_price", &l.unit_price)?
                    .map(|d| money(&currency, d)),
                vat_percent: optional_decimal(PRICING, "vat_percent", &l.vat_percent)?,
                amount_excl_vat: amount("amount_excl_vat", &l.amount_excl_vat)?,
                amount_incl_vat: amount("amount_incl_vat", &l.amount_incl_vat)?,
                dimension: l.dimension,
                description: l.description,
                unit: l.unit,
            })
        })
        .collect::<Result<_, ApiError>>()?;
    Ok(RunningCostView {
        r#final: r.r#final,
        energy_kwh: Energy::from_wh(upstream_decimal(PRICING, "energy_wh", &cost.energy_wh)?).kwh(),
        total_excl_vat: amount("total_excl_vat", &cost.total_excl_vat)?,
        total_incl_vat: amount("total_incl_vat", &cost.total_incl_vat)?,
        started_at: joule_proto::time::from_proto(cost.started_at.as_ref()),
        as_of: joule_proto::time::from_proto(cost.as_of.as_ref()),
        session_id: cost.session_id,
        currency: cost.currency,
        tariff_id: cost.tariff_id,
        tariff_version: cost.tariff_version,
        sequence: cost.sequence,
        lines,
    })
}

/// `GET /v1/sessions/{id}/cost`: the latest running cost, the final price once the session is
/// priced; 404 when pricing knows neither of the session for the caller's tenant.
pub async fn get_session_cost(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<RunningCostView>, ApiError> {
    let session_id: SessionId = path_id(&id, "session")?;
    if !Reach::of(&caller, Scope::SessionsRead, "sessions")?.is_whole_tenant() {
        let session = state
            .sessions()
            .get_session(GetSessionRequest {
                tenant_id: caller.tenant.to_string(),
                session_id: session_id.to_string(),
            })
            .await
            .answer(SERVICE)?;
        reachable(&caller, &session)?;
    }
    let cost = state
        .pricing()
        .get_running_cost(v1::GetRunningCostRequest {
            tenant_id: caller.tenant.to_string(),
            session_id: session_id.to_string(),
        })
        .await
        .answer(PRICING)?;
    running_cost_view(cost).map(Json)
}

crate::query_params!(pub SessionQuery, list {
    "charger_id": Id => "Sessions at this charger.",
    "account_id": Id => "Sessions of this account's tokens.",
    "fleet_id": Id => "Sessions this fleet held at their start.",
    "driver_id": Id => "Sessions this driver held at their start.",
    "vehicle_id": Id => "Sessions of this vehicle.",
    "status": Text => "The session's status.",
    "started_after": Time => "Started at or after this time.",
    "started_before": Time => "Started before this time.",
});

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn completed() -> v1::Session {
        v1::Session {
            id: "s1".into(),
            charger_id: "c1".into(),
            charge_point_id: "CP-1".into(),
            connector_id: 2,
            transaction_id: "42".into(),
            token_uid: "04A1".into(),
            account_id: "a1".into(),
            status: "completed".into(),
            started_at: Some(joule_proto::Timestamp {
                seconds: 1_700_000_000,
                nanos: 0,
            }),
            stopped_at: Some(joule_proto::Timestamp {
                seconds: 1_700_003_600,
                nanos: 500_000_000,
            }),
            energy_wh: "12345".into(),
            cost_excl_vat: "4.1150".into(),
            cost_incl_vat: "4.896850".into(),
            currency: "EUR".into(),
            invoice_id: "i1".into(),
            flags: vec!["meter_regression".into()],
            fleet_id: "f1".into(),
            driver_id: "d1".into(),
            vehicle_id: String::new(),
            cost_centre_id: "cc1".into(),
        }
    }

    #[test]
    fn a_priced_invoiced_session() {
        let value = serde_json::to_value(session_view(completed()).unwrap()).unwrap();
        assert_eq!(value["energy_kwh"], json!("12.345"));
        assert_eq!(
            value["cost"],
            json!({"excl_vat": "4.115", "incl_vat": "4.89685", "currency": "EUR"})
        );
        assert_eq!(value["started_at"], json!("2023-11-14T22:13:20.000000Z"));
        assert_eq!(value["stopped_at"], json!("2023-11-14T23:13:20.500000Z"));
        assert_eq!(value["invoice_id"], json!("i1"));
        assert_eq!(value["connector_id"], json!(2));
        assert_eq!(value["flags"], json!(["meter_regression"]));
        assert_eq!(value["fleet_id"], json!("f1"));
        assert_eq!(value["vehicle_id"], json!(null));
        assert_eq!(value["cost_centre_id"], json!("cc1"));
    }

    #[test]
    fn a_running_session_has_nulls_not_empty_strings() {
        let running = v1::Session {
            status: "active".into(),
            stopped_at: None,
            energy_wh: String::new(),
            cost_excl_vat: String::new(),
            cost_incl_vat: String::new(),
            currency: String::new(),
            invoice_id: String::new(),
            account_id: String::new(),
            ..completed()
        };
        let value = serde_json::to_value(session_view(running).unwrap()).unwrap();
        assert_eq!(value["stopped_at"], json!(null));
        assert_eq!(value["energy_kwh"], json!(null));
        assert_eq!(value["cost"], json!(null));
        assert_eq!(value["invoice_id"], json!(null));
        assert_eq!(value["account_id"], json!(null));
    }

    #[test]
    fn a_running_cost_reads_as_decimals_and_kwh() {
        let cost = v1::RunningCost {
            cost: Some(v1::SessionCostUpdated {
                session_id: "s1".into(),
                currency: "EUR".into(),
                energy_wh: "20000".into(),
                total_excl_vat: "8".into(),
                total_incl_vat: "9.6".into(),
                sequence: 5,
                ..Default::default()
            }),
            lines: vec![v1::PriceLine {
                dimension: "IDLE_FEE".into(),
                volume: "0.1666".into(),
                unit: "h".into(),
                amount_excl_vat: "2".into(),
                amount_incl_vat: "2.4".into(),
                ..Default::default()
            }],
            r#final: false,
        };
        let value = serde_json::to_value(running_cost_view(cost).unwrap()).unwrap();
        assert_eq!(value["final"], json!(false));
        assert_eq!(value["energy_kwh"], json!("20"));
        // Money with at least the currency's minor-unit digits.
        assert_eq!(value["total_incl_vat"], json!("9.60"));
        assert_eq!(value["sequence"], json!(5));
        assert_eq!(value["lines"][0]["vat_percent"], json!(null));
        assert_eq!(value["lines"][0]["amount_incl_vat"], json!("2.40"));
        let broken = v1::RunningCost {
            cost: None,
            ..Default::default()
        };
        assert!(matches!(
            running_cost_view(broken),
            Err(ApiError::UpstreamContract { .. })
        ));
    }

    #[test]
    fn a_bad_decimal_is_an_upstream_failure() {
        let bad = v1::Session {
            energy_wh: "12,3".into(),
            ..completed()
        };
        assert!(matches!(
            session_view(bad),
            Err(ApiError::UpstreamContract { .. })
        ));
    }
}
