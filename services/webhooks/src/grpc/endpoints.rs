//! The endpoint RPCs: create, get, list, update, delete, rotate the secret.

use std::time::Duration;

use chrono::{TimeDelta, Utc};
use joule_proto::v1;
use joule_store::Page;

use super::WebhooksGrpc;
use super::status::Error;
use crate::endpoints::store::{self, Changes, NewEndpoint};
use crate::endpoints::{EndpointId, check_description, check_event_types, check_url};
use crate::{signing, wire};

pub(super) async fn create(
    server: &WebhooksGrpc,
    r: v1::CreateWebhookEndpointRequest,
) -> Result<v1::CreateWebhookEndpointResponse, Error> {
    let tenant = WebhooksGrpc::tenant(&r.tenant_id)?;
    let new = NewEndpoint {
        id: EndpointId::new(),
        tenant_id: tenant.to_string(),
        url: check_url(&r.url, &server.own_addrs)?,
        event_types: check_event_types(&r.event_types)?,
        description: check_description(&r.description)?,
        enabled: r.enabled.unwrap_or(true),
        secret: signing::new_secret(),
    };
    let endpoint = store::insert(&server.pool, &server.schema, &new, Utc::now()).await?;
    tracing::info!(endpoint = %endpoint.id, tenant = %endpoint.tenant_id, "webhook endpoint created");
    Ok(v1::CreateWebhookEndpointResponse {
        endpoint: Some(wire::endpoint(endpoint)),
        secret: new.secret,
    })
}

pub(super) async fn get(
    server: &WebhooksGrpc,
    r: v1::GetWebhookEndpointRequest,
) -> Result<v1::WebhookEndpoint, Error> {
    let tenant = WebhooksGrpc::tenant(&r.tenant_id)?;
    let id = WebhooksGrpc::id("id", &r.id)?;
    store::get(&server.pool, &server.schema, tenant.as_str(), id)
        .await?
        .map(wire::endpoint)
        .ok_or(Error::NotFound("webhook endpoint"))
}

pub(super) async fn list(
    server: &WebhooksGrpc,
    r: v1::ListWebhookEndpointsRequest,
) -> Result<v1::ListWebhookEndpointsResponse, Error> {
    let tenant = WebhooksGrpc::tenant(&r.tenant_id)?;
    let page = Page::requested(&r.cursor, r.page_size).map_err(|e| Error::field("cursor", e))?;
    let (rows, next) = store::list(&server.pool, &server.schema, tenant.as_str(), page).await?;
    Ok(v1::ListWebhookEndpointsResponse {
        endpoints: rows.into_iter().map(wire::endpoint).collect(),
        next_cursor: Page::next_cursor(next),
    })
}

pub(super) async fn update(
    server: &WebhooksGrpc,
    r: v1::UpdateWebhookEndpointRequest,
) -> Result<v1::WebhookEndpoint, Error> {
    let tenant = WebhooksGrpc::tenant(&r.tenant_id)?;
    let id = WebhooksGrpc::id("id", &r.id)?;
    let changes = Changes {
        url: r
            .url
            .as_deref()
            .map(|u| check_url(u, &server.own_addrs))
            .transpose()?,
        event_types: r
            .event_types
            .as_ref()
            .map(|t| check_event_types(&t.event_types))
            .transpose()?,
        description: r
            .description
            .as_deref()
            .map(check_description)
            .transpose()?,
        enabled: r.enabled,
    };
    let endpoint = store::update(
        &server.pool,
        &server.schema,
        tenant.as_str(),
        id,
        &changes,
        Utc::now(),
    )
    .await?
    .ok_or(Error::NotFound("webhook endpoint"))?;
    tracing::info!(endpoint = %endpoint.id, enabled = endpoint.enabled, "webhook endpoint updated");
    Ok(wire::endpoint(endpoint))
}

pub(super) async fn delete(
    server: &WebhooksGrpc,
    r: v1::DeleteWebhookEndpointRequest,
) -> Result<v1::DeleteWebhookEndpointResponse, Error> {
    let tenant = WebhooksGrpc::tenant(&r.tenant_id)?;
    let id = WebhooksGrpc::id("id", &r.id)?;
    if !store::delete(&server.pool, &server.schema, tenant.as_str(), id).await? {
        return Err(Error::NotFound("webhook endpoint"));
    }
    tracing::info!(endpoint = %id, tenant = %tenant, "webhook endpoint deleted");
    Ok(v1::DeleteWebhookEndpointResponse {})
}

pub(super) async fn rotate(
    server: &WebhooksGrpc,
    r: v1::RotateWebhookSecretRequest,
) -> Result<v1::RotateWebhookSecretResponse, Error> {
    let tenant = WebhooksGrpc::tenant(&r.tenant_id)?;
    let id = WebhooksGrpc::id("id", &r.id)?;
    let overlap = match r.overlap_secs {
        None => server.secret_overlap,
        Some(secs) if Duration::from_secs(u64::from(secs)) <= server.secret_overlap => {
            Duration::from_secs(u64::from(secs))
        }
        Some(_) => {
            return Err(Error::field(
                "overlap_secs",
                format!("is longer than {} seconds", server.secret_overlap.as_secs()),
            ));
        }
    };
    let now = Utc::now();
    let previous_until = TimeDelta::from_std(overlap)
        .ok()
        .and_then(|d| now.checked_add_signed(d));
    let secret = signing::new_secret();
    let endpoint = store::rotate(
        &server.pool,
        &server.schema,
        tenant.as_str(),
        id,
        &secret,
        previous_until,
        now,
    )
    .await?
    .ok_or(Error::NotFound("webhook endpoint"))?;
    tracing::info!(endpoint = %endpoint.id, overlap_secs = overlap.as_secs(), "webhook secret rotated");
    Ok(v1::RotateWebhookSecretResponse {
        endpoint: Some(wire::endpoint(endpoint)),
        secret,
    })
}
