//! Security profiles: HTTP Basic auth per charger with a hashed password (profile 1), the same over
//! TLS (profile 2), a client certificate (profile 3), and chargers without a password (profile 0)
//! only where authentication is turned off. Unknown ids and wrong passwords get one answer, failures
//! are throttled, and a lower profile never replaces a higher one (ADR 026).

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
async fn authentication_is_required_by_default() {
    // The test environment allows profile 0 explicitly; this is the built-in default.
    let default = joule_config::Settings::default().ocpp_require_auth;
    let h = Harness::start_with(move |s| s.ocpp_require_auth = default).await;
    assert_eq!(refused_with(h.try_connect(CP, Some("ocpp1.6")).await), 401);
    assert_eq!(
        refused_with(
            h.try_connect_as(CP, Some("ocpp1.6"), Some((CP, PASSWORD)))
                .await
        ),
        401,
        "no password is registered, so none matches"
    );
    assert!(h.charger_events().await.is_empty());
    h.stop().await;
}

/// Status, `WWW-Authenticate` and body of a refused upgrade.
fn refusal(result: Result<Charger, tungstenite::Error>) -> (u16, Option<String>, Vec<u8>) {
    match result {
        Err(tungstenite::Error::Http(response)) => (
            response.status().as_u16(),
            response
                .headers()
                .get("www-authenticate")
                .map(|v| v.to_str().unwrap().to_owned()),
            response.body().clone().unwrap_or_default(),
        ),
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("upgrade accepted"),
    }
}

#[tokio::test]
async fn an_unknown_id_gets_the_same_401_as_a_wrong_password() {
    let h = Harness::start_with(|s| s.ocpp_require_auth = true).await;
    h.set_password(h.charger_id, CP, PASSWORD).await;
    let wrong_password = refusal(
        h.try_connect_as(CP, Some("ocpp1.6"), Some((CP, "wrong-Password-0001")))
            .await,
    );
    assert_eq!(wrong_password.0, 401);
    assert!(wrong_password.1.is_some() && !wrong_password.2.is_empty());
    let unknown = refusal(
        h.try_connect_as("CP-NOPE", Some("ocpp1.6"), Some(("CP-NOPE", PASSWORD)))
            .await,
    );
    assert_eq!(unknown, wrong_password);
    let unknown_without_credentials = refusal(h.try_connect("CP-NOPE", Some("ocpp1.6")).await);
    let known_without_credentials = refusal(h.try_connect(CP, Some("ocpp1.6")).await);
    assert_eq!(unknown_without_credentials, wrong_password);
    assert_eq!(known_without_credentials, wrong_password);
    let invalid = refusal(h.try_connect("cp.with.dots", Some("ocpp1.6")).await);
    assert_eq!(invalid, wrong_password);
    h.stop().await;
}

/// Upgrades as `cp` from the loopback address `source`, with Basic credentials.
async fn connect_from(
    addr: std::net::SocketAddr,
    source: [u8; 4],
    cp: &str,
    password: &str,
) -> Result<(), u16> {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket
        .bind(std::net::SocketAddr::from((source, 0)))
        .unwrap();
    let tcp = socket.connect(addr).await.unwrap();
    let mut request = format!("ws://{addr}/ocpp/{cp}")
        .into_client_request()
        .unwrap();
    use base64::Engine;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{cp}:{password}"));
    request
        .headers_mut()
        .insert("Authorization", format!("Basic {basic}").parse().unwrap());
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", "ocpp1.6".parse().unwrap());
    match tokio_tungstenite::client_async(request, tcp).await {
        Ok((mut ws, _)) => {
            ws.close(None).await.ok();
            Ok(())
        }
        Err(tungstenite::Error::Http(response)) => {
            if response.status() == 429 {
                assert!(response.headers().contains_key("retry-after"));
            }
            Err(response.status().as_u16())
        }
        Err(e) => panic!("unexpected error {e}"),
    }
}

