//! TLS termination on the OCPP listener, with rustls and the ring provider that async-nats already
//! brings. Configured by PEM files (`JOULE_OCPP_TLS_CERT`, `JOULE_OCPP_TLS_KEY`); without them the
//! listener speaks plain WebSocket. Security profile 2 is HTTP Basic auth over TLS; with
//! `JOULE_OCPP_TLS_CLIENT_CA` the handshake also asks for a client certificate signed by that CA
//! (profile 3): its subject common name must be the charge point id (OCPP 2.0.1 A00.FR.4xx: the CSMS
//! checks the certificate's CN against the identity the charger connects as). A charger without a
//! certificate still connects by profile 2. The listener itself ([`joule_runtime::http::serve`])
//! bounds handshakes by `JOULE_TLS_HANDSHAKE_TIMEOUT_SECS` and counts them under the connection cap.

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("certificate file {path}: {source}")]
    Certificate {
        path: String,
        source: rustls::pki_types::pem::Error,
    },
    #[error("private key file {path}: {source}")]
    Key {
        path: String,
        source: rustls::pki_types::pem::Error,
    },
    #[error("TLS configuration: {0}")]
    Config(#[from] rustls::Error),
    #[error("client CA file {path}: {reason}")]
    ClientCa { path: String, reason: String },
}

