//! TwilioSms against the Twilio stand-in: what is sent, and how each answer is classified.
use std::time::Duration;

use meoktong_config::{Secret, SmsProviderSettings};
use meoktong_notify::providers::{SmsProvider, SmsRequest, TwilioSms};
use meoktong_testkit::{Mode, TwilioStandIn};

const SID: &str = "AC0123456789abcdef0123456789abcdef";
const TOKEN: &str = "test-auth-token";

fn provider(stand_in: &TwilioStandIn, token: &str) -> TwilioSms {
    let settings = SmsProviderSettings {
        base_url: stand_in.base_url(),
        account_sid: SID.into(),
        from: "+15005550006".into(),
        validity: Duration::from_secs(900),
        ..SmsProviderSettings::default()
    };
    TwilioSms::new(&settings, Secret::new(token), reqwest::Client::new()).expect("valid settings")
}

fn request(to: &str) -> SmsRequest {
    SmsRequest {
        to: to.into(),
        body: "[장애] 카카오톡이 14:05부터 먹통입니다. 전화 주문으로 전환하고 카드 단말기는 LTE로. http://127.0.0.1:8080/a/abc".into(),
        status_callback: Some("http://127.0.0.1:8080/hooks/twilio/status".into()),
        validity: None,
    }
}

#[tokio::test]
async fn an_accepted_message_returns_twilios_sid_and_carries_every_field() {
    let twilio = TwilioStandIn::start(SID, TOKEN).await;
    let accepted = provider(&twilio, TOKEN)
        .send(&request("+821012345678"))
        .await
        .expect("accepted");
    assert!(
        accepted.provider_message_id.starts_with("SM") && accepted.provider_message_id.len() == 34
    );
    assert_eq!(accepted.status, "queued");

    let messages = twilio.messages();
    assert_eq!(messages.len(), 1);
    let m = &messages[0];
    assert_eq!(m.sid, accepted.provider_message_id);
    assert_eq!(m.to, "+821012345678");
    assert_eq!(m.from.as_deref(), Some("+15005550006"));
    assert_eq!(m.body, request("").body);
    assert_eq!(
        m.status_callback.as_deref(),
        Some("http://127.0.0.1:8080/hooks/twilio/status")
    );
    assert_eq!(m.validity_period, Some(900));
    assert_eq!(
        m.num_segments, 2,
        "Korean text is UCS-2: over 70 characters is two segments"
    );
    let r = &twilio.requests()[0];
    assert!(r.authorized);
    assert_eq!(
        r.content_type.as_deref(),
        Some("application/x-www-form-urlencoded")
    );
}

#[tokio::test]
async fn an_invalid_number_is_permanent_with_twilios_code() {
    let twilio = TwilioStandIn::start(SID, TOKEN).await;
    twilio.set_recipient_mode(
        "+821099990000",
        Mode::TwilioError {
            http_status: 400,
            code: 21211,
        },
    );
    let sms = provider(&twilio, TOKEN);
    let e = sms
        .send(&request("+821099990000"))
        .await
        .expect_err("21211");
    assert!(e.is_permanent(), "{e}");
    assert_eq!(e.code(), Some("21211"));
    assert!(
        sms.send(&request("+821012345678")).await.is_ok(),
        "other recipients still go through"
    );
}

#[tokio::test]
async fn a_number_twilio_itself_rejects_as_not_e164_is_permanent() {
    let twilio = TwilioStandIn::start(SID, TOKEN).await;
    let e = provider(&twilio, TOKEN)
        .send(&request("01012345678"))
        .await
        .expect_err("not E.164");
    assert!(e.is_permanent());
    assert_eq!(e.code(), Some("21211"));
    assert!(
        !e.message().contains("01012345678"),
        "the number is masked: {}",
        e.message()
    );
}

#[tokio::test]
async fn a_server_error_is_transient() {
    let twilio = TwilioStandIn::start(SID, TOKEN).await;
    twilio.set_mode(Mode::Fail500);
    let e = provider(&twilio, TOKEN)
        .send(&request("+821012345678"))
        .await
        .expect_err("500");
    assert!(!e.is_permanent(), "{e}");
    assert_eq!(e.code(), Some("20500"));
}

#[tokio::test]
async fn rate_limiting_is_transient_and_honours_retry_after() {
    let twilio = TwilioStandIn::start(SID, TOKEN).await;
    twilio.push_once(Mode::RateLimited {
        retry_after_secs: Some(7),
    });
    let sms = provider(&twilio, TOKEN);
    let e = sms.send(&request("+821012345678")).await.expect_err("429");
    assert!(!e.is_permanent());
    assert_eq!(e.retry_after(), Some(Duration::from_secs(7)));
    assert!(
        sms.send(&request("+821012345678")).await.is_ok(),
        "one-shot modes apply once"
    );
}

#[tokio::test]
async fn a_wrong_token_is_a_permanent_configuration_error() {
    let twilio = TwilioStandIn::start(SID, TOKEN).await;
    let e = provider(&twilio, "wrong-token")
        .send(&request("+821012345678"))
        .await
        .expect_err("401");
    assert!(e.is_permanent() && e.is_config_error(), "{e}");
    assert_eq!(e.code(), Some("20003"));
    assert!(!e.to_string().contains("wrong-token"));
    assert!(twilio.messages().is_empty());
    assert!(!twilio.requests()[0].authorized);
}

#[tokio::test]
async fn a_hanging_twilio_times_out_as_transient() {
    let twilio = TwilioStandIn::start(SID, TOKEN).await;
    twilio.set_mode(Mode::Hang);
    let sms = provider(&twilio, TOKEN).with_timeout(Duration::from_millis(300));
    let e = sms
        .send(&request("+821012345678"))
        .await
        .expect_err("timeout");
    assert!(!e.is_permanent());
    assert_eq!(e.code(), Some("timeout"));
}

#[tokio::test]
async fn a_refused_connection_is_transient() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let settings = SmsProviderSettings {
        base_url: format!("http://127.0.0.1:{port}"),
        account_sid: SID.into(),
        from: "+15005550006".into(),
        ..SmsProviderSettings::default()
    };
    let sms = TwilioSms::new(&settings, Secret::new(TOKEN), reqwest::Client::new()).expect("valid");
    let e = sms
        .send(&request("+821012345678"))
        .await
        .expect_err("refused");
    assert!(!e.is_permanent(), "{e}");
}
