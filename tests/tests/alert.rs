//! The alert page `/a/{token}` and its acknowledge button, over real HTTP.
mod notice_fixture;

use meoktong_storage::entity::playbooks;
use meoktong_tests::{Backend, TestApp, spawn_app_with};
use notice_fixture::{DEP_NAME, DEP_NAME_EN, Spec, kakaotalk, notice, notice_row, row};
use sea_orm::{ActiveValue::NotSet, EntityTrait, Set};

async fn spawn() -> TestApp {
    spawn_app_with(
        Backend::default_for_tests(),
        |s| {
            s.server.public_url = "https://alerts.meoktong.test".into();
            s.dependency = vec![kakaotalk()];
        },
        Default::default(),
    )
    .await
}

async fn get(app: &TestApp, path: &str) -> reqwest::Response {
    app.client.get(app.url(path)).send().await.expect("get")
}

fn header<'a>(r: &'a reqwest::Response, name: &str) -> &'a str {
    r.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// The hidden `csrf` field of the page's acknowledge form.
fn csrf_of(page: &str) -> String {
    let at =
        page.find("name=\"csrf\" value=\"").expect("a csrf field") + "name=\"csrf\" value=\"".len();
    page[at..]
        .split('"')
        .next()
        .expect("closing quote")
        .to_string()
}

async fn ack(app: &TestApp, token: &str, form: &[(&str, &str)]) -> reqwest::Response {
    app.client
        .post(app.url(&format!("/a/{token}/ack")))
        .form(form)
        .send()
        .await
        .expect("post ack")
}

#[tokio::test]
async fn the_page_says_what_is_down_and_what_to_do() {
    let app = spawn().await;
    let m = notice_fixture::merchant(&app, None).await;
    let n = notice(&app, &m, Spec::default()).await;
    let r = get(&app, &format!("/a/{}", n.token)).await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "cache-control"), "no-store");
    assert_eq!(header(&r, "referrer-policy"), "no-referrer");
    assert!(header(&r, "content-type").starts_with("text/html"));
    let page = r.text().await.expect("body");
    assert!(page.contains("[장애]"), "tagged as a down notice");
    assert!(
        page.contains(DEP_NAME),
        "names the dependency in Korean by default"
    );
    assert!(
        page.contains("매장 전화로 주문을 받으세요"),
        "the default messenger playbook"
    );
    assert!(
        page.contains("수동 주문으로 전환했어요"),
        "the acknowledge button"
    );
    let sheet_link = format!("href=\"/a/{}/order-sheet\"", n.token);
    assert!(
        page.contains("수동 주문서") && page.contains(&sheet_link),
        "links the printable order sheet: {page}"
    );
    // The sheet: the store's name, today's date, the columns, one A4 page when printed, and
    // as private as the alert page itself.
    let r = get(&app, &format!("/a/{}/order-sheet", n.token)).await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "cache-control"), "no-store");
    assert_eq!(header(&r, "referrer-policy"), "no-referrer");
    let sheet = r.text().await.expect("body");
    for want in [
        "수기 주문서",
        "먹통분식",
        "연락처",
        "금액",
        "@page { size: A4",
        "@media print",
    ] {
        assert!(sheet.contains(want), "{want}: {sheet}");
    }
    assert!(
        sheet.contains("년 ") && sheet.contains("월 "),
        "dated: {sheet}"
    );
    assert_eq!(
        get(&app, "/a/not-a-token/order-sheet").await.status(),
        404,
        "no sheet without a live alert link"
    );
    assert!(page.contains(&format!("action=\"/a/{}/ack\"", n.token)));
    let csrf = csrf_of(&page);
    assert_eq!(csrf.len(), 64, "an HMAC-SHA256 in hex: {csrf}");
    assert!(
        !page.contains("/reports/new"),
        "no damage report while it is down"
    );

    let english = get(&app, &format!("/a/{}?lang=en", n.token))
        .await
        .text()
        .await
        .expect("body");
    assert!(english.contains(DEP_NAME_EN) && english.contains("[DOWN]"));
    assert!(
        english.contains("I&#39;ve switched to manual ordering")
            || english.contains("I've switched to manual ordering")
    );
}

