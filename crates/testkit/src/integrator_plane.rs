//! A private integrator plane (ADR 043): a `nats-server` in operator mode with a fresh operator
//! and accounts, and the settings that point the api and the webhooks service at it.

use std::path::PathBuf;

use joule_bus::Namespace;
use joule_bus::tenant_streams::{Issuer, Plane, jwt};
use joule_config::Settings;

use crate::NatsServer;

pub struct IntegratorPlane {
    pub server: NatsServer,
    pub plane: Plane,
    creds_file: PathBuf,
}

impl IntegratorPlane {
    pub async fn start() -> Self {
        let plane = Plane::generate();
        let now = chrono::Utc::now().timestamp();
        let config = plane
            .server_config(now, -1)
            .expect("the plane's configuration");
        let server = NatsServer::with_config_text(&config).await;
        let creds_file =
            std::env::temp_dir().join(format!("joule-publisher-{}.creds", uuid::Uuid::new_v4()));
        Self {
            server,
            plane,
            creds_file,
        }
    }

    pub fn issuer(&self) -> Issuer {
        self.plane.issuer()
    }

    /// Points `settings` at the plane: the webhooks service publishes with a publisher user of
    /// `settings.namespace` (its `.creds` written to a temporary file), the api signs with the
    /// account signing key.
    pub fn configure(&self, settings: &mut Settings) {
        let namespace = Namespace::new(&settings.namespace).expect("the settings' namespace");
        let publisher = self
            .issuer()
            .publisher(&namespace, chrono::Utc::now().timestamp())
            .expect("the publisher's user");
        std::fs::write(&self.creds_file, publisher.creds).expect("write the publisher's creds");
        settings.integrator_nats_url = self.server.url.clone();
        settings.integrator_nats_creds_file = self.creds_file.display().to_string();
        settings.integrator_account = self.plane.account.public_key();
        settings.integrator_signing_seed = jwt::seed_of(&self.plane.signing)
            .expect("the signing key's seed")
            .into();
    }
}

impl Drop for IntegratorPlane {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.creds_file);
    }
}
