//! The `methods` read table: an account's saved payment methods and which is the default.

use joule_proto::v1;
use joule_store::{ProjectionError, StoredEvent};
use sqlx::{PgConnection, PgPool, Row};
use uuid::Uuid;

use super::{Page, ts};
use crate::domain::methods::MethodsEvent;

pub(super) async fn project(
    conn: &mut PgConnection,
    schema: &str,
    stored: &StoredEvent,
) -> Result<(), ProjectionError> {
    let s = schema;
    match stored.read::<MethodsEvent>()? {
        MethodsEvent::PaymentMethodSaved {
            tenant_id,
            account_id,
            method,
            at,
        } => {
            sqlx::query(&format!(
                "INSERT INTO {s}.methods (id, tenant_id, account_id, provider, kind, brand, last4, exp_month,
                    exp_year, is_default, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, false, $10) ON CONFLICT (id) DO NOTHING"
            ))
            .bind(method.method_id.as_uuid())
            .bind(tenant_id.as_str())
            .bind(account_id.as_uuid())
            .bind(method.provider.as_str())
            .bind(method.provider.kind())
            .bind(&method.brand)
            .bind(&method.last4)
            .bind(method.exp_month as i32)
            .bind(method.exp_year as i32)
            .bind(at)
            .execute(&mut *conn)
            .await?;
        }
        MethodsEvent::DefaultMethodChanged {
            account_id,
            method_id,
            ..
        } => {
            sqlx::query(&format!(
                "UPDATE {s}.methods SET is_default = (id = $2) WHERE account_id = $1"
            ))
            .bind(account_id.as_uuid())
            .bind(method_id.as_uuid())
            .execute(&mut *conn)
            .await?;
        }
    }
    Ok(())
}

/// A page of the account's methods, oldest first, and the next page's cursor.
pub async fn methods(
    pool: &PgPool,
    schema: &str,
    tenant: &str,
    account: Uuid,
    page: Page,
) -> Result<(Vec<v1::PaymentMethod>, Option<i64>), sqlx::Error> {
    let rows = sqlx::query(&format!(
        "SELECT seq, id, account_id, provider, kind, brand, last4, exp_month, exp_year, is_default, created_at
         FROM {schema}.methods WHERE tenant_id = $1 AND account_id = $2 AND seq > $3
         ORDER BY seq LIMIT $4"
    ))
    .bind(tenant)
    .bind(account)
    .bind(page.after)
    .bind(page.fetch())
    .fetch_all(pool)
    .await?;
    let (rows, next) = page.cut(rows, |r| r.get("seq"));
    let methods = rows
        .iter()
        .map(|r| v1::PaymentMethod {
            id: r.get::<Uuid, _>("id").to_string(),
            account_id: r.get::<Uuid, _>("account_id").to_string(),
            provider: r.get("provider"),
            kind: r.get("kind"),
            brand: r.get("brand"),
            last4: r.get("last4"),
            exp_month: r.get::<i32, _>("exp_month") as u32,
            exp_year: r.get::<i32, _>("exp_year") as u32,
            is_default: r.get("is_default"),
            created_at: ts(r.get("created_at")),
        })
        .collect();
    Ok((methods, next))
}
