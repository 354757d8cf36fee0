//! Security profiles: HTTP Basic auth per charger with a hashed password (profile 1), the same over
//! TLS (profile 2), and chargers without a password (profile 0) unless authentication is required.

mod support;

use std::sync::Arc;

use joule_proto::EventName;
use joule_proto::v1::ChargerConnected;
use serde_json::json;
use support::{CP, Charger, Harness, of_type};
use tokio_tungstenite::tungstenite;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const PASSWORD: &str = "0123456789abcdef-CP1";

fn refused_with(result: Result<Charger, tungstenite::Error>) -> u16 {
    match result {
        Err(tungstenite::Error::Http(response)) => response.status().as_u16(),
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("upgrade accepted"),
    }
}

#[tokio::test]
async fn a_charger_with_a_password_must_present_it() {
    let h = Harness::start().await;
    // Profile 0 while no password is set.
    let charger = h.connect(CP).await;
    charger.close().await;

    let charger_id = h.charger_id;
    h.set_password(charger_id, CP, PASSWORD).await;
    assert_eq!(refused_with(h.try_connect(CP, Some("ocpp1.6")).await), 401);
    assert_eq!(
        refused_with(
            h.try_connect_as(CP, Some("ocpp1.6"), Some((CP, "0123456789abcdef-CP2")))
                .await
        ),
        401,
        "wrong password"
    );
    assert_eq!(
        refused_with(
            h.try_connect_as(CP, Some("ocpp1.6"), Some(("CP-2", PASSWORD)))
                .await
        ),
        401,
        "user must be the charge point id"
    );
    let mut charger = h
        .try_connect_as(CP, Some("ocpp2.0.1"), Some((CP, PASSWORD)))
        .await
        .expect("right password accepted");
    charger.ok("Heartbeat", json!({})).await;
    charger.close().await;

    let events = h.charger_events().await;
    let profiles: Vec<String> = of_type(&events, ChargerConnected::NAME)
        .iter()
        .map(|e| e.decode::<ChargerConnected>().security_profile)
        .collect();
    assert_eq!(profiles, ["0", "1"]);
    // Only the hash is stored.
    let pool = h.env.pool().await;
    let stored: String = sqlx::query_scalar(
        "SELECT password_hash FROM gateway.charger_credentials WHERE charge_point_id = $1",
    )
    .bind(CP)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(stored.starts_with("$pbkdf2-sha256$") && !stored.contains(PASSWORD));
    pool.close().await;
    h.stop().await;
}

#[tokio::test]
async fn required_authentication_refuses_chargers_without_a_password() {
    let h = Harness::start_with(|s| s.ocpp_require_auth = true).await;
    assert_eq!(refused_with(h.try_connect(CP, Some("ocpp1.6")).await), 401);
    h.stop().await;
}

/// A self-signed certificate for 127.0.0.1 made with the openssl command line.
fn certificate(dir: &std::path::Path) -> (String, String) {
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    let status = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-days", "1", "-subj", "/CN=joule-test"])
        .args(["-addext", "subjectAltName=IP:127.0.0.1"])
        // An end-entity certificate: webpki refuses a CA certificate as a server's.
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(std::process::Stdio::null())
        .status()
        .expect("openssl runs");
    assert!(status.success(), "openssl made a certificate");
    (
        cert.to_string_lossy().into_owned(),
        key.to_string_lossy().into_owned(),
    )
}

