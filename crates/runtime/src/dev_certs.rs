//! Development certificates for gRPC mutual TLS (`joule certs dev`, tests): a CA and, per process,
//! one certificate that serves both as its server identity and as its client identity, naming the
//! services the process runs (ADR 029). Production certificates come from the operator's own CA
//! (ADR 028); these are for a laptop or a test.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

/// A certificate authority whose key lives only in memory (and in the files [`write_dev_certs`]
/// writes).
pub struct DevCa {
    issuer: Issuer<'static, KeyPair>,
    cert_pem: String,
    key_pem: String,
}

/// A PEM certificate and its PKCS#8 key.
pub struct IssuedCert {
    pub cert_pem: String,
    pub key_pem: String,
}

impl DevCa {
    pub fn new(common_name: &str) -> Result<Self, rcgen::Error> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params.self_signed(&key)?;
        let key_pem = key.serialize_pem();
        Ok(Self {
            cert_pem: cert.pem(),
            key_pem,
            issuer: Issuer::new(params, key),
        })
    }

    /// The CA certificate: the `JOULE_GRPC_TLS_CA` file.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// A certificate for the process `process` runs: one service (`pricing`) or several joined
    /// by `+` (`api+pricing`). Valid for TLS servers and clients; its subject alternative names are,
    /// per service, its name and its Kubernetes Service name `joule-<service>` (as in `k8s/`; also
    /// the caller identity gRPC authorisation reads, ADR 029), then `localhost` and `127.0.0.1` (a
    /// process calling itself), and `extra_names`.
    pub fn issue(&self, process: &str, extra_names: &[String]) -> Result<IssuedCert, rcgen::Error> {
        let mut names = Vec::new();
        for service in process.split('+') {
            names.push(service.to_owned());
            names.push(format!("joule-{service}"));
        }
        names.extend(["localhost".to_owned(), "127.0.0.1".to_owned()]);
        for name in extra_names {
            if !names.contains(name) {
                names.push(name.clone());
            }
        }
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(names)?;
        params.is_ca = IsCa::ExplicitNoCa;
        params.distinguished_name.push(DnType::CommonName, process);
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(IssuedCert {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }
}

/// The files [`write_dev_certs`] wrote.
#[derive(Debug, Clone)]
pub struct DevCertFiles {
    pub ca_cert: PathBuf,
    pub ca_key: PathBuf,
    /// Per process: (its services joined by `+`, certificate file, key file).
    pub services: Vec<(String, PathBuf, PathBuf)>,
}

/// Makes a CA and a certificate per process in `dir`: `ca.pem` (+ `ca.key`, to issue more later
/// with another tool, never given to a service), `<process>.pem` and `<process>.key`, where a
/// process is a service or services joined by `+` ([`DevCa::issue`]). Keys are written readable by
/// their owner only.
pub fn write_dev_certs(
    dir: &Path,
    processes: &[String],
    extra_names: &[String],
) -> Result<DevCertFiles, Box<dyn std::error::Error + Send + Sync>> {
    std::fs::create_dir_all(dir)?;
    let ca = DevCa::new("Joule development CA")?;
    let ca_cert = dir.join("ca.pem");
    let ca_key = dir.join("ca.key");
    std::fs::write(&ca_cert, ca.cert_pem())?;
    write_private(&ca_key, &ca.key_pem)?;
    let mut files = Vec::new();
    for process in processes {
        let issued = ca.issue(process, extra_names)?;
        let cert = dir.join(format!("{process}.pem"));
        let key = dir.join(format!("{process}.key"));
        std::fs::write(&cert, &issued.cert_pem)?;
        write_private(&key, &issued.key_pem)?;
        files.push((process.clone(), cert, key));
    }
    Ok(DevCertFiles {
        ca_cert,
        ca_key,
        services: files,
    })
}

fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)?.write_all(contents.as_bytes())
}
