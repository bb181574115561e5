//! The Twilio stand-in checks requests the way Twilio does and answers in Twilio's shapes.
use meoktong_testkit::{Mode, TwilioStandIn};
use serde_json::Value;

const SID: &str = "AC0123456789abcdef0123456789abcdef";
const TOKEN: &str = "token";

async fn post(
    twilio: &TwilioStandIn,
    sid: &str,
    token: &str,
    form: &[(&str, &str)],
) -> (u16, Value) {
    let url = format!(
        "{}/2010-04-01/Accounts/{sid}/Messages.json",
        twilio.base_url()
    );
    let response = reqwest::Client::new()
        .post(url)
        .basic_auth(SID, Some(token))
        .form(form)
        .send()
        .await
        .expect("sent");
    let status = response.status().as_u16();
    (status, response.json().await.expect("json body"))
}

const OK: &[(&str, &str)] = &[
    ("To", "+821012345678"),
    ("From", "+15005550006"),
    ("Body", "hi"),
];

#[tokio::test]
async fn a_valid_request_gets_a_queued_message_in_twilios_shape() {
    let twilio = TwilioStandIn::start(SID, TOKEN).await;
    let (status, body) = post(&twilio, SID, TOKEN, OK).await;
    assert_eq!(status, 201);
    let sid = body["sid"].as_str().expect("sid");
    assert!(
        sid.starts_with("SM") && sid.len() == 34 && sid[2..].chars().all(|c| c.is_ascii_hexdigit())
    );
    assert_eq!(body["status"], "queued");
    assert_eq!(body["to"], "+821012345678");
    assert_eq!(body["from"], "+15005550006");
    assert_eq!(body["body"], "hi");
    assert_eq!(body["num_segments"], "1");
    assert_eq!(body["account_sid"], SID);
    assert_eq!(body["error_code"], Value::Null);
    assert!(
        body["date_created"]
            .as_str()
            .expect("date")
            .ends_with("+0000")
    );
    assert_eq!(twilio.request_count(), 1);
}

#[tokio::test]
async fn a_messaging_service_is_accepted_instead_of_from() {
    let twilio = TwilioStandIn::start(SID, TOKEN).await;
    let form = [
        ("To", "+821012345678"),
        ("MessagingServiceSid", "MG0123"),
        ("Body", "hi"),
    ];
    let (status, body) = post(&twilio, SID, TOKEN, &form).await;
    assert_eq!((status, body["status"].as_str()), (201, Some("accepted")));
}

#[tokio::test]
async fn missing_or_bad_fields_get_twilios_codes() {
    let twilio = TwilioStandIn::start(SID, TOKEN).await;
    let cases: Vec<(Vec<(&str, &str)>, u64)> = vec![
        (vec![("From", "+15005550006"), ("Body", "hi")], 21604),
        (vec![("To", "+821012345678"), ("Body", "hi")], 21603),
        (
            vec![("To", "+821012345678"), ("From", "+15005550006")],
            21602,
        ),
        (
            vec![
                ("To", "010-1234-5678"),
                ("From", "+15005550006"),
                ("Body", "hi"),
            ],
            21211,
        ),
        ([OK, &[("ValidityPeriod", "0")]].concat(), 90014),
        ([OK, &[("ValidityPeriod", "36001")]].concat(), 90007),
        ([OK, &[("ValidityPeriod", "15m")]].concat(), 90014),
        ([OK, &[("StatusCallback", "not a url")]].concat(), 21609),
    ];
    for (form, code) in cases {
        let (status, body) = post(&twilio, SID, TOKEN, &form).await;
        assert_eq!(
            (status, body["code"].as_u64()),
            (400, Some(code)),
            "{form:?}"
        );
        assert_eq!(body["status"], 400);
        assert!(
            body["more_info"]
                .as_str()
                .expect("more_info")
                .contains(&code.to_string())
        );
    }
    let (status, _) = post(
        &twilio,
        SID,
        TOKEN,
        &[OK, &[("ValidityPeriod", "36000")]].concat(),
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(twilio.messages().len(), 1);
    assert_eq!(twilio.request_count(), 9);
}

#[tokio::test]
async fn authentication_and_the_account_in_the_path_are_checked() {
    let twilio = TwilioStandIn::start(SID, TOKEN).await;
    let (status, body) = post(&twilio, SID, "nope", OK).await;
    assert_eq!((status, body["code"].as_u64()), (401, Some(20003)));
    let (status, body) = post(&twilio, "AC999", TOKEN, OK).await;
    assert_eq!((status, body["code"].as_u64()), (404, Some(20404)));
    let url = format!(
        "{}/2010-04-01/Accounts/{SID}/Messages.json",
        twilio.base_url()
    );
    let response = reqwest::Client::new()
        .post(url)
        .form(OK)
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status().as_u16(), 401, "no credentials at all");
}

#[tokio::test]
async fn a_json_body_is_not_a_form() {
    let twilio = TwilioStandIn::start(SID, TOKEN).await;
    let url = format!(
        "{}/2010-04-01/Accounts/{SID}/Messages.json",
        twilio.base_url()
    );
    let response = reqwest::Client::new()
        .post(url)
        .basic_auth(SID, Some(TOKEN))
        .json(&serde_json::json!({"To": "+821012345678", "From": "+15005550006", "Body": "hi"}))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status().as_u16(), 400);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["code"], 21604);
    assert_eq!(
        twilio.requests()[0].content_type.as_deref(),
        Some("application/json")
    );
}

#[tokio::test]
async fn modes_apply_in_order_once_then_recipient_then_global() {
    let twilio = TwilioStandIn::start(SID, TOKEN).await;
    twilio.set_mode(Mode::Fail500);
    twilio.set_recipient_mode("+821012345678", Mode::Accept);
    twilio.push_once(Mode::TwilioError {
        http_status: 400,
        code: 21610,
    });
    let (status, body) = post(&twilio, SID, TOKEN, OK).await;
    assert_eq!((status, body["code"].as_u64()), (400, Some(21610)));
    assert_eq!(post(&twilio, SID, TOKEN, OK).await.0, 201);
    let other = [
        ("To", "+821098765432"),
        ("From", "+15005550006"),
        ("Body", "hi"),
    ];
    let (status, body) = post(&twilio, SID, TOKEN, &other).await;
    assert_eq!((status, body["code"].as_u64()), (500, Some(20500)));
    let answered: Vec<Option<u16>> = twilio.requests().iter().map(|r| r.answered).collect();
    assert_eq!(answered, vec![Some(400), Some(201), Some(500)]);
}
