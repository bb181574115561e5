//! An association's staff at a desktop (1280 px) in headless Chromium: upload the member list
//! (a CRLF file with a bad phone on line 3 is refused by line, then the fixed one imported),
//! watch the live reach while Kakao Login is down (the probes find it on the simulator; the
//! alerts go out; one member acknowledges from the SMS link), see whom to call, send a
//! broadcast once to every member, and log out. Screenshots: `association-members`,
//! `association-reach` in `web/screenshots/`.
//!
//! Needs `chromium` and `chromedriver`; without them the test fails unless
//! `MEOKTONG_SKIP_BROWSER=1` says to skip.
#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed
mod browser_kit;
mod common;
mod support;

use browser_kit::*;
use fantoccini::{Client, Locator};
use meoktong::BuildOptions;
use meoktong_config::SmsProviderSettings;
use meoktong_probe::simulator::{Mode, Service, Simulator};
use meoktong_storage::entity::{memberships, outbox};
use meoktong_storage::users::{self, NewUser};
use meoktong_tests::{Backend, TestApp, spawn_app_with};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use std::path::Path;
use std::time::Duration;

const HEADER: &str = "business_name,phone,email,dependencies,locale,region,trade\r\n";

/// Reloads the live-reach page until `check` holds on its source (up to 60 s).
async fn wait_for_reach(
    c: &Client,
    app: &TestApp,
    what: &str,
    check: impl Fn(&str) -> bool,
) -> String {
    for _ in 0..120 {
        c.goto(&app.url("/association/reach")).await.unwrap();
        let page = c.source().await.unwrap();
        if check(&page) {
            return page;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    panic!("the live reach never showed {what}");
}

fn summary_count(page: &str, label: &str) -> Option<u32> {
    let at = page.find(label)?;
    let before = &page[..at];
    let strong = before.rfind("<strong>")?;
    before[strong + 8..].split('<').next()?.trim().parse().ok()
}

#[tokio::test]
async fn an_association_uploads_members_and_watches_live_reach_during_an_outage() {
    if !Path::new(CHROMIUM).exists() || !Path::new(CHROMEDRIVER).exists() {
        assert!(
            std::env::var("MEOKTONG_SKIP_BROWSER").is_ok_and(|v| v == "1"),
            "chromium and chromedriver are not installed; MEOKTONG_SKIP_BROWSER=1 skips this test"
        );
        return;
    }
    let sim = Simulator::start("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let deps: Vec<_> = ["kakao-login", "naver-login"]
        .iter()
        .map(|slug| support::simulated(&sim.base_url(), slug, Duration::from_secs(1)))
        .collect();
    let app = spawn_app_with(
        Backend::Sqlite,
        move |s| {
            s.dependency = deps;
            s.sms = vec![SmsProviderSettings::default()];
            s.detection.group_window = Duration::from_secs(1);
        },
        BuildOptions {
            run_workers: true,
            ..BuildOptions::default()
        },
    )
    .await;
    let association = users::association_by_name(&app.db, "마포상인회")
        .await
        .unwrap();
    let hash = meoktong_web::auth::password::hash("correct horse battery").unwrap();
    users::create(
        &app.db,
        &app.crypto,
        NewUser {
            email: "staff@mapo.example",
            password_hash: &hash,
            role: "association",
            merchant_id: None,
            association_id: Some(association),
        },
        "test",
    )
    .await
    .unwrap();

    let (_driver, driver_url) = start_driver().await;
    let profile = tempfile::tempdir().unwrap();
    let c = desktop(&driver_url, profile.path()).await;
    c.goto(&app.url("/login")).await.unwrap();
    fill(&c, "input[name=email]", "staff@mapo.example").await;
    fill(&c, "input[name=password]", "correct horse battery").await;
    click(&c, "button[type=submit]").await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    // The member list as Excel saves it (CRLF); a landline on line 3 refuses the whole file.
    let files = tempfile::tempdir().unwrap();
    let bad = files.path().join("members-bad.csv");
    std::fs::write(
        &bad,
        format!(
            "{HEADER}행복분식,010-2000-0001,owner@bunsik.example,kakao-login,ko,서울 마포구,분식\r\n망원떡볶이,02-333-4444,,kakao-login,ko,서울 마포구,분식\r\n"
        ),
    )
    .unwrap();
    c.goto(&app.url("/association/members")).await.unwrap();
    fill(&c, "#members-file", bad.to_str().unwrap()).await;
    click(&c, "form[action='/association/members/import'] button").await;
    let errors = c
        .wait()
        .at_most(Duration::from_secs(5))
        .for_element(Locator::Css("#import-errors"))
        .await
        .expect("the problems listed")
        .text()
        .await
        .unwrap();
    assert!(errors.contains("line 3: phone:"), "{errors}");
    assert_eq!(
        memberships::Entity::find()
            .count(&app.db.conn)
            .await
            .unwrap(),
        0,
        "nothing imported"
    );
    let good = files.path().join("members.csv");
    std::fs::write(
        &good,
        format!(
            "{HEADER}행복분식,010-2000-0001,owner@bunsik.example,kakao-login,ko,서울 마포구,분식\r\n망원떡볶이,010-2000-0002,,kakao-login;naver-login,ko,서울 마포구,분식\r\n합정카페,010-2000-0003,cafe@hapjeong.example,naver-login,en,서울 마포구,카페\r\n"
        ),
    )
    .unwrap();
    fill(&c, "#members-file", good.to_str().unwrap()).await;
    click_to(
        &c,
        "form[action='/association/members/import'] button",
        "/association/members?done=imported",
    )
    .await;
    let page = c.source().await.unwrap();
    for shop in ["행복분식", "망원떡볶이", "합정카페"] {
        assert!(page.contains(shop), "{shop} listed");
    }
    assert!(page.contains("카카오 로그인"), "subscriptions by name");
    assert!(
        !page.contains("010-2000-0001") && !page.contains("+821020000001"),
        "masked"
    );
    // Wide at 1280 px: the table uses the width instead of a phone's column.
    let width = c
        .execute(
            "return document.querySelector('table.members').getBoundingClientRect().width",
            vec![],
        )
        .await
        .unwrap();
    assert!(width.as_f64().unwrap() > 1000.0, "table width {width}");
    shot(&c, "association-members").await;

    // No outage: the live reach says so.
    c.goto(&app.url("/association/reach")).await.unwrap();
    c.find(Locator::Css("#no-outage")).await.expect("calm");

    // Kakao Login goes dark: two members rely on it; alerts go out; the page follows.
    sim.set_mode(Service::parse("kakao-login").unwrap(), Mode::Down);
    let page = wait_for_reach(&c, &app, "two members reached by SMS", |p| {
        p.contains("id=\"outage-now\"") && summary_count(p, "문자 도착") == Some(2)
    })
    .await;
    assert_eq!(summary_count(&page, "영향받는 회원"), Some(2), "{page}");
    assert!(!page.contains("합정카페"), "not subscribed to what is down");
    assert!(page.contains("tel:+821020000001"), "whom to call");

    // 행복분식 acknowledges from its SMS; the page shows it and stops offering its number.
    let sms = sms_starting(&app, "[장애]").await;
    let link = sms
        .split_whitespace()
        .find(|w| w.contains("/a/"))
        .unwrap()
        .to_string();
    let owner_profile = tempfile::tempdir().unwrap();
    let owner = desktop(&driver_url, owner_profile.path()).await;
    owner.goto(&link).await.unwrap();
    click(&owner, "form.ack button").await;
    owner
        .wait()
        .at_most(Duration::from_secs(5))
        .for_element(Locator::Css("p.acked"))
        .await
        .expect("acknowledged");
    owner.close().await.unwrap();
    let page = wait_for_reach(&c, &app, "one acknowledgement", |p| {
        summary_count(p, "사장님 확인") == Some(1)
    })
    .await;
    assert_eq!(summary_count(&page, "아직 못 닿음"), Some(0), "{page}");
    let acked_phones = ["tel:+821020000001", "tel:+821020000002"]
        .iter()
        .filter(|t| page.contains(*t))
        .count();
    assert_eq!(
        acked_phones, 1,
        "only the member who has not acknowledged: {page}"
    );
    assert!(
        page.contains("http-equiv=\"refresh\""),
        "refreshes during the outage"
    );
    shot(&c, "association-reach").await;

    // A broadcast: once to every member, by SMS, audited; the second page load sends nothing.
    fill(&c, "#broadcast-text", "피해 신고는 11월 6일까지 받습니다.").await;
    click_to(
        &c,
        "form[action='/association/broadcasts'] button",
        "/association/reach?done=sent",
    )
    .await;
    let broadcasts = outbox::Entity::find()
        .filter(outbox::Column::DedupeKey.starts_with("broadcast:"))
        .all(&app.db.conn)
        .await
        .unwrap();
    assert_eq!(broadcasts.len(), 3, "one per member");
    let mut bodies: Vec<&str> = broadcasts.iter().map(|m| m.body.as_str()).collect();
    bodies.sort();
    // In each member's language (합정카페 chose English): the tag, the sender, the text.
    assert_eq!(
        bodies,
        [
            "[NOTICE] 마포상인회: 피해 신고는 11월 6일까지 받습니다.",
            "[공지] 마포상인회: 피해 신고는 11월 6일까지 받습니다.",
            "[공지] 마포상인회: 피해 신고는 11월 6일까지 받습니다.",
        ]
    );
    assert!(broadcasts.iter().all(|m| m.channel == "sms"));
    let page = c.source().await.unwrap();
    assert!(
        page.contains("피해 신고는 11월 6일까지 받습니다.") && page.contains("3명"),
        "listed as sent"
    );

    // Logout is on the association's pages.
    click(&c, "form[action='/logout'] button").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    c.goto(&app.url("/association/members")).await.unwrap();
    assert!(path(&c).await.starts_with("/login"), "signed out");
    sim.set_mode(Service::parse("kakao-login").unwrap(), Mode::Up);
    c.close().await.unwrap();
}
