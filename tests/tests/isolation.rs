//! Tenant isolation endpoint by endpoint (another merchant's ids answer 404 and change
//! nothing) and CSRF rejection (a form without the token, or with a wrong one, gets 403).
#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed
mod common;

use common::{Client, app};
use meoktong_storage::entity::{api_tokens, heartbeat_monitors, merchants, notices};
use meoktong_storage::{contact_book, sessions};
use reqwest::StatusCode;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::json;

struct Other {
    contact: i64,
    notice: i64,
    heartbeat: i64,
    token: i64,
}

/// Merchant B with one of everything.
async fn merchant_b(app: &meoktong_tests::TestApp) -> Other {
    let b = Client::new(app);
    b.sign_up("B 가게", "010-4000-0002", "b@example.com").await;
    b.submit(
        "/dashboard/heartbeats",
        "/dashboard/heartbeats",
        &[("name", "B 포스"), ("period_minutes", "1")],
    )
    .await;
    b.submit("/dashboard/tokens", "/dashboard/tokens", &[("name", "B")])
        .await;
    let m = merchants::Entity::find()
        .filter(merchants::Column::BusinessName.eq("B 가게"))
        .one(&app.db.conn)
        .await
        .unwrap()
        .unwrap();
    let contact = contact_book::list(&app.db, &app.crypto, m.id)
        .await
        .unwrap()[0]
        .id;
    b.submit(
        "/dashboard/contacts",
        &format!("/dashboard/contacts/{contact}/test"),
        &[],
    )
    .await;
    let notice = notices::Entity::find()
        .filter(notices::Column::MerchantId.eq(m.id))
        .one(&app.db.conn)
        .await
        .unwrap()
        .unwrap()
        .id;
    let heartbeat = heartbeat_monitors::Entity::find()
        .one(&app.db.conn)
        .await
        .unwrap()
        .unwrap()
        .id;
    let token = api_tokens::Entity::find()
        .one(&app.db.conn)
        .await
        .unwrap()
        .unwrap()
        .id;
    Other {
        contact,
        notice,
        heartbeat,
        token,
    }
}

#[tokio::test]
async fn another_merchants_ids_are_not_found_anywhere() {
    let app = app().await;
    let o = merchant_b(&app).await;
    let a = Client::new(&app);
    a.sign_up("A 가게", "010-4000-0001", "a@example.com").await;
    let posts = [
        (format!("/dashboard/contacts/{}/delete", o.contact), vec![]),
        (
            format!("/dashboard/contacts/{}/move", o.contact),
            vec![("dir", "down")],
        ),
        (
            format!("/dashboard/contacts/{}/send-code", o.contact),
            vec![],
        ),
        (
            format!("/dashboard/contacts/{}/verify-phone", o.contact),
            vec![("code", "123456")],
        ),
        (
            format!("/dashboard/contacts/{}/send-email-link", o.contact),
            vec![],
        ),
        (format!("/dashboard/contacts/{}/test", o.contact), vec![]),
        (
            format!("/dashboard/heartbeats/{}/delete", o.heartbeat),
            vec![],
        ),
        (format!("/dashboard/tokens/{}/revoke", o.token), vec![]),
    ];
    for (path, form) in &posts {
        let page = a.submit("/dashboard", path, form).await;
        assert_eq!(
            page.status,
            StatusCode::NOT_FOUND,
            "POST {path}: {}",
            page.body
        );
    }
    // The API, with A's token.
    let tok = a
        .submit("/dashboard/tokens", "/dashboard/tokens", &[("name", "A")])
        .await;
    let t = tok
        .body
        .split("id=\"new-token\">")
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap()
        .to_string();
    let c = &app.client;
    let del = c
        .delete(app.url(&format!("/api/v1/me/contacts/{}", o.contact)))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(del.status(), StatusCode::NOT_FOUND);
    let note = c
        .get(app.url(&format!("/api/v1/me/notifications/{}", o.notice)))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(note.status(), StatusCode::NOT_FOUND);
    let test = c
        .post(app.url("/api/v1/me/test-alert"))
        .bearer_auth(&t)
        .json(&json!({"contact_id": o.contact}))
        .send()
        .await
        .unwrap();
    assert_eq!(test.status(), StatusCode::NOT_FOUND);
    let list: serde_json::Value = c
        .get(app.url("/api/v1/me/notifications"))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        list["notifications"].as_array().unwrap().is_empty(),
        "{list}"
    );
    // A's pages show none of B's things; merchants cannot see the operator page.
    assert!(!a.get("/dashboard/history").await.body.contains("[테스트]"));
    assert!(!a.get("/dashboard/heartbeats").await.body.contains("B 포스"));
    assert_eq!(a.get("/operator").await.status, StatusCode::NOT_FOUND);
    // Nothing of B's changed.
    let b = merchants::Entity::find()
        .filter(merchants::Column::BusinessName.eq("B 가게"))
        .one(&app.db.conn)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        contact_book::list(&app.db, &app.crypto, b.id)
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        heartbeat_monitors::Entity::find()
            .all(&app.db.conn)
            .await
            .unwrap()
            .len(),
        1
    );
    let b_token = api_tokens::Entity::find_by_id(o.token)
        .one(&app.db.conn)
        .await
        .unwrap()
        .unwrap();
    assert!(!b_token.revoked);
    let sms_to_b = meoktong_storage::entity::outbox::Entity::find()
        .all(&app.db.conn)
        .await
        .unwrap();
    assert_eq!(
        sms_to_b.iter().filter(|m| m.merchant_id == b.id).count(),
        2,
        "only B's own test alert (sms + email)"
    );
}

