//! `/v1/tariffs`: OCPI 2.2.1 Tariff objects, kept by the pricing service. Versions, assignments,
//! contracts and quotes are in `routes::pricing`.

use crate::reply::Created;
use axum::extract::{Path, State};
use axum::response::NoContent;
use axum::{Extension, Json};
use chrono::{DateTime, Utc};
use joule_domain::TariffId;
use joule_proto::v1::{self, CreateTariffRequest, GetTariffRequest};
use serde::Serialize;

use super::{Answer, AppState, listed, path_id};
use crate::auth::Caller;
use crate::extract::{JsonObjectText, Listed, RawQuery};
use crate::problem::{ApiError, Validator};

/// The gRPC metadata in which pricing names the tariff that has an OCPI identity already
/// (`joule_pricing::grpc::EXISTING_TARIFF`; the API does not link the pricing crate).
const EXISTING_TARIFF: &str = "joule-existing-tariff-id";
/// How pricing's ALREADY_EXISTS message ends for a tariff in use (`joule_pricing::grpc::PUBLISH_INSTEAD`).
const PUBLISH_INSTEAD: &str = "publish a new version of it instead";

#[derive(Debug, PartialEq, Serialize, schemars::JsonSchema)]
pub struct TariffView {
    pub id: String,
    pub currency: String,
    /// Retired tariffs (`DELETE /v1/tariffs/{id}`) price no new sessions.
    pub retired: bool,
    #[serde(serialize_with = "crate::time::rfc3339_opt")]
    pub retired_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "crate::time::rfc3339_opt")]
    pub created_at: Option<DateTime<Utc>>,
    /// The OCPI Tariff object as pricing stored it.
    pub tariff: serde_json::Value,
}

pub fn tariff_view(tariff: v1::Tariff) -> Result<TariffView, ApiError> {
    let ocpi = serde_json::from_str(&tariff.ocpi_json).map_err(|e| ApiError::UpstreamContract {
        service: "pricing",
        reason: format!("tariff {} has an unreadable ocpi_json: {e}", tariff.id),
    })?;
    let retired_at = joule_proto::time::from_proto(tariff.retired_at.as_ref());
    if tariff.retired && retired_at.is_none() {
        return Err(ApiError::UpstreamContract {
            service: "pricing",
            reason: format!("tariff {} is retired with no retired_at", tariff.id),
        });
    }
    Ok(TariffView {
        id: tariff.id,
        currency: tariff.currency,
        retired: tariff.retired,
        retired_at: retired_at.filter(|_| tariff.retired),
        created_at: joule_proto::time::from_proto(tariff.created_at.as_ref()),
        tariff: ocpi,
    })
}

/// Checks an OCPI tariff body with the rules pricing applies (`joule_tariff`), recording every bad
/// field by its path in the body (`elements[0].price_components[0].vat`).
pub fn check_ocpi(ocpi_json: &str, v: &mut Validator) {
    if let Err(errors) = joule_tariff::Tariff::parse_all(ocpi_json) {
        for e in errors {
            match e {
                joule_tariff::TariffError::Invalid { path, message } => v.reject(&path, message),
                joule_tariff::TariffError::Json(message) => v.reject("body", message),
            }
        }
    }
}

pub async fn create_tariff(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    JsonObjectText(ocpi_json): JsonObjectText,
) -> Result<Created<TariffView>, ApiError> {
    let mut v = Validator::default();
    check_ocpi(&ocpi_json, &mut v);
    v.finish()?;
    let request = CreateTariffRequest {
        tenant_id: caller.tenant.to_string(),
        ocpi_json,
    };
    let tariff = state
        .pricing()
        .create_tariff(request)
        .await
        .map_err(|status| match existing_tariff(&status) {
            Some(existing) => {
                let url = format!("/v1/tariffs/{existing}");
                // Pricing's advice in REST terms: a tariff in use takes a new version.
                let detail = match status.message().strip_suffix(PUBLISH_INSTEAD) {
                    Some(head) => format!(
                        "{head}publish a new version of it with POST {url}/versions instead"
                    ),
                    None => status.message().to_owned(),
                };
                ApiError::AlreadyExists {
                    // The OCPI identity: country_code, party_id and id.
                    field: "id",
                    detail,
                    existing: url,
                }
            }
            None => ApiError::upstream("pricing")(status),
        })?;
    let view = tariff_view(tariff.into_inner())?;
    let location = format!("/v1/tariffs/{}", view.id);
    Ok(Created::at(location, view))
}

