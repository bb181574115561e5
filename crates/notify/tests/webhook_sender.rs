//! WebhookSender against a receiver that verifies the signature the documented way.
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use meoktong_notify::providers::{
    SIGNATURE_HEADER, TIMESTAMP_HEADER, WebhookSender, verify_webhook_signature,
    webhook_timestamp_is_fresh,
};

const SECRET: &[u8] = b"per-webhook-secret";

#[derive(Clone, Default)]
struct Receiver {
    answer: Arc<Mutex<u16>>,
    bodies: Arc<Mutex<Vec<serde_json::Value>>>,
}

async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let timestamp = header(TIMESTAMP_HEADER);
    let fresh = webhook_timestamp_is_fresh(&timestamp, SystemTime::now(), Duration::from_secs(300));
    if !fresh || !verify_webhook_signature(SECRET, &timestamp, &body, &header(SIGNATURE_HEADER)) {
        return StatusCode::UNAUTHORIZED;
    }
    r.bodies
        .lock()
        .expect("lock")
        .push(serde_json::from_slice(&body).expect("json"));
    StatusCode::from_u16(*r.answer.lock().expect("lock")).expect("status")
}

async fn start() -> (String, Receiver) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/alerts", listener.local_addr().expect("addr"));
    let receiver = Receiver {
        answer: Arc::new(Mutex::new(204)),
        ..Receiver::default()
    };
    let app = Router::new()
        .route("/alerts", post(receive))
        .with_state(receiver.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    (url, receiver)
}

#[tokio::test]
async fn a_signed_alert_is_accepted_and_a_wrong_secret_is_refused() {
    let (url, receiver) = start().await;
    let sender = WebhookSender::new(reqwest::Client::new());
    let payload = serde_json::json!({"event": "incident.opened", "dependency": "kakao-talk", "name": "카카오톡"});
    sender.send(&url, SECRET, &payload).await.expect("accepted");
    assert_eq!(
        receiver.bodies.lock().expect("lock").clone(),
        vec![payload.clone()]
    );

    let e = sender
        .send(&url, b"another secret", &payload)
        .await
        .expect_err("401");
    assert!(e.is_permanent(), "{e}");
}

#[tokio::test]
async fn receiver_failures_are_classified() {
    let (url, receiver) = start().await;
    let sender = WebhookSender::new(reqwest::Client::new());
    let payload = serde_json::json!({"event": "test"});
    for (status, permanent) in [
        (503, false),
        (429, false),
        (408, false),
        (404, true),
        (410, true),
    ] {
        *receiver.answer.lock().expect("lock") = status;
        let e = sender
            .send(&url, SECRET, &payload)
            .await
            .expect_err("failure");
        assert_eq!(e.is_permanent(), permanent, "{status}: {e}");
    }
}
