//! What the merchant's pages say, over real HTTP: the overview when the store's own internet
//! is down, and the catalog's plain words, folded jargon and numbers to call in both languages.
#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed
mod common;

use common::{Client, app};
use meoktong_storage::entity::heartbeat_monitors;
use meoktong_storage::{dashboard, merchants as merchant_store, now_ms};
use reqwest::StatusCode;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

#[tokio::test]
async fn the_overview_says_plainly_when_the_stores_internet_is_down() {
    let app = app().await;
    let c = Client::new(&app);
    c.sign_up("동네빵집", "010-4200-0001", "bakery@example.com")
        .await;
    let m = merchant_store::list(&app.db, &app.crypto).await.unwrap()[0].id;
    let page = c.get("/dashboard").await;
    assert!(!page.body.contains("store-offline"), "{}", page.body);

    // The router's heartbeat stopped five minutes ago and the sweeper marked it down.
    let now = now_ms();
    let id =
        dashboard::create_heartbeat(&app.db, m, "공유기", "not-a-real-hash", 60_000, 60_000, now)
            .await
            .unwrap();
    heartbeat_monitors::Entity::update_many()
        .col_expr(heartbeat_monitors::Column::State, "down".into())
        .col_expr(
            heartbeat_monitors::Column::LastPingAt,
            Some(now - 5 * 60_000).into(),
        )
        .filter(heartbeat_monitors::Column::Id.eq(id))
        .exec(&app.db.conn)
        .await
        .unwrap();

    let page = c.get("/dashboard").await;
    assert_eq!(page.status, StatusCode::OK);
    for want in [
        "id=\"store-offline\"",
        "매장 인터넷이 끊겼습니다",
        "LTE",
        "href=\"tel:100\"",
        "href=\"tel:106\"",
        "href=\"tel:101\"",
        "href=\"/dashboard/playbooks#p-network\"",
    ] {
        assert!(page.body.contains(want), "{want}: {}", page.body);
    }
    let en = c.get("/dashboard?lang=en").await;
    assert!(en.body.contains("internet is down"), "{}", en.body);
    assert!(
        en.body.contains("KT internet customer centre"),
        "{}",
        en.body
    );
}

#[tokio::test]
async fn the_catalog_speaks_plainly_in_each_language_and_folds_the_jargon() {
    let app = app().await;
    let c = Client::new(&app);
    c.sign_up("동네빵집", "010-4200-0002", "catalog@example.com")
        .await;

    let ko = c.get("/dashboard/catalog").await.body;
    assert!(ko.contains("카카오 계정으로 로그인"), "{ko}");
    assert!(ko.contains("<summary>기술 정보</summary>"), "{ko}");
    assert!(
        ko.contains("href=\"tel:15447772\""),
        "Toss Payments' centre: {ko}"
    );
    // Jargon only inside the folds.
    let outside: String = ko
        .split("<details")
        .map(|part| part.split_once("</details>").map_or(part, |(_, rest)| rest))
        .collect();
    for jargon in ["OIDC", "JWKS", "NOT_FOUND_PAYMENT"] {
        assert!(ko.contains(jargon), "{jargon} kept in the fold");
        assert!(
            !outside.contains(jargon),
            "{jargon} outside the fold: {outside}"
        );
    }

    let en = c.get("/dashboard/catalog?lang=en").await.body;
    assert!(en.contains("Sign-in with a Kakao account"), "{en}");
    assert!(en.contains("<summary>Technical details</summary>"), "{en}");
    assert!(en.contains("Kakao customer centre"), "{en}");
    assert!(
        !en.contains("카카오 계정으로 로그인"),
        "no Korean line on an English page"
    );
    assert!(
        !en.contains("<legend>payment</legend>"),
        "category words, not slugs: {en}"
    );
    assert!(en.contains("<legend>Payments</legend>"), "{en}");

    let books = c.get("/dashboard/playbooks?lang=en").await.body;
    assert!(books.contains("href=\"/dashboard/order-sheet\""), "{books}");
    assert!(books.contains("href=\"tel:100\""), "{books}");
    let sheet = c.get("/dashboard/order-sheet?lang=ko").await;
    assert_eq!(sheet.status, StatusCode::OK);
    assert!(
        sheet.body.contains("동네빵집")
            && sheet.body.contains("금액")
            && sheet.body.contains("연락처"),
        "{}",
        sheet.body
    );
    // Someone else's sheet needs a sign-in.
    let stranger = Client::new(&app).get("/dashboard/order-sheet").await;
    assert_eq!(stranger.status, StatusCode::SEE_OTHER);
}
