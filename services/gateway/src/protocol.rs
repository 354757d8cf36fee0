//! The OCPP versions the gateway speaks, chosen per connection by WebSocket subprotocol.
//! Adding a version means a variant here and a module like [`crate::v16`].

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::error::CallFailure;
use crate::frame::Call;
use crate::registry::KnownCharger;
use crate::server::Gateway;
use crate::v16;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OcppVersion {
    V16,
}

impl OcppVersion {
    /// In order of preference when a charger offers several.
    pub const SUPPORTED: [OcppVersion; 1] = [OcppVersion::V16];

    pub fn subprotocol(self) -> &'static str {
        match self {
            OcppVersion::V16 => v16::SUBPROTOCOL,
        }
    }

    pub fn from_subprotocol(subprotocol: &str) -> Option<Self> {
        Self::SUPPORTED
            .into_iter()
            .find(|v| v.subprotocol() == subprotocol)
    }

    /// The version as charger events name it.
    pub fn label(self) -> &'static str {
        match self {
            OcppVersion::V16 => "1.6",
        }
    }

    /// Handles one CALL and returns the CALLRESULT payload.
    pub async fn handle(
        self,
        gateway: &Gateway,
        charger: &KnownCharger,
        call: &Call,
        received_at: DateTime<Utc>,
    ) -> Result<Value, CallFailure> {
        match self {
            OcppVersion::V16 => v16::handle(gateway, charger, call, received_at).await,
        }
    }
}