#[tokio::test]
async fn failed_authentications_lock_out_the_id_and_then_the_address() {
    let h = Harness::start_with(|s| {
        s.ocpp_require_auth = true;
        s.ocpp_auth_max_failures = 3;
        s.ocpp_auth_max_failures_per_ip = 10;
        s.ocpp_auth_lockout_secs = 300;
        s.ocpp_auth_lockout_max_secs = 600;
    })
    .await;
    h.set_password(h.charger_id, CP, PASSWORD).await;
    let other = h.register_charger("CP-2").await;
    h.set_password(other, "CP-2", PASSWORD).await;
    const HERE: [u8; 4] = [127, 0, 0, 1];
    const ELSEWHERE: [u8; 4] = [127, 0, 0, 2];

    for _ in 0..3 {
        assert_eq!(
            connect_from(h.addr, HERE, CP, "wrong-Password-0001").await,
            Err(401)
        );
    }
    // Locked out: even the right password is answered 429, from anywhere, without a check.
    assert_eq!(connect_from(h.addr, HERE, CP, PASSWORD).await, Err(429));
    assert_eq!(
        connect_from(h.addr, ELSEWHERE, CP, PASSWORD).await,
        Err(429)
    );
    // An unknown id is locked out the same way.
    for _ in 0..3 {
        assert_eq!(
            connect_from(h.addr, HERE, "CP-NOPE", PASSWORD).await,
            Err(401)
        );
    }
    assert_eq!(
        connect_from(h.addr, HERE, "CP-NOPE", PASSWORD).await,
        Err(429)
    );
    // Other chargers are not affected, until this address has failed ten times in all.
    assert_eq!(connect_from(h.addr, HERE, "CP-2", PASSWORD).await, Ok(()));
    for i in 0..4 {
        assert_eq!(
            connect_from(h.addr, HERE, &format!("CP-GUESS-{i}"), PASSWORD).await,
            Err(401)
        );
    }
    assert_eq!(connect_from(h.addr, HERE, "CP-2", PASSWORD).await, Err(429));
    assert_eq!(
        connect_from(h.addr, ELSEWHERE, "CP-2", PASSWORD).await,
        Ok(())
    );
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
    client_certificate_for(dir, name, &format!("/CN={cn}"));
}

/// A CA `<name>-ca` and a client certificate `<name>` it signed, with the subject `subject`
/// (`/O=<organisation>/CN=<charge point>`).
fn client_certificate_for(dir: &std::path::Path, name: &str, subject: &str) {
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
    let (key, csr, pem) = (
        format!("{name}.key"),
        format!("{name}.csr"),
        format!("{name}.pem"),
    );
    let mut request = vec!["req", "-subj", subject, "-keyout", &key, "-out", &csr];
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

type TlsCharger =
    tokio_tungstenite::WebSocketStream<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>;

/// Opens a TLS WebSocket as `cp` (OCPP 1.6), presenting `client` (certificate and key file names in
/// `dir`) and Basic credentials with `password` if given; an upgrade refusal is `HTTP <status>`.
async fn open_tls(
    addr: std::net::SocketAddr,
    server_cert: &str,
    dir: &std::path::Path,
    client: Option<&str>,
    cp: &str,
    password: Option<&str>,
) -> Result<TlsCharger, String> {
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
    if let Some(password) = password {
        use base64::Engine;
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("{cp}:{password}"));
        request
            .headers_mut()
            .insert("Authorization", format!("Basic {basic}").parse().unwrap());
    }
    let (ws, _) = tokio_tungstenite::client_async(request, tls)
        .await
        .map_err(|e| match e {
            tungstenite::Error::Http(r) => format!("HTTP {}", r.status().as_u16()),
            other => other.to_string(),
        })?;
    Ok(ws)
}

