//! The OCPP versions the gateway speaks, chosen per connection by WebSocket subprotocol.
//! Adding a version means a variant here and a module like [`crate::ocpp::v16`].

use serde_json::Value;

use crate::ocpp::context::Cx;
use crate::ocpp::error::CallFailure;
use crate::ocpp::frame::{Call, ErrorCode};
use crate::ocpp::{v16, v201};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OcppVersion {
    V16,
    V201,
}

impl OcppVersion {
    /// In order of preference when a charger offers several: the newer protocol says more
    /// (seqNo, offline flag, signed meter values).
    pub const SUPPORTED: [OcppVersion; 2] = [OcppVersion::V201, OcppVersion::V16];

    pub fn subprotocol(self) -> &'static str {
        match self {
            OcppVersion::V16 => v16::SUBPROTOCOL,
            OcppVersion::V201 => v201::SUBPROTOCOL,
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
            OcppVersion::V201 => "2.0.1",
        }
    }

    /// A CALLERROR code as this version spells it (2.0.1 renamed two of them).
    pub fn error_code(self, code: ErrorCode) -> &'static str {
        match (self, code) {
            (OcppVersion::V201, ErrorCode::FormationViolation) => "FormatViolation",
            (OcppVersion::V201, ErrorCode::OccurenceConstraintViolation) => {
                "OccurrenceConstraintViolation"
            }
            _ => code.as_str(),
        }
    }

    /// Handles one CALL and returns the CALLRESULT payload.
    pub async fn handle(self, cx: &Cx<'_>, call: &Call) -> Result<Value, CallFailure> {
        match self {
            OcppVersion::V16 => v16::handle(cx, call).await,
            OcppVersion::V201 => v201::handle(cx, call).await,
        }
    }
}
