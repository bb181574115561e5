//! SolapiSms against the Solapi stand-in, over real HTTP: what is sent (SMS or LMS by EUC-KR
//! bytes, characters outside EUC-KR replaced), per-message outcomes of a batch, how every
//! failure is classified, and delivery reports.
use std::time::Duration;

use meoktong_config::{Secret, SmsProviderKind, SmsProviderSettings};
use meoktong_notify::providers::{BatchItem, SmsProvider, SmsRequest, SolapiSms};
use meoktong_testkit::{SolapiFault, SolapiStandIn};

const KEY: &str = "NCSTESTKEY0001";
const SECRET: &str = "test-api-secret";

fn settings(stand_in: &SolapiStandIn) -> SmsProviderSettings {
    SmsProviderSettings {
        provider: SmsProviderKind::Solapi,
        base_url: stand_in.base_url(),
        from: SolapiStandIn::SENDER.into(),
        ..SmsProviderSettings::default()
    }
}

fn provider(stand_in: &SolapiStandIn) -> SolapiSms {
    SolapiSms::new(
        &settings(stand_in),
        Secret::new(KEY),
        Secret::new(SECRET),
        reqwest::Client::new(),
    )
    .expect("valid settings")
}

fn item(reference: i64, to: &str, body: &str) -> BatchItem {
    BatchItem {
        reference,
        req: SmsRequest {
            to: to.into(),
            body: body.into(),
            status_callback: None,
            validity: None,
        },
    }
}

/// Exactly `bytes` EUC-KR bytes: Hangul (2 each) and one ASCII letter if odd.
fn text_of(bytes: usize) -> String {
    let mut t = "[장애] ".to_string(); // 7 bytes
    while bytes - euc(&t) >= 2 {
        t.push('가');
    }
    if euc(&t) < bytes {
        t.push('a');
    }
    assert_eq!(euc(&t), bytes);
    t
}

fn euc(t: &str) -> usize {
    meoktong_domain::euc_kr::byte_len(t).expect("EUC-KR")
}

#[tokio::test]
async fn ninety_bytes_go_as_an_sms_ninety_one_as_an_lms_with_a_subject() {
    let solapi = SolapiStandIn::start(KEY, SECRET).await;
    let sms = provider(&solapi);
    let out = sms
        .send_batch(&[
            item(1, "+821011110001", &text_of(90)),
            item(2, "+821011110002", &text_of(91)),
        ])
        .await;
    assert!(out.iter().all(|o| o.is_ok()), "{out:?}");
    let got = solapi.messages();
    assert_eq!(got.len(), 2);
    assert_eq!((got[0].kind.as_str(), got[0].bytes), ("SMS", 90));
    assert_eq!(got[0].subject, None);
    assert_eq!(got[0].to, "01011110001");
    assert_eq!(got[0].from, SolapiStandIn::SENDER);
    assert_eq!((got[1].kind.as_str(), got[1].bytes), ("LMS", 91));
    let subject = got[1].subject.clone().expect("an LMS has a subject");
    assert!(
        subject.starts_with("[장애]") && euc(&subject) <= 40,
        "{subject}"
    );
    assert_eq!(got[0].custom_fields["meoktongOutboxId"], "1");
    assert_eq!(
        out[1].as_ref().map(|a| a.provider_message_id.clone()).ok(),
        Some(got[1].message_id.clone())
    );
    // One request for both; each signed with a new salt.
    assert_eq!(solapi.send_requests().len(), 1);
}

#[tokio::test]
async fn a_character_outside_euc_kr_is_replaced_never_a_failed_alert() {
    let solapi = SolapiStandIn::start(KEY, SECRET).await;
    let sms = provider(&solapi);
    let accepted = sms
        .send(&item(0, "+821011110003", "[장애] 카카오톡 🔥 전화 주문 받으세요").req)
        .await
        .expect("accepted");
    assert!(accepted.provider_message_id.starts_with("M4V"));
    let got = solapi.messages();
    assert_eq!(got[0].text, "[장애] 카카오톡 ? 전화 주문 받으세요");
    assert_eq!(got[0].kind, "SMS");
    assert!(solapi.refused().is_empty());
}

#[tokio::test]
async fn a_partly_failed_batch_gives_each_message_its_own_outcome() {
    let solapi = SolapiStandIn::start(KEY, SECRET).await;
    solapi.refuse_recipient("01022220002", "1060");
    let out = provider(&solapi)
        .send_batch(&[
            item(10, "+821022220001", "a"),
            item(11, "+821022220002", "b"),
            item(12, "+15005550006", "c"),
            item(13, "+821022220004", "d"),
        ])
        .await;
    assert!(out[0].is_ok() && out[3].is_ok(), "{out:?}");
    let blocked = out[1].clone().expect_err("blocked recipient");
    assert_eq!(blocked.code(), Some("1060"));
    assert!(blocked.is_permanent() && !blocked.is_config_error());
    let foreign = out[2].clone().expect_err("not a Korean number");
    assert!(foreign.is_permanent());
    assert_eq!(solapi.messages().len(), 2);
}

