//! Limits of the REST listener (ADR 026): body size per route, the header read timeout, and the cap
//! on open connections.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::App;

/// Reads until the server closes the connection; returns what it sent.
async fn read_to_close(stream: &mut TcpStream) -> Vec<u8> {
    let mut seen = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        let read = tokio::time::timeout(Duration::from_secs(30), stream.read(&mut buf))
            .await
            .expect("the server closes the connection in time");
        match read {
            Ok(0) | Err(_) => return seen,
            Ok(n) => seen.extend_from_slice(&buf[..n]),
        }
    }
}

#[tokio::test]
async fn a_body_over_the_route_limit_is_413_problem_json() {
    let app = App::spawn_adjusted(&[joule_api::SERVICE], |s| {
        s.api_body_limit_bytes = 1024;
        s.api_bulk_body_limit_bytes = 64 * 1024;
    })
    .await;
    let name = "x".repeat(2000);
    let body = json!({"name": name, "country": "DE", "time_zone": "Europe/Berlin"});
    app.post("/v1/sites", &body)
        .await
        .problem(StatusCode::PAYLOAD_TOO_LARGE);
    // Without a Content-Length (chunked) the limit holds all the same.
    let text = body.to_string();
    let mut request = format!(
        "POST /v1/sites HTTP/1.1\r\nHost: joule\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        app.token
    );
    for chunk in [&text[..1000], &text[1000..]] {
        request.push_str(&format!("{:x}\r\n{chunk}\r\n", chunk.len()));
    }
    request.push_str("0\r\n\r\n");
    let mut stream = TcpStream::connect(app.base.trim_start_matches("http://"))
        .await
        .unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let answer = String::from_utf8_lossy(&read_to_close(&mut stream).await).into_owned();
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("application/problem+json"), "{answer}");
    // The same size is within the limit of a bulk route (here refused for its content, not its size).
    let tariff = json!({"country_code": "DE", "party_id": "JOU", "id": name, "currency": "EUR",
        "elements": [], "last_updated": "2026-11-01T00:00:00Z"});
    let reply = app.post("/v1/tariffs", &tariff).await;
    assert_ne!(
        reply.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{}",
        reply.body
    );
    // A body within the limit is served.
    assert_eq!(app.create_site().await["country"], "DE");
}

#[tokio::test]
async fn a_client_that_does_not_finish_its_header_is_disconnected() {
    let app = App::spawn_adjusted(&[joule_api::SERVICE], |s| {
        s.http_header_read_timeout_secs = 1;
    })
    .await;
    let addr = app.base.trim_start_matches("http://");
    let mut slow = TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"GET /v1/sites HTTP/1.1\r\nHost: joule\r\n")
        .await
        .unwrap();
    // The rest of the header never comes.
    let answer = read_to_close(&mut slow).await;
    assert!(
        !String::from_utf8_lossy(&answer).contains("200 OK"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    // An idle keep-alive connection is closed the same way.
    let mut idle = TcpStream::connect(addr).await.unwrap();
    read_to_close(&mut idle).await;
    // Others are served.
    assert_eq!(app.get("/v1/sites").await.status, StatusCode::OK);
}

#[tokio::test]
async fn connections_over_the_cap_are_closed_at_once() {
    let app = App::spawn_adjusted(&[joule_api::SERVICE], |s| {
        s.api_max_connections = 2;
        s.http_header_read_timeout_secs = 60;
    })
    .await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    let first = TcpStream::connect(&addr).await.unwrap();
    let mut second = TcpStream::connect(&addr).await.unwrap();
    // Both are open: the second is served.
    second
        .write_all(b"GET /v1/sites HTTP/1.1\r\nHost: joule\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let answer = read_to_close(&mut second).await;
    assert!(String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 401"));
    // The second has closed; the first is still open, so one more fits and the next one does not.
    let mut third = TcpStream::connect(&addr).await.unwrap();
    // Until the server has seen the second connection close, one more is still served.
    let what = "a connection over the cap is closed unanswered";
    let mut fourth = joule_testkit::eventually(what, || async {
        let mut stream = TcpStream::connect(&addr).await.unwrap();
        stream
            .write_all(b"GET /v1/sites HTTP/1.1\r\nHost: joule\r\nConnection: close\r\n\r\n")
            .await
            .ok();
        read_to_close(&mut stream)
            .await
            .is_empty()
            .then_some(stream)
    })
    .await;
    assert!(
        read_to_close(&mut fourth).await.is_empty(),
        "closed unanswered"
    );
    drop((first, fourth));
    third
        .write_all(b"GET /v1/sites HTTP/1.1\r\nHost: joule\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    assert!(String::from_utf8_lossy(&read_to_close(&mut third).await).starts_with("HTTP/1.1 401"));
    // Once connections close, new ones are served again.
    joule_testkit::eventually("a new connection is served", || async {
        let sent = app.client.get(app.url("/v1/sites")).bearer_auth(&app.token);
        sent.send().await.ok()
    })
    .await;
}
