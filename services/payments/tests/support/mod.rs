//! A payments service (with the ledger) on a fresh database and namespace, a gRPC client, and the
//! messages other services would publish.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use chrono::Utc;
use joule_bus::{Bus, EventMeta, Outgoing, envelope};
use joule_config::Settings;
use joule_domain::{AccountId, EventId, SessionId};
use joule_proto::v1;
use joule_proto::v1::ledger_service_client::LedgerServiceClient;
use joule_proto::v1::payments_service_client::PaymentsServiceClient;
use joule_runtime::Running;
use joule_testkit::TestEnv;
use rust_decimal::Decimal;
use tonic::transport::Channel;

pub struct Harness {
    // Declared before `env`: the services stop before the environment is removed.
    pub running: Option<Running>,
    pub bus: Bus,
    pub pool: sqlx::PgPool,
    pub payments: PaymentsServiceClient<Channel>,
    pub ledger: LedgerServiceClient<Channel>,
    pub env: TestEnv,
}

impl Harness {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(configure: impl FnOnce(&mut Settings)) -> Self {
        Self::start_services(&[], configure).await
    }

    /// Payments and the ledger, with `others` (such as the gateway) in the same process.
    pub async fn start_services(
        others: &[joule_runtime::ServiceDef],
        configure: impl FnOnce(&mut Settings),
    ) -> Self {
        let env = TestEnv::new().await;
        let mut settings = env.settings();
        configure(&mut settings);
        let mut services = vec![joule_payments::SERVICE, joule_ledger::SERVICE];
        services.extend_from_slice(others);
        let running: Vec<&str> = services.iter().map(|s| s.name).collect();
        joule_testkit::absent_services(&mut settings, &running);
        let running = joule_runtime::spawn(settings, &services)
            .await
            .expect("payments and ledger start");
        let channel = Channel::from_shared(format!("http://{}", running.addr("grpc").unwrap()))
            .unwrap()
            .connect()
            .await
            .expect("connect gRPC");
        Harness {
            running: Some(running),
            bus: env.bus().await,
            pool: env.pool().await,
            payments: PaymentsServiceClient::new(channel.clone()),
            ledger: LedgerServiceClient::new(channel),
            env,
        }
    }

    pub async fn stop(&mut self) {
        if let Some(r) = self.running.take() {
            r.stop().await.expect("clean stop");
        }
    }

    /// Publishes as another service would; the event id comes from `key`.
    pub async fn publish<M: joule_proto::Message + joule_proto::EventName>(
        &self,
        subject: String,
        message: &M,
        key: &str,
    ) {
        self.bus
            .publish(Outgoing {
                subject,
                envelope: envelope(
                    message,
                    EventMeta {
                        event_id: EventId::derived(key).to_string(),
                        tenant_id: "default".into(),
                        aggregate_type: "Test".into(),
                        aggregate_id: key.into(),
                        sequence: 1,
                        occurred_at: Utc::now(),
                        correlation_id: String::new(),
                        causation_id: String::new(),
                    },
                ),
                trace_headers: Default::default(),
            })
            .await
            .expect("publish");
    }

    /// An account opened in the registry (payments learns its currency).
    pub async fn open_account(&self, name: &str, currency: &str) -> AccountId {
        let account = AccountId::derived(name);
        self.publish(
            format!("registry.account.{account}"),
            &v1::AccountOpened {
                account_id: account.to_string(),
                name: name.into(),
                currency: currency.into(),
            },
            &format!("account/{name}"),
        )
        .await;
        account
    }

    pub async fn save_card(
        &self,
        account: AccountId,
        token: &str,
        make_default: bool,
    ) -> v1::PaymentMethod {
        self.payments
            .clone()
            .save_payment_method(v1::SavePaymentMethodRequest {
                idempotency_key: format!("save/{account}/{token}/{make_default}"),
                account_id: account.to_string(),
                provider: "sandbox".into(),
                provider_token: token.into(),
                make_default,
                ..Default::default()
            })
            .await
            .expect("save the card")
            .into_inner()
    }