#[tokio::test]
async fn the_merchants_language_and_own_playbook_are_used() {
    let app = spawn().await;
    let m = notice_fixture::merchant(&app, Some("en")).await;
    let own = playbooks::ActiveModel {
        id: NotSet,
        merchant_id: Set(m.id),
        category: Set("messenger".into()),
        text: Set(
            "Call Mrs Kim's phone line 02-123-4567.\nTape the paper menu to the door.".into(),
        ),
        updated_at: Set(0),
    };
    playbooks::Entity::insert(own)
        .exec(&app.db.conn)
        .await
        .expect("insert playbook");
    let n = notice(&app, &m, Spec::default()).await;
    let page = app
        .client
        .get(app.url(&format!("/a/{}", n.token)))
        .header("accept-language", "ko-KR")
        .send()
        .await
        .expect("get")
        .text()
        .await
        .expect("body");
    assert!(
        page.contains(DEP_NAME_EN),
        "merchant.locale wins over Accept-Language"
    );
    assert!(
        page.contains("Tape the paper menu to the door."),
        "the merchant's own playbook"
    );
    assert!(!page.contains("Put up a"), "not the default one");
}

#[tokio::test]
async fn acknowledging_needs_the_csrf_token_and_is_idempotent() {
    let app = spawn().await;
    let m = notice_fixture::merchant(&app, None).await;
    let n = notice(
        &app,
        &m,
        Spec {
            sms_state: "pending",
            sid: None,
            ..Spec::default()
        },
    )
    .await;
    let page = get(&app, &format!("/a/{}", n.token))
        .await
        .text()
        .await
        .expect("body");
    let csrf = csrf_of(&page);

    let r = ack(&app, &n.token, &[]).await;
    assert_eq!(r.status(), 403, "no csrf");
    assert_eq!(header(&r, "cache-control"), "no-store");
    assert_eq!(
        ack(&app, &n.token, &[("csrf", "0".repeat(64).as_str())])
            .await
            .status(),
        403,
        "wrong csrf"
    );
    // Another notice's token is wrong here too.
    let other = notice(
        &app,
        &m,
        Spec {
            kind: "followup",
            started_ago_ms: 7 * 60_000,
            ..Spec::default()
        },
    )
    .await;
    let other_csrf = csrf_of(
        &get(&app, &format!("/a/{}", other.token))
            .await
            .text()
            .await
            .expect("body"),
    );
    assert_ne!(other_csrf, csrf);
    assert_eq!(
        ack(&app, &n.token, &[("csrf", other_csrf.as_str())])
            .await
            .status(),
        403,
        "csrf of another notice"
    );
    assert_eq!(notice_row(&app, n.id).await.status, "open");

    let r = ack(&app, &n.token, &[("csrf", csrf.as_str())]).await;
    assert_eq!(r.status(), 303);
    assert_eq!(header(&r, "location"), format!("/a/{}", n.token));
    assert_eq!(header(&r, "referrer-policy"), "no-referrer");
    let notice = notice_row(&app, n.id).await;
    assert_eq!(notice.status, "acked");
    assert_eq!(notice.acked_via.as_deref(), Some("web"));
    assert_eq!(
        row(&app, n.sms_id).await.state,
        "cancelled",
        "nothing more is sent"
    );
    assert_eq!(row(&app, n.email_id).await.state, "cancelled");
    assert_eq!(
        notice_row(&app, other.id).await.status,
        "acked",
        "every open alert of the merchant: everything stops once acknowledged"
    );
    assert_eq!(row(&app, other.email_id).await.state, "cancelled");

    let again = ack(&app, &n.token, &[("csrf", csrf.as_str())]).await;
    assert_eq!(again.status(), 303, "idempotent");
    let page = get(&app, &format!("/a/{}", n.token))
        .await
        .text()
        .await
        .expect("body");
    assert!(page.contains("확인함"), "shows when it was acknowledged");
    assert!(!page.contains("name=\"csrf\""), "no second button");
}

