//! `/v1/chargers/{id}/commands/{command}`: commands to a connected charger, through the gateway's
//! `joule.v1.ChargerCommands` (any gateway replica; it routes to the one holding the connection).
//! `/v1/chargers/{id}/credentials`: the charger's OCPP password (security profiles 1 and 2).
//!
//! Each command has its own JSON body (below); the answer is the charger's: `status` and the whole
//! OCPP response. A charger that is not connected is a 409, one that does not answer in time a 504.

use axum::extract::{Path, State};
use axum::response::NoContent;
use axum::{Extension, Json};

use super::table::RouteTable;
use crate::access::Scope;
use chrono::{DateTime, SubsecRound, Utc};
use joule_proto::v1::charger_command_request::Command;
use joule_proto::v1::{self, ChargerCommandRequest};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Answer, AppState, path_id};
use crate::auth::Caller;
use crate::domain::charger::ChargerCommand;
use crate::extract::{RawBody, parse_json};
use crate::problem::ApiError;
use crate::projections::read::{self, ChargerView};

pub fn routes(t: RouteTable) -> RouteTable {
    t.post(
        "/v1/chargers/{id}/commands/{command}",
        Scope::ChargersCommand,
        send_command,
    )
    .put(
        "/v1/chargers/{id}/credentials",
        Scope::ChargersWrite,
        set_credentials,
    )
}