/// A TLS acceptor for the certificate chain and key in PEM files; with `client_ca`, it asks clients
/// for a certificate signed by one of the CA certificates in that PEM file (optional, so that chargers
/// on profile 2 still connect).
pub fn acceptor(
    cert_path: &str,
    key_path: &str,
    client_ca: Option<&str>,
) -> Result<TlsAcceptor, TlsError> {
    let cert_error = |source| TlsError::Certificate {
        path: cert_path.to_owned(),
        source,
    };
    let certs = CertificateDer::pem_file_iter(cert_path)
        .map_err(cert_error)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(cert_error)?;
    let key = PrivateKeyDer::from_pem_file(key_path).map_err(|source| TlsError::Key {
        path: key_path.to_owned(),
        source,
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    let config = match client_ca {
        None => builder.with_no_client_auth(),
        Some(path) => {
            let ca_error = |reason: String| TlsError::ClientCa {
                path: path.to_owned(),
                reason,
            };
            let mut roots = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_file_iter(path).map_err(|e| ca_error(e.to_string()))? {
                roots
                    .add(cert.map_err(|e| ca_error(e.to_string()))?)
                    .map_err(|e| ca_error(e.to_string()))?;
            }
            if roots.is_empty() {
                return Err(ca_error("holds no certificate".into()));
            }
            let verifier =
                rustls::server::WebPkiClientVerifier::builder_with_provider(roots.into(), provider)
                    .allow_unauthenticated()
                    .build()
                    .map_err(|e| ca_error(e.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
    }
    .with_single_cert(certs, key)?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// One DER element: its tag, its content and what follows it.
fn der(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, mut rest) = rest.split_first()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let (bytes, after) = rest.split_at(n);
        rest = after;
        bytes.iter().fold(0, |acc, b| (acc << 8) | usize::from(*b))
    };
    (rest.len() >= len).then(|| {
        let (content, after) = rest.split_at(len);
        (tag, content, after)
    })
}

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const OID: u8 = 0x06;
const VERSION: u8 = 0xa0;
/// id-at-commonName, 2.5.4.3.
const COMMON_NAME: &[u8] = &[0x55, 0x04, 0x03];
/// id-at-organizationName, 2.5.4.10.
const ORGANIZATION: &[u8] = &[0x55, 0x04, 0x0a];

/// The subject common name of an X.509 certificate (DER), read just far enough to find it: the
/// certificate itself was verified by rustls. `None` when it has none or it is not text.
pub fn subject_common_name(certificate: &[u8]) -> Option<String> {
    subject_attribute(certificate, COMMON_NAME)
}

/// The subject organisation (O) of an X.509 certificate (DER): the charging station operator in
/// the OCPP security profile, which names the charger's tenant (ADR 032).
pub fn subject_organization(certificate: &[u8]) -> Option<String> {
    subject_attribute(certificate, ORGANIZATION)
}

/// The first subject attribute of type `wanted` as text.
fn subject_attribute(certificate: &[u8], wanted: &[u8]) -> Option<String> {
    let (SEQUENCE, certificate, _) = der(certificate)? else {
        return None;
    };
    let (SEQUENCE, tbs, _) = der(certificate)? else {
        return None;
    };
    let mut rest = tbs;
    if let Some((VERSION, _, after)) = der(rest) {
        rest = after;
    }
    // serialNumber, signature, issuer, validity, then the subject.
    for _ in 0..4 {
        rest = der(rest)?.2;
    }
    let (SEQUENCE, mut names, _) = der(rest)? else {
        return None;
    };
    while !names.is_empty() {
        let (SET, mut attributes, after) = der(names)? else {
            return None;
        };
        names = after;
        while !attributes.is_empty() {
            let (SEQUENCE, attribute, after) = der(attributes)? else {
                return None;
            };
            attributes = after;
            let (OID, oid, value) = der(attribute)? else {
                return None;
            };
            if oid == wanted {
                // UTF8String, PrintableString, IA5String.
                let (0x0c | 0x13 | 0x16, text, _) = der(value)? else {
                    return None;
                };
                return std::str::from_utf8(text).ok().map(str::to_owned);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A certificate cut down to what the reader walks: TBSCertificate with a version, four
    /// elements before the subject, and a subject of one RDN.
    fn certificate_with_subject(subject: &[u8]) -> Vec<u8> {
        let element = |tag: u8, content: &[u8]| {
            let mut out = vec![tag];
            if content.len() < 0x80 {
                out.push(content.len() as u8);
            } else {
                out.push(0x82);
                out.extend((content.len() as u16).to_be_bytes());
            }
            out.extend(content);
            out
        };
        let mut tbs = element(VERSION, &element(0x02, &[2]));
        for _ in 0..4 {
            tbs.extend(element(SEQUENCE, &[]));
        }
        tbs.extend(element(SEQUENCE, subject));
        element(SEQUENCE, &element(SEQUENCE, &tbs))
    }

    fn name(oid: &[u8], tag: u8, text: &[u8]) -> Vec<u8> {
        let mut attribute = vec![OID, oid.len() as u8];
        attribute.extend(oid);
        attribute.extend([tag, text.len() as u8]);
        attribute.extend(text);
        let mut rdn = vec![SEQUENCE, attribute.len() as u8];
        rdn.extend(attribute);
        let mut set = vec![SET, rdn.len() as u8];
        set.extend(rdn);
        set
    }

    #[test]
    fn the_common_name_is_read_from_the_subject() {
        let mut subject = name(&[0x55, 0x04, 0x0a], 0x0c, b"Operator");
        subject.extend(name(COMMON_NAME, 0x13, b"CP-1"));
        assert_eq!(
            subject_common_name(&certificate_with_subject(&subject)).as_deref(),
            Some("CP-1")
        );
    }

    #[test]
    fn the_organization_is_read_from_the_subject() {
        let mut subject = name(COMMON_NAME, 0x13, b"CP-1");
        subject.extend(name(ORGANIZATION, 0x0c, b"acme"));
        let certificate = certificate_with_subject(&subject);
        assert_eq!(subject_organization(&certificate).as_deref(), Some("acme"));
        assert_eq!(subject_common_name(&certificate).as_deref(), Some("CP-1"));
        let only_cn = certificate_with_subject(&name(COMMON_NAME, 0x13, b"CP-1"));
        assert_eq!(subject_organization(&only_cn), None);
    }

    #[test]
    fn no_common_name_or_broken_der_gives_none() {
        let only_org = name(&[0x55, 0x04, 0x0a], 0x0c, b"Operator");
        assert_eq!(
            subject_common_name(&certificate_with_subject(&only_org)),
            None
        );
        let binary = name(COMMON_NAME, 0x04, b"CP-1");
        assert_eq!(
            subject_common_name(&certificate_with_subject(&binary)),
            None
        );
        assert_eq!(subject_common_name(&[]), None);
        assert_eq!(subject_common_name(&[0x30, 0x05, 0x30]), None);
        let whole = certificate_with_subject(&name(COMMON_NAME, 0x0c, b"CP-1"));
        for cut in 0..whole.len() {
            assert_eq!(subject_common_name(&whole[..cut]), None, "cut at {cut}");
        }
    }
}
