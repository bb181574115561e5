//! Claims for an outage event over real HTTP: the fire's four services are one report per
//! merchant; the association's totals and CSV are by event (one row per merchant, the four
//! services in it, bytes as Korean Excel wants them); the estimated tier; the signed evidence
//! sheet verifies and fails after one changed byte; a rejection reaches the merchant.
mod claims_world;
mod reports_world;

use claims_world::*;
use meoktong_storage::entity::{damage_reports, notices, outbox};
use meoktong_web::routes::reports::signature::{self, Verdict};
use reports_world::*;
use reqwest::multipart::{Form, Part};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

/// The fire's report: all four services, sales in two periods (loss 600,000원), paid/free.
fn claim(key: i64, assoc: i64) -> Fields {
    let mut f = good(key, assoc);
    f.retain(|(k, _)| *k != "services" && *k != "estimated_loss");
    for s in ["kakaotalk", "kakao-login", "kakaopay", "kakaomap"] {
        f.push(("services", s.into()));
    }
    f.push(("usage_kakaotalk", "free".into()));
    f.push(("usage_kakaopay", "paid".into()));
    f.push(("sales_outage", "400,000".into()));
    f.push(("sales_comparable", "1,000,000".into()));
    f.push(("substitute", "partly".into()));
    f
}

async fn reports_of(f: &Fire) -> Vec<damage_reports::Model> {
    damage_reports::Entity::find()
        .all(&f.w.app.db.conn)
        .await
        .expect("query")
}

