//! Pricing beyond creating a tariff, all passed to the pricing service over gRPC:
//!
//! - `GET|POST /v1/tariffs/{id}/versions` (the OCPI tariff as body, `?valid_from=` RFC 3339) and
//!   `PUT /v1/tariffs/{id}/versions/{version}?reason=` (a correction; the OCPI tariff as body);
//! - `POST /v1/tariffs/{id}/assignments` and `POST /v1/tariffs/{id}/contracts`;
//! - `POST /v1/tariffs/{id}/quote`: the price of a planned session;
//! - `POST /v1/pricing/cdrs`: the price of an OCPI CDR with an inline or stored tariff;
//! - `GET /v1/pricing/sessions/{id}`: a session's price breakdown and its adjustments;
//! - `POST /v1/pricing/reratings`: re-price sessions after a tariff or meter correction.

use crate::reply::Created;
use axum::extract::{Path, State};
use axum::response::NoContent;
use axum::{Extension, Json};

use super::table::RouteTable;
use crate::access::Scope;
use chrono::{DateTime, Utc};
use joule_domain::{SessionId, TariffId, TenantId, limits};
use joule_proto::v1;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::{Answer, AppState, path_id};
use crate::auth::Caller;
use crate::extract::{ApiJson, JsonObjectText, RawQuery};

crate::query_params!(pub PublishQuery {
    "valid_from": Time => "When the version comes into force (required; after the latest version).",
});

crate::query_params!(pub CorrectionQuery {
    "reason": Text => "Why the version is corrected (required).",
});
use crate::problem::{ApiError, Validator};
use crate::projections::read::{self, ChargerView, Resource, SiteView};
use uuid::Uuid;

const SERVICE: &str = "pricing";

/// `bulk`: the body limit of tariff versions, CDRs and re-ratings.
pub fn routes(t: RouteTable) -> RouteTable {
    t.get(
        "/v1/tariffs/{id}/versions",
        Scope::TariffsRead,
        list_versions,
    )
    .post_bulk(
        "/v1/tariffs/{id}/versions",
        Scope::TariffsWrite,
        publish_version,
    )
    .put_bulk(
        "/v1/tariffs/{id}/versions/{version}",
        Scope::TariffsWrite,
        correct_version,
    )
    .post("/v1/tariffs/{id}/assignments", Scope::TariffsWrite, assign)
    .post("/v1/tariffs/{id}/contracts", Scope::TariffsWrite, contract)
    .post("/v1/tariffs/{id}/quote", Scope::TariffsRead, quote)
    .post_bulk("/v1/pricing/cdrs", Scope::PricingRead, price_cdr)
    .get(
        "/v1/pricing/sessions/{id}",
        Scope::PricingRead,
        priced_session,
    )
    .post_bulk("/v1/pricing/reratings", Scope::PricingWrite, rerate)
}

fn ts(t: DateTime<Utc>) -> joule_proto::Timestamp {
    joule_proto::time::to_proto(t)
}

fn json_value(service_field: &str, raw: &str) -> Result<serde_json::Value, ApiError> {
    serde_json::from_str(raw).map_err(|e| ApiError::UpstreamContract {
        service: SERVICE,
        reason: format!("{service_field} is not JSON: {e}"),
    })
}

fn time_param<P>(query: &RawQuery<P>, name: &str, v: &mut Validator) -> Option<DateTime<Utc>> {
    query.get(name).and_then(|raw| {
        v.check(
            name,
            DateTime::parse_from_rfc3339(raw)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|_| {
                    format!("must be an RFC 3339 time such as 2026-06-01T00:00:00Z, not {raw:?}")
                }),
        )
    })
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct VersionView {
    pub tariff_id: String,
    pub version: u32,
    #[serde(serialize_with = "crate::time::rfc3339_opt")]
    pub valid_from: Option<DateTime<Utc>>,
    #[serde(serialize_with = "crate::time::rfc3339_opt")]
    pub published_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "crate::time::rfc3339_opt")]
    pub corrected_at: Option<DateTime<Utc>>,
    pub correction_reason: Option<String>,
    pub tariff: serde_json::Value,
}

