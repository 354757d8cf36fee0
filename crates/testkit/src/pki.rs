//! Certificates for gRPC mutual-TLS tests: a CA and per-service certificates in a temporary
//! directory (`joule_runtime::write_dev_certs`, the code behind `joule certs dev`), removed on drop.

use std::path::PathBuf;

use joule_config::Settings;

pub struct TestPki {
    pub dir: PathBuf,
    pub ca: PathBuf,
}

impl TestPki {
    /// A fresh CA and a certificate for each of `services`.
    pub fn new(services: &[&str]) -> Self {
        let dir = std::env::temp_dir().join(format!("joule-pki-{}", uuid::Uuid::new_v4()));
        let services: Vec<String> = services.iter().map(|s| (*s).to_owned()).collect();
        let files = joule_runtime::write_dev_certs(&dir, &services, &[]).expect("certificates");
        Self {
            dir,
            ca: files.ca_cert,
        }
    }

    /// `service`'s certificate and key files.
    pub fn cert(&self, service: &str) -> (PathBuf, PathBuf) {
        (
            self.dir.join(format!("{service}.pem")),
            self.dir.join(format!("{service}.key")),
        )
    }

    /// Sets `settings` to serve and call gRPC over mutual TLS as `service`.
    pub fn apply(&self, service: &str, settings: &mut Settings) {
        let (cert, key) = self.cert(service);
        settings.grpc_tls_cert = cert.to_string_lossy().into_owned();
        settings.grpc_tls_key = key.to_string_lossy().into_owned();
        settings.grpc_tls_ca = self.ca.to_string_lossy().into_owned();
    }
}

impl Drop for TestPki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