/// The hash of a new charger password, once it proved strong enough for `charge_point_id`; the
/// password itself goes no further than this function. Hashing is deliberately slow: it runs on the
/// blocking pool.
pub async fn hash(password: String, charge_point_id: String) -> Result<String, String> {
    tokio::task::spawn_blocking(move || {
        use joule_gateway::edge::credentials::{check_strength, hash_password};
        check_strength(&password, &charge_point_id).and_then(|()| hash_password(&password))
    })
    .await
    .map_err(|e| format!("cannot hash the password: {e}"))?
    .map_err(|e| e.to_string())
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RemoteStartBody {
    id_token: String,
    #[serde(default)]
    connector_id: u32,
    #[serde(default)]
    remote_start_id: Option<i32>,
    #[serde(default)]
    id_token_type: String,
    #[serde(default)]
    charging_profile: Option<serde_json::Map<String, serde_json::Value>>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RemoteStopBody {
    transaction_id: String,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct ReserveNowBody {
    reservation_id: i32,
    #[serde(default)]
    connector_id: u32,
    id_token: String,
    expires_at: DateTime<Utc>,
    #[serde(default)]
    id_token_type: String,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct CancelReservationBody {
    reservation_id: i32,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct ChangeAvailabilityBody {
    #[serde(default)]
    connector_id: u32,
    operative: bool,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct TriggerMessageBody {
    requested_message: String,
    #[serde(default)]
    connector_id: u32,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct SetChargingProfileBody {
    #[serde(default)]
    connector_id: u32,
    charging_profile: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct CostUpdateBody {
    transaction_id: String,
    /// A decimal string, incl. VAT.
    total_cost: rust_decimal::Decimal,
    #[serde(default, rename = "final")]
    is_final: bool,
    #[serde(default)]
    price_text: String,
    #[serde(default)]
    meter_value_wh: Option<rust_decimal::Decimal>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct DataTransferBody {
    vendor_id: String,
    #[serde(default)]
    message_id: String,
    #[serde(default)]
    data: String,
}

/// The names of the commands, as in the path.
pub const COMMANDS: [&str; 9] = [
    "remote_start",
    "remote_stop",
    "reserve_now",
    "cancel_reservation",
    "change_availability",
    "trigger_message",
    "set_charging_profile",
    "cost_update",
    "data_transfer",
];

fn body<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // An empty body reads as an empty object, so commands without required fields need none.
    let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        bytes
    };
    parse_json(bytes)
}

fn command(name: &str, bytes: &[u8]) -> Result<Command, ApiError> {
    Ok(match name {
        "remote_start" => {
            let b: RemoteStartBody = body(bytes)?;
            Command::RemoteStart(v1::RemoteStart {
                id_token: b.id_token,
                connector_id: b.connector_id,
                remote_start_id: b.remote_start_id,
                id_token_type: b.id_token_type,
                charging_profile_json: b
                    .charging_profile
                    .map(|p| serde_json::Value::Object(p).to_string())
                    .unwrap_or_default(),
            })
        }
        "remote_stop" => {
            let b: RemoteStopBody = body(bytes)?;
            Command::RemoteStop(v1::RemoteStop {
                transaction_id: b.transaction_id,
            })
        }
        "reserve_now" => {
            let b: ReserveNowBody = body(bytes)?;
            Command::ReserveNow(v1::ReserveNow {
                reservation_id: b.reservation_id,
                connector_id: b.connector_id,
                id_token: b.id_token,
                expires_at: Some(joule_proto::time::to_proto(b.expires_at)),
                id_token_type: b.id_token_type,
            })
        }
        "cancel_reservation" => {
            let b: CancelReservationBody = body(bytes)?;
            Command::CancelReservation(v1::CancelReservation {
                reservation_id: b.reservation_id,
            })
        }
        "change_availability" => {
            let b: ChangeAvailabilityBody = body(bytes)?;
            Command::ChangeAvailability(v1::ChangeAvailability {
                connector_id: b.connector_id,
                operative: b.operative,
            })
        }
        "trigger_message" => {
            let b: TriggerMessageBody = body(bytes)?;
            Command::TriggerMessage(v1::TriggerMessage {
                requested_message: b.requested_message,
                connector_id: b.connector_id,
            })
        }
        "set_charging_profile" => {
            let b: SetChargingProfileBody = body(bytes)?;
            Command::SetChargingProfile(v1::SetChargingProfile {
                connector_id: b.connector_id,
                charging_profile_json: serde_json::Value::Object(b.charging_profile).to_string(),
            })
        }
        "cost_update" => {
            let b: CostUpdateBody = body(bytes)?;
            Command::CostUpdate(v1::CostUpdate {
                transaction_id: b.transaction_id,
                total_cost: b.total_cost.to_string(),
                r#final: b.is_final,
                price_text: b.price_text,
                meter_value_wh: b.meter_value_wh.map(|d| d.to_string()).unwrap_or_default(),
            })
        }
        "data_transfer" => {
            let b: DataTransferBody = body(bytes)?;
            Command::DataTransfer(v1::DataTransfer {
                vendor_id: b.vendor_id,
                message_id: b.message_id,
                data: b.data,
            })
        }
        other => {
            return Err(ApiError::NotFound(format!(
                "no command {other:?}; commands are {}",
                COMMANDS.join(", ")
            )));
        }
    })
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct CommandAnswer {
    pub charger_id: Uuid,
    pub charge_point_id: String,
    pub ocpp_version: String,
    pub action: String,
    pub status: Option<String>,
    /// The charger's whole answer, as OCPP JSON.
    pub response: serde_json::Value,
}

async fn send_command(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((id, name)): Path<(String, String)>,
    RawBody(bytes): RawBody,
) -> Result<Json<CommandAnswer>, ApiError> {
    let charger_id: Uuid = path_id(&id, "charger")?;
    let charger: ChargerView = read::find(&state.pool, &caller.tenant, charger_id).await?;
    let command = command(&name, &bytes)?;
    let request = ChargerCommandRequest {
        tenant_id: caller.tenant.to_string(),
        charge_point_id: charger.charge_point_id.clone(),
        command: Some(command),
    };
    let result = state.gateway().execute(request).await.answer("gateway")?;
    let response =
        serde_json::from_str(&result.response_json).map_err(|e| ApiError::UpstreamContract {
            service: "gateway",
            reason: format!("response_json: {e}"),
        })?;
    Ok(Json(CommandAnswer {
        charger_id,
        charge_point_id: result.charge_point_id,
        ocpp_version: result.ocpp_version,
        action: result.action,
        status: Some(result.status).filter(|s| !s.is_empty()),
        response,
    }))
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct CredentialsBody {
    /// `null` removes the password (security profile 0).
    password: Option<String>,
}

async fn set_credentials(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    RawBody(bytes): RawBody,
) -> Result<NoContent, ApiError> {
    let charger_id: Uuid = path_id(&id, "charger")?;
    let body: CredentialsBody = parse_json(&bytes)?;
    let charger: ChargerView = read::find(&state.pool, &caller.tenant, charger_id).await?;
    let password_hash = match body.password {
        Some(password) => hash(password, charger.charge_point_id)
            .await
            .map_err(|e| ApiError::field("password", e))?,
        None => String::new(),
    };
    let command = ChargerCommand::SetPassword {
        password_hash,
        at: Utc::now().trunc_subsecs(6),
    };
    super::registry::execute(&state.registry.chargers, charger_id, command, &caller).await?;
    Ok(NoContent)
}