#[tokio::test]
async fn a_recovery_page_gives_the_outage_and_the_damage_report() {
    let app = spawn().await;
    let m = notice_fixture::merchant(&app, None).await;
    let n = notice(
        &app,
        &m,
        Spec {
            kind: "recovery",
            started_ago_ms: (2 * 60 + 30) * 60_000,
            resolved_ago_ms: Some(25 * 60_000),
            ..Spec::default()
        },
    )
    .await;
    let page = get(&app, &format!("/a/{}", n.token))
        .await
        .text()
        .await
        .expect("body");
    assert!(
        page.contains("[복구]") && page.contains("복구되었습니다"),
        "{page}"
    );
    assert!(page.contains("2시간 5분"), "the measured outage: {page}");
    assert!(
        // `&` in an attribute may be written `&amp;` or `&#38;`.
        page.replace("&#38;", "&")
            .replace("&amp;", "&")
            .contains(&format!(
                "href=\"/reports/new?incident={}&token={}\"",
                n.incident_id, n.token
            )),
        "links the pre-filled damage report: {page}"
    );
    assert!(page.contains(DEP_NAME));
}

#[tokio::test]
async fn unknown_and_expired_links_are_404() {
    let app = spawn().await;
    let m = notice_fixture::merchant(&app, None).await;
    let expired = notice(
        &app,
        &m,
        Spec {
            expires_in_ms: -1000,
            ..Spec::default()
        },
    )
    .await;
    for path in [
        "/a/no-such-token".to_string(),
        format!("/a/{}", expired.token),
    ] {
        let r = get(&app, &path).await;
        assert_eq!(r.status(), 404, "{path}");
        assert_eq!(header(&r, "cache-control"), "no-store");
        assert_eq!(header(&r, "referrer-policy"), "no-referrer");
        assert!(
            r.text().await.expect("body").contains("<html"),
            "a page, not JSON"
        );
    }
    assert_eq!(
        ack(&app, "no-such-token", &[("csrf", "x")]).await.status(),
        404
    );
    assert_eq!(
        ack(&app, &expired.token, &[("csrf", "x")]).await.status(),
        404
    );
}

#[tokio::test]
async fn a_test_page_and_a_store_offline_page_say_what_they_are() {
    let app = spawn().await;
    let m = notice_fixture::merchant(&app, None).await;
    let test = notice(
        &app,
        &m,
        Spec {
            kind: "test",
            ..Spec::default()
        },
    )
    .await;
    let page = get(&app, &format!("/a/{}", test.token))
        .await
        .text()
        .await
        .expect("body");
    assert!(page.contains("[테스트]"), "{page}");
    assert!(page.contains("실제 장애가 아닙니다"), "{page}");
    assert!(page.contains("알림 잘 받았어요"), "its own button: {page}");
    assert!(
        !page.contains("지금 안 되는 서비스") && !page.contains("수동 주문"),
        "a test is no outage: {page}"
    );

    let offline = notice(
        &app,
        &m,
        Spec {
            kind: "store_offline",
            ..Spec::default()
        },
    )
    .await;
    let page = get(&app, &format!("/a/{}", offline.token))
        .await
        .text()
        .await
        .expect("body");
    assert!(page.contains("[매장 인터넷]"), "{page}");
    assert!(
        page.contains("매장 인터넷이 안 되는 것 같아요") && page.contains("LTE 라우터"),
        "says the store's internet is down and what to do: {page}"
    );
    assert!(page.contains("LTE로 전환했어요"), "its own button: {page}");
    assert!(
        !page.contains("수동 주문으로 전환했어요") && !page.contains("지금 안 되는 서비스"),
        "{page}"
    );
    assert!(
        page.contains("카드 단말기를 LTE 라우터(또는 휴대폰 핫스팟)에 연결하세요"),
        "the network playbook: {page}"
    );
}
