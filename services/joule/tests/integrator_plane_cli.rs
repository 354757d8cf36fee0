//! `joule integrator-plane init`, run as the binary users run: a `nats-server` started with the
//! configuration it wrote lets the webhooks user it wrote publish, and a tenant user signed with
//! the settings of `api.env` read; the secrets are owner-readable only and never printed; an
//! existing plane is not replaced unless told to.

use std::process::Command;

use joule_bus::Namespace;
use joule_bus::tenant_streams::{Issuer, StreamLimits, TenantStreams, names};
use joule_testkit::NatsServer;

fn joule(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_joule"))
        .args(args)
        .output()
        .expect("joule runs")
}

fn setting(env: &str, name: &str) -> String {
    env.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}=")))
        .unwrap_or_else(|| panic!("{name} in api.env"))
        .to_owned()
}

#[tokio::test]
async fn the_files_it_writes_make_a_working_plane() {
    let dir = std::env::temp_dir().join(format!("joule-plane-{}", uuid::Uuid::new_v4()));
    let out = dir.to_str().unwrap();
    let run = joule(&[
        "integrator-plane",
        "init",
        "--out",
        out,
        "--namespace",
        "acme-ns",
    ]);
    assert!(run.status.success(), "{run:?}");
    let printed = String::from_utf8(run.stdout).unwrap();
    let env = std::fs::read_to_string(dir.join("api.env")).unwrap();
    let seed = setting(&env, "JOULE_INTEGRATOR_SIGNING_SEED");
    assert!(seed.starts_with("SA"), "{env}");
    assert!(
        !printed.contains(&seed),
        "the seed is never printed: {printed}"
    );
    #[cfg(unix)]
    for secret in [
        "api.env",
        "webhooks.creds",
        "operator.nk",
        "account.nk",
        "system.nk",
    ] {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join(secret))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "{secret} is owner-only");
    }

    let server = NatsServer::start(&dir.join("integrators.conf")).await;
    let ns = Namespace::new("acme-ns").unwrap();
    let creds = std::fs::read_to_string(dir.join("webhooks.creds")).unwrap();
    let limits = StreamLimits {
        max_age: std::time::Duration::from_secs(60),
        max_bytes: -1,
        replicas: 1,
    };
    let streams = TenantStreams::connect(&server.url, &creds, ns.clone(), limits)
        .await
        .unwrap();
    streams
        .publish(
            "t1",
            "session",
            "joule.v1.SessionCompleted",
            "e1",
            bytes::Bytes::from("{}"),
        )
        .await
        .expect("the webhooks user publishes");

    let issuer = Issuer::new(&setting(&env, "JOULE_INTEGRATOR_ACCOUNT"), &seed).unwrap();
    let now = chrono::Utc::now().timestamp();
    let user = issuer
        .tenant_user(&ns, "t1", "reader", now, now + 60)
        .unwrap();
    let client = async_nats::ConnectOptions::with_credentials(&user.creds)
        .unwrap()
        .custom_inbox_prefix(names::inbox_prefix("t1"))
        .connect(&server.url)
        .await
        .unwrap();
    let mut stream = async_nats::jetstream::new(client)
        .get_stream(names::stream(&ns, "t1"))
        .await
        .expect("the tenant's user reads its stream");
    assert_eq!(stream.info().await.unwrap().state.messages, 1);

    let again = joule(&["integrator-plane", "init", "--out", out]);
    assert!(!again.status.success(), "an existing plane is kept");
    drop(server);
    let _ = std::fs::remove_dir_all(dir);
}
