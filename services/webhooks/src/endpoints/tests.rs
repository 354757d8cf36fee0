use super::*;

fn own() -> OwnAddrs {
    OwnAddrs::from_settings(&Settings {
        api_addr: "0.0.0.0:8080".into(),
        grpc_addr: "127.0.0.1:50051".into(),
        ocpp_addr: "127.0.0.1:0".into(),
        webhooks_refused_addrs: "joule-api:8080, joule-ledger:50051".into(),
        ..Settings::default()
    })
}

#[test]
fn http_and_https_urls_are_accepted() {
    assert_eq!(
        check_url(" https://example.com/hooks?x=1 ", &own()),
        Ok("https://example.com/hooks?x=1".into())
    );
    assert!(check_url("http://10.0.0.5:8080/in", &own()).is_ok());
    assert!(check_url("http://127.0.0.1:8081/in", &own()).is_ok());
}

#[test]
fn other_schemes_relative_urls_and_credentials_are_refused() {
    for bad in [
        "",
        "ftp://example.com/x",
        "file:///etc/passwd",
        "/hooks",
        "example.com/hooks",
        "https://user:pw@example.com/",
        "https://user@example.com/",
    ] {
        let error = check_url(bad, &own()).expect_err(bad);
        assert_eq!(error.field, "url", "{bad}");
    }
    let long = format!("https://example.com/{}", "a".repeat(MAX_URL_CHARS));
    assert!(check_url(&long, &own()).is_err());
}

#[test]
fn the_platforms_own_addresses_are_refused() {
    for own_addr in [
        "http://localhost:8080/x",
        "http://127.0.0.1:8080/x",
        "http://[::1]:8080/x",
        "http://127.0.0.1:50051/x",
        "http://LOCALHOST:50051/x",
        "http://joule-api:8080/x",
        "https://JOULE-LEDGER:50051/x",
    ] {
        let error = check_url(own_addr, &own()).expect_err(own_addr);
        assert!(error.reason.contains("platform itself"), "{error}");
    }
    // Port 0 (a test's ephemeral listener) names no address.
    assert!(check_url("http://127.0.0.1:9/x", &own()).is_ok());
}

#[test]
fn event_types_are_known_types_or_star_alone() {
    let types =
        |t: &[&str]| check_event_types(&t.iter().map(|s| s.to_string()).collect::<Vec<_>>());
    assert_eq!(types(&["*"]), Ok(vec!["*".to_owned()]));
    assert_eq!(
        types(&["joule.v1.SessionCompleted", "joule.v1.SessionCompleted"]),
        Ok(vec!["joule.v1.SessionCompleted".to_owned()])
    );
    assert!(types(&[]).is_err());
    assert!(types(&["joule.v1.Nope"]).is_err());
    assert!(types(&["joule.v1.ChargerCredentialsSet"]).is_err());
    assert!(types(&["*", "joule.v1.InvoiceIssued"]).is_err());
}
