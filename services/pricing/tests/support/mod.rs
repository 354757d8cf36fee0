//! The one harness of pricing's integration tests: the pricing service on a fresh database and
//! NATS namespace, a gRPC client, the messages other services would publish, and what pricing
//! publishes.
#![allow(dead_code)]

use joule_bus::{Bus, Domain, decode_payload};
use joule_domain::{ChargerId, SessionId};
use joule_proto::v1::tariff_service_client::TariffServiceClient;
use joule_proto::v1::{self, ChargerRegistered, SessionCompleted};
use joule_proto::{EventName, Message};
use joule_testkit::{TestEnv, eventually};
use tonic::transport::Channel;

pub struct Harness {
    // Declared before `env`: the service stops before the environment is removed.
    pub running: joule_runtime::Running,
    pub bus: Bus,
    pub pool: sqlx::PgPool,
    pub client: TariffServiceClient<Channel>,
    pub env: TestEnv,
}

impl Harness {
    pub async fn start() -> Self {
        let env = TestEnv::new().await;
        let running = joule_runtime::spawn(env.settings(), &[joule_pricing::SERVICE])
            .await
            .expect("pricing starts");
        let addr = running.addr("grpc").expect("gRPC address");
        let client = TariffServiceClient::connect(format!("http://{addr}"))
            .await
            .expect("gRPC connects");
        Self {
            running,
            bus: env.bus().await,
            pool: env.pool().await,
            client,
            env,
        }
    }

    pub async fn create_tariff(&mut self, json: &str) -> Result<v1::Tariff, tonic::Status> {
        self.client
            .create_tariff(v1::CreateTariffRequest {
                tenant_id: String::new(),
                ocpi_json: json.into(),
            })
            .await
            .map(|r| r.into_inner())
    }

    /// Publishes as another service would, as a new message (a new event id) of `aggregate_id`.
    pub async fn publish<M: Message + EventName>(
        &self,
        subject: String,
        aggregate_id: &str,
        message: &M,
    ) {
        let event_id = uuid::Uuid::new_v4().to_string();
        publish(&self.bus, subject, &event_id, aggregate_id, message).await;
    }

    /// Publishes under `event_id`: a new id is a new message to JetStream (a redelivery by a relay
    /// after a crash would reuse it; a duplicate with a new id is the harder case).
    pub async fn publish_as<M: Message + EventName>(
        &self,
        subject: String,
        event_id: &str,
        message: &M,
    ) {
        publish(&self.bus, subject, event_id, "test", message).await;
    }

    /// Re-rates every session `tariff_id` priced (after a correction of it).
    pub async fn rerate_tariff(&mut self, tariff_id: &str, reason: &str) -> v1::RerateResponse {
        self.client
            .rerate(v1::RerateRequest {
                tariff_id: tariff_id.into(),
                reason: reason.into(),
                ..Default::default()
            })
            .await
            .expect("re-rating runs")
            .into_inner()
    }

    /// The registry's `ChargerRegistered` for `charger` on `site` (may be empty).
    pub async fn register_charger(
        &self,
        charger: ChargerId,
        site: &str,
        tariff_id: &str,
        time_zone: &str,
    ) {
        let m = ChargerRegistered {
            charger_id: charger.to_string(),
            charge_point_id: "CP-1".into(),
            site_id: site.into(),
            tariff_id: tariff_id.into(),
            time_zone: time_zone.into(),
        };
        self.publish(
            format!("registry.charger.{charger}"),
            &charger.to_string(),
            &m,
        )
        .await;
    }

    pub async fn complete_session(&self, m: &SessionCompleted) {
        self.publish(
            format!("session.{}.completed", m.session_id),
            &m.session_id,
            m,
        )
        .await;
    }

    /// Every `M` on the PRICING stream for `session`, with its subject, in stream order.
    pub async fn published<M: Message + EventName + Default>(
        &self,
        session: SessionId,
    ) -> Vec<(String, M)> {
        let session = session.to_string();
        self.bus
            .read_stream(Domain::Pricing)
            .await
            .expect("read PRICING")
            .into_iter()
            .filter(|(subject, e)| e.event_type == M::NAME && subject.contains(&session))
            .map(|(subject, e)| (subject, decode_payload::<M>(&e).expect("decodes")))
            .collect()
    }

    /// [`Harness::published`] once there are at least `want`.
    pub async fn wait_published<M: Message + EventName + Default>(
        &self,
        session: SessionId,
        want: usize,
    ) -> Vec<(String, M)> {
        let what = format!("{want} {} for {session}", M::NAME);
        eventually(&what, || async {
            let found = self.published::<M>(session).await;
            (found.len() >= want).then_some(found)
        })
        .await
    }

    /// The messages of [`Harness::published`], without their subjects.
    pub async fn messages<M: Message + EventName + Default>(&self, session: SessionId) -> Vec<M> {
        let found = self.published::<M>(session).await;
        found.into_iter().map(|(_, m)| m).collect()
    }

    /// The messages of [`Harness::wait_published`], without their subjects.
    pub async fn wait<M: Message + EventName + Default>(
        &self,
        session: SessionId,
        want: usize,
    ) -> Vec<M> {
        let found = self.wait_published::<M>(session, want).await;
        found.into_iter().map(|(_, m)| m).collect()
    }
}

/// Publishes `message` on `bus` as another service would.
pub async fn publish<M: Message + EventName>(
    bus: &Bus,
    subject: String,
    event_id: &str,
    aggregate_id: &str,
    message: &M,
) {
    let mut meta = joule_testkit::publish::meta(event_id, "test", aggregate_id, 1);
    // The id as given: a test repeats it to publish a duplicate.
    meta.event_id = event_id.into();
    joule_testkit::publish(bus, subject, meta, message).await;
}
