//! What a tariff is asked to do.

use chrono::{DateTime, Utc};

use super::events::{Contract, Scope};

#[derive(Debug, Clone, PartialEq)]
pub enum TariffCommand {
    Create {
        ocpi_json: String,
        created_at: DateTime<Utc>,
    },
    PublishVersion {
        ocpi_json: String,
        valid_from: DateTime<Utc>,
        published_at: DateTime<Utc>,
    },
    CorrectVersion {
        version: u32,
        ocpi_json: String,
        reason: String,
        corrected_at: DateTime<Utc>,
    },
    Assign {
        scope: Scope,
        assigned_at: DateTime<Utc>,
    },
    Contract(Contract),
    Retire {
        retired_at: DateTime<Utc>,
    },
}
