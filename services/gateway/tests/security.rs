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