#[tokio::test]
async fn the_fire_is_one_report_per_merchant_and_one_csv_row_each() {
    let f = fire().await;
    let (w, app) = (&f.w, &f.w.app);
    let a = merchant(w, "먹통분식", "010-1234-5678", w.assoc_a).await;
    let b = merchant(w, "=HYPERLINK(\"http://x\")", "010-2222-3333", w.assoc_a).await;

    // A's recovery SMS was about Login: its link opens the whole event, keyed by Talk.
    let token = link_for(w, a, &[f.login]).await;
    let page = get(
        app,
        &format!("/reports/new?incident={}&token={token}", f.login),
        "",
    )
    .await;
    assert_eq!(page.status, 200);
    assert_eq!(
        page.hidden("incident"),
        f.talk.to_string(),
        "the event's key"
    );
    for name in ["카카오톡", "카카오 로그인", "카카오페이", "카카오맵"] {
        assert!(
            page.body.contains(&format!("<strong>{name}</strong>")),
            "window of {name}"
        );
    }
    assert!(
        page.body.contains("2시간 이상"),
        "Talk's 8 h 10 min is past the line"
    );
    assert!(
        page.body.contains("value=\"kakaomap\" checked"),
        "every service ticked"
    );
    let (status, _) = submit(app, &page, &claim(f.talk, w.assoc_a), vec![], "").await;
    assert_eq!(status, 303);

    // Filed again from a Pay link: the same report is edited, not a second one.
    let token = link_for(w, a, &[f.pay]).await;
    let page = get(
        app,
        &format!("/reports/new?incident={}&token={token}", f.pay),
        "",
    )
    .await;
    assert!(
        page.body.contains("이미 신고하셨습니다"),
        "editing the first report"
    );
    assert!(page.body.contains("value=\"600000\"") || page.body.contains("value=\"1000000\""));
    let mut again = claim(f.talk, w.assoc_a);
    set(&mut again, "lost_orders", "40");
    let (status, _) = submit(app, &page, &again, vec![], "").await;
    assert_eq!(status, 303);
    let all = reports_of(&f).await;
    assert_eq!(all.len(), 1, "one report for the four services");
    let r = &all[0];
    assert_eq!(
        (r.incident_id, r.merchant_id, r.lost_orders),
        (f.talk, Some(a), Some(40))
    );
    assert_eq!(
        r.estimated_loss_krw, 600_000,
        "comparable minus outage period"
    );
    assert_eq!(
        (r.outage_start, r.outage_end),
        (STARTED, Some(RESOLVED + 10 * MIN))
    );
    let windows: serde_json::Value = serde_json::from_str(&r.windows).expect("json");
    assert_eq!(windows.as_array().map(Vec::len), Some(4), "{windows}");
    assert_eq!(r.substitute.as_deref(), Some("partly"));

    // B files on the event through the plain form (Talk and Pay only).
    let signed_b = sign_in(w, "b@shop.example", "merchant", Some(b), None).await;
    let page = get(
        app,
        &format!("/reports/new?incident={}", f.map),
        &signed_b.cookie,
    )
    .await;
    let mut fb = good(f.map, w.assoc_a);
    set(&mut fb, "business_name", "@SUM(1+1)");
    fb.push(("services", "kakaopay".into()));
    set(
        &mut fb,
        "description",
        "=HYPERLINK(\"http://evil.example\",\"x\")",
    );
    let (status, body) = submit(app, &page, &fb, vec![], "").await;
    assert_eq!(status, 303, "{body}");
    assert_eq!(reports_of(&f).await.len(), 2);

    // The later KakaoPay blip is another event: its form shows one window.
    let later = get(
        app,
        &format!("/reports/new?incident={}", f.later),
        &signed_b.cookie,
    )
    .await;
    assert_eq!(later.hidden("incident"), f.later.to_string());
    assert!(!later.body.contains("<strong>카카오맵</strong>"));

    // The association: the event's totals, and its CSV from any incident of it.
    let staff = sign_in(
        w,
        "staff@seoul.example",
        "association",
        None,
        Some(w.assoc_a),
    )
    .await;
    let list = get(app, "/association/incidents", &staff.cookie).await;
    assert!(
        list.body
            .contains("카카오톡 · 카카오 로그인 · 카카오페이 · 카카오맵"),
        "one row for the event"
    );
    let totals = get(
        app,
        &format!("/association/incidents/{}", f.pay),
        &staff.cookie,
    )
    .await;
    assert_eq!(totals.status, 200);
    assert!(totals.body.contains("2시간 이상"));
    let path = format!("/association/incidents/{}/reports.csv", f.map);
    let (status, kind, bytes) = download(app, &staff.cookie, &path).await;
    assert_eq!((status, kind.as_str()), (200, "text/csv; charset=utf-8"));
    assert_eq!(&bytes[..3], b"\xef\xbb\xbf", "a BOM first");
    let text = String::from_utf8(bytes[3..].to_vec()).expect("UTF-8");
    assert!(text.ends_with("\r\n"));
    assert_eq!(
        text.matches('\n').count(),
        text.matches("\r\n").count(),
        "every line ends in CRLF"
    );
    let rows: Vec<&str> = text.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(rows.len(), 3, "a header and one row per merchant: {text}");
    let header = rows[0];
    for service in ["카카오톡", "카카오 로그인", "카카오페이", "카카오맵"] {
        for col in ["장애 시간", "2시간 이상", "사용"] {
            assert!(
                header.contains(&format!("{service} {col}")),
                "{service} {col}: {header}"
            );
        }
    }
    let row_a = rows
        .iter()
        .find(|r| r.contains("먹통분식"))
        .expect("A's row");
    for expected in [
        "MT-",
        "무료",
        "유료",
        "400000,1000000,600000,40,추정: 증빙 필요",
        "일부",
        "예",
    ] {
        assert!(row_a.contains(expected), "A's row has {expected}: {row_a}");
    }
    let row_b = rows.iter().find(|r| r.contains("SUM")).expect("B's row");
    assert!(row_b.contains(",'@SUM(1+1),"), "formula guarded: {row_b}");
    assert!(row_b.contains("\"'=HYPERLINK("), "formula guarded: {row_b}");
    assert!(
        row_b.contains("사용 안 함"),
        "B did not use Login or Map: {row_b}"
    );
    assert!(
        !text.contains(",=") && !text.contains(",@"),
        "no cell starts a formula"
    );
}

