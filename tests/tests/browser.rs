//! The merchant's whole story in headless Chromium, driven through chromedriver: sign up,
//! subscribe to Kakao Login, add and verify a contact with the SMS code, watch Kakao Login
//! turn red, open the alert page from the SMS link and acknowledge, see the same link say it is
//! back, then hear of a slowdown in its own words. Along the way the pages are checked for
//! what a stressed shop owner needs: during the outage the overview links the open alert and
//! its playbook (and shows no response time for a dead service), the alert page names the
//! customer centre to call and links a one-page order sheet, the recovered page says 복구 and
//! links the damage report and 내 피해 신고, a report form that refuses a value names the file
//! to choose again, the history links each alert page, and the uptime says over how long it
//! was measured. Phone-width (390×844) screenshots of the main pages are saved to
//! `web/screenshots/`.
//!
//! The dependencies are the presets pointed at the simulator and probed every second, so the
//! outage the merchant watches is the one the probes and the detector find.
//!
//! Needs `chromium` and `chromedriver` (Debian: `chromium`, `chromium-driver`; `.ci/run`
//! installs them). Without them the test fails, unless `MEOKTONG_SKIP_BROWSER=1` says to skip.
#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed
mod browser_kit;
mod common;
mod support;

use browser_kit::*;
use fantoccini::wd::PrintConfiguration;
use fantoccini::{Client, Locator};
use meoktong::BuildOptions;
use meoktong_config::SmsProviderSettings;
use meoktong_probe::simulator::{Mode, Service, Simulator};
use meoktong_storage::entity::subscriptions;
use meoktong_tests::{Backend, TestApp, spawn_app_with};
use sea_orm::EntityTrait;
use std::path::Path;
use std::time::Duration;

/// The first bytes of a PNG: what the report form's type check looks for.
const PNG: &[u8] =
    b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89";

/// Pages of a PDF as Chromium writes it: the page-tree root's `/Count`.
fn pdf_pages(pdf: &[u8]) -> usize {
    let text = String::from_utf8_lossy(pdf);
    let pages = text.matches("/Type /Page").count() - text.matches("/Type /Pages").count();
    assert!(pages > 0, "no pages found in the PDF");
    pages
}