fn version_view(v: v1::TariffVersion) -> Result<VersionView, ApiError> {
    let from = |t: Option<joule_proto::Timestamp>| joule_proto::time::from_proto(t.as_ref());
    Ok(VersionView {
        tariff: json_value("ocpi_json", &v.ocpi_json)?,
        tariff_id: v.tariff_id,
        version: v.version,
        valid_from: from(v.valid_from),
        published_at: from(v.published_at),
        corrected_at: from(v.corrected_at),
        correction_reason: Some(v.correction_reason).filter(|r| !r.is_empty()),
    })
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct VersionList {
    pub data: Vec<VersionView>,
    pub retired: bool,
    #[serde(serialize_with = "crate::time::rfc3339_opt")]
    pub retired_at: Option<DateTime<Utc>>,
}

pub async fn list_versions(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<VersionList>, ApiError> {
    let tariff_id: TariffId = path_id(&id, "tariff")?;
    let response = state
        .pricing()
        .list_tariff_versions(v1::ListTariffVersionsRequest {
            tenant_id: caller.tenant.to_string(),
            tariff_id: tariff_id.to_string(),
        })
        .await
        .answer(SERVICE)?;
    Ok(Json(VersionList {
        data: response
            .versions
            .into_iter()
            .map(version_view)
            .collect::<Result<_, _>>()?,
        retired: response.retired,
        retired_at: joule_proto::time::from_proto(response.retired_at.as_ref())
            .filter(|_| response.retired),
    }))
}

pub async fn publish_version(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    query: RawQuery<PublishQuery>,
    JsonObjectText(ocpi_json): JsonObjectText,
) -> Result<Created<VersionView>, ApiError> {
    let tariff_id: TariffId = path_id(&id, "tariff")?;
    let mut v = query.checked();
    let valid_from = time_param(&query, "valid_from", &mut v);
    if valid_from.is_none() && query.get("valid_from").is_none() {
        v.reject("valid_from", "is required (query parameter, RFC 3339)");
    }
    super::tariffs::check_ocpi(&ocpi_json, &mut v);
    v.finish()?;
    let version = state
        .pricing()
        .publish_tariff_version(v1::PublishTariffVersionRequest {
            tenant_id: caller.tenant.to_string(),
            tariff_id: tariff_id.to_string(),
            ocpi_json,
            valid_from: valid_from.map(ts),
        })
        .await
        .answer(SERVICE)?;
    Ok(Created::new(version_view(version)?))
}

pub async fn correct_version(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((id, version)): Path<(String, String)>,
    query: RawQuery<CorrectionQuery>,
    JsonObjectText(ocpi_json): JsonObjectText,
) -> Result<Json<VersionView>, ApiError> {
    let tariff_id: TariffId = path_id(&id, "tariff")?;
    let version: u32 = path_id(&version, "tariff version")?;
    let mut v = query.checked();
    let reason = query.get("reason");
    if reason.is_none() {
        v.reject("reason", "is required: say why the version is corrected");
    }
    super::tariffs::check_ocpi(&ocpi_json, &mut v);
    v.finish()?;
    let reason = reason.unwrap_or_default();
    let corrected = state
        .pricing()
        .correct_tariff_version(v1::CorrectTariffVersionRequest {
            tenant_id: caller.tenant.to_string(),
            tariff_id: tariff_id.to_string(),
            version,
            ocpi_json,
            reason: reason.to_owned(),
        })
        .await
        .answer(SERVICE)?;
    version_view(corrected).map(Json)
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignBody {
    /// `site`, `charger` or `connector`.
    pub scope: String,
    pub scope_id: String,
    #[serde(default)]
    pub connector_id: u32,
}

pub async fn assign(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<AssignBody>,
) -> Result<NoContent, ApiError> {
    let tariff_id: TariffId = path_id(&id, "tariff")?;
    assigned_to_exists(&state, &caller.tenant, &body).await?;
    state
        .pricing()
        .assign_tariff(v1::AssignTariffRequest {
            tenant_id: caller.tenant.to_string(),
            tariff_id: tariff_id.to_string(),
            scope: body.scope,
            scope_id: body.scope_id,
            connector_id: body.connector_id,
        })
        .await
        .answer(SERVICE)?;
    Ok(NoContent)
}

/// Refuses an assignment to a site or charger the tenant does not have (422 naming `scope_id`);
/// pricing checks the rest of the body.
async fn assigned_to_exists(
    state: &AppState,
    tenant: &TenantId,
    body: &AssignBody,
) -> Result<(), ApiError> {
    let noun = match body.scope.as_str() {
        "site" => SiteView::NOUN,
        "charger" | "connector" => ChargerView::NOUN,
        _ => return Ok(()),
    };
    let found = match body.scope_id.trim().parse::<Uuid>() {
        Err(_) => false,
        Ok(id) if noun == SiteView::NOUN => read::get::<SiteView>(&state.pool, tenant, id)
            .await?
            .is_some(),
        Ok(id) => read::get::<ChargerView>(&state.pool, tenant, id)
            .await?
            .is_some(),
    };
    if found {
        return Ok(());
    }
    Err(ApiError::field(
        "scope_id",
        format!("no {noun} with id {}", body.scope_id),
    ))
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ContractBody {
    /// `account` or `fleet`.
    pub party_type: String,
    pub party_id: String,
    #[serde(default)]
    pub account_ids: Vec<String>,
    /// `joule_tariff::Discount` objects, passed to pricing as they are.
    #[serde(default)]
    pub discounts: Vec<serde_json::Value>,
    pub valid_from: Option<DateTime<Utc>>,
    pub valid_until: Option<DateTime<Utc>>,
}

pub async fn contract(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ContractBody>,
) -> Result<NoContent, ApiError> {
    let tariff_id: TariffId = path_id(&id, "tariff")?;
    state
        .pricing()
        .set_contract(v1::SetContractRequest {
            tenant_id: caller.tenant.to_string(),
            tariff_id: tariff_id.to_string(),
            party_type: body.party_type,
            party_id: body.party_id,
            account_ids: body.account_ids,
            discounts_json: serde_json::Value::Array(body.discounts).to_string(),
            valid_from: body.valid_from.map(ts),
            valid_until: body.valid_until.map(ts),
        })
        .await
        .answer(SERVICE)?;
    Ok(NoContent)
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct QuoteBody {
    /// Default: now.
    pub start: Option<DateTime<Utc>>,
    pub energy_kwh: Decimal,
    pub power_kw: Decimal,
    #[serde(default)]
    pub parking_minutes: u32,
    /// IANA zone of the site; default UTC.
    #[serde(default)]
    pub time_zone: String,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct BreakdownView {
    pub tariff_id: String,
    pub tariff_version: u32,
    /// OCPI totals (`total_cost`, `total_energy_cost`, ...), each excl. and incl. VAT; money with
    /// at least the currency's minor-unit digits, quantities (`total_energy` in kWh, `total_time`
    /// in hours) with at most six decimals.
    pub totals: serde_json::Value,
    /// Lines, periods, dimensions, price limits, extras and notes; money, quantities, VAT rates and
    /// times written as in `totals` and every other answer.
    pub breakdown: serde_json::Value,
}

fn breakdown_view(b: v1::PriceBreakdown) -> Result<BreakdownView, ApiError> {
    let mut breakdown = json_value("breakdown_json", &b.breakdown_json)?;
    let mut totals = json_value("totals_json", &b.totals_json)?;
    let currency = breakdown["currency"].as_str().and_then(|c| c.parse().ok());
    super::written::write(&mut breakdown, currency);
    super::written::write(&mut totals, currency);
    Ok(BreakdownView {
        totals,
        breakdown,
        tariff_id: b.tariff_id,
        tariff_version: b.tariff_version,
    })
}

pub async fn quote(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<QuoteBody>,
) -> Result<Json<BreakdownView>, ApiError> {
    let tariff_id: TariffId = path_id(&id, "tariff")?;
    limits::check_quote(
        body.start.unwrap_or_else(Utc::now),
        body.energy_kwh,
        body.power_kw,
        body.parking_minutes,
    )
    .map_err(|e| ApiError::field(e.field, e.reason))?;
    let quoted = state
        .pricing()
        .quote(v1::QuoteRequest {
            tenant_id: caller.tenant.to_string(),
            tariff_id: tariff_id.to_string(),
            start: body.start.map(ts),
            energy_kwh: body.energy_kwh.to_string(),
            power_kw: body.power_kw.to_string(),
            parking_minutes: body.parking_minutes,
            time_zone: body.time_zone,
        })
        .await
        .answer(SERVICE)?;
    breakdown_view(quoted).map(Json)
}

/// An OCPI 2.2.1 CDR to price, with the tariff inline (an OCPI Tariff object) or a stored tariff's id.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PriceCdrBody {
    #[serde(default)]
    pub tariff: Option<serde_json::Value>,
    #[serde(default)]
    pub tariff_id: Option<String>,
    pub cdr: serde_json::Value,
    /// IANA zone of the location; default: the zone the CDR's location states
    /// (`cdr_location.time_zone`); with neither the CDR is refused (422 naming `time_zone`).
    #[serde(default)]
    pub time_zone: String,
}

pub async fn price_cdr(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(body): ApiJson<PriceCdrBody>,
) -> Result<Json<BreakdownView>, ApiError> {
    let (tariff_id, tariff_json) = match (body.tariff_id, body.tariff) {
        (Some(id), None) => (
            id.parse::<TariffId>()
                .map_err(|_| ApiError::field("tariff_id", "must be a tariff id (a UUID)"))?
                .to_string(),
            String::new(),
        ),
        (None, Some(tariff)) if tariff.is_object() => (String::new(), tariff.to_string()),
        (None, Some(_)) => return Err(ApiError::field("tariff", "must be an OCPI Tariff object")),
        (None, None) => {
            return Err(ApiError::field(
                "tariff",
                "give the OCPI tariff (tariff) or a stored tariff's id (tariff_id)",
            ));
        }
        (Some(_), Some(_)) => {
            return Err(ApiError::field(
                "tariff_id",
                "give tariff or tariff_id, not both",
            ));
        }
    };
    if !body.cdr.is_object() {
        return Err(ApiError::field("cdr", "must be an OCPI CDR object"));
    }
    // Counted here too, before the CDR travels on; pricing checks every other limit of a CDR.
    if let Some(periods) = body.cdr["charging_periods"].as_array() {
        limits::check_count(
            "cdr.charging_periods",
            periods.len(),
            limits::MAX_CDR_CHARGING_PERIODS,
        )
        .map_err(|e| ApiError::field(e.field, e.reason))?;
    }
    let priced = state
        .pricing()
        .price_cdr(v1::PriceCdrRequest {
            tenant_id: caller.tenant.to_string(),
            tariff_id,
            tariff_json,
            cdr_json: body.cdr.to_string(),
            time_zone: body.time_zone,
        })
        .await
        .answer(SERVICE)?;
    breakdown_view(priced).map(Json)
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct AdjustmentView {
    pub adjustment_id: String,
    pub rerating_id: String,
    pub reason: String,
    pub tariff_version: u32,
    pub delta_excl_vat: String,
    pub delta_incl_vat: String,
    pub total_excl_vat: String,
    pub total_incl_vat: String,
    #[serde(serialize_with = "crate::time::rfc3339_opt")]
    pub adjusted_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct PricedSessionView {
    pub session_id: String,
    pub status: String,
    pub tariff_id: Option<String>,
    pub tariff_version: u32,
    pub tariff_source: Option<String>,
    pub currency: Option<String>,
    /// The current total, after every adjustment.
    pub total_excl_vat: Option<String>,
    pub total_incl_vat: Option<String>,
    /// The first price with its full breakdown.
    pub priced: Option<BreakdownView>,
    pub adjustments: Vec<AdjustmentView>,
    /// Why the session could not be priced, when it could not.
    pub reason: Option<String>,
}

pub async fn priced_session(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<PricedSessionView>, ApiError> {
    let session_id: SessionId = path_id(&id, "session")?;
    let v = state
        .pricing()
        .get_priced_session(v1::GetPricedSessionRequest {
            tenant_id: caller.tenant.to_string(),
            session_id: session_id.to_string(),
        })
        .await
        .answer(SERVICE)?;
    let some = |s: String| Some(s).filter(|s| !s.is_empty());
    Ok(Json(PricedSessionView {
        session_id: v.session_id,
        status: v.status,
        tariff_id: some(v.tariff_id),
        tariff_version: v.tariff_version,
        tariff_source: some(v.tariff_source),
        currency: some(v.currency),
        total_excl_vat: some(v.total_excl_vat),
        total_incl_vat: some(v.total_incl_vat),
        priced: v.priced.map(breakdown_view).transpose()?,
        adjustments: v
            .adjustments
            .into_iter()
            .map(|a| AdjustmentView {
                adjusted_at: joule_proto::time::from_proto(a.adjusted_at.as_ref()),
                adjustment_id: a.adjustment_id,
                rerating_id: a.rerating_id,
                reason: a.reason,
                tariff_version: a.tariff_version,
                delta_excl_vat: a.delta_excl_vat,
                delta_incl_vat: a.delta_incl_vat,
                total_excl_vat: a.total_excl_vat,
                total_incl_vat: a.total_incl_vat,
            })
            .collect(),
        reason: some(v.reason),
    }))
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RerateBody {
    /// Re-price every session this tariff priced (that started in `[from, until)`)...
    pub tariff_id: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    /// ...or these sessions.
    #[serde(default)]
    pub session_ids: Vec<String>,
    /// A meter correction of the one session in `session_ids`, in Wh.
    pub corrected_energy_wh: Option<Decimal>,
    pub reason: String,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct RerateView {
    pub rerating_id: String,
    pub sessions_examined: u64,
    pub sessions_adjusted: u64,
    pub sessions_failed: u64,
}

pub async fn rerate(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(body): ApiJson<RerateBody>,
) -> Result<Json<RerateView>, ApiError> {
    let mut v = Validator::default();
    match (&body.tariff_id, body.session_ids.is_empty()) {
        (None, true) => v.reject("tariff_id", "name a tariff or session_ids to re-rate"),
        (Some(_), false) => v.reject(
            "session_ids",
            "give either tariff_id or session_ids, not both",
        ),
        _ => {}
    }
    if body.reason.trim().is_empty() {
        v.reject("reason", "must say why the sessions are re-rated");
    }
    if let Some(t) = &body.tariff_id {
        v.check("tariff_id", t.parse::<TariffId>());
    }
    if let Err(e) = limits::check_count(
        "session_ids",
        body.session_ids.len(),
        limits::MAX_RERATE_SESSIONS,
    ) {
        v.reject(&e.field, e.reason);
    } else {
        for (i, s) in body.session_ids.iter().enumerate() {
            v.check(&format!("session_ids[{i}]"), s.parse::<SessionId>());
        }
    }
    if let Some(wh) = body.corrected_energy_wh {
        v.check(
            "corrected_energy_wh",
            limits::check_energy_wh("corrected_energy_wh", wh).map_err(|e| e.reason),
        );
    }
    v.finish()?;
    let run = state
        .pricing()
        .rerate(v1::RerateRequest {
            tenant_id: caller.tenant.to_string(),
            tariff_id: body.tariff_id.unwrap_or_default(),
            from: body.from.map(ts),
            until: body.until.map(ts),
            session_ids: body.session_ids,
            corrected_energy_wh: body
                .corrected_energy_wh
                .map(|d| d.to_string())
                .unwrap_or_default(),
            reason: body.reason,
        })
        .await
        .answer(SERVICE)?;
    Ok(Json(RerateView {
        rerating_id: run.rerating_id,
        sessions_examined: run.sessions_examined,
        sessions_adjusted: run.sessions_adjusted,
        sessions_failed: run.sessions_failed,
    }))
}
