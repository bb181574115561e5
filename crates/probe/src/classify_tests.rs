use super::*;
use serde_json::json;

struct Exp {
    status: Vec<u16>,
    contains: Option<String>,
    json: BTreeMap<String, Value>,
    exists: Vec<String>,
    dialect: Option<Dialect>,
}

impl Exp {
    fn new() -> Self {
        Exp {
            status: vec![],
            contains: None,
            json: BTreeMap::new(),
            exists: vec![],
            dialect: None,
        }
    }

    fn dialect(mut self, d: Dialect) -> Self {
        self.dialect = Some(d);
        self
    }

    fn status(mut self, s: &[u16]) -> Self {
        self.status = s.to_vec();
        self
    }

    fn run(&self, status: u16, body: &str) -> Verdict {
        let exp = HttpExpectations {
            expect_status: &self.status,
            body_contains: self.contains.as_deref(),
            json: &self.json,
            json_exists: &self.exists,
            dialect: self.dialect,
            keep_json: false,
        };
        classify_http(&exp, status, body.as_bytes()).verdict
    }
}

fn is(v: &Verdict, outcome: Outcome, class: Option<FailureClass>) {
    assert_eq!((v.outcome, v.class), (outcome, class), "{v:?}");
}

#[test]
fn default_status_range() {
    let e = Exp::new();
    is(&e.run(200, ""), Outcome::Ok, None);
    is(&e.run(302, ""), Outcome::Ok, None);
    is(&e.run(404, ""), Outcome::Fail, Some(FailureClass::Provider));
    is(&e.run(503, ""), Outcome::Fail, Some(FailureClass::Provider));
    is(
        &e.run(401, ""),
        Outcome::ConfigError,
        Some(FailureClass::Config),
    );
    is(
        &e.run(403, ""),
        Outcome::ConfigError,
        Some(FailureClass::Config),
    );
    assert_eq!(
        e.run(404, "").error.as_deref(),
        Some("unexpected status, expected 200-399")
    );
}

#[test]
fn explicit_status_list_wins() {
    let e = Exp::new().status(&[401]);
    is(&e.run(401, ""), Outcome::Ok, None);
    is(&e.run(200, ""), Outcome::Fail, Some(FailureClass::Provider));
    let e = Exp::new().status(&[200, 302]);
    is(&e.run(302, ""), Outcome::Ok, None);
    is(&e.run(301, ""), Outcome::Fail, Some(FailureClass::Provider));
}

#[test]
fn kakao_codes() {
    let e = Exp::new().dialect(Dialect::Kakao).status(&[200]);
    for code in [-1, -7, -9798] {
        for status in [200, 400, 500] {
            let v = e.run(status, &json!({"code": code, "msg": "점검"}).to_string());
            is(&v, Outcome::Fail, Some(FailureClass::Provider));
            assert_eq!(v.provider_code, Some(code.to_string()));
        }
    }
    for code in [-10, -401] {
        let v = e.run(401, &json!({"code": code, "msg": "bad key"}).to_string());
        is(&v, Outcome::ConfigError, Some(FailureClass::Config));
        assert_eq!(v.provider_code, Some(code.to_string()));
        assert_eq!(v.error, Some(format!("kakao {code}: bad key")));
    }
    // KakaoPay spells it error_code.
    let v = e.run(
        500,
        &json!({"error_code": -9798, "error_message": "maintenance"}).to_string(),
    );
    is(&v, Outcome::Fail, Some(FailureClass::Provider));
    assert_eq!(v.provider_code.as_deref(), Some("-9798"));
    // Other codes are recorded; the status decides.
    let v = e.run(400, &json!({"code": -2, "msg": "bad param"}).to_string());
    is(&v, Outcome::Fail, Some(FailureClass::Provider));
    assert_eq!(v.provider_code.as_deref(), Some("-2"));
    assert_eq!(
        v.error.as_deref(),
        Some("unexpected status, expected 200 (kakao -2: bad param)")
    );
    // A healthy JSON answer without a code.
    let v = e.run(200, r#"{"documents": []}"#);
    is(&v, Outcome::Ok, None);
    assert_eq!(v.provider_code, None);
}

#[test]
fn toss_codes() {
    let healthy = Exp::new().dialect(Dialect::Toss).status(&[404]);
    let not_found =
        json!({"code": "NOT_FOUND_PAYMENT", "message": "존재하지 않는 결제 정보 입니다."})
            .to_string();
    let v = healthy.run(404, &not_found);
    is(&v, Outcome::Ok, None);
    assert_eq!(v.provider_code.as_deref(), Some("NOT_FOUND_PAYMENT"));
    let v = healthy.run(
        500,
        &json!({"code": "PROVIDER_ERROR", "message": "x"}).to_string(),
    );
    is(&v, Outcome::Fail, Some(FailureClass::Provider));
    assert_eq!(v.provider_code.as_deref(), Some("PROVIDER_ERROR"));
    // Even with an expected status, PROVIDER_ERROR fails.
    is(
        &healthy.run(404, r#"{"code":"PROVIDER_ERROR"}"#),
        Outcome::Fail,
        Some(FailureClass::Provider),
    );
    let v = healthy.run(401, r#"{"code":"UNAUTHORIZED_KEY","message":"no"}"#);
    is(&v, Outcome::ConfigError, Some(FailureClass::Config));
    assert_eq!(v.error.as_deref(), Some("toss UNAUTHORIZED_KEY: no"));
    // 401 without a body is still a configuration error.
    is(
        &healthy.run(401, ""),
        Outcome::ConfigError,
        Some(FailureClass::Config),
    );
}

#[test]
fn body_and_json_expectations() {
    let mut e = Exp::new();
    e.contains = Some("카카오톡 채널".into());
    is(
        &e.run(200, "<title>카카오톡 채널</title>"),
        Outcome::Ok,
        None,
    );
    let v = e.run(200, "<title>점검 중</title>");
    is(&v, Outcome::Fail, Some(FailureClass::Provider));
    assert_eq!(
        v.error.as_deref(),
        Some("body does not contain `카카오톡 채널`")
    );

    let mut e = Exp::new();
    e.json
        .insert("issuer".into(), json!("https://kauth.kakao.com"));
    e.exists.push("jwks_uri".into());
    is(
        &e.run(
            200,
            r#"{"issuer":"https://kauth.kakao.com","jwks_uri":"x"}"#,
        ),
        Outcome::Ok,
        None,
    );
    is(
        &e.run(200, r#"{"issuer":"https://kauth.kakao.com"}"#),
        Outcome::Fail,
        Some(FailureClass::Provider),
    );
    is(
        &e.run(200, r#"{"issuer":"other","jwks_uri":"x"}"#),
        Outcome::Fail,
        Some(FailureClass::Provider),
    );
    let v = e.run(200, "<html>");
    assert_eq!(v.error.as_deref(), Some("body is not JSON"));

    let mut e = Exp::new();
    e.exists.push("$[".into());
    is(
        &e.run(200, "{}"),
        Outcome::ConfigError,
        Some(FailureClass::Config),
    );
}

#[test]
fn needs_body_only_when_something_reads_it() {
    let e = Exp::new();
    let exp = HttpExpectations {
        expect_status: &e.status,
        body_contains: None,
        json: &e.json,
        json_exists: &e.exists,
        dialect: None,
        keep_json: false,
    };
    assert!(!exp.needs_body());
    assert!(
        HttpExpectations {
            dialect: Some(Dialect::Kakao),
            ..exp
        }
        .needs_json()
    );
    assert!(
        HttpExpectations {
            body_contains: Some("x"),
            ..exp
        }
        .needs_body()
    );
}