#[tokio::test]
async fn the_tier_is_an_estimate_from_the_configured_table() {
    let f = fire_with(|s| {
        s.compensation.tiers = vec![meoktong_config::CompensationTier {
            up_to_krw: 1_000_000,
            estimate_krw: 70_000,
        }];
        s.compensation.basis = "시험 기준".into();
    })
    .await;
    let (w, app) = (&f.w, &f.w.app);
    let a = merchant(w, "먹통분식", "010-1234-5678", w.assoc_a).await;
    let s = sign_in(w, "a@shop.example", "merchant", Some(a), None).await;
    let page = get(app, &format!("/reports/new?incident={}", f.talk), &s.cookie).await;
    assert!(page.body.contains("손실을 적으면 보입니다") && page.body.contains("시험 기준"));
    assert!(
        page.body.contains("data-tiers=\"[[1000000,70000]]\""),
        "the script's table"
    );
    let (status, _) = submit(app, &page, &claim(f.talk, w.assoc_a), vec![], "").await;
    assert_eq!(status, 303);
    let again = get(app, &format!("/reports/new?incident={}", f.talk), &s.cookie).await;
    assert!(
        again.body.contains("추정 70,000원"),
        "600,000원 is in the configured tier"
    );
    assert!(again.body.contains("약속하지 않습니다"), "never a promise");
    // Above the last tier: proof required.
    let f2 = fire().await;
    let m = merchant(&f2.w, "먹통분식", "010-1234-5678", f2.w.assoc_a).await;
    let s2 = sign_in(&f2.w, "a@shop.example", "merchant", Some(m), None).await;
    let page = get(
        &f2.w.app,
        &format!("/reports/new?incident={}", f2.talk),
        &s2.cookie,
    )
    .await;
    submit(&f2.w.app, &page, &claim(f2.talk, f2.w.assoc_a), vec![], "").await;
    let again = get(
        &f2.w.app,
        &format!("/reports/new?incident={}", f2.talk),
        &s2.cookie,
    )
    .await;
    assert!(
        again.body.contains("추정: 증빙 필요"),
        "600,000원 is above the 2022 tiers"
    );
}

