use std::time::Duration;

use joule_bus::Domain;
use joule_proto::v1::Envelope;
use joule_runtime::{Running, ServiceDef};
use joule_testkit::TestEnv;
use reqwest::StatusCode;
use serde_json::Value;

pub const PROBLEM_JSON: &str = "application/problem+json";

/// A running api (and whatever else a test needs) on a fresh environment.
pub struct App {
    // Declared before `env`: the services stop before the environment is removed.
    running: Option<Running>,
    pub env: TestEnv,
    pub base: String,
    pub token: String,
    pub client: reqwest::Client,
}

impl App {
    pub async fn spawn() -> App {
        Self::spawn_with(&[joule_api::SERVICE]).await
    }

    pub async fn spawn_with_pricing() -> App {
        Self::spawn_with(&[joule_api::SERVICE, joule_pricing::SERVICE]).await
    }

    pub async fn spawn_with_pricing_and_payments() -> App {
        Self::spawn_with(&[
            joule_api::SERVICE,
            joule_pricing::SERVICE,
            joule_payments::SERVICE,
        ])
        .await
    }

    /// POST with an `Idempotency-Key` header, as payments' writes need.
    pub async fn post_idempotent(&self, path: &str, key: &str, body: &Value) -> Reply {
        self.post_idempotent_as(&self.token, path, key, body).await
    }

    /// [`App::post_idempotent`] with the credential `token`.
    pub async fn post_idempotent_as(
        &self,
        token: &str,
        path: &str,
        key: &str,
        body: &Value,
    ) -> Reply {
        Reply::from(
            self.client
                .post(self.url(path))
                .bearer_auth(token)
                .header("Idempotency-Key", key)
                .json(body)
                .send()
                .await
                .expect("POST"),
        )
        .await
    }

    async fn spawn_with(services: &[ServiceDef]) -> App {
        Self::spawn_adjusted(services, |_| {}).await
    }

    /// `services` with adjusted settings.
    pub async fn spawn_adjusted(
        services: &[ServiceDef],
        adjust: impl FnOnce(&mut joule_config::Settings),
    ) -> App {
        let env = TestEnv::new().await;
        let mut settings = env.settings();
        adjust(&mut settings);
        let running: Vec<&str> = services.iter().map(|s| s.name).collect();
        joule_testkit::absent_services(&mut settings, &running);
        let token = settings.admin_token.expose().to_owned();
        let running = joule_runtime::spawn(settings, services)
            .await
            .expect("services start");
        let addr = running.addr("api").expect("api listening");
        App {
            running: Some(running),
            env,
            base: format!("http://{addr}"),
            token,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("http client"),
        }
    }

    /// Where a running service's listener `name` (`ocpp`, `api`, ...) is bound.
    pub fn addr(&self, name: &str) -> std::net::SocketAddr {
        self.running
            .as_ref()
            .and_then(|r| r.addr(name))
            .unwrap_or_else(|| panic!("no listener {name}"))
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A request with `token`, and a JSON body unless `body` is null.
    pub async fn send_as(
        &self,
        token: &str,
        method: reqwest::Method,
        path: &str,
        body: &Value,
    ) -> Reply {
        let mut request = self
            .client
            .request(method, self.url(path))
            .bearer_auth(token);
        if !body.is_null() {
            request = request.json(body);
        }
        Reply::from(request.send().await.expect("request")).await
    }

    pub async fn get_as(&self, token: &str, path: &str) -> Reply {
        self.send_as(token, reqwest::Method::GET, path, &Value::Null)
            .await
    }

    pub async fn post_as(&self, token: &str, path: &str, body: &Value) -> Reply {
        self.send_as(token, reqwest::Method::POST, path, body).await
    }

    pub async fn get(&self, path: &str) -> Reply {
        Reply::from(
            self.client
                .get(self.url(path))
                .bearer_auth(&self.token)
                .send()
                .await
                .expect("GET"),
        )
        .await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Reply {
        Reply::from(
            self.client
                .post(self.url(path))
                .bearer_auth(&self.token)
                .json(body)
                .send()
                .await
                .expect("POST"),
        )
        .await
    }

    /// POST with a raw body and content type.
    pub async fn post_raw(&self, path: &str, content_type: &str, body: &str) -> Reply {
        let request = self
            .client
            .post(self.url(path))
            .bearer_auth(&self.token)
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(body.to_owned());
        Reply::from(request.send().await.expect("POST")).await
    }

    /// Creates a record, asserting the 201; returns its body.
    pub async fn create(&self, path: &str, body: &Value) -> Value {
        let reply = self.post(path, body).await;
        assert_eq!(
            reply.status,
            StatusCode::CREATED,
            "POST {path} {body}: {}",
            reply.body
        );
        reply.body
    }

    pub async fn create_site(&self) -> Value {
        self.create(
            "/v1/sites",
            &serde_json::json!({"name": "Depot Nord", "country": "DE", "time_zone": "Europe/Berlin"}),
        )
        .await
    }

    pub async fn create_account(&self) -> Value {
        self.create(
            "/v1/accounts",
            &serde_json::json!({"name": "Fleet GmbH", "currency": "EUR"}),
        )
        .await
    }

    /// Events stored by requests: the default tenant's creation at start is not one.
    pub async fn stored_events(&self) -> i64 {
        let pool = self.env.pool().await;
        let n = sqlx::query_scalar(
            "SELECT count(*) FROM api.events
             WHERE NOT (aggregate_type = 'tenant' AND aggregate_id = 'default')",
        )
        .fetch_one(&pool)
        .await
        .expect("count events");
        pool.close().await;
        n
    }

    /// The REGISTRY stream's messages as (subject, envelope, Nats-Msg-Id), waiting (bounded) until
    /// there are at least `at_least`.
    pub async fn registry_messages(&self, at_least: u64) -> Vec<(String, Envelope, String)> {
        let bus = self.env.bus().await;
        let what = format!("{at_least} messages on REGISTRY");
        let messages = joule_testkit::eventually(&what, || async {
            let messages = bus
                .read_stream_messages(Domain::Registry)
                .await
                .expect("read the REGISTRY stream");
            (messages.len() as u64 >= at_least).then_some(messages)
        })
        .await;
        messages
            .into_iter()
            .map(|m| {
                let id = m.headers.get("Nats-Msg-Id").cloned().unwrap_or_default();
                (m.subject, m.envelope, id)
            })
            .collect()
    }
}

impl Drop for App {
    fn drop(&mut self) {
        if let Some(running) = self.running.take() {
            running.shutdown.cancel();
        }
    }
}

/// A response, read.
pub struct Reply {
    pub status: StatusCode,
    pub content_type: String,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Reply {
    pub async fn from(response: reqwest::Response) -> Reply {
        let status = response.status();
        let headers = response.headers().clone();
        let content_type = headers
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let text = response.text().await.expect("body");
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Reply {
            status,
            content_type,
            headers,
            body,
        }
    }

    /// Asserts a problem+json answer with `status`; returns the fields its `errors` name.
    pub fn problem(&self, status: StatusCode) -> Vec<String> {
        assert_eq!(self.status, status, "body: {}", self.body);
        assert_eq!(self.content_type, PROBLEM_JSON, "body: {}", self.body);
        assert_eq!(self.body["status"], status.as_u16(), "body: {}", self.body);
        assert!(
            self.body["type"].is_string() && self.body["title"].is_string(),
            "body: {}",
            self.body
        );
        self.body["errors"]
            .as_array()
            .expect("errors array")
            .iter()
            .map(|e| e["field"].as_str().expect("field").to_owned())
            .collect()
    }
}
