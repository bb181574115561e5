//! The stand-in's signed webhooks against the service's verifier: two independent
//! implementations of Twilio's signature must agree.
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{OriginalUri, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use meoktong_config::{Secret, SmsProviderSettings};
use meoktong_notify::providers::{SmsProvider, SmsRequest, TwilioSms, verify_twilio_signature};
use meoktong_testkit::{Signing, TwilioStandIn};

const SID: &str = "AC0123456789abcdef0123456789abcdef";
const TOKEN: &str = "test-auth-token";

type Seen = Arc<Mutex<Vec<Vec<(String, String)>>>>;

/// A receiver that checks the signature against its own public URL, as the web crate will.
async fn start_receiver() -> (String, Seen) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let seen: Seen = Arc::default();
    let public = base.clone();
    let handler =
        move |State(seen): State<Seen>, uri: OriginalUri, headers: HeaderMap, body: String| {
            let public = public.clone();
            async move {
                let params: Vec<(String, String)> = url::form_urlencoded::parse(body.as_bytes())
                    .into_owned()
                    .collect();
                let url = format!("{public}{}", uri.0);
                let signature = headers
                    .get("X-Twilio-Signature")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                if !verify_twilio_signature(TOKEN, &url, &params, signature) {
                    return StatusCode::FORBIDDEN;
                }
                seen.lock().expect("lock").push(params);
                StatusCode::OK
            }
        };
    let app = Router::new()
        .route("/hooks/twilio/{kind}", post(handler))
        .with_state(seen.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    (base, seen)
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

#[tokio::test]
async fn status_callbacks_are_signed_as_twilio_signs_them() {
    let twilio = TwilioStandIn::start(SID, TOKEN).await;
    let (receiver, seen) = start_receiver().await;
    let settings = SmsProviderSettings {
        base_url: twilio.base_url(),
        account_sid: SID.into(),
        from: "+15005550006".into(),
        ..SmsProviderSettings::default()
    };
    let sms = TwilioSms::new(&settings, Secret::new(TOKEN), reqwest::Client::new()).expect("valid");
    let req = SmsRequest {
        to: "+821012345678".into(),
        body: "테스트 a+b & c=d".into(),
        status_callback: Some(format!("{receiver}/hooks/twilio/status?attempt=1")),
        validity: None,
    };
    let sid = sms.send(&req).await.expect("accepted").provider_message_id;

    assert_eq!(
        twilio
            .send_status_callback(&sid, "delivered", Some(30003))
            .await
            .expect("posted"),
        200
    );
    assert_eq!(
        twilio
            .send_status_callback(&sid, "undelivered", Some(30003))
            .await
            .expect("posted"),
        200
    );
    let wrong = twilio
        .send_status_callback_signed(&sid, "failed", None, Signing::Wrong)
        .await
        .expect("posted");
    assert_eq!(wrong.status, 403);
    let missing = twilio
        .send_status_callback_signed(&sid, "failed", None, Signing::Missing)
        .await
        .expect("posted");
    assert_eq!(missing.status, 403);

    let seen = seen.lock().expect("lock").clone();
    assert_eq!(seen.len(), 2);
    assert_eq!(param(&seen[0], "MessageSid"), Some(sid.as_str()));
    assert_eq!(param(&seen[0], "MessageStatus"), Some("delivered"));
    assert_eq!(
        param(&seen[0], "ErrorCode"),
        None,
        "ErrorCode only with failed/undelivered"
    );
    assert_eq!(param(&seen[1], "ErrorCode"), Some("30003"));
    assert_eq!(param(&seen[1], "AccountSid"), Some(SID));
    assert_eq!(param(&seen[1], "To"), Some("+821012345678"));
    assert_eq!(param(&seen[1], "From"), Some("+15005550006"));
    assert_eq!(twilio.messages()[0].status, "undelivered");
}

#[tokio::test]
async fn inbound_sms_is_signed_too() {
    let twilio = TwilioStandIn::start(SID, TOKEN).await;
    let (receiver, seen) = start_receiver().await;
    let url = format!("{receiver}/hooks/twilio/inbound");
    let answer = twilio
        .send_inbound(&url, "+821012345678", "확인")
        .await
        .expect("posted");
    assert_eq!(answer.status, 200);
    let bad = twilio
        .send_inbound_signed(&url, "+821012345678", "확인", Signing::Wrong)
        .await
        .expect("posted");
    assert_eq!(bad.status, 403);
    let seen = seen.lock().expect("lock").clone();
    assert_eq!(param(&seen[0], "Body"), Some("확인"));
    assert_eq!(param(&seen[0], "From"), Some("+821012345678"));
    assert_eq!(param(&seen[0], "To"), Some("+15005550006"));
}