#[tokio::test]
async fn the_evidence_sheet_is_readable_signed_and_fails_after_one_changed_byte() {
    let f = fire().await;
    let (w, app) = (&f.w, &f.w.app);
    let a = merchant(w, "먹통분식", "010-1234-5678", w.assoc_a).await;
    let s = sign_in(w, "a@shop.example", "merchant", Some(a), None).await;
    let page = get(app, &format!("/reports/new?incident={}", f.talk), &s.cookie).await;
    let files = vec![("영수증.png", PNG.to_vec())];
    assert_eq!(
        submit(app, &page, &claim(f.talk, w.assoc_a), files, "")
            .await
            .0,
        303
    );
    let id = reports_of(&f).await[0].id;

    let staff = sign_in(
        w,
        "staff@seoul.example",
        "association",
        None,
        Some(w.assoc_a),
    )
    .await;
    let (status, kind, sheet) = download(
        app,
        &staff.cookie,
        &format!("/association/reports/{id}/evidence"),
    )
    .await;
    assert_eq!((status, kind.as_str()), (200, "text/html; charset=utf-8"));
    let text = String::from_utf8(sheet.clone()).expect("UTF-8");
    for expected in [
        "2022년 10월 15일 (토) 오후 3시 30분",
        "카카오맵",
        "2시간 이상",
        "점검 위치: seoul-kt",
        "영수증.png",
        "SHA-256",
        "토요일 오후 카카오톡 주문이",
        "/reports/evidence/verify",
    ] {
        assert!(text.contains(expected), "the sheet has {expected}");
    }
    for raw in ["at=", "\"status\"", "{\"", "1665815400000"] {
        assert!(!text.contains(raw), "no raw debug string {raw}");
    }
    // The merchant gets the same sheet; another merchant does not.
    assert_eq!(
        status_of(app, &s.cookie, &format!("/reports/{id}/evidence")).await,
        200
    );
    let other = merchant(w, "남의가게", "010-9999-0000", w.assoc_b).await;
    let o = sign_in(w, "o@shop.example", "merchant", Some(other), None).await;
    assert_eq!(
        status_of(app, &o.cookie, &format!("/reports/{id}/evidence")).await,
        404
    );
    let staff_b = sign_in(
        w,
        "staff@busan.example",
        "association",
        None,
        Some(w.assoc_b),
    )
    .await;
    assert_eq!(
        status_of(
            app,
            &staff_b.cookie,
            &format!("/association/reports/{id}/evidence")
        )
        .await,
        404
    );

    // Verified as downloaded; one changed byte (a digit of the loss) fails.
    assert_eq!(signature::verify(&app.crypto, &sheet), Verdict::Genuine);
    let at = text.find("600,000").expect("the loss");
    let mut tampered = sheet.clone();
    tampered[at] = b'9';
    assert_eq!(signature::verify(&app.crypto, &tampered), Verdict::Altered);

    // The CLI's check and the public page agree.
    let dir = tempfile::tempdir().expect("tmp");
    let (good_file, bad_file) = (dir.path().join("good.html"), dir.path().join("bad.html"));
    std::fs::write(&good_file, &sheet).expect("write");
    std::fs::write(&bad_file, &tampered).expect("write");
    assert!(meoktong::commands::evidence::check_file(&app.crypto, &good_file).is_ok());
    let failed =
        meoktong::commands::evidence::check_file(&app.crypto, &bad_file).expect_err("altered");
    assert!(failed.message.contains("ALTERED"), "{}", failed.message);
    for (bytes, expected) in [(sheet.clone(), "확인됨"), (tampered, "확인 실패")] {
        let form_page = get(app, "/reports/evidence/verify", "").await;
        let form = Form::new()
            .text("csrf", form_page.hidden("csrf"))
            .part("file", Part::bytes(bytes).file_name("evidence.html"));
        let r = app
            .client
            .post(app.url("/reports/evidence/verify"))
            .header("cookie", &form_page.cookie)
            .multipart(form)
            .send()
            .await
            .expect("post");
        assert_eq!(r.status().as_u16(), 200);
        let body = r.text().await.expect("body");
        assert!(body.contains(expected), "{expected}");
    }
    // Without the CSRF token the page refuses.
    let r = app
        .client
        .post(app.url("/reports/evidence/verify"))
        .multipart(Form::new().part("file", Part::bytes(sheet).file_name("e.html")))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status().as_u16(), 403);
}

