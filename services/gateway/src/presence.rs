//! Which replica holds which charger's connection.
//!
//! Each replica has a random id for its lifetime. The connection table ([`Live`]) of a replica is in
//! its memory; who holds a charger is in the database (`gateway.presence`), so any replica can route
//! a command: it sends a core NATS request to `<ns>.gateway.<replica_id>.command`, which only the
//! holder subscribes to ([`Replica`]). A charger that connects again (to any replica) takes over: the
//! previous holder is told on `<ns>.gateway.<replica_id>.kick` and closes its stale connection.
//! One subscription per replica, not per charger, keeps a replica with 100k chargers cheap.
//!
//! A charger is its tenant and charge point id ([`ChargePointKey`], ADR 032): the same charge point
//! id in two tenants is two chargers, each with its own connection, presence row and commands.
//!
//! A take-over never lowers the security profile (ADR 026): a connection admitted at a lower
//! profile than the charger's open one is refused and the open one kept, on this replica by
//! [`Live::register`], across replicas by [`claim`], which asks the holder
//! (`<ns>.gateway.<replica_id>.holds`) whether its connection is still open before it refuses.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::Utc;
use futures::StreamExt;
use joule_bus::Bus;
use joule_domain::{ChargePointId, TenantId};
use joule_proto::Message;
use joule_proto::v1::{
    ChargerCommandFailure, ChargerCommandReply, ChargerCommandRequest, charger_command_reply,
};
use sqlx::PgPool;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::commands::FAILURE_DISCONNECTED;
use crate::projections::registry::ChargePointKey;

/// A command for one connection, with where to send the answer.
#[derive(Debug)]
pub struct CommandJob {
    pub request: ChargerCommandRequest,
    pub reply: Option<async_nats::Subject>,
}

/// Commands a connection may have queued before more are refused.
pub const COMMAND_QUEUE: usize = 4;

struct LiveConnection {
    conn_id: u64,
    security_profile: u8,
    commands: mpsc::Sender<Box<CommandJob>>,
    kick: CancellationToken,
}

/// A newcomer refused because the charger's open connection has a higher security profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Downgrade {
    pub open_profile: u8,
}

/// This replica's open connections.
pub struct Live {
    pub replica_id: String,
    next_conn: AtomicU64,
    connections: Mutex<HashMap<ChargePointKey, LiveConnection>>,
}

impl Default for Live {
    fn default() -> Self {
        Self {
            replica_id: uuid::Uuid::new_v4().simple().to_string(),
            next_conn: AtomicU64::new(1),
            connections: Mutex::new(HashMap::new()),
        }
    }
}

/// A registered connection: its id, its command queue and the token that closes it.
pub struct Registered {
    pub conn_id: u64,
    pub commands: mpsc::Receiver<Box<CommandJob>>,
    pub kicked: CancellationToken,
}

impl Live {
    /// Registers a new connection of `cp`, closing an older one of the same charger here, unless
    /// the older one was admitted at a higher security profile.
    pub fn register(
        &self,
        cp: &ChargePointKey,
        security_profile: u8,
    ) -> Result<Registered, Downgrade> {
        let mut connections = self.lock();
        if let Some(open) = connections.get(cp)
            && open.security_profile > security_profile
        {
            return Err(Downgrade {
                open_profile: open.security_profile,
            });
        }
        let conn_id = self.next_conn.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel(COMMAND_QUEUE);
        let kicked = CancellationToken::new();
        let previous = connections.insert(
            cp.clone(),
            LiveConnection {
                conn_id,
                security_profile,
                commands: tx,
                kick: kicked.clone(),
            },
        );
        drop(connections);
        if let Some(previous) = previous {
            previous.kick.cancel();
        }
        Ok(Registered {
            conn_id,
            commands: rx,
            kicked,
        })
    }

    /// The security profile of the charger's open connection here, if any.
    pub fn security_profile(&self, cp: &ChargePointKey) -> Option<u8> {
        self.lock().get(cp).map(|c| c.security_profile)
    }

    /// Whether `conn_id` is the charger's open connection here.
    pub fn holds(&self, cp: &ChargePointKey, conn_id: u64) -> bool {
        self.lock().get(cp).is_some_and(|c| c.conn_id == conn_id)
    }

    /// Removes the connection unless a newer one of the charger replaced it.
    pub fn unregister(&self, cp: &ChargePointKey, conn_id: u64) {
        let mut connections = self.lock();
        if connections.get(cp).is_some_and(|c| c.conn_id == conn_id) {
            connections.remove(cp);
        }
    }