/// The Joule id of the tariff an ALREADY_EXISTS from pricing names (a well-formed one only: it
/// becomes part of a URL).
fn existing_tariff(status: &tonic::Status) -> Option<TariffId> {
    if status.code() != tonic::Code::AlreadyExists {
        return None;
    }
    status
        .metadata()
        .get(EXISTING_TARIFF)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

pub async fn get_tariff(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<TariffView>, ApiError> {
    let tariff_id: TariffId = path_id(&id, "tariff")?;
    let request = GetTariffRequest {
        tenant_id: caller.tenant.to_string(),
        tariff_id: tariff_id.to_string(),
    };
    let tariff = state
        .pricing()
        .get_tariff(request)
        .await
        .answer("pricing")?;
    tariff_view(tariff).map(Json)
}

crate::query_params!(pub TariffQuery, list {
    "created_after": Time => "Created at or after this time.",
    "created_before": Time => "Created before this time.",
});

/// `GET /v1/tariffs`: the tenant's tariffs, oldest first (retired ones too, marked so), filtered by
/// `created_after` / `created_before`, a page at a time.
pub async fn list_tariffs(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    query: RawQuery<TariffQuery>,
) -> Result<Json<Listed<TariffView>>, ApiError> {
    let mut v = query.checked();
    let created_after = query.proto_time(&mut v, "created_after");
    let created_before = query.proto_time(&mut v, "created_before");
    v.finish()?;
    let page = query.page()?;
    let answer = state
        .pricing()
        .list_tariffs(v1::ListTariffsRequest {
            tenant_id: caller.tenant.to_string(),
            page_size: page.limit,
            cursor: page.cursor.unwrap_or_default(),
            created_after,
            created_before,
        })
        .await
        .answer("pricing")?;
    listed(answer.tariffs, answer.next_cursor, tariff_view).map(Json)
}

/// `DELETE /v1/tariffs/{id}`: retires the tariff. Priced sessions keep their price; the tariff takes
/// no new versions, assignments or contracts, and its assignments and contracts stop applying.
pub async fn retire_tariff(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<NoContent, ApiError> {
    let tariff_id: TariffId = path_id(&id, "tariff")?;
    state
        .pricing()
        .retire_tariff(v1::RetireTariffRequest {
            tenant_id: caller.tenant.to_string(),
            tariff_id: tariff_id.to_string(),
        })
        .await
        .answer("pricing")?;
    Ok(NoContent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embeds_the_ocpi_object() {
        let view = tariff_view(v1::Tariff {
            id: "t1".into(),
            currency: "EUR".into(),
            ocpi_json: r#"{"currency":"EUR","elements":[]}"#.into(),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(
            serde_json::to_value(&view).unwrap(),
            serde_json::json!({"id": "t1", "currency": "EUR", "retired": false, "retired_at": null, "created_at": null, "tariff": {"currency": "EUR", "elements": []}})
        );
        let retired_at = chrono::DateTime::parse_from_rfc3339("2026-06-01T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let view = tariff_view(v1::Tariff {
            id: "t1".into(),
            currency: "EUR".into(),
            ocpi_json: "{}".into(),
            retired: true,
            retired_at: Some(joule_proto::time::to_proto(retired_at)),
            created_at: None,
        })
        .unwrap();
        assert_eq!((view.retired, view.retired_at), (true, Some(retired_at)));
    }

    #[test]
    fn unreadable_ocpi_json_is_an_upstream_failure() {
        let e = tariff_view(v1::Tariff {
            id: "t1".into(),
            currency: "EUR".into(),
            ocpi_json: "{".into(),
            ..Default::default()
        });
        assert!(matches!(e, Err(ApiError::UpstreamContract { .. })));
    }
}
