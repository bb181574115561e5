//! The OpenAPI document and the answers agree: real requests, good and bad, to every
//! documented operation; each answer's status must be one the document lists for that
//! operation, its body must validate (JSON Schema 2020-12, formats checked) against the
//! schema documented for that status, and it must carry `Cache-Control: no-store`. An
//! operation the cases below never reach fails the test, so a new endpoint needs cases.
#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed
mod reports_world;

use meoktong::commands::token::issue;
use reports_world::{PNG, Session, get, good, merchant, recovery_link, sign_in, submit};
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::BTreeSet;

/// The document, and what the cases reached.
struct Contract {
    doc: Value,
    seen: BTreeSet<(String, String)>,
    violations: Vec<String>,
}

enum Auth<'a> {
    None,
    Bearer(&'a str),
    Session(&'a Session, bool),
}

enum Body {
    None,
    Json(Value),
    Raw(&'static str, Vec<u8>),
}

impl Contract {
    /// Sends one request to the operation `(method, template)` at `path` and checks the answer
    /// against the document; returns the status and the JSON body (null if none).
    async fn call(
        &mut self,
        app: &meoktong_tests::TestApp,
        method: Method,
        template: &str,
        path: &str,
        auth: Auth<'_>,
        body: Body,
    ) -> (u16, Value) {
        let mut req = app.client.request(method.clone(), app.url(path));
        req = match auth {
            Auth::None => req,
            Auth::Bearer(t) => req.bearer_auth(t),
            Auth::Session(s, with_csrf) => {
                let r = req.header("cookie", &s.cookie);
                if with_csrf {
                    r.header("x-csrf-token", &s.csrf)
                } else {
                    r
                }
            }
        };
        req = match body {
            Body::None => req,
            Body::Json(v) => req.json(&v),
            Body::Raw(content_type, bytes) => req.header("content-type", content_type).body(bytes),
        };
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let no_store = resp
            .headers()
            .get("cache-control")
            .and_then(|v| v.to_str().ok())
            == Some("no-store");
        let content_type = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let text = resp.text().await.unwrap();
        let m = method.as_str().to_lowercase();
        let here = format!("{} {path} → {status}", method.as_str());
        self.seen.insert((m.clone(), template.to_string()));
        if !no_store {
            self.violations
                .push(format!("{here}: no `Cache-Control: no-store`"));
        }
        let op = &self.doc["paths"][template][&m];
        assert!(op.is_object(), "{m} {template} is not documented");
        let Some(answer) = op["responses"].get(status.to_string()) else {
            self.violations.push(format!(
                "{here}: status not documented (documented: {:?}); body {text}",
                op["responses"]
                    .as_object()
                    .unwrap()
                    .keys()
                    .collect::<Vec<_>>()
            ));
            return (status, serde_json::from_str(&text).unwrap_or(Value::Null));
        };
        let Some(schema) = answer.pointer("/content/application~1json/schema") else {
            if !text.is_empty() {
                self.violations
                    .push(format!("{here}: documented without a body, got {text}"));
            }
            return (status, Value::Null);
        };
        if !content_type.starts_with("application/json") {
            self.violations
                .push(format!("{here}: content type {content_type}, not JSON"));
        }
        let Ok(value) = serde_json::from_str::<Value>(&text) else {
            self.violations.push(format!("{here}: not JSON: {text}"));
            return (status, Value::Null);
        };
        // The schema with the document's components beside it, so `#/components/...`
        // references resolve exactly as in the document.
        let root = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "components": self.doc["components"],
            "allOf": [schema],
        });
        let validator = jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .should_validate_formats(true)
            .build(&root)
            .unwrap_or_else(|e| {
                panic!("{m} {template}: the documented schema does not compile: {e}")
            });
        for e in validator.iter_errors(&value) {
            self.violations.push(format!(
                "{here}: {} at {} (schema {})",
                e,
                e.instance_path(),
                e.schema_path()
            ));
        }
        (status, value)
    }
}