#[tokio::test]
async fn forms_without_the_right_csrf_token_are_forbidden() {
    let app = app().await;
    let o = merchant_b(&app).await;
    let a = Client::new(&app);
    a.sign_up("A 가게", "010-4000-0001", "a@example.com").await;
    let a_contact = {
        let m = merchants::Entity::find()
            .filter(merchants::Column::BusinessName.eq("A 가게"))
            .one(&app.db.conn)
            .await
            .unwrap()
            .unwrap();
        contact_book::list(&app.db, &app.crypto, m.id)
            .await
            .unwrap()[0]
            .id
    };
    let _ = o;
    let paths = [
        "/logout".to_string(),
        "/dashboard/catalog".into(),
        "/dashboard/contacts".into(),
        format!("/dashboard/contacts/{a_contact}/delete"),
        format!("/dashboard/contacts/{a_contact}/move"),
        format!("/dashboard/contacts/{a_contact}/send-code"),
        format!("/dashboard/contacts/{a_contact}/verify-phone"),
        format!("/dashboard/contacts/{a_contact}/send-email-link"),
        format!("/dashboard/contacts/{a_contact}/test"),
        "/dashboard/playbooks/payment".into(),
        "/dashboard/heartbeats".into(),
        "/dashboard/tokens".into(),
    ];
    for p in &paths {
        assert_eq!(
            a.post(p, &[("phone", "010-1111-2222")]).await.status,
            StatusCode::FORBIDDEN,
            "no token: {p}"
        );
        assert_eq!(
            a.post(p, &[("csrf", "forged-token-forged-token-forged-token")])
                .await
                .status,
            StatusCode::FORBIDDEN,
            "wrong token: {p}"
        );
    }
    // Anonymous forms: the double-submit cookie must match.
    for p in ["/signup", "/login", "/password/forgot"] {
        let anon = Client::new(&app);
        assert_eq!(
            anon.post(p, &[("email", "a@example.com")]).await.status,
            StatusCode::FORBIDDEN,
            "no cookie: {p}"
        );
        anon.get(p).await;
        assert_eq!(
            anon.post(
                p,
                &[
                    ("csrf", "x".repeat(43).as_str()),
                    ("email", "a@example.com")
                ]
            )
            .await
            .status,
            StatusCode::FORBIDDEN,
            "wrong token: {p}"
        );
    }
    // Nothing happened: still signed in, still one contact, no message queued for A.
    assert_eq!(a.get("/dashboard").await.status, StatusCode::OK);
    let sessions_alive = sessions::find_api_token(&app.db, &app.crypto, "x", 0)
        .await
        .unwrap();
    assert!(sessions_alive.is_none());
    let m = merchants::Entity::find()
        .filter(merchants::Column::BusinessName.eq("A 가게"))
        .one(&app.db.conn)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        contact_book::list(&app.db, &app.crypto, m.id)
            .await
            .unwrap()
            .len(),
        1
    );
}