    /// Closes the charger's connection if it is `conn_id` (or any, for `None`).
    pub fn kick(&self, cp: &ChargePointKey, conn_id: Option<u64>) {
        if let Some(c) = self.lock().get(cp)
            && conn_id.is_none_or(|id| id == c.conn_id)
        {
            c.kick.cancel();
        }
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn sender(&self, cp: &ChargePointKey) -> Option<mpsc::Sender<Box<CommandJob>>> {
        self.lock().get(cp).map(|c| c.commands.clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ChargePointKey, LiveConnection>> {
        // A panic while holding this lock cannot leave the map inconsistent (single operations).
        self.connections
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The replica holding a charger's connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub replica_id: String,
    pub conn_id: i64,
}

pub fn command_subject(bus: &Bus, replica_id: &str) -> String {
    bus.namespace()
        .subject(&format!("gateway.{replica_id}.command"))
}

fn kick_subject(bus: &Bus, replica_id: &str) -> String {
    bus.namespace()
        .subject(&format!("gateway.{replica_id}.kick"))
}

fn holds_subject(bus: &Bus, replica_id: &str) -> String {
    bus.namespace()
        .subject(&format!("gateway.{replica_id}.holds"))
}

/// A connection as the kick and holds subjects name it: `<tenant>\n<charge point id>\n<conn id>`.
fn connection_payload(cp: &ChargePointKey, conn_id: i64) -> String {
    format!("{}\n{}\n{conn_id}", cp.tenant, cp.charge_point_id)
}

/// Reads a [`connection_payload`]; two lines (a replica of a release before tenants) name a
/// charge point of the deployment's tenant.
fn parse_connection(payload: &[u8], default_tenant: &TenantId) -> Option<(ChargePointKey, u64)> {
    let text = std::str::from_utf8(payload).ok()?;
    let lines: Vec<&str> = text.lines().collect();
    let (tenant, cp, conn_id) = match lines.as_slice() {
        [tenant, cp, conn_id] => (tenant.parse().ok()?, *cp, *conn_id),
        [cp, conn_id] => (default_tenant.clone(), *cp, *conn_id),
        _ => return None,
    };
    let cp = cp.parse::<ChargePointId>().ok()?;
    Some((ChargePointKey::new(tenant, cp), conn_id.parse().ok()?))
}

/// How long a claim waits for another replica to say whether it still holds a connection.
const HOLDS_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// Whether another replica still holds the connection `conn_id` of `cp`; no answer means no (the
/// replica is gone and its presence row stale).
async fn still_held(bus: &Bus, replica_id: &str, cp: &ChargePointKey, conn_id: i64) -> bool {
    let request = bus.client().request(
        holds_subject(bus, replica_id),
        connection_payload(cp, conn_id).into(),
    );
    matches!(
        tokio::time::timeout(HOLDS_TIMEOUT, request).await,
        Ok(Ok(answer)) if answer.payload.as_ref() == b"yes"
    )
}

/// Records that this replica holds `cp`'s connection; tells a previous holder elsewhere to close
/// its stale connection. A previous connection elsewhere at a higher security profile that is
/// still open is kept, and this one refused.
pub async fn claim(
    pool: &PgPool,
    bus: &Bus,
    cp: &ChargePointKey,
    replica_id: &str,
    conn_id: u64,
    security_profile: u8,
) -> Result<Result<(), Downgrade>, sqlx::Error> {
    let conn_id = conn_id as i64;
    let open: Option<(String, i64, i16)> = sqlx::query_as(
        "SELECT replica_id, conn_id, security_profile FROM gateway.presence
         WHERE tenant_id = $1 AND charge_point_id = $2",
    )
    .bind(cp.tenant.as_str())
    .bind(cp.charge_point_id.as_str())
    .fetch_optional(pool)
    .await?;
    if let Some((other, other_conn, other_profile)) = open
        && other != replica_id
        && other_profile > i16::from(security_profile)
        && still_held(bus, &other, cp, other_conn).await
    {
        return Ok(Err(Downgrade {
            open_profile: u8::try_from(other_profile).unwrap_or(u8::MAX),
        }));
    }
    let previous: (Option<String>, Option<i64>) = sqlx::query_as(
        "WITH old AS (SELECT replica_id, conn_id FROM gateway.presence
                      WHERE tenant_id = $6 AND charge_point_id = $1)
         INSERT INTO gateway.presence
             (charge_point_id, replica_id, conn_id, connected_at, security_profile, tenant_id)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (tenant_id, charge_point_id) DO UPDATE
         SET replica_id = EXCLUDED.replica_id, conn_id = EXCLUDED.conn_id,
             connected_at = EXCLUDED.connected_at, security_profile = EXCLUDED.security_profile
         RETURNING (SELECT replica_id FROM old), (SELECT conn_id FROM old)",
    )
    .bind(cp.charge_point_id.as_str())
    .bind(replica_id)
    .bind(conn_id)
    .bind(Utc::now())
    .bind(i16::from(security_profile))
    .bind(cp.tenant.as_str())
    .fetch_one(pool)
    .await?;
    if let (Some(old_replica), Some(old_conn)) = previous
        && old_replica != replica_id
    {
        let payload = connection_payload(cp, old_conn);
        if let Err(e) = bus
            .client()
            .publish(kick_subject(bus, &old_replica), payload.into())
            .await
        {
            // The old connection then closes when its heartbeats stop.
            tracing::warn!(charge_point = %cp, error = %e, "cannot tell the previous replica to close its connection");
        }
    }
    Ok(Ok(()))
}

/// Forgets the presence row of a connection that closed (unless a newer one replaced it).
pub async fn release(
    pool: &PgPool,
    cp: &ChargePointKey,
    replica_id: &str,
    conn_id: u64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "DELETE FROM gateway.presence
         WHERE tenant_id = $1 AND charge_point_id = $2 AND replica_id = $3 AND conn_id = $4",
    )
    .bind(cp.tenant.as_str())
    .bind(cp.charge_point_id.as_str())
    .bind(replica_id)
    .bind(conn_id as i64)
    .execute(pool)
    .await?;
    Ok(())
}

/// Forgets every presence row of this replica: at shutdown, once its connections are closing. A row
/// a charger's new connection to another replica claimed meanwhile names that replica and stays.
pub async fn release_replica(pool: &PgPool, replica_id: &str) -> Result<u64, sqlx::Error> {
    Ok(
        sqlx::query("DELETE FROM gateway.presence WHERE replica_id = $1")
            .bind(replica_id)
            .execute(pool)
            .await?
            .rows_affected(),
    )
}

pub async fn holder(pool: &PgPool, cp: &ChargePointKey) -> Result<Option<Holder>, sqlx::Error> {
    let row: Option<(String, i64)> = sqlx::query_as(
        "SELECT replica_id, conn_id FROM gateway.presence WHERE tenant_id = $1 AND charge_point_id = $2",
    )
    .bind(cp.tenant.as_str())
    .bind(cp.charge_point_id.as_str())
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|(replica_id, conn_id)| Holder {
        replica_id,
        conn_id,
    }))
}