#[tokio::test]
async fn every_documented_operation_answers_as_documented() {
    let w = reports_world::world_with(|s| s.probe.allow_private_targets = true).await;
    let app = &w.app;
    let doc: Value = app
        .client
        .get(app.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // The document itself is a valid JSON Schema host: every schema compiles.
    let mut c = Contract {
        doc,
        seen: BTreeSet::new(),
        violations: Vec::new(),
    };

    // Who calls: a merchant (bearer), association staff (bearer and session), an operator
    // with an agent token.
    let shop = merchant(&w, "계약분식", "010-3100-0901", w.assoc_a).await;
    let me = sign_in(
        &w,
        "contract-shop@example.com",
        "merchant",
        Some(shop),
        None,
    )
    .await;
    let staff = sign_in(
        &w,
        "contract-staff@example.com",
        "association",
        None,
        Some(w.assoc_a),
    )
    .await;
    let op = sign_in(&w, "contract-ops@example.com", "operator", None, None).await;
    let agent = issue(
        &app.db,
        &app.crypto,
        "contract-ops@example.com",
        Some("busan-lg"),
        "t",
    )
    .await
    .unwrap();
    // A report with an attachment, on the world's incident.
    let token = recovery_link(&w, shop).await;
    let page = get(
        app,
        &format!("/reports/new?incident={}&token={token}", w.incident),
        "",
    )
    .await;
    let (status, _) = submit(
        app,
        &page,
        &good(w.incident, w.assoc_a),
        vec![("영수증.png", PNG.to_vec())],
        "",
    )
    .await;
    assert!(status == 303 || status == 200, "report submitted: {status}");

    use Auth::{Bearer, None as Anon};
    use Body::{Json, None as Empty, Raw};
    let get = Method::GET;
    let put = Method::PUT;
    let post = Method::POST;
    let delete = Method::DELETE;
    let m = me.api.as_str();
    let s = staff.api.as_str();
    let big = format!("{{\"text\": \"{}\"}}", "x".repeat(10 * 1024 * 1024)).into_bytes();

    // Public.
    c.call(
        app,
        get.clone(),
        "/api/v1/openapi.json",
        "/api/v1/openapi.json",
        Anon,
        Empty,
    )
    .await;
    c.call(
        app,
        get.clone(),
        "/api/v1/dependencies",
        "/api/v1/dependencies",
        Anon,
        Empty,
    )
    .await;
    let t = "/api/v1/dependencies/{slug}";
    c.call(
        app,
        get.clone(),
        t,
        "/api/v1/dependencies/kakaotalk",
        Anon,
        Empty,
    )
    .await;
    c.call(
        app,
        get.clone(),
        t,
        "/api/v1/dependencies/no-such",
        Anon,
        Empty,
    )
    .await;
    let t = "/api/v1/incidents";
    for q in [
        "",
        "?limit=1",
        "?dependency=kakaotalk",
        "?dependency=no-such",
        "?limit=501",
        "?limit=0",
        "?limit=abc",
        "?limit=-1",
    ] {
        c.call(app, get.clone(), t, &format!("{t}{q}"), Anon, Empty)
            .await;
    }
    let t = "/api/v1/incidents/{id}";
    for id in [w.incident.to_string(), "999999".into(), "abc".into()] {
        c.call(
            app,
            get.clone(),
            t,
            &format!("/api/v1/incidents/{id}"),
            Anon,
            Empty,
        )
        .await;
    }

    // The merchant's own resources.
    let t = "/api/v1/me/subscriptions";
    c.call(app, get.clone(), t, t, Bearer(m), Empty).await;
    c.call(app, get.clone(), t, t, Anon, Empty).await;
    c.call(
        app,
        put.clone(),
        t,
        t,
        Bearer(m),
        Json(json!({"subscriptions": [{"dependency": "kakaotalk", "notify_degraded": true}]})),
    )
    .await;
    c.call(app, put.clone(), t, t, Bearer(m), Json(json!({})))
        .await;
    c.call(
        app,
        put.clone(),
        t,
        t,
        Bearer(m),
        Raw("application/json", big.clone()),
    )
    .await;
    let t = "/api/v1/me/contacts";
    c.call(app, get.clone(), t, t, Bearer(m), Empty).await;
    let (status, added) = c
        .call(
            app,
            post.clone(),
            t,
            t,
            Bearer(m),
            Json(json!({"label": "매니저", "phone": "010-3100-0902"})),
        )
        .await;
    assert_eq!(status, 201, "{added}");
    let (status, nul) = c
        .call(
            app,
            post.clone(),
            t,
            t,
            Bearer(m),
            Json(json!({"label": "a\u{0}b", "phone": "010-3100-0903"})),
        )
        .await;
    assert_eq!(
        (status, nul["field"].as_str()),
        (422, Some("label")),
        "{nul}"
    );
    c.call(app, post.clone(), t, t, Bearer(m), Json(json!({})))
        .await;
    c.call(
        app,
        post.clone(),
        t,
        t,
        Bearer(m),
        Raw("application/json", b"{not json".to_vec()),
    )
    .await;
    let t = "/api/v1/me/contacts/{id}";
    let patch = Method::PATCH;
    let (status, body) = c
        .call(
            app,
            patch.clone(),
            t,
            &format!("/api/v1/me/contacts/{}", added["id"]),
            Bearer(m),
            Json(json!({"voice_enabled": false})),
        )
        .await;
    assert_eq!(
        (status, &body["voice_enabled"]),
        (200, &json!(false)),
        "{body}"
    );
    c.call(
        app,
        patch.clone(),
        t,
        "/api/v1/me/contacts/999999",
        Bearer(m),
        Json(json!({"voice_enabled": true})),
    )
    .await;
    c.call(
        app,
        patch.clone(),
        t,
        &format!("/api/v1/me/contacts/{}", added["id"]),
        Bearer(m),
        Json(json!({"voice_enabled": "yes"})),
    )
    .await;
    c.call(
        app,
        delete.clone(),
        t,
        &format!("/api/v1/me/contacts/{}", added["id"]),
        Bearer(m),
        Empty,
    )
    .await;
    c.call(
        app,
        delete.clone(),
        t,
        "/api/v1/me/contacts/999999",
        Bearer(m),
        Empty,
    )
    .await;
    c.call(
        app,
        delete.clone(),
        t,
        "/api/v1/me/contacts/abc",
        Bearer(m),
        Empty,
    )
    .await;
    c.call(
        app,
        get.clone(),
        "/api/v1/me/playbooks",
        "/api/v1/me/playbooks",
        Bearer(m),
        Empty,
    )
    .await;
    let t = "/api/v1/me/playbooks/{category}";
    c.call(
        app,
        put.clone(),
        t,
        "/api/v1/me/playbooks/payment",
        Bearer(m),
        Json(json!({"text": "현금을 받으세요"})),
    )
    .await;
    c.call(
        app,
        put.clone(),
        t,
        "/api/v1/me/playbooks/no-such",
        Bearer(m),
        Json(json!({"text": "x"})),
    )
    .await;
    c.call(
        app,
        put.clone(),
        t,
        "/api/v1/me/playbooks/payment",
        Bearer(m),
        Json(json!({"text": 5})),
    )
    .await;
    c.call(
        app,
        put.clone(),
        t,
        "/api/v1/me/playbooks/payment",
        Bearer(m),
        Raw("application/json", big.clone()),
    )
    .await;
    let t = "/api/v1/me/test-alert";
    let (status, sent) = c.call(app, post.clone(), t, t, Bearer(m), Empty).await;
    assert_eq!(status, 202, "no body is documented as optional: {sent}");
    c.call(
        app,
        post.clone(),
        t,
        t,
        Bearer(m),
        Json(json!({"contact_id": "first"})),
    )
    .await;
    c.call(
        app,
        post.clone(),
        t,
        t,
        Bearer(m),
        Json(json!({"contact": 1})),
    )
    .await;
    c.call(
        app,
        post.clone(),
        t,
        t,
        Bearer(m),
        Json(json!({"contact_id": 999999})),
    )
    .await;
    let t = "/api/v1/me/notifications";
    for q in ["", "?limit=1", "?limit=201", "?limit=0", "?limit=x"] {
        c.call(app, get.clone(), t, &format!("{t}{q}"), Bearer(m), Empty)
            .await;
    }
    let t = "/api/v1/me/notifications/{id}";
    c.call(
        app,
        get.clone(),
        t,
        &format!("/api/v1/me/notifications/{}", sent["notification_id"]),
        Bearer(m),
        Empty,
    )
    .await;
    c.call(
        app,
        get.clone(),
        t,
        "/api/v1/me/notifications/999999",
        Bearer(m),
        Empty,
    )
    .await;
    c.call(
        app,
        get.clone(),
        t,
        "/api/v1/me/notifications/abc",
        Bearer(m),
        Empty,
    )
    .await;
    let t = "/api/v1/me/webhook";
    c.call(app, get.clone(), t, t, Bearer(m), Empty).await;
    c.call(
        app,
        post.clone(),
        "/api/v1/me/webhook/secret",
        "/api/v1/me/webhook/secret",
        Bearer(m),
        Empty,
    )
    .await;
    c.call(
        app,
        put.clone(),
        t,
        t,
        Bearer(m),
        Json(json!({"url": "http://127.0.0.1:9/hook"})),
    )
    .await;
    c.call(
        app,
        put.clone(),
        t,
        t,
        Bearer(m),
        Json(json!({"url": "not a url"})),
    )
    .await;
    c.call(app, get.clone(), t, t, Bearer(m), Empty).await;
    c.call(
        app,
        post.clone(),
        "/api/v1/me/webhook/secret",
        "/api/v1/me/webhook/secret",
        Bearer(m),
        Empty,
    )
    .await;
    for _ in 0..3 {
        c.call(
            app,
            post.clone(),
            "/api/v1/me/webhook/test",
            "/api/v1/me/webhook/test",
            Bearer(m),
            Empty,
        )
        .await;
    }
    c.call(app, delete.clone(), t, t, Bearer(m), Empty).await;
    c.call(
        app,
        post.clone(),
        "/api/v1/me/webhook/test",
        "/api/v1/me/webhook/test",
        Bearer(m),
        Empty,
    )
    .await;

    // Damage reports: staff, the merchant, an operator (wrong role).
    let t = "/api/v1/reports";
    for q in [
        "",
        "?status=received",
        "?status=bogus",
        "?incident=abc",
        &format!("?incident={}", w.incident),
    ] {
        c.call(app, get.clone(), t, &format!("{t}{q}"), Bearer(s), Empty)
            .await;
    }
    c.call(app, get.clone(), t, t, Bearer(m), Empty).await;
    c.call(app, get.clone(), t, t, Bearer(&op.api), Empty).await;
    c.call(app, get.clone(), t, t, Auth::Session(&staff, false), Empty)
        .await;
    let (_, list) = c.call(app, get.clone(), t, t, Bearer(s), Empty).await;
    let report = list["reports"][0]["id"].as_i64().expect("a report");
    let t = "/api/v1/reports/{id}";
    let (_, one) = c
        .call(
            app,
            get.clone(),
            t,
            &format!("/api/v1/reports/{report}"),
            Bearer(s),
            Empty,
        )
        .await;
    assert_eq!(
        one["attachments"].as_array().map(Vec::len),
        Some(1),
        "{one}"
    );
    c.call(
        app,
        get.clone(),
        t,
        "/api/v1/reports/999999",
        Bearer(s),
        Empty,
    )
    .await;
    c.call(app, get.clone(), t, "/api/v1/reports/abc", Bearer(s), Empty)
        .await;
    let t = "/api/v1/reports/{id}/review";
    let review = format!("/api/v1/reports/{report}/review");
    c.call(
        app,
        post.clone(),
        t,
        &review,
        Auth::Session(&staff, false),
        Json(json!({"action": "verify"})),
    )
    .await;
    c.call(
        app,
        post.clone(),
        t,
        &review,
        Bearer(s),
        Json(json!({"action": "bogus"})),
    )
    .await;
    c.call(app, post.clone(), t, &review, Bearer(s), Json(json!({})))
        .await;
    c.call(
        app,
        post.clone(),
        t,
        &review,
        Bearer(s),
        Raw("application/json", big.clone()),
    )
    .await;
    c.call(
        app,
        post.clone(),
        t,
        &review,
        Auth::Session(&staff, true),
        Json(json!({"action": "verify"})),
    )
    .await;
    c.call(
        app,
        post.clone(),
        t,
        "/api/v1/reports/999999/review",
        Bearer(s),
        Json(json!({"action": "verify"})),
    )
    .await;
    c.call(
        app,
        post.clone(),
        t,
        "/api/v1/reports/abc/review",
        Bearer(s),
        Json(json!({"action": "verify"})),
    )
    .await;
    let t = "/api/v1/reports/incidents/{id}/totals";
    for id in [w.incident.to_string(), "999999".into(), "abc".into()] {
        c.call(
            app,
            get.clone(),
            t,
            &format!("/api/v1/reports/incidents/{id}/totals"),
            Bearer(s),
            Empty,
        )
        .await;
    }

    // An association's members and live reach: its staff; a merchant finds nothing (404).
    for t in ["/api/v1/association/members", "/api/v1/association/reach"] {
        for auth in [Bearer(s), Bearer(m), Anon] {
            c.call(app, get.clone(), t, t, auth, Empty).await;
        }
    }

    // Remote probe agents.
    let t = "/api/v1/agent/checks";
    c.call(
        app,
        get.clone(),
        t,
        "/api/v1/agent/checks?location=busan-lg",
        Bearer(&agent),
        Empty,
    )
    .await;
    c.call(
        app,
        get.clone(),
        t,
        "/api/v1/agent/checks?location=seoul-kt",
        Bearer(&agent),
        Empty,
    )
    .await;
    c.call(
        app,
        get.clone(),
        t,
        "/api/v1/agent/checks?location=busan-lg",
        Bearer(m),
        Empty,
    )
    .await;
    let t = "/api/v1/agent/results";
    let results = "/api/v1/agent/results?location=busan-lg";
    c.call(
        app,
        post.clone(),
        t,
        results,
        Bearer(&agent),
        Json(json!({"results": []})),
    )
    .await;
    c.call(
        app,
        post.clone(),
        t,
        results,
        Bearer(&agent),
        Json(json!({"results": "none"})),
    )
    .await;
    c.call(
        app,
        post.clone(),
        t,
        results,
        Bearer(&agent),
        Raw("application/json", big.clone()),
    )
    .await;
    c.call(
        app,
        post.clone(),
        t,
        results,
        Anon,
        Json(json!({"results": []})),
    )
    .await;

    let documented: BTreeSet<(String, String)> =
        meoktong_web::routes::api::openapi::documented_routes();
    let missed: Vec<_> = documented.difference(&c.seen).collect();
    assert!(missed.is_empty(), "operations without a case: {missed:?}");
    assert!(
        c.violations.is_empty(),
        "{} answer(s) disagree with the document:\n{}",
        c.violations.len(),
        c.violations.join("\n")
    );
}