#[tokio::test]
async fn an_unregistered_sender_or_a_bad_key_is_our_account_refused() {
    let solapi = SolapiStandIn::start(KEY, SECRET).await;
    solapi.set_registered_senders(&["0299990000"]);
    let out = provider(&solapi)
        .send_batch(&[item(1, "+821033330001", "a"), item(2, "+821033330002", "b")])
        .await;
    for o in &out {
        let e = o.clone().expect_err("unregistered sender");
        assert_eq!(e.code(), Some("1062"));
        assert!(e.is_config_error(), "{e}");
    }
    let wrong_secret = SolapiSms::new(
        &settings(&solapi),
        Secret::new(KEY),
        Secret::new("not-the-secret"),
        reqwest::Client::new(),
    )
    .expect("valid");
    let e = wrong_secret
        .send(&item(0, "+821033330003", "a").req)
        .await
        .expect_err("refused");
    assert_eq!(e.code(), Some("SignatureDoesNotMatch"));
    assert!(e.is_config_error());
    solapi.push_fault_once(SolapiFault::InvalidApiKey);
    let e = provider(&solapi)
        .send(&item(0, "+821033330004", "a").req)
        .await
        .expect_err("refused");
    assert_eq!(e.code(), Some("InvalidAPIKey"));
    assert!(e.is_config_error() && e.is_permanent());
    solapi.push_fault_once(SolapiFault::NotEnoughBalance);
    let e = provider(&solapi)
        .send(&item(0, "+821033330005", "a").req)
        .await
        .expect_err("refused");
    assert!(e.is_config_error());
}

#[tokio::test]
async fn server_errors_and_timeouts_are_transient() {
    let solapi = SolapiStandIn::start(KEY, SECRET).await;
    solapi.push_fault_once(SolapiFault::ServerError);
    let e = provider(&solapi)
        .send(&item(0, "+821044440001", "a").req)
        .await
        .expect_err("503");
    assert!(!e.is_permanent() && !e.is_config_error(), "{e}");
    solapi.push_fault_once(SolapiFault::Slow(Duration::from_secs(5)));
    let e = provider(&solapi)
        .with_timeout(Duration::from_millis(200))
        .send(&item(0, "+821044440002", "a").req)
        .await
        .expect_err("timed out");
    assert!(!e.is_permanent(), "{e}");
    assert_eq!(e.code(), Some("timeout"));
    // Then it answers again, and no signature was ever reused.
    provider(&solapi)
        .send(&item(0, "+821044440003", "a").req)
        .await
        .expect("accepted");
    assert!(solapi.requests().iter().all(|r| r.auth.is_ok()));
}

#[tokio::test]
async fn delivery_reports_are_read_from_the_message_list() {
    let solapi = SolapiStandIn::start(KEY, SECRET).await;
    solapi.set_report("01055550002", "3043");
    solapi.set_report("01055550003", "3000");
    let sms = provider(&solapi);
    let out = sms
        .send_batch(&[
            item(1, "+821055550001", "a"),
            item(2, "+821055550002", "b"),
            item(3, "+821055550003", "c"),
        ])
        .await;
    let ids: Vec<String> = out
        .into_iter()
        .map(|o| o.expect("accepted").provider_message_id)
        .collect();
    let reports = sms.poll_reports(&ids).await.expect("list");
    let status = |id: &str| {
        reports
            .iter()
            .find(|r| r.provider_message_id == id)
            .map(|r| (r.status.clone(), r.error_code.clone()))
    };
    assert_eq!(status(&ids[0]), Some(("delivered".into(), None)));
    assert_eq!(
        status(&ids[1]),
        Some(("failed".into(), Some("3043".into())))
    );
    assert_eq!(status(&ids[2]), Some(("sent".into(), None)));
}

#[tokio::test]
async fn the_stand_in_refuses_a_skewed_date_and_a_reused_signature() {
    use meoktong_notify::providers::solapi_authorization;
    let solapi = SolapiStandIn::start(KEY, SECRET).await;
    let url = format!("{}/messages/v4/list", solapi.base_url());
    let http = reqwest::Client::new();
    let get = |auth: String| {
        let (http, url) = (http.clone(), url.clone());
        async move {
            let r = http
                .get(&url)
                .header("Authorization", auth)
                .send()
                .await
                .expect("answer");
            let status = r.status().as_u16();
            let body: serde_json::Value = r.json().await.expect("json");
            (status, body["errorCode"].as_str().unwrap_or("").to_string())
        }
    };
    let stale = chrono::Utc::now() - chrono::Duration::minutes(20);
    assert_eq!(
        get(solapi_authorization(KEY, SECRET, stale)).await,
        (403, "RequestTimeTooSkewed".to_string())
    );
    let header = solapi_authorization(KEY, SECRET, chrono::Utc::now());
    assert_eq!(get(header.clone()).await.0, 200);
    assert_eq!(get(header).await, (403, "DuplicatedSignature".to_string()));
    assert_eq!(
        get(solapi_authorization("NCSOTHER", SECRET, chrono::Utc::now())).await,
        (403, "InvalidAPIKey".to_string())
    );
}