/// Removes a presence row whose replica no longer answers (it died without cleaning up).
pub async fn forget(
    pool: &PgPool,
    cp: &ChargePointKey,
    holder: &Holder,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "DELETE FROM gateway.presence
         WHERE tenant_id = $1 AND charge_point_id = $2 AND replica_id = $3 AND conn_id = $4",
    )
    .bind(cp.tenant.as_str())
    .bind(cp.charge_point_id.as_str())
    .bind(&holder.replica_id)
    .bind(holder.conn_id)
    .execute(pool)
    .await?;
    Ok(())
}

/// Sends a failure answer to a command's requester.
pub async fn reply_failure(
    bus: &Bus,
    reply: Option<async_nats::Subject>,
    kind: &str,
    message: String,
) {
    let answer = ChargerCommandReply {
        outcome: Some(charger_command_reply::Outcome::Failure(
            ChargerCommandFailure {
                kind: kind.into(),
                message,
            },
        )),
    };
    reply_with(bus, reply, &answer).await;
}

pub async fn reply_with(
    bus: &Bus,
    reply: Option<async_nats::Subject>,
    answer: &ChargerCommandReply,
) {
    let Some(reply) = reply else { return };
    if let Err(e) = bus
        .client()
        .publish(reply, answer.encode_to_vec().into())
        .await
    {
        tracing::warn!(error = %e, "cannot send a command answer");
    }
}

/// This replica's subscription to commands and take-overs.
pub struct Replica {
    subscriber: async_nats::Subscriber,
}

impl Replica {
    /// Subscribes before the OCPP listener accepts anyone, so commands reach the first connection.
    pub async fn subscribe(
        bus: &Bus,
        replica_id: &str,
    ) -> Result<Self, async_nats::SubscribeError> {
        let subject = bus.namespace().subject(&format!("gateway.{replica_id}.*"));
        Ok(Self {
            subscriber: bus.client().subscribe(subject).await?,
        })
    }

