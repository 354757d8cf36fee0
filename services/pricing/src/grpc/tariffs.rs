//! Tariffs: creating and reading them, their versions (published, corrected, listed), retiring
//! them, and where they apply (assignments and contracts).

use chrono::Utc;
use cqrs_es::AggregateError;
use joule_domain::TariffId;
use joule_proto::time::to_proto;
use joule_proto::v1;
use joule_store::Page;
use joule_tariff::Discount;

use super::status::Error;
use super::{PUBLISH_INSTEAD, TariffGrpc, timestamp};
use crate::domain::tariff::{Contract, Identity, Party, Scope, TariffCommand, TariffError};
use crate::projections::tariffs as stored;
use crate::wire;

pub(super) async fn create(
    server: &TariffGrpc,
    request: v1::CreateTariffRequest,
) -> Result<v1::Tariff, Error> {
    let tenant_id = server.tenant(&request.tenant_id)?;
    // Validated here as well as in the aggregate so that the caller gets every field-naming
    // message at once, without a round trip through the event store.
    let parsed = joule_tariff::Tariff::parse_all(&request.ocpi_json).map_err(|errors| {
        Error::InvalidArgument(
            errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; "),
        )
    })?;
    // One tariff per OCPI identity. A tariff created before identities were unique has a random id
    // and is found in the read table; any other has the id derived from its identity, so a second
    // creation, concurrent or not, meets the first in the aggregate.
    let identity = Identity::of(&tenant_id, &parsed);
    if let Some(existing) = stored::tariff_by_identity(&server.pool, &identity).await? {
        return Err(duplicate(server, &identity, &existing).await);
    }
    let id = identity.tariff_id();
    let command = TariffCommand::Create {
        ocpi_json: request.ocpi_json.clone(),
        created_at: Utc::now(),
    };
    match joule_store::execute(
        &server.cqrs,
        &id.to_string(),
        command,
        server.meta(tenant_id),
    )
    .await
    {
        Ok(()) => {}
        Err(AggregateError::UserError(TariffError::AlreadyExists)) => {
            return Err(duplicate(server, &identity, &id.to_string()).await);
        }
        Err(e) => return Err(e.into()),
    }
    until_listed(server, &id, false).await?;
    let stored = stored::tariff(&server.pool, &id.to_string())
        .await?
        .ok_or_else(|| Error::Internal("the created tariff was not stored".into()))?;
    tracing::info!(tariff_id = %id, ocpi_id = %parsed.id, "tariff created");
    Ok(wire::tariff(stored, None))
}

/// Waits until the relay projected tariff `id` into the read table (with `retired`: its retirement
/// too), so that a list right after a creation or retirement shows it. The relay projects right
/// after the commit; if it lags longer (NATS down holds its batches back), the command has still
/// happened and is answered as done, with a warning logged: lists catch up with the relay.
async fn until_listed(server: &TariffGrpc, id: &TariffId, retired: bool) -> Result<(), Error> {
    const WAIT: std::time::Duration = std::time::Duration::from_millis(20);
    for _ in 0..250 {
        if stored::listed(&server.pool, &id.to_string(), retired).await? {
            return Ok(());
        }
        tokio::time::sleep(WAIT).await;
    }
    tracing::warn!(tariff_id = %id, retired, "the relay has not projected the tariff after 5 s: lists show it once it has");
    Ok(())
}

/// A page of the tenant's tariffs, oldest first.
pub(super) async fn list(
    server: &TariffGrpc,
    r: v1::ListTariffsRequest,
) -> Result<v1::ListTariffsResponse, Error> {
    let tenant_id = server.tenant(&r.tenant_id)?;
    let page = Page::requested(&r.cursor, r.page_size).map_err(|e| Error::field("cursor", e))?;
    let created = stored::Created {
        after: timestamp(r.created_after.as_ref(), "created_after")?,
        before: timestamp(r.created_before.as_ref(), "created_before")?,
    };
    let (tariffs, next) = stored::list(&server.pool, &tenant_id, created, page).await?;
    Ok(v1::ListTariffsResponse {
        tariffs: tariffs
            .into_iter()
            .map(|t| wire::tariff(t.tariff, t.retired_at))
            .collect(),
        next_cursor: Page::next_cursor(next),
    })
}

