//! `joule certs dev`, run as the binary users run: it writes a CA and a certificate and key per
//! service, prints the settings to use, and does not overwrite a CA unless told to.

use std::process::Command;

fn joule(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_joule"))
        .args(args)
        .output()
        .expect("joule runs")
}

#[test]
fn joule_certs_dev_writes_a_ca_and_a_certificate_per_service() {
    let dir = std::env::temp_dir().join(format!("joule-certs-{}", uuid::Uuid::new_v4()));
    let out = dir.to_str().unwrap();
    let run = joule(&["certs", "dev", "--out", out, "--services", "pricing,api"]);
    assert!(run.status.success(), "{run:?}");
    let printed = String::from_utf8(run.stdout).unwrap();
    for file in [
        "ca.pem",
        "ca.key",
        "pricing.pem",
        "pricing.key",
        "api.pem",
        "api.key",
    ] {
        let text = std::fs::read_to_string(dir.join(file)).unwrap();
        assert!(text.starts_with("-----BEGIN "), "{file}: {text}");
    }
    assert!(!dir.join("sessions.pem").exists());
    assert!(printed.contains("JOULE_GRPC_TLS_CA="), "{printed}");
    assert!(
        printed.contains("pricing: JOULE_GRPC_TLS_CERT="),
        "{printed}"
    );
    assert!(printed.contains("JOULE_GRPC_TLS_KEY="), "{printed}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join("pricing.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "a key readable by others: {mode:o}");
    }

    let ca = std::fs::read_to_string(dir.join("ca.pem")).unwrap();
    let again = joule(&["certs", "dev", "--out", out, "--services", "pricing"]);
    assert_eq!(again.status.code(), Some(2), "{again:?}");
    assert_eq!(std::fs::read_to_string(dir.join("ca.pem")).unwrap(), ca);
    let forced = joule(&[
        "certs",
        "dev",
        "--out",
        out,
        "--services",
        "pricing",
        "--force",
    ]);
    assert!(forced.status.success(), "{forced:?}");
    assert_ne!(std::fs::read_to_string(dir.join("ca.pem")).unwrap(), ca);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn one_certificate_names_the_services_of_one_process_and_no_san_lends_an_identity() {
    let dir = std::env::temp_dir().join(format!("joule-certs-{}", uuid::Uuid::new_v4()));
    let out = dir.to_str().unwrap();
    let run = joule(&["certs", "dev", "--out", out, "--services", "api+pricing"]);
    assert!(run.status.success(), "{run:?}");
    let pem = std::fs::read(dir.join("api+pricing.pem")).unwrap();
    let caller = joule_runtime::authz::Caller::of_pem(&pem).unwrap();
    assert_eq!(caller.services(), ["api", "pricing"]);

    let lent = joule(&[
        "certs",
        "dev",
        "--out",
        out,
        "--services",
        "ledger",
        "--san",
        "joule-payments",
        "--force",
    ]);
    assert_eq!(lent.status.code(), Some(2), "{lent:?}");
    let error = String::from_utf8(lent.stderr).unwrap();
    assert!(error.contains("joule-payments"), "{error}");
    std::fs::remove_dir_all(&dir).ok();
}