#[tokio::test]
async fn profile_2_is_basic_auth_over_tls() {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, ServerName};

    let dir = std::env::temp_dir().join(format!("joule-tls-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, key) = certificate(&dir);
    let (cert_for_settings, key_for_settings) = (cert.clone(), key.clone());
    let h = Harness::start_with(move |s| {
        s.ocpp_tls_cert = cert_for_settings;
        s.ocpp_tls_key = key_for_settings;
    })
    .await;
    h.set_password(h.charger_id, CP, PASSWORD).await;

    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(&cert).unwrap())
        .unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(h.addr).await.unwrap();
    let tls = connector
        .connect(ServerName::try_from("127.0.0.1").unwrap(), tcp)
        .await
        .expect("TLS handshake with the gateway");
    let mut request = format!("wss://{}/ocpp/{CP}", h.addr)
        .into_client_request()
        .unwrap();
    use base64::Engine;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{CP}:{PASSWORD}"));
    request
        .headers_mut()
        .insert("Authorization", format!("Basic {basic}").parse().unwrap());
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", "ocpp1.6".parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::client_async(request, tls).await.unwrap();
    use futures::{SinkExt, StreamExt};
    ws.send(tungstenite::Message::text(r#"[2,"h1","Heartbeat",{}]"#))
        .await
        .unwrap();
    let answer = ws.next().await.unwrap().unwrap();
    let answer: serde_json::Value = serde_json::from_str(answer.to_text().unwrap()).unwrap();
    assert_eq!(answer[0], 3);
    ws.close(None).await.unwrap();

    // Plain TCP is not accepted on a TLS listener.
    assert!(h.try_connect(CP, Some("ocpp1.6")).await.is_err());
    let events = h.charger_events().await;
    let connected: ChargerConnected = of_type(&events, ChargerConnected::NAME)[0].decode();
    assert_eq!(connected.security_profile, "2");
    h.stop().await;
    std::fs::remove_dir_all(dir).ok();
}

fn openssl(args: &[&str], dir: &std::path::Path) {
    let status = std::process::Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stderr(std::process::Stdio::null())
        .status()
        .expect("openssl runs");
    assert!(status.success(), "openssl {args:?}");
}

/// A CA (`<name>-ca.pem`) and a client certificate for `cn` signed by it (`<name>.pem`,
/// `<name>.key`), as a charger's manufacturer or operator would issue them.
fn client_certificate(dir: &std::path::Path, name: &str, cn: &str) {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let ca_subject = format!("/CN={name} charger CA");
    let mut ca = vec!["req", "-x509", "-days", "1", "-subj", &ca_subject];
    ca.extend(ec);
    let (ca_key, ca_pem) = (format!("{name}-ca.key"), format!("{name}-ca.pem"));
    ca.extend([
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign",
        "-keyout",
        &ca_key,
        "-out",
        &ca_pem,
    ]);
    openssl(&ca, dir);
    let subject = format!("/CN={cn}");
    let (key, csr, pem) = (
        format!("{name}.key"),
        format!("{name}.csr"),
        format!("{name}.pem"),
    );
    let mut request = vec!["req", "-subj", &subject, "-keyout", &key, "-out", &csr];
    request.extend(ec);
    openssl(&request, dir);
    let ext = format!("{name}.ext");
    std::fs::write(
        dir.join(&ext),
        "basicConstraints=critical,CA:FALSE\nextendedKeyUsage=clientAuth\n",
    )
    .unwrap();
    openssl(
        &[
            "x509",
            "-req",
            "-days",
            "1",
            "-in",
            &csr,
            "-CA",
            &ca_pem,
            "-CAkey",
            &ca_key,
            "-CAcreateserial",
            "-extfile",
            &ext,
            "-out",
            &pem,
        ],
        dir,
    );
}

/// Connects over TLS, presenting `client` (certificate and key file names in `dir`) if given, and
/// upgrades to OCPP 1.6 as `cp` (no Basic auth).
async fn connect_with_certificate(
    addr: std::net::SocketAddr,
    server_cert: &str,
    dir: &std::path::Path,
    client: Option<&str>,
    cp: &str,
) -> Result<(), String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(server_cert).unwrap())
        .unwrap();
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots);
    let config = match client {
        None => builder.with_no_client_auth(),
        Some(name) => builder
            .with_client_auth_cert(
                vec![CertificateDer::from_pem_file(dir.join(format!("{name}.pem"))).unwrap()],
                PrivateKeyDer::from_pem_file(dir.join(format!("{name}.key"))).unwrap(),
            )
            .unwrap(),
    };
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let tls = connector
        .connect(ServerName::try_from("127.0.0.1").unwrap(), tcp)
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    let mut request = format!("wss://{addr}/ocpp/{cp}")
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", "ocpp1.6".parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::client_async(request, tls)
        .await
        .map_err(|e| match e {
            tungstenite::Error::Http(r) => format!("HTTP {}", r.status().as_u16()),
            other => other.to_string(),
        })?;
    use futures::{SinkExt, StreamExt};
    ws.send(tungstenite::Message::text(r#"[2,"h1","Heartbeat",{}]"#))
        .await
        .map_err(|e| e.to_string())?;
    let answer = ws
        .next()
        .await
        .ok_or("closed")?
        .map_err(|e| e.to_string())?;
    let answer: serde_json::Value = serde_json::from_str(answer.to_text().unwrap()).unwrap();
    assert_eq!(answer[0], 3, "{answer}");
    ws.close(None).await.ok();
    Ok(())
}

#[tokio::test]
async fn profile_3_is_a_client_certificate_whose_common_name_is_the_charge_point() {
    let dir = std::env::temp_dir().join(format!("joule-mtls-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, key) = certificate(&dir);
    client_certificate(&dir, "cp1", CP);
    client_certificate(&dir, "other", "CP-OTHER");
    // A second CA the gateway does not trust, issuing a certificate for the right charge point.
    client_certificate(&dir, "rogue", CP);
    let ca = dir.join("cp1-ca.pem").to_string_lossy().into_owned();
    let other_ca = std::fs::read_to_string(dir.join("other-ca.pem")).unwrap();
    // The gateway trusts the two operator CAs (one PEM file with both), and requires authentication.
    std::fs::write(&ca, std::fs::read_to_string(&ca).unwrap() + &other_ca).unwrap();
    let (cert_s, key_s, ca_s) = (cert.clone(), key.clone(), ca.clone());
    let h = Harness::start_with(move |s| {
        s.ocpp_tls_cert = cert_s;
        s.ocpp_tls_key = key_s;
        s.ocpp_tls_client_ca = ca_s;
        s.ocpp_require_auth = true;
    })
    .await;
    h.set_password(h.charger_id, CP, PASSWORD).await;

    // The charger's own certificate: accepted without a password, as profile 3.
    connect_with_certificate(h.addr, &cert, &dir, Some("cp1"), CP)
        .await
        .expect("profile 3 connects");
    // A trusted certificate of another charge point: refused at the upgrade.
    assert_eq!(
        connect_with_certificate(h.addr, &cert, &dir, Some("other"), CP).await,
        Err("HTTP 401".into())
    );
    // A certificate from a CA the gateway does not trust: the handshake or upgrade fails.
    assert!(
        connect_with_certificate(h.addr, &cert, &dir, Some("rogue"), CP)
            .await
            .is_err()
    );
    // No certificate and no password: authentication is required.
    assert_eq!(
        connect_with_certificate(h.addr, &cert, &dir, None, CP).await,
        Err("HTTP 401".into())
    );

    let events = h.charger_events().await;
    let connected = of_type(&events, ChargerConnected::NAME);
    assert_eq!(
        connected.len(),
        1,
        "only the charger's own certificate got in"
    );
    assert_eq!(
        connected[0].decode::<ChargerConnected>().security_profile,
        "3"
    );
    h.stop().await;
    std::fs::remove_dir_all(dir).ok();
}