/// ALREADY_EXISTS for a second tariff with `identity`, naming the existing one (also in the
/// `joule-existing-tariff-id` metadata, for callers that link to it).
async fn duplicate(server: &TariffGrpc, identity: &Identity, existing: &str) -> Error {
    let then = match stored::retired_at(&server.pool, existing).await {
        Ok(Some(at)) => format!(
            ", retired at {}; a retired tariff takes no new versions: give the new one another OCPI id",
            at.to_rfc3339()
        ),
        Ok(None) => format!("; {PUBLISH_INSTEAD}"),
        Err(e) => return e.into(),
    };
    Error::Duplicate {
        message: format!(
            "a tariff with OCPI identity {identity} (country_code, party_id, id) already exists: {existing}{then}"
        ),
        existing: existing.to_owned(),
    }
}

pub(super) async fn get(
    server: &TariffGrpc,
    request: v1::GetTariffRequest,
) -> Result<v1::Tariff, Error> {
    let tenant_id = server.tenant(&request.tenant_id)?;
    let (id, stored) = server.owned(&tenant_id, &request.tariff_id).await?;
    let retired_at = stored::retired_at(&server.pool, &id.to_string()).await?;
    Ok(wire::tariff(stored, retired_at))
}

pub(super) async fn publish_version(
    server: &TariffGrpc,
    r: v1::PublishTariffVersionRequest,
) -> Result<v1::TariffVersion, Error> {
    let tenant = server.tenant(&r.tenant_id)?;
    let (id, _) = server.owned(&tenant, &r.tariff_id).await?;
    let valid_from = timestamp(r.valid_from.as_ref(), "valid_from")?
        .ok_or_else(|| Error::field("valid_from", "is required"))?;
    let command = TariffCommand::PublishVersion {
        ocpi_json: r.ocpi_json,
        valid_from,
        published_at: Utc::now(),
    };
    server.command(id, command, tenant).await?;
    // Versions start strictly after each other, so valid_from names the new one.
    for _ in 0..100 {
        let versions = stored::versions(&server.pool, &id.to_string()).await?;
        if let Some(v) = versions.iter().find(|v| v.valid_from == Some(valid_from)) {
            return Ok(wire::tariff_version(&id.to_string(), v));
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    version_after(server, id, None).await
}

pub(super) async fn correct_version(
    server: &TariffGrpc,
    r: v1::CorrectTariffVersionRequest,
) -> Result<v1::TariffVersion, Error> {
    let tenant = server.tenant(&r.tenant_id)?;
    let (id, _) = server.owned(&tenant, &r.tariff_id).await?;
    let command = TariffCommand::CorrectVersion {
        version: r.version,
        ocpi_json: r.ocpi_json,
        reason: r.reason,
        corrected_at: Utc::now(),
    };
    server.command(id, command, tenant).await?;
    version_after(server, id, Some(r.version)).await
}

/// The version once the command's event is projected (the relay runs right after the commit):
/// version `version` corrected, or the latest.
async fn version_after(
    server: &TariffGrpc,
    id: TariffId,
    version: Option<u32>,
) -> Result<v1::TariffVersion, Error> {
    for _ in 0..50 {
        let versions = stored::versions(&server.pool, &id.to_string()).await?;
        let found = match version {
            Some(n) => versions
                .iter()
                .find(|v| v.version == n && v.corrected_at.is_some()),
            None => versions.last(),
        };
        if let Some(v) = found {
            return Ok(wire::tariff_version(&id.to_string(), v));
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    Err(Error::Unavailable(
        "the version is recorded but not readable yet",
    ))
}

pub(super) async fn list_versions(
    server: &TariffGrpc,
    r: v1::ListTariffVersionsRequest,
) -> Result<v1::ListTariffVersionsResponse, Error> {
    let tenant = server.tenant(&r.tenant_id)?;
    let (id, _) = server.owned(&tenant, &r.tariff_id).await?;
    let versions = stored::versions(&server.pool, &id.to_string()).await?;
    let retired_at = stored::retired_at(&server.pool, &id.to_string()).await?;
    Ok(v1::ListTariffVersionsResponse {
        versions: versions
            .iter()
            .map(|v| wire::tariff_version(&id.to_string(), v))
            .collect(),
        retired: retired_at.is_some(),
        retired_at: retired_at.map(to_proto),
    })
}

pub(super) async fn retire(
    server: &TariffGrpc,
    r: v1::RetireTariffRequest,
) -> Result<v1::Acknowledged, Error> {
    let tenant = server.tenant(&r.tenant_id)?;
    let (id, _) = server.owned(&tenant, &r.tariff_id).await?;
    let command = TariffCommand::Retire {
        retired_at: Utc::now(),
    };
    server.command(id, command, tenant).await?;
    until_listed(server, &id, true).await?;
    Ok(v1::Acknowledged { id: id.to_string() })
}

pub(super) async fn assign(
    server: &TariffGrpc,
    r: v1::AssignTariffRequest,
) -> Result<v1::Acknowledged, Error> {
    let tenant = server.tenant(&r.tenant_id)?;
    let (id, _) = server.owned(&tenant, &r.tariff_id).await?;
    let scope_id = r.scope_id.trim().to_owned();
    if scope_id.is_empty() {
        return Err(Error::field("scope_id", "is required"));
    }
    let scope = match r.scope.as_str() {
        "site" => Scope::Site { site_id: scope_id },
        "charger" => Scope::Charger {
            charger_id: scope_id,
        },
        "connector" if r.connector_id > 0 => Scope::Connector {
            charger_id: scope_id,
            connector_id: r.connector_id,
        },
        "connector" => {
            return Err(Error::field(
                "connector_id",
                "a connector assignment needs a connector id from 1",
            ));
        }
        other => {
            return Err(Error::field(
                "scope",
                format!("must be site, charger or connector, not {other:?}"),
            ));
        }
    };
    let command = TariffCommand::Assign {
        scope,
        assigned_at: Utc::now(),
    };
    server.command(id, command, tenant).await?;
    Ok(v1::Acknowledged { id: id.to_string() })
}

pub(super) async fn set_contract(
    server: &TariffGrpc,
    r: v1::SetContractRequest,
) -> Result<v1::Acknowledged, Error> {
    let tenant = server.tenant(&r.tenant_id)?;
    let (id, _) = server.owned(&tenant, &r.tariff_id).await?;
    let party = match r.party_type.as_str() {
        "account" => Party::Account {
            account_id: r.party_id,
        },
        "fleet" => Party::Fleet {
            fleet_id: r.party_id,
            account_ids: r.account_ids,
        },
        other => {
            return Err(Error::field(
                "party_type",
                format!("must be account or fleet, not {other:?}"),
            ));
        }
    };
    let discounts: Vec<Discount> = if r.discounts_json.trim().is_empty() {
        vec![]
    } else {
        serde_json::from_str(&r.discounts_json).map_err(|e| Error::field("discounts", e))?
    };
    let command = TariffCommand::Contract(Contract {
        party,
        discounts,
        valid_from: timestamp(r.valid_from.as_ref(), "valid_from")?,
        valid_until: timestamp(r.valid_until.as_ref(), "valid_until")?,
        contracted_at: Utc::now(),
    });
    server.command(id, command, tenant).await?;
    Ok(v1::Acknowledged { id: id.to_string() })
}
