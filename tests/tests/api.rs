//! The JSON API: public resources, bearer-token merchant resources, errors and OpenAPI.
#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed
mod common;

use common::{Client, app};
use meoktong_storage::entity::merchants;
use meoktong_storage::{catalog, incidents};
use reqwest::StatusCode;
use sea_orm::EntityTrait;
use serde_json::{Value, json};
use std::collections::BTreeSet;

async fn token(app: &meoktong_tests::TestApp, phone: &str, email: &str) -> String {
    let c = Client::new(app);
    c.sign_up("API 가게", phone, email).await;
    let page = c
        .submit(
            "/dashboard/tokens",
            "/dashboard/tokens",
            &[("name", "test")],
        )
        .await;
    page.body
        .split("id=\"new-token\">")
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn public_dependencies_and_incidents() {
    let app = app().await;
    let dep = catalog::dependency_by_slug(&app.db, "kakao-login")
        .await
        .unwrap()
        .unwrap();
    let started = meoktong_storage::now_ms() - 3_600_000;
    let id = incidents::open(
        &app.db.conn,
        dep.id,
        "down",
        started,
        started + 5_000,
        &json!({"locations": ["seoul-kt"]}),
    )
    .await
    .unwrap();
    incidents::resolve(&app.db.conn, id, started + 600_000, started + 600_000)
        .await
        .unwrap();

    let all: Value = app
        .client
        .get(app.url("/api/v1/dependencies"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let slugs: Vec<&str> = all["dependencies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["slug"].as_str().unwrap())
        .collect();
    assert!(slugs.contains(&"kakao-login"), "{all}");
    let one: Value = app
        .client
        .get(app.url("/api/v1/dependencies/kakao-login"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(one["state"], "unknown");
    assert_eq!(one["incidents"][0]["duration_seconds"], 600);
    assert!(
        one["checks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["name"] == "oidc-discovery"),
        "{one}"
    );
    let list: Value = app
        .client
        .get(app.url("/api/v1/incidents?dependency=kakao-login"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["incidents"][0]["id"], id);
    assert!(
        list["incidents"][0]["started_at"]
            .as_str()
            .unwrap()
            .ends_with("+09:00")
    );
    let detail: Value = app
        .client
        .get(app.url(&format!("/api/v1/incidents/{id}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(detail["evidence"]["locations"][0], "seoul-kt");
    let missing = app
        .client
        .get(app.url("/api/v1/dependencies/nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let body: Value = missing.json().await.unwrap();
    assert_eq!(body["error"], "not_found");
}

#[tokio::test]
async fn merchant_resources_need_a_bearer_token() {
    let app = app().await;
    let t = token(&app, "010-2000-0001", "api@example.com").await;
    let c = &app.client;
    assert_eq!(
        c.get(app.url("/api/v1/me/contacts"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        c.get(app.url("/api/v1/me/contacts"))
            .bearer_auth("mt_wrong")
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::UNAUTHORIZED
    );

    let put = c.put(app.url("/api/v1/me/subscriptions")).bearer_auth(&t).json(&json!({"subscriptions": [{"dependency": "kakao-login"}, {"dependency": "toss-payments", "notify_degraded": true}]})).send().await.unwrap();
    assert_eq!(put.status(), StatusCode::OK);
    let subs: Value = put.json().await.unwrap();
    assert_eq!(subs["subscriptions"].as_array().unwrap().len(), 2);
    let bad = c
        .put(app.url("/api/v1/me/subscriptions"))
        .bearer_auth(&t)
        .json(&json!({"subscriptions": [{"dependency": "nope"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let bad: Value = bad.json().await.unwrap();
    assert_eq!(
        (bad["error"].as_str(), bad["field"].as_str()),
        (Some("validation"), Some("dependencies"))
    );
    let garbage = c
        .put(app.url("/api/v1/me/subscriptions"))
        .bearer_auth(&t)
        .header("content-type", "application/json")
        .body("{")
        .send()
        .await
        .unwrap();
    assert_eq!(garbage.status(), StatusCode::UNPROCESSABLE_ENTITY);

    let added = c
        .post(app.url("/api/v1/me/contacts"))
        .bearer_auth(&t)
        .json(&json!({"label": "직원", "phone": "010 3000 0002"}))
        .send()
        .await
        .unwrap();
    assert_eq!(added.status(), StatusCode::CREATED);
    let added: Value = added.json().await.unwrap();
    assert_eq!(added["phone"], "+821030000002");
    let landline = c
        .post(app.url("/api/v1/me/contacts"))
        .bearer_auth(&t)
        .json(&json!({"phone": "02-123-4567"}))
        .send()
        .await
        .unwrap();
    assert_eq!(landline.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let landline: Value = landline.json().await.unwrap();
    assert_eq!(landline["field"], "phone");
    let list: Value = c
        .get(app.url("/api/v1/me/contacts"))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["contacts"].as_array().unwrap().len(), 2);
    let del = c
        .delete(app.url(&format!("/api/v1/me/contacts/{}", added["id"])))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(del.status(), StatusCode::NO_CONTENT);

    let pb = c
        .put(app.url("/api/v1/me/playbooks/payment"))
        .bearer_auth(&t)
        .json(&json!({"text": "현금만 받아요"}))
        .send()
        .await
        .unwrap();
    let pb: Value = pb.json().await.unwrap();
    assert_eq!(
        (pb["text"].as_str(), pb["custom"].as_bool()),
        (Some("현금만 받아요"), Some(true))
    );
    let all: Value = c
        .get(app.url("/api/v1/me/playbooks"))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(all["playbooks"].as_array().unwrap().len(), 7);

    let sent = c
        .post(app.url("/api/v1/me/test-alert"))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), StatusCode::ACCEPTED);
    let sent: Value = sent.json().await.unwrap();
    let notes: Value = c
        .get(app.url("/api/v1/me/notifications"))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(notes["notifications"][0]["id"], sent["notification_id"]);
    assert_eq!(notes["notifications"][0]["kind"], "test");
    assert!(
        notes["notifications"][0]["messages"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["channel"] == "sms")
    );
    let one = c
        .get(app.url(&format!(
            "/api/v1/me/notifications/{}",
            sent["notification_id"]
        )))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(one.status(), StatusCode::OK);
    assert_eq!(
        merchants::Entity::find()
            .all(&app.db.conn)
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn session_cookies_do_not_reach_merchant_api_endpoints() {
    let app = app().await;
    let c = Client::new(&app);
    c.sign_up("가게", "010-2000-0003", "cookie@example.com")
        .await;
    assert_eq!(
        c.get("/api/v1/me/contacts").await.status,
        StatusCode::UNAUTHORIZED
    );
}

/// The OpenAPI document lists exactly the routed `/api/v1` endpoints: the router is built
/// from `API_ROUTES` (and no module routes `/api/v1` outside it), the document's (method,
/// path) pairs must equal that table, and every one of them reaches a handler.
#[tokio::test]
async fn openapi_covers_routed_endpoints() {
    let app = app().await;
    let t = token(&app, "010-2000-0004", "openapi@example.com").await;
    let doc: Value = app
        .client
        .get(app.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    let documented: BTreeSet<(String, String)> = paths
        .iter()
        .flat_map(|(path, ops)| {
            ops.as_object()
                .unwrap()
                .keys()
                .map(move |m| (m.clone(), path.clone()))
        })
        .collect();
    let routed: BTreeSet<(String, String)> = meoktong_web::routes::api::API_ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(documented, routed, "documented vs routed (method, path)");
    assert!(routed.iter().all(|(_, p)| p.starts_with("/api/v1/")));
    // The table is the only place `/api/v1` routes are registered: no other (non-test) source
    // of the web crate names an `/api/v1/` path.
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates/web/src");
    let table = src.join("routes/api/mod.rs");
    let document = src.join("routes/api/openapi.rs");
    let mut stray = Vec::new();
    let mut dirs = vec![src.clone()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs")
                && path != table
                && path != document
                && std::fs::read_to_string(&path)
                    .unwrap()
                    .split("#[cfg(test)]")
                    .next()
                    .unwrap_or_default()
                    .contains("\"/api/v1/")
            {
                stray.push(path.display().to_string());
            }
        }
    }
    assert!(
        stray.is_empty(),
        "/api/v1 paths outside API_ROUTES: {stray:?}"
    );
    for (path, ops) in paths {
        for method in ops.as_object().unwrap().keys() {
            let url = app.url(
                &path
                    .replace("{slug}", "kakao-login")
                    .replace("{id}", "999999")
                    .replace("{category}", "payment"),
            );
            let req = match method.as_str() {
                "get" => app.client.get(&url),
                "put" => app.client.put(&url).json(&json!({})),
                "post" => app.client.post(&url).json(&json!({})),
                "delete" => app.client.delete(&url),
                "patch" => app.client.patch(&url).json(&json!({})),
                other => panic!("unexpected method {other}"),
            };
            let resp = req.bearer_auth(&t).send().await.unwrap();
            let status = resp.status();
            let body = resp.text().await.unwrap();
            assert!(
                status != StatusCode::METHOD_NOT_ALLOWED
                    && !(status == StatusCode::NOT_FOUND && body.is_empty()),
                "{method} {path}: {status}"
            );
            assert!(
                !body.contains("no such endpoint"),
                "{method} {path} reached the fallback: {body}"
            );
            if !status.is_success() {
                let v: Value = serde_json::from_str(&body)
                    .unwrap_or_else(|_| panic!("{method} {path}: JSON error body, got {body}"));
                assert!(
                    v["error"].is_string() && v["message"].is_string(),
                    "{method} {path}: {v}"
                );
            }
        }
    }
}