    pub async fn session_started(&self, session: SessionId, account: AccountId) {
        self.publish(
            format!("session.{session}.started"),
            &v1::SessionStarted {
                session_id: session.to_string(),
                account_id: account.to_string(),
                charge_point_id: "CP-1".into(),
                ..Default::default()
            },
            &format!("started/{session}"),
        )
        .await;
    }

    /// A priced session: one energy line and one time line with 19 % VAT.
    pub async fn session_priced(
        &self,
        session: SessionId,
        account: AccountId,
        energy: &str,
        time: &str,
    ) {
        let line = |dimension: &str, net: &str| v1::PriceLine {
            dimension: dimension.into(),
            amount_excl_vat: net.into(),
            vat_percent: "19".into(),
            ..Default::default()
        };
        self.publish(
            format!("pricing.{session}.priced"),
            &v1::SessionPriced {
                session_id: session.to_string(),
                account_id: account.to_string(),
                currency: "EUR".into(),
                lines: vec![line("ENERGY", energy), line("TIME", time)],
                ..Default::default()
            },
            &format!("priced/{session}"),
        )
        .await;
    }

    /// Polls the payments of a session until `done` holds.
    pub async fn wait_payment(
        &self,
        session: SessionId,
        done: impl Fn(&v1::PaymentIntent) -> bool,
    ) -> v1::PaymentIntent {
        let mut last = None;
        for _ in 0..300 {
            let list = self
                .payments
                .clone()
                .list_payments(v1::ListPaymentsRequest {
                    session_id: session.to_string(),
                    ..Default::default()
                })
                .await
                .expect("list payments")
                .into_inner();
            if let Some(p) = list.payments.into_iter().next() {
                if done(&p) {
                    return p;
                }
                last = Some(p);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the payment of {session} never got there; last {last:?}")
    }

    /// The trial balance as account -> balance (debit - credit).
    pub async fn balances(&self) -> (BTreeMap<String, Decimal>, v1::TrialBalance) {
        let tb = self
            .ledger
            .clone()
            .get_trial_balance(v1::TrialBalanceRequest::default())
            .await
            .expect("trial balance")
            .into_inner();
        let map = tb
            .rows
            .iter()
            .map(|r| (r.account.clone(), r.balance.parse::<Decimal>().unwrap()))
            .collect();
        (map, tb)
    }

    /// Waits until the ledger shows `account` at `balance`.
    pub async fn wait_balance(&self, account: &str, balance: Decimal) -> BTreeMap<String, Decimal> {
        let mut last = BTreeMap::new();
        for _ in 0..300 {
            let (map, _) = self.balances().await;
            if map.get(account).copied().unwrap_or_default() == balance {
                return map;
            }
            last = map;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("ledger never showed {account} at {balance}; last {last:?}")
    }

    pub async fn sandbox_holds(&self) -> Vec<(String, Decimal, Decimal, String)> {
        sqlx::query_as(
            "SELECT token, amount, captured, status FROM payments.sandbox_holds ORDER BY created_at, reference",
        )
        .fetch_all(&self.pool)
        .await
        .unwrap()
    }

    /// The messages on the PAYMENT stream, by event type.
    pub async fn payment_events(&self, event_type: &str) -> Vec<v1::Envelope> {
        self.bus
            .read_stream(joule_bus::Domain::Payment)
            .await
            .unwrap()
            .into_iter()
            .map(|(_, e)| e)
            .filter(|e| e.event_type == event_type)
            .collect()
    }
}

/// Retries `f` until it gives `Some`.
pub async fn eventually<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    for _ in 0..300 {
        if let Some(v) = f().await {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what} never happened")
}

pub fn dec(s: &str) -> Decimal {
    s.parse().unwrap()
}
