//! Certificates for gRPC mutual-TLS tests: a CA and per-process certificates in a temporary
//! directory (`joule_runtime::write_dev_certs`, the code behind `joule certs dev`), removed on drop.
//! A process is a service (`pricing`) or the services one process runs (`api+pricing`); its
//! certificate names them, which is who it is as a gRPC caller (ADR 029).

use std::path::PathBuf;

use joule_config::Settings;

pub struct TestPki {
    pub dir: PathBuf,
    pub ca: PathBuf,
}

impl TestPki {
    /// A fresh CA and a certificate for each of `processes`.
    pub fn new(processes: &[&str]) -> Self {
        let dir = std::env::temp_dir().join(format!("joule-pki-{}", uuid::Uuid::new_v4()));
        let processes: Vec<String> = processes.iter().map(|s| (*s).to_owned()).collect();
        let files = joule_runtime::write_dev_certs(&dir, &processes, &[]).expect("certificates");
        Self {
            dir,
            ca: files.ca_cert,
        }
    }

    /// `process`'s certificate and key files.
    pub fn cert(&self, process: &str) -> (PathBuf, PathBuf) {
        (
            self.dir.join(format!("{process}.pem")),
            self.dir.join(format!("{process}.key")),
        )
    }

    /// Sets `settings` to serve and call gRPC over mutual TLS as `process`.
    pub fn apply(&self, process: &str, settings: &mut Settings) {
        let (cert, key) = self.cert(process);
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
