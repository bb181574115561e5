//! The claim story in headless Chromium: a merchant on a phone (390 px) files one report for
//! the whole fire (four services, sales in two periods, paid or free, the estimated tier
//! updating as they type), the association's staff (1280 px) rejects it with a reason and
//! sees the event's totals, and the merchant sees the rejection and its reason on "내 피해
//! 신고". Screenshots: report form, 내 피해 신고, association totals, evidence sheet.
#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed
mod browser_kit;
mod claims_world;
mod reports_world;

use browser_kit::*;
use claims_world::*;
use fantoccini::{Client, Locator};
use reports_world::*;
use std::path::Path;
use std::time::Duration;

/// Signs the browser in with a session made for the test.
async fn use_session(c: &Client, app: &meoktong_tests::TestApp, s: &Session) {
    c.goto(&app.url("/status")).await.unwrap();
    // WebDriver's add-cookie refuses an IP address as the domain: set it from the page.
    let script = format!("document.cookie = '{}; path=/'", s.cookie);
    c.execute(&script, vec![]).await.unwrap();
}

async fn text_of(c: &Client, css: &str) -> String {
    c.find(Locator::Css(css))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_merchant_files_the_fire_and_hears_the_associations_rejection() {
    if !Path::new(CHROMIUM).exists() || !Path::new(CHROMEDRIVER).exists() {
        assert!(
            std::env::var("MEOKTONG_SKIP_BROWSER").is_ok_and(|v| v == "1"),
            "chromium and chromedriver are not installed; MEOKTONG_SKIP_BROWSER=1 skips this test"
        );
        eprintln!("SKIPPED: MEOKTONG_SKIP_BROWSER=1 and no chromium");
        return;
    }
    let f = fire().await;
    let (w, app) = (&f.w, &f.w.app);
    let m = merchant(w, "먹통분식", "010-1234-5678", w.assoc_a).await;
    let merchant_session = sign_in(w, "owner@shop.example", "merchant", Some(m), None).await;
    let staff_session = sign_in(
        w,
        "staff@seoul.example",
        "association",
        None,
        Some(w.assoc_a),
    )
    .await;
    let (_driver, url) = start_driver().await;
    let profiles = tempfile::tempdir().unwrap();

    // The merchant, on a phone, from the Login alert's link: the whole fire in one form.
    let c = browser(&url, &profiles.path().join("phone")).await;
    use_session(&c, app, &merchant_session).await;
    c.goto(&app.url(&format!("/reports/new?incident={}", f.login)))
        .await
        .unwrap();
    let windows = text_of(&c, "#windows").await;
    for name in [
        "카카오톡",
        "카카오 로그인",
        "카카오페이",
        "카카오맵",
        "2시간 이상",
    ] {
        assert!(windows.contains(name), "{name} in {windows}");
    }
    c.find(Locator::Css("select[name=usage_kakaotalk]"))
        .await
        .unwrap()
        .select_by_value("free")
        .await
        .unwrap();
    c.find(Locator::Css("select[name=usage_kakaopay]"))
        .await
        .unwrap()
        .select_by_value("paid")
        .await
        .unwrap();
    click(&c, "input[name=substitute][value=partly]").await;
    fill(&c, "#sales_outage", "400000").await;
    fill(&c, "#sales_comparable", "1000000").await;
    let tier = text_of(&c, "#tier-text").await;
    assert!(
        tier.contains("증빙 필요"),
        "the tier follows what is typed: {tier}"
    );
    let loss = c
        .find(Locator::Css("#estimated_loss"))
        .await
        .unwrap()
        .prop("value")
        .await
        .unwrap();
    assert_eq!(
        loss.as_deref(),
        Some("600000"),
        "the difference is the loss"
    );
    click(&c, "input[name=kinds][value=lost_orders]").await;
    fill(&c, "#lost_orders", "35").await;
    fill(
        &c,
        "#description",
        "토요일 오후 주문이 하나도 안 들어왔습니다.",
    )
    .await;
    click(&c, "input[name=consent]").await;
    c.find(Locator::Css("#sales")).await.unwrap();
    shot(&c, "report-form").await;
    // The claim's part of the form: sales, the loss and the estimated tier.
    c.execute("document.getElementById('sales').scrollIntoView()", vec![])
        .await
        .unwrap();
    let png = c.screenshot().await.unwrap();
    std::fs::write(shots_dir().join("report-form-claim.png"), png).unwrap();
    // A person takes more than the minimum fill time.
    tokio::time::sleep(Duration::from_millis(3_200)).await;
    click_to(
        &c,
        "button[name=action][value=submit]",
        "/reports/submitted",
    )
    .await;
    let receipt = text_of(&c, "#receipt").await;
    assert!(receipt.starts_with("MT-"), "{receipt}");

    // The association, at 1280 px: the event's totals, then the rejection with a reason.
    let d = desktop(&url, &profiles.path().join("desk")).await;
    use_session(&d, app, &staff_session).await;
    d.goto(&app.url(&format!("/association/incidents/{}", f.talk)))
        .await
        .unwrap();
    let page = d.source().await.unwrap();
    assert!(page.contains("카카오톡 · 카카오 로그인 · 카카오페이 · 카카오맵"));
    shot(&d, "association-totals").await;
    let id: i64 = receipt.trim_start_matches("MT-").parse().unwrap();
    d.goto(&app.url(&format!("/association/reports/{id}")))
        .await
        .unwrap();
    let reason = "매출 자료가 없습니다. 카드 매출 내역을 첨부해 주세요.";
    fill(&d, "#reason", reason).await;
    // The page is the same before and after, so wait for the reason to show (up to 10 s).
    click(&d, "form input[value=reject] ~ button").await;
    let mut shown = false;
    for _ in 0..100 {
        if d.source().await.unwrap().contains(reason) {
            shown = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        shown,
        "the rejection and its reason show on the report page"
    );

    // The merchant sees it: status, reason, and the message to their phone.
    c.goto(&app.url("/reports")).await.unwrap();
    let mine = text_of(&c, "main").await;
    assert!(mine.contains("반려") && mine.contains(reason), "{mine}");
    assert!(mine.contains(&receipt));
    shot(&c, "reports-mine").await;
    let sms = sms_starting(app, "[먹통] 피해 신고").await;
    assert!(
        sms.contains(&receipt) && sms.contains("매출 자료가 없습니다"),
        "{sms}"
    );
    c.goto(&app.url(&format!("/reports/{id}"))).await.unwrap();
    assert!(text_of(&c, ".rejected-note").await.contains(reason));

    // The evidence sheet as the claim handler opens the downloaded file.
    let (status, _, sheet) = download(
        app,
        &staff_session.cookie,
        &format!("/association/reports/{id}/evidence"),
    )
    .await;
    assert_eq!(status, 200);
    let file = profiles.path().join(format!("evidence-{receipt}.html"));
    std::fs::write(&file, &sheet).unwrap();
    d.goto(&format!("file://{}", file.display())).await.unwrap();
    let text = text_of(&d, "body").await;
    assert!(
        text.contains("2022년 10월 15일 (토) 오후 3시 30분"),
        "{text}"
    );
    shot(&d, "evidence-sheet").await;
    c.close().await.unwrap();
    d.close().await.unwrap();
}
