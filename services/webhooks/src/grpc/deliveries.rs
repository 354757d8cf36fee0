//! The delivery RPCs: an endpoint's deliveries, and redelivering one.

use chrono::Utc;
use joule_proto::v1;
use joule_store::Page;

use super::WebhooksGrpc;
use super::status::Error;
use crate::deliveries::store;
use crate::wire;

pub(super) async fn list(
    server: &WebhooksGrpc,
    r: v1::ListWebhookDeliveriesRequest,
) -> Result<v1::ListWebhookDeliveriesResponse, Error> {
    let tenant = WebhooksGrpc::tenant(&r.tenant_id)?;
    let endpoint = WebhooksGrpc::id("endpoint_id", &r.endpoint_id)?;
    let page = Page::requested(&r.cursor, r.page_size).map_err(|e| Error::field("cursor", e))?;
    // The endpoint must be the tenant's: another tenant's is not found.
    crate::endpoints::store::get(&server.pool, &server.schema, tenant.as_str(), endpoint)
        .await?
        .ok_or(Error::NotFound("webhook endpoint"))?;
    let (rows, next) = store::list(&server.pool, &server.schema, endpoint, page).await?;
    Ok(v1::ListWebhookDeliveriesResponse {
        deliveries: rows.into_iter().map(wire::delivery).collect(),
        next_cursor: Page::next_cursor(next),
    })
}

pub(super) async fn redeliver(
    server: &WebhooksGrpc,
    r: v1::RedeliverWebhookRequest,
) -> Result<v1::WebhookDelivery, Error> {
    let tenant = WebhooksGrpc::tenant(&r.tenant_id)?;
    let id = WebhooksGrpc::id("delivery_id", &r.delivery_id)?;
    let delivery = store::redeliver(
        &server.pool,
        &server.schema,
        tenant.as_str(),
        id,
        Utc::now(),
    )
    .await?
    .ok_or(Error::NotFound("webhook delivery"))?;
    tracing::info!(delivery = %delivery.id, event = %delivery.event_id, "webhook redelivery queued");
    server.wake.notify_one();
    Ok(wire::delivery(delivery))
}
