//! `/v1/tariffs`: OCPI 2.2.1 Tariff objects, kept by the pricing service. Versions, assignments,
//! contracts and quotes are in `routes::pricing`.

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use joule_domain::TariffId;
use joule_proto::v1::{self, CreateTariffRequest, GetTariffRequest};
use serde::Serialize;

use super::{AppState, path_id};
use crate::auth::Caller;
use crate::extract::JsonObjectText;
use crate::problem::ApiError;

#[derive(Debug, PartialEq, Serialize)]
pub struct TariffView {
    pub id: String,
    pub currency: String,
    /// The OCPI Tariff object as pricing stored it.
    pub tariff: serde_json::Value,
}

pub fn tariff_view(tariff: v1::Tariff) -> Result<TariffView, ApiError> {
    let ocpi = serde_json::from_str(&tariff.ocpi_json).map_err(|e| ApiError::UpstreamContract {
        service: "pricing",
        reason: format!("tariff {} has an unreadable ocpi_json: {e}", tariff.id),
    })?;
    Ok(TariffView {
        id: tariff.id,
        currency: tariff.currency,
        tariff: ocpi,
    })
}

pub async fn create_tariff(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    JsonObjectText(ocpi_json): JsonObjectText,
) -> Result<Response, ApiError> {
    let request = CreateTariffRequest {
        tenant_id: caller.tenant.to_string(),
        ocpi_json,
    };
    let tariff = state
        .upstream
        .tariffs
        .clone()
        .create_tariff(request)
        .await
        .map_err(ApiError::upstream("pricing"))?;
    let view = tariff_view(tariff.into_inner())?;
    let location = format!("/v1/tariffs/{}", view.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(view),
    )
        .into_response())
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
        .upstream
        .tariffs
        .clone()
        .get_tariff(request)
        .await
        .map_err(ApiError::upstream("pricing"))?;
    tariff_view(tariff.into_inner()).map(Json)
}

/// `DELETE /v1/tariffs/{id}`: retires the tariff. Priced sessions keep their price; the tariff takes
/// no new versions, assignments or contracts, and its assignments and contracts stop applying.
pub async fn retire_tariff(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let tariff_id: TariffId = path_id(&id, "tariff")?;
    state
        .upstream
        .tariffs
        .clone()
        .retire_tariff(v1::RetireTariffRequest {
            tenant_id: caller.tenant.to_string(),
            tariff_id: tariff_id.to_string(),
        })
        .await
        .map_err(ApiError::upstream("pricing"))?;
    Ok(StatusCode::NO_CONTENT)
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
        })
        .unwrap();
        assert_eq!(
            serde_json::to_value(&view).unwrap(),
            serde_json::json!({"id": "t1", "currency": "EUR", "tariff": {"currency": "EUR", "elements": []}})
        );
    }

    #[test]
    fn unreadable_ocpi_json_is_an_upstream_failure() {
        let e = tariff_view(v1::Tariff {
            id: "t1".into(),
            currency: "EUR".into(),
            ocpi_json: "{".into(),
        });
        assert!(matches!(e, Err(ApiError::UpstreamContract { .. })));
    }
}