    /// Hands commands to the connections they are for and closes connections taken over elsewhere,
    /// until shutdown.
    /// A command or connection naming no tenant is for the deployment's (`default_tenant`).
    pub async fn run(
        mut self,
        bus: Bus,
        live: std::sync::Arc<Live>,
        default_tenant: TenantId,
        shutdown: CancellationToken,
    ) -> Result<(), std::io::Error> {
        loop {
            let message = tokio::select! {
                _ = shutdown.cancelled() => break,
                message = self.subscriber.next() => match message {
                    Some(m) => m,
                    None => return Err(std::io::Error::other("NATS subscription of the gateway replica ended")),
                },
            };
            if message.subject.ends_with(".holds") {
                let held = parse_connection(&message.payload, &default_tenant)
                    .is_some_and(|(cp, conn_id)| live.holds(&cp, conn_id));
                if let Some(reply) = message.reply {
                    let answer: &'static [u8] = if held { b"yes" } else { b"no" };
                    if let Err(e) = bus.client().publish(reply, answer.into()).await {
                        tracing::warn!(error = %e, "cannot answer whether a connection is held");
                    }
                }
                continue;
            }
            if message.subject.ends_with(".kick") {
                if let Some((cp, conn_id)) = parse_connection(&message.payload, &default_tenant) {
                    tracing::info!(charge_point = %cp, conn_id, "connection taken over by another replica");
                    live.kick(&cp, Some(conn_id));
                }
                continue;
            }
            let request = match ChargerCommandRequest::decode(message.payload.as_ref()) {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!(error = %e, "undecodable command request");
                    continue;
                }
            };
            let tenant = match request.tenant_id.as_str() {
                "" => Some(default_tenant.clone()),
                given => given.parse::<TenantId>().ok(),
            };
            let sender = tenant
                .zip(request.charge_point_id.parse::<ChargePointId>().ok())
                .and_then(|(tenant, cp)| live.sender(&ChargePointKey::new(tenant, cp)));
            let Some(sender) = sender else {
                reply_failure(
                    &bus,
                    message.reply,
                    FAILURE_DISCONNECTED,
                    "the charger's connection closed".into(),
                )
                .await;
                continue;
            };
            let job = Box::new(CommandJob {
                request,
                reply: message.reply,
            });
            if let Err(refused) = sender.try_send(job) {
                let (job, kind, why) = match refused {
                    mpsc::error::TrySendError::Full(job) => (
                        job,
                        crate::commands::FAILURE_REJECTED,
                        "too many commands queued for the charger",
                    ),
                    mpsc::error::TrySendError::Closed(job) => {
                        (job, FAILURE_DISCONNECTED, "the charger's connection closed")
                    }
                };
                reply_failure(&bus, job.reply, kind, why.into()).await;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(tenant: &str, cp: &str) -> ChargePointKey {
        ChargePointKey::new(tenant.parse().unwrap(), cp.parse().unwrap())
    }

    #[test]
    fn a_connection_is_named_with_its_tenant_and_read_back() {
        let default = TenantId::default_tenant();
        let acme = key("acme", "CP-1");
        let payload = connection_payload(&acme, 7);
        assert_eq!(payload, "acme\nCP-1\n7");
        assert_eq!(
            parse_connection(payload.as_bytes(), &default),
            Some((acme, 7))
        );
        // A replica of a release before tenants names the charge point alone.
        assert_eq!(
            parse_connection(b"CP-1\n7", &default),
            Some((key("default", "CP-1"), 7))
        );
        assert_eq!(parse_connection(b"a.b\nCP-1\n7", &default), None);
        assert_eq!(parse_connection(b"CP-1", &default), None);
    }

    #[test]
    fn the_same_charge_point_in_two_tenants_is_two_connections() {
        let live = Live::default();
        let ours = key("default", "CP-1");
        let theirs = key("acme", "CP-1");
        let first = live.register(&ours, 1).unwrap();
        let second = live.register(&theirs, 0).unwrap();
        assert!(!first.kicked.is_cancelled(), "acme's CP-1 replaced ours");
        assert_eq!(live.len(), 2);
        assert_eq!(live.security_profile(&theirs), Some(0));
        assert!(live.holds(&ours, first.conn_id));
        assert!(!live.holds(&ours, second.conn_id));
    }
}