#[tokio::test]
async fn a_rejection_reaches_the_merchant() {
    let f = fire().await;
    let (w, app) = (&f.w, &f.w.app);
    let a = merchant(w, "먹통분식", "010-1234-5678", w.assoc_a).await;
    let s = sign_in(w, "a@shop.example", "merchant", Some(a), None).await;
    let page = get(app, &format!("/reports/new?incident={}", f.talk), &s.cookie).await;
    assert_eq!(
        submit(app, &page, &claim(f.talk, w.assoc_a), vec![], "")
            .await
            .0,
        303
    );
    let id = reports_of(&f).await[0].id;
    let staff = sign_in(
        w,
        "staff@seoul.example",
        "association",
        None,
        Some(w.assoc_a),
    )
    .await;
    let reason = "매출 자료가 없습니다. 카드 매출 내역을 첨부해 주세요.";
    assert_eq!(review(app, &staff, id, "reject", reason).await.0, 303);

    // On "내 피해 신고" and the report's page, with the receipt number and what was filed.
    let mine = get(app, "/reports", &s.cookie).await;
    assert!(
        mine.body.contains("반려") && mine.body.contains(reason),
        "the reason in the list"
    );
    assert!(mine.body.contains(&format!("MT-{id:06}")));
    let detail = get(app, &format!("/reports/{id}"), &s.cookie).await;
    assert!(detail.body.contains("협회가 이 신고를 반려했습니다") && detail.body.contains(reason));
    assert!(detail.body.contains("제출한 내용") && detail.body.contains("600,000"));

    // One short message in the outbox, to the merchant's phone, naming receipt and reason.
    let told: Vec<notices::Model> = notices::Entity::find()
        .filter(notices::Column::MerchantId.eq(a))
        .filter(notices::Column::Kind.eq("report_review"))
        .all(&app.db.conn)
        .await
        .expect("query");
    assert_eq!(told.len(), 1);
    let msgs: Vec<outbox::Model> = outbox::Entity::find()
        .filter(outbox::Column::NoticeId.eq(told[0].id))
        .all(&app.db.conn)
        .await
        .expect("query");
    assert_eq!(msgs.len(), 1, "one message");
    assert_eq!(msgs[0].channel, "sms");
    assert!(
        msgs[0]
            .body
            .starts_with(&format!("[먹통] 피해 신고 MT-{id:06}가 반려되었습니다.")),
        "{}",
        msgs[0].body
    );
    assert!(
        msgs[0].body.contains("매출 자료가 없습니다")
            && msgs[0].body.contains(&format!("/reports/{id}"))
    );
    let contacts = meoktong_storage::contact_book::list(&app.db, &app.crypto, a)
        .await
        .expect("contacts");
    assert_eq!(
        Some(app.crypto.decrypt(&msgs[0].recipient_enc).expect("decrypt")),
        contacts[0].phone,
        "the merchant's first contact's phone"
    );
    // Reviewing again (verify, then reject anew) tells again; the same review never twice.
    assert_eq!(review(app, &staff, id, "verify", "").await.0, 303);
    assert_eq!(
        notices::Entity::find()
            .filter(notices::Column::Kind.eq("report_review"))
            .all(&app.db.conn)
            .await
            .expect("query")
            .len(),
        1,
        "a verification sends nothing"
    );
}

#[tokio::test]
async fn region_trade_and_registration_number_are_told_once_and_prefilled() {
    let f = fire().await;
    let (w, app) = (&f.w, &f.w.app);
    let a = merchant(w, "먹통분식", "010-1234-5678", w.assoc_a).await;
    let s = sign_in(w, "a@shop.example", "merchant", Some(a), None).await;
    let post = |fields: Vec<(&'static str, &'static str)>| {
        let mut form = vec![("csrf", s.csrf.as_str())];
        form.extend(fields);
        app.client
            .post(app.url("/dashboard/business"))
            .header("cookie", &s.cookie)
            .form(&form)
            .send()
    };
    let bad = post(vec![
        ("region_sido", "부산광역시"),
        ("region_sigungu", "해운대구"),
        ("trade", "cafe"),
        ("brn", "123-45-67890"),
    ])
    .await
    .expect("post");
    assert_eq!(bad.status().as_u16(), 422, "a bad number is refused");
    assert!(
        bad.text()
            .await
            .expect("body")
            .contains("유효하지 않은 사업자등록번호")
    );
    let ok = post(vec![
        ("region_sido", "부산광역시"),
        ("region_sigungu", "해운대구"),
        ("trade", "cafe"),
        ("brn", "123-45-67891"),
    ])
    .await
    .expect("post");
    assert_eq!(ok.status().as_u16(), 303);
    let page = get(app, &format!("/reports/new?incident={}", f.talk), &s.cookie).await;
    for expected in [
        "value=\"부산광역시\" selected",
        "value=\"해운대구\"",
        "value=\"cafe\" selected",
        "value=\"123-45-67891\"",
    ] {
        assert!(page.body.contains(expected), "pre-filled: {expected}");
    }
    // Without the session's CSRF token nothing changes.
    let forged = app
        .client
        .post(app.url("/dashboard/business"))
        .header("cookie", &s.cookie)
        .form(&[("region_sido", "서울특별시"), ("trade", "cafe")])
        .send()
        .await
        .expect("post");
    assert_eq!(forged.status().as_u16(), 403);
}