/// Reloads the overview until Kakao Login's card says `state` (the probes every second, the
/// re-checks and the detector take a few seconds).
async fn wait_for_card(c: &Client, app: &TestApp, state: &str) {
    for _ in 0..120 {
        c.goto(&app.url("/dashboard")).await.unwrap();
        if let Ok(card) = c
            .find(Locator::Css("li.dep[data-slug='kakao-login']"))
            .await
            && card.attr("data-state").await.unwrap().as_deref() == Some(state)
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    panic!("Kakao Login never showed {state}");
}

#[tokio::test]
async fn a_merchant_signs_up_subscribes_verifies_and_acknowledges_an_outage() {
    if !Path::new(CHROMIUM).exists() || !Path::new(CHROMEDRIVER).exists() {
        assert!(
            std::env::var("MEOKTONG_SKIP_BROWSER").is_ok_and(|v| v == "1"),
            "chromium and chromedriver are not installed (apt-get install chromium chromium-driver); MEOKTONG_SKIP_BROWSER=1 skips this test"
        );
        eprintln!("SKIPPED: MEOKTONG_SKIP_BROWSER=1 and no chromium");
        return;
    }
    let sim = Simulator::start("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let deps: Vec<_> = ["kakao-login", "naver-login", "toss-payments"]
        .iter()
        .map(|slug| {
            let mut d = support::simulated(&sim.base_url(), slug, Duration::from_secs(1));
            // Slow past 400 ms: the simulator's slow mode answers after 800 ms.
            d.check[0].degraded_latency = Some(Duration::from_millis(400));
            d.check[0].timeout = Some(Duration::from_secs(3));
            d
        })
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
    let (_driver, driver_url) = start_driver().await;
    let profile = tempfile::tempdir().unwrap();
    let c = browser(&driver_url, profile.path()).await;

    // Status page first, as a passer-by sees it.
    c.goto(&app.url("/status")).await.unwrap();
    shot(&c, "status").await;

    // Sign up.
    c.goto(&app.url("/signup")).await.unwrap();
    fill(&c, "#f-business_name", "행복분식").await;
    fill(&c, "#f-owner_name", "김민지").await;
    fill(&c, "#f-phone", "010-2345-6789").await;
    fill(&c, "#f-email", "minji@example.com").await;
    fill(&c, "#f-password", "correct horse battery").await;
    shot(&c, "signup").await;
    click_to(&c, "button.primary", "/signup/sent").await;
    let link = common::confirm_link(&app, "minji@example.com").await;
    c.goto(&app.url(&link)).await.unwrap();
    click_to(&c, "button.primary", "/dashboard/catalog").await;

    // Subscribe to Kakao Login. The catalog speaks plainly; the jargon waits behind a fold.
    let page = c.source().await.unwrap();
    assert!(page.contains("기술 정보"), "{page}");
    let visible = c
        .execute("return document.body.innerText", vec![])
        .await
        .unwrap();
    let visible = visible.as_str().unwrap_or_default();
    assert!(
        !visible.contains("OIDC") && !visible.contains("TC0ONETIME"),
        "jargon folded away: {visible}"
    );
    click(&c, "#dep-kakao-login").await;
    shot(&c, "catalog").await;
    click_to(&c, "form.catalog button.primary", "/dashboard?done=saved").await;

    // Verify the mobile number with the code from the SMS.
    c.goto(&app.url("/dashboard/contacts")).await.unwrap();
    click_to(
        &c,
        "form[action$='/send-code'] button",
        "/dashboard/contacts?done=code-sent",
    )
    .await;
    let code = common::six_digits(&sms_starting(&app, "[먹통] 인증번호").await);
    fill(&c, "input[name=code]", &code).await;
    click_to(
        &c,
        "form[action$='/verify-phone'] button",
        "/dashboard/contacts?done=verified",
    )
    .await;
    let page = c.source().await.unwrap();
    assert!(page.contains("확인되었습니다"), "{page}");

    // Add a second contact (a manager), and verify its mobile too.
    fill(&c, "#f-label", "직원 김민수").await;
    fill(&c, "#f-phone", "010-3456-7890").await;
    fill(&c, "#f-email", "minsu@example.com").await;
    click_to(
        &c,
        "form[action='/dashboard/contacts'] button.primary",
        "/dashboard/contacts?done=added",
    )
    .await;
    let page = c.source().await.unwrap();
    assert!(
        page.contains("직원 김민수") && page.contains("minsu@example.com"),
        "{page}"
    );
    click_to(
        &c,
        "form[action$='/send-code'] button",
        "/dashboard/contacts?done=code-sent",
    )
    .await;
    let code = common::six_digits(&sms_starting(&app, "[먹통] 인증번호").await);
    fill(&c, "input[name=code]", &code).await;
    click_to(
        &c,
        "form[action$='/verify-phone'] button",
        "/dashboard/contacts?done=verified",
    )
    .await;
    let page = c.source().await.unwrap();
    assert!(
        !page.contains("form[action$='/verify-phone']") && page.matches("✓").count() >= 2,
        "both mobiles verified: {page}"
    );
    shot(&c, "contacts").await;

    // Kakao Login goes dark (the simulator stops answering properly): the probes see it, the
    // overview turns red, with words and an icon.
    wait_for_card(&c, &app, "up").await;
    sim.set_mode(Service::parse("kakao-login").unwrap(), Mode::Down);
    wait_for_card(&c, &app, "down").await;
    let card = c
        .find(Locator::Css("li.dep[data-slug='kakao-login']"))
        .await
        .unwrap();
    assert_eq!(
        card.attr("data-state").await.unwrap().as_deref(),
        Some("down")
    );
    let text = card.text().await.unwrap();
    assert!(text.contains("장애") && text.contains("✕"), "{text}");
    assert!(
        text.contains("부터 장애"),
        "since when, as people say it: {text}"
    );
    assert!(
        !text.contains(" ms"),
        "no response time beside a dead service: {text}"
    );
    let colour = c.execute("return getComputedStyle(document.querySelector(\"li.dep[data-slug='kakao-login'] .state\")).color", vec![]).await.unwrap();
    assert_eq!(colour, "rgb(176, 0, 32)", "red");

    // The SMS links to the alert page; the overview links the same open alert and its
    // playbook.
    let sms = sms_starting(&app, "[장애]").await;
    let link = sms
        .split_whitespace()
        .find(|w| w.contains("/a/"))
        .expect("a link in the SMS")
        .to_string();
    assert!(link.starts_with(&app.address), "{link}");
    c.goto(&app.url("/dashboard")).await.unwrap();
    let open = c
        .find(Locator::Css("li.dep[data-slug='kakao-login'] a.open-alert"))
        .await
        .expect("the overview links the open alert");
    let href = open.attr("href").await.unwrap().unwrap_or_default();
    assert_eq!(app.url(&href), link, "the same alert page as the SMS");
    let playbook = c
        .find(Locator::Css(
            "li.dep[data-slug='kakao-login'] a.playbook-link",
        ))
        .await
        .unwrap();
    assert_eq!(
        playbook.attr("href").await.unwrap().unwrap_or_default(),
        format!("{href}#playbook")
    );
    let page = c.source().await.unwrap();
    assert!(page.contains("href=\"/reports/mine\""), "{page}");
    shot(&c, "overview-down").await;

    c.goto(&link).await.unwrap();
    let page = c.source().await.unwrap();
    assert!(page.contains("id=\"playbook\""), "{page}");
    assert!(
        page.contains("href=\"tel:15773754\"") && page.contains("카카오 고객센터"),
        "the customer centre to call, as a tel: link: {page}"
    );
    shot(&c, "alert").await;

    // The order sheet prints on one A4 page: store name, date, 금액 and 연락처 columns.
    click(&c, ".order-sheet-link a").await;
    let page = c.source().await.unwrap();
    for want in [
        "수기 주문서",
        "행복분식",
        "연락처",
        "금액",
        "@page { size: A4",
    ] {
        assert!(page.contains(want), "{want}: {page}");
    }
    shot(&c, "order-sheet").await;
    let pdf = c
        .print(
            PrintConfiguration::builder()
                .shrink_to_fit(false)
                .build()
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(pdf_pages(&pdf), 1, "the order sheet prints on one A4 page");
    c.goto(&link).await.unwrap();
    click(&c, "form.ack button").await;
    c.wait()
        .at_most(Duration::from_secs(5))
        .for_element(Locator::Css("p.acked"))
        .await
        .expect("acknowledged");

    // Kakao Login comes back: the same link now says so, with the outage's length and the
    // damage report, and stops refreshing.
    sim.set_mode(Service::parse("kakao-login").unwrap(), Mode::Up);
    wait_for_card(&c, &app, "up").await;
    c.goto(&link).await.unwrap();
    let page = c.source().await.unwrap();
    assert!(
        page.contains("[복구]") && page.contains("복구되었습니다.") && page.contains("장애 시간"),
        "{page}"
    );
    assert!(!page.contains("지금 안 되는 서비스"), "{page}");
    assert!(page.contains("/reports/new?incident="), "{page}");
    assert!(page.contains("href=\"/reports/mine\""), "{page}");
    assert!(!page.contains("http-equiv=\"refresh\""), "{page}");
    shot(&c, "alert-recovered").await;

    // The damage report from the recovered page: a refused value re-renders the form, and
    // the page says plainly which file to choose again.
    click(&c, "ul.reports a").await;
    let files = tempfile::tempdir().unwrap();
    let receipt = files.path().join("receipt.png");
    std::fs::write(&receipt, PNG).unwrap();
    c.find(Locator::Css("input[type=file]#attachments"))
        .await
        .unwrap()
        .send_keys(receipt.to_str().unwrap())
        .await
        .unwrap();
    fill(&c, "#brn", "123").await;
    c.execute(
        "document.querySelector('form.report-form').noValidate = true",
        vec![],
    )
    .await
    .unwrap();
    click(&c, "button[name=action][value=submit]").await;
    c.wait()
        .at_most(Duration::from_secs(5))
        .for_element(Locator::Css("p.choose-again"))
        .await
        .expect("the form names the files to choose again");
    let again = c
        .find(Locator::Css("p.choose-again"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        again.contains("다시 선택") && again.contains("receipt.png"),
        "{again}"
    );

    // The history shows the alert, its channels and the acknowledgement in words, and links
    // each alert page and the merchant's reports.
    c.goto(&app.url("/dashboard/history")).await.unwrap();
    let page = c.source().await.unwrap();
    assert!(page.contains("[장애]") && page.contains("확인함"), "{page}");
    assert!(
        !page.contains("(web)"),
        "no English in a Korean page: {page}"
    );
    assert!(page.contains("(알림 페이지)"), "{page}");
    assert!(page.contains("href=\"/reports/mine\""), "{page}");
    let alert_link = c
        .find(Locator::Css("a.alert-link"))
        .await
        .expect("history links the alert page");
    let href = alert_link.attr("href").await.unwrap().unwrap_or_default();
    assert!(href.starts_with("/a/"), "{href}");
    shot(&c, "history").await;

    // The merchant asks to hear about slowness too; Kakao Login turns slow: the SMS and the
    // page say 느림, never 장애.
    subscriptions::Entity::update_many()
        .col_expr(subscriptions::Column::NotifyDegraded, true.into())
        .exec(&app.db.conn)
        .await
        .unwrap();
    sim.set_mode(
        Service::parse("kakao-login").unwrap(),
        Mode::Slow(Duration::from_millis(800)),
    );
    wait_for_card(&c, &app, "degraded").await;
    let sms = sms_starting(&app, "[느림]").await;
    assert!(
        sms.contains("카카오 로그인이 느립니다.") && !sms.contains("장애"),
        "{sms}"
    );
    let slow_link = sms
        .split_whitespace()
        .find(|w| w.contains("/a/"))
        .expect("a link in the SMS")
        .to_string();
    c.goto(&slow_link).await.unwrap();
    let page = c.source().await.unwrap();
    assert!(
        page.contains("[느림]") && page.contains("지금 느린 서비스"),
        "{page}"
    );
    assert!(!page.contains("지금 안 되는 서비스"), "{page}");
    shot(&c, "alert-slow").await;
    sim.set_mode(Service::parse("kakao-login").unwrap(), Mode::Up);
    c.goto(&app.url("/dashboard/playbooks")).await.unwrap();
    let page = c.source().await.unwrap();
    assert!(
        page.contains("href=\"tel:100\"") && page.contains("href=\"/dashboard/order-sheet\""),
        "playbooks name the numbers to call and link the order sheet: {page}"
    );
    shot(&c, "playbooks").await;
    // The uptime covers only what was measured (this dependency is minutes old).
    c.goto(&app.url("/status/kakao-login")).await.unwrap();
    let page = c.source().await.unwrap();
    assert!(
        page.contains("가용률(측정") && !page.contains("90일 가용률"),
        "{page}"
    );
    shot(&c, "status-dependency").await;
    c.close().await.unwrap();
}