/// A heartbeat on an open TLS connection.
async fn heartbeat(ws: &mut TlsCharger) -> Result<(), String> {
    use futures::{SinkExt, StreamExt};
    ws.send(tungstenite::Message::text(r#"[2,"h1","Heartbeat",{}]"#))
        .await
        .map_err(|e| e.to_string())?;
    loop {
        let answer = ws
            .next()
            .await
            .ok_or("closed")?
            .map_err(|e| e.to_string())?;
        match answer {
            tungstenite::Message::Text(text) => {
                let answer: serde_json::Value = serde_json::from_str(text.as_str()).unwrap();
                assert_eq!(answer[0], 3, "{answer}");
                return Ok(());
            }
            tungstenite::Message::Close(frame) => return Err(format!("closed: {frame:?}")),
            _ => continue,
        }
    }
}

/// Connects over TLS, presenting `client` (certificate and key file names in `dir`) if given, and
/// upgrades to OCPP 1.6 as `cp` (no Basic auth); a heartbeat is answered.
async fn connect_with_certificate(
    addr: std::net::SocketAddr,
    server_cert: &str,
    dir: &std::path::Path,
    client: Option<&str>,
    cp: &str,
) -> Result<(), String> {
    let mut ws = open_tls(addr, server_cert, dir, client, cp, None).await?;
    heartbeat(&mut ws).await?;
    ws.close(None).await.ok();
    Ok(())
}

#[tokio::test]
async fn a_connection_at_a_lower_profile_never_replaces_one_at_a_higher_profile() {
    let dir = std::env::temp_dir().join(format!("joule-downgrade-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, key) = certificate(&dir);
    client_certificate(&dir, "cp1", CP);
    let ca = dir.join("cp1-ca.pem").to_string_lossy().into_owned();
    let (cert_s, key_s, ca_s) = (cert.clone(), key.clone(), ca.clone());
    let h = Harness::start_with(move |s| {
        s.ocpp_tls_cert = cert_s;
        s.ocpp_tls_key = key_s;
        s.ocpp_tls_client_ca = ca_s;
        s.ocpp_require_auth = true;
    })
    .await;
    h.set_password(h.charger_id, CP, PASSWORD).await;

    let mut profile_3 = open_tls(h.addr, &cert, &dir, Some("cp1"), CP, None)
        .await
        .expect("profile 3 connects");
    heartbeat(&mut profile_3).await.unwrap();
    // The password is right, but the charger is connected with its certificate: refused, and the
    // open connection stays.
    assert_eq!(
        open_tls(h.addr, &cert, &dir, None, CP, Some(PASSWORD))
            .await
            .err(),
        Some("HTTP 409".to_owned())
    );
    heartbeat(&mut profile_3).await.unwrap();
    profile_3.close(None).await.unwrap();
    drop(profile_3);

    // Once it closed, profile 2 connects; a profile 3 connection then replaces it.
    let deadline = tokio::time::Instant::now() + support::DEADLINE;
    let mut profile_2 = loop {
        match open_tls(h.addr, &cert, &dir, None, CP, Some(PASSWORD)).await {
            Ok(ws) => break ws,
            // The gateway may not have seen the close yet.
            Err(e) if e == "HTTP 409" && tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await
            }
            Err(e) => panic!("{e}"),
        }
    };
    heartbeat(&mut profile_2).await.unwrap();
    let mut again = open_tls(h.addr, &cert, &dir, Some("cp1"), CP, None)
        .await
        .expect("a higher profile replaces a lower one");
    assert!(heartbeat(&mut profile_2).await.is_err(), "replaced");
    heartbeat(&mut again).await.unwrap();
    again.close(None).await.ok();

    let events = h.charger_events().await;
    let profiles: Vec<String> = of_type(&events, ChargerConnected::NAME)
        .iter()
        .map(|e| e.decode::<ChargerConnected>().security_profile)
        .collect();
    assert_eq!(profiles, ["3", "2", "3"]);
    h.stop().await;
    std::fs::remove_dir_all(dir).ok();
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

/// ADR 032: a client certificate is for a charge point of another tenant than the deployment's
/// only when its organisation (O) names that tenant; on the deployment's tenant, one naming another
/// tenant the gateway knows is refused, while one from before tenants (no such O) still connects.
#[tokio::test]
async fn a_client_certificate_is_for_the_tenant_its_organisation_names() {
    let dir = std::env::temp_dir().join(format!("joule-mtls-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, key) = certificate(&dir);
    client_certificate_for(&dir, "acme", &format!("/O=acme/CN={CP}"));
    client_certificate_for(&dir, "plain", &format!("/O=Some Operator/CN={CP}"));
    let ca = dir.join("cas.pem");
    let cas = std::fs::read_to_string(dir.join("acme-ca.pem")).unwrap()
        + &std::fs::read_to_string(dir.join("plain-ca.pem")).unwrap();
    std::fs::write(&ca, cas).unwrap();
    let (cert_s, key_s, ca_s) = (cert.clone(), key.clone(), ca.to_string_lossy().into_owned());
    let h = Harness::start_with(move |s| {
        s.ocpp_tls_cert = cert_s;
        s.ocpp_tls_key = key_s;
        s.ocpp_tls_client_ca = ca_s;
        s.ocpp_require_auth = true;
    })
    .await;
    h.register_charger_in("acme", CP).await;
    let acme_path = format!("acme/{CP}");

    connect_with_certificate(h.addr, &cert, &dir, Some("acme"), &acme_path)
        .await
        .expect("acme's certificate on acme's path");
    assert_eq!(
        connect_with_certificate(h.addr, &cert, &dir, Some("plain"), &acme_path).await,
        Err("HTTP 401".into()),
        "a certificate that does not name acme is not acme's"
    );
    assert_eq!(
        connect_with_certificate(h.addr, &cert, &dir, Some("acme"), CP).await,
        Err("HTTP 401".into()),
        "acme's certificate is not the default tenant's CP-1"
    );
    connect_with_certificate(h.addr, &cert, &dir, Some("plain"), CP)
        .await
        .expect("a certificate from before tenants on the legacy path");

    let events = h.charger_events().await;
    let tenants: Vec<&str> = of_type(&events, ChargerConnected::NAME)
        .iter()
        .map(|e| e.envelope.tenant_id.as_str())
        .collect();
    assert_eq!(tenants, vec!["acme", "default"]);
    h.stop().await;
    std::fs::remove_dir_all(dir).ok();
}
