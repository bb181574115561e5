//! Damage reports over real HTTP: an incident, the recovery link's pre-filled form, the
//! association's review, totals and exports; bad input refused with field messages; staff
//! and merchants isolated from each other.
mod reports_world;

use meoktong_storage::entity::{audit_log, report_attachments};
use meoktong_storage::now_ms;
use meoktong_web::routes::reports::form_stamp;
use reports_world::*;
use reqwest::multipart::Form;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

#[tokio::test]
async fn from_the_recovery_link_to_the_associations_csv() {
    let w = world().await;
    let app = &w.app;
    let m = merchant(&w, "먹통분식", "010-1234-5678", w.assoc_a).await;
    let token = recovery_link(&w, m).await;
    let link = format!("/reports/new?incident={}&token={token}", w.incident);

    // The recovery SMS's link opens the form pre-filled: merchant, incident, measured window.
    let page = get(app, &link, "").await;
    assert_eq!(page.status, 200);
    let assoc = format!("value=\"{}\" selected", w.assoc_a);
    for expected in [
        "value=\"먹통분식\"",
        &format!("value=\"{BRN}\""),
        "value=\"서울특별시\" selected",
        "value=\"마포구\"",
        "value=\"restaurant\" selected",
        &assoc,
        "2022-10-15 15:30 ~ 2022-10-15 23:40 (8시간 10분)",
        "value=\"kakaotalk\" checked",
        "value=\"8.2\"",
    ] {
        assert!(page.body.contains(expected), "pre-filled: {expected}");
    }
    assert_eq!(page.hidden("token"), token);

    // Without JavaScript the loss helper asks the server, which fills in the estimate.
    let mut helper = good(w.incident, w.assoc_a);
    set(&mut helper, "action", "estimate");
    set(&mut helper, "daily_sales", "2,400,000");
    set(&mut helper, "hours_down", "8");
    set(&mut helper, "open_hours", "12");
    let (status, body) = submit(app, &page, &helper, vec![], "").await;
    assert_eq!(status, 200);
    assert!(body.contains("value=\"1600000\"") && body.contains("1,600,000"));
    assert_eq!(stored(app).await, (0, 0), "estimating stores nothing");

    let receipt = vec![("영수증.png", PNG.to_vec())];
    let (status, _) = submit(app, &page, &good(w.incident, w.assoc_a), receipt, "").await;
    assert_eq!(status, 303);
    let r = only_report(app).await;
    assert_eq!(
        (r.merchant_id, r.association_id),
        (Some(m), Some(w.assoc_a))
    );
    assert_eq!(
        (r.status.as_str(), r.estimated_loss_krw),
        ("received", 1_200_000)
    );
    assert_eq!(
        (r.outage_start, r.outage_end),
        (STARTED, Some(RESOLVED)),
        "the measured window"
    );
    assert!(
        r.brn_enc.as_deref().is_some_and(|b| !b.contains("62517")),
        "encrypted"
    );
    let file = report_attachments::Entity::find()
        .one(&app.db.conn)
        .await
        .expect("query");
    let file = file.expect("the attachment");
    assert_eq!(
        (file.content_type.as_str(), file.filename.as_str()),
        ("image/png", "영수증.png")
    );
    assert!(
        !file.data_enc.windows(8).any(|win| win == &PNG[..8]),
        "encrypted at rest"
    );

    // A second submission edits the first.
    let again = get(app, &link, "").await;
    assert!(
        again.body.contains("이미 신고하셨습니다"),
        "the form says it edits"
    );
    let mut edited = good(w.incident, w.assoc_a);
    set(&mut edited, "estimated_loss", "1500000");
    assert_eq!(submit(app, &again, &edited, vec![], "").await.0, 303);
    assert_eq!(only_report(app).await.estimated_loss_krw, 1_500_000);
    let original = good(w.incident, w.assoc_a);
    assert_eq!(submit(app, &again, &original, vec![], "").await.0, 303);

    // The association reviews: a rejection needs a reason; verify, then forward.
    let staff = sign_in(
        &w,
        "staff@seoul.example",
        "association",
        None,
        Some(w.assoc_a),
    )
    .await;
    let queue = get(app, "/association/reports", &staff.cookie).await;
    assert!(queue.body.contains("먹통분식") && queue.body.contains("1,200,000"));
    let detail = get(
        app,
        &format!("/association/reports/{}", r.id),
        &staff.cookie,
    )
    .await;
    assert!(detail.body.contains(BRN) && detail.body.contains("영수증.png"));
    let (status, body) = review(app, &staff, r.id, "reject", " ").await;
    assert_eq!(status, 422);
    assert!(
        body.contains("사유: 필수 항목입니다."),
        "the reason's field message"
    );
    assert_eq!(
        review(app, &staff, r.id, "forward", "").await.0,
        422,
        "verify first"
    );
    assert_eq!(review(app, &staff, r.id, "verify", "").await.0, 303);
    assert_eq!(review(app, &staff, r.id, "forward", "").await.0, 303);
    assert_eq!(only_report(app).await.status, "forwarded");
    let path = format!("/association/reports/{}/attachments/{}", r.id, file.id);
    let (status, kind, bytes) = download(app, &staff.cookie, &path).await;
    assert_eq!(
        (status, kind.as_str(), bytes.as_slice()),
        (200, "image/png", PNG)
    );
    let audited: Vec<String> = audit_log::Entity::find()
        .filter(audit_log::Column::TargetType.eq("damage_report"))
        .filter(audit_log::Column::TargetId.eq(r.id))
        .order_by_asc(audit_log::Column::Id)
        .all(&app.db.conn)
        .await
        .expect("audit log")
        .into_iter()
        .map(|a| a.action)
        .collect();
    let expected =
        ["create", "update", "update", "verify", "forward"].map(|a| format!("report.{a}"));
    assert_eq!(audited, expected);

    // The CSV: UTF-8 with a BOM, Korean headers and text, plain numbers.
    let path = format!("/association/incidents/{}/reports.csv", w.incident);
    let (status, kind, bytes) = download(app, &staff.cookie, &path).await;
    assert_eq!((status, kind.as_str()), (200, "text/csv; charset=utf-8"));
    assert_eq!(&bytes[..3], b"\xef\xbb\xbf", "a BOM first");
    let text = String::from_utf8(bytes[3..].to_vec()).expect("UTF-8");
    let mut lines = text.lines();
    let head = lines.next().expect("a header");
    assert!(
        head.starts_with("접수번호,상태,장애 번호,장애 시작,장애 종료,상호,사업자등록번호"),
        "{head}"
    );
    assert!(head.contains("카카오톡 장애 시간,카카오톡 2시간 이상,카카오톡 사용"));
    let row = lines.next().expect("the report's row");
    for expected in [
        "전달됨",
        "카카오톡",
        "2022-10-15 15:30",
        "2022-10-15 23:40",
        "먹통분식",
        BRN,
        "서울특별시,마포구,음식점",
        ",1200000,35,",
        "\"주문 누락·유실, 결제 실패\"",
        "토요일 오후 카카오톡 주문이 하나도 안 들어왔습니다.",
        ",010-1234-5678,",
    ] {
        assert!(row.contains(expected), "the CSV row has {expected}: {row}");
    }
    assert!(lines.next().is_none(), "one report, one row");

    // Totals beside the measured duration: a page with charts, JSON, the evidence pack.
    let totals = get(
        app,
        &format!("/association/incidents/{}", w.incident),
        &staff.cookie,
    )
    .await;
    assert!(totals.body.contains("<svg") && totals.body.contains("8시간 10분"));
    let (status, json) = api(
        app,
        &staff.api,
        &format!("/api/v1/reports/incidents/{}/totals", w.incident),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        (json["reports"].as_i64(), json["total_loss_krw"].as_i64()),
        (Some(1), Some(1_200_000))
    );
    assert_eq!(json["median_loss_krw"], 1_200_000);
    assert_eq!(json["incident"]["duration_seconds"], 29_400);
    assert_eq!(json["by_region"][0]["key"], "서울특별시");
    assert_eq!(json["by_trade"][0]["key"], "restaurant");
    assert_eq!(json["by_service"][0]["key"], "kakaotalk");
    let pack = get(
        app,
        &format!("/association/incidents/{}/evidence", w.incident),
        &staff.cookie,
    )
    .await;
    assert!(pack.body.contains("첫 실패") && pack.body.contains("connection reset"));
    // The hourly probe record from the rollups: the hour the outage began, every probe failed.
    assert!(pack.body.contains("시간대별 탐지 기록"), "{}", pack.body);
    assert!(
        pack.body.contains(r#"<td class="num">2</td><td class="num">0</td><td class="num">2</td><td class="num">100%</td><td class="num">120</td>"#),
        "the outage's first hour: 2 probes, both failed: {}",
        pack.body
    );
    assert!(pack.body.contains("1,200,000") && pack.body.contains("@media print"));

    // The merchant sees the review status.
    let owner = sign_in(&w, "owner@example.com", "merchant", Some(m), None).await;
    let mine = get(app, "/reports", &owner.cookie).await;
    assert!(mine.status == 200 && mine.body.contains("전달됨"));
}

#[tokio::test]
async fn bad_input_comes_back_with_field_messages_and_nothing_is_stored() {
    let w = world().await;
    let app = &w.app;
    let page = get(app, &format!("/reports/new?incident={}", w.incident), "").await;
    assert!(
        page.cookie.contains("mt_report_csrf="),
        "a double-submit cookie"
    );
    let base = good(w.incident, w.assoc_a);
    let with = |name: &'static str, value: &str| {
        let mut f = base.clone();
        set(&mut f, name, value);
        f
    };
    let exe = b"MZ\x90\0\x03\0\0\0\x04\0".to_vec();
    let big = [PNG, vec![0u8; 5 * 1024 * 1024].as_slice()].concat();
    let cases: Vec<(Fields, Files, &str)> = vec![
        (
            with("description", &"가".repeat(2001)),
            vec![],
            "2000자 이하로 적어 주세요.",
        ),
        (
            with("business_name", &"상".repeat(101)),
            vec![],
            "100자 이하로 적어 주세요.",
        ),
        (
            with("estimated_loss", "-5000"),
            vec![],
            "0 이상이어야 합니다.",
        ),
        (
            with("estimated_loss", "백만원"),
            vec![],
            "숫자만 적어 주세요",
        ),
        (
            with("brn", "123-45-67890"),
            vec![],
            "유효하지 않은 사업자등록번호입니다.",
        ),
        (
            with("brn", "12345"),
            vec![],
            "사업자등록번호는 10자리 숫자입니다",
        ),
        (with("region_sido", "서울"), vec![], "목록에서 골라 주세요."),
        (with("consent", ""), vec![], "동의해야 제출할 수 있습니다."),
        (
            base.clone(),
            vec![("photo.jpg", exe)],
            "사진(JPEG, PNG, GIF, WebP)이나 PDF만",
        ),
        (
            base.clone(),
            vec![("big.png", big)],
            "파일 하나는 5MB 이하여야 합니다.",
        ),
        (
            with("stamp", &form_stamp(&app.crypto, now_ms())),
            vec![],
            "너무 빨리 제출되었습니다.",
        ),
    ];
    for (fields, files, message) in cases {
        let (status, body) = submit(app, &page, &fields, files, "").await;
        assert_eq!(status, 422, "{message}");
        assert!(body.contains(message), "expected «{message}» on the page");
        let kept = body.contains("value=\"먹통분식\"") || body.contains("value=\"상상상");
        assert!(kept, "what was typed is kept ({message})");
        assert!(
            body.contains("value=\"restaurant\" selected"),
            "choices are kept"
        );
    }
    let (status, body) = submit(
        app,
        &page,
        &with("estimated_loss", "-1"),
        vec![],
        "?lang=en",
    )
    .await;
    assert_eq!(status, 422);
    assert!(
        body.contains("Must be 0 or more."),
        "messages in English too"
    );

    // Without the CSRF cookie: refused. A bot in the honeypot: told "thanks", nothing kept.
    let no_cookie = Page {
        cookie: String::new(),
        ..page
    };
    assert_eq!(submit(app, &no_cookie, &base, vec![], "").await.0, 403);
    let page = get(app, &format!("/reports/new?incident={}", w.incident), "").await;
    let spam = with("website", "http://spam.example");
    assert_eq!(submit(app, &page, &spam, vec![], "").await.0, 303);
    assert_eq!(stored(app).await, (0, 0), "nothing stored");

    // The JSON API answers 422 {error, message, field}.
    let staff = sign_in(
        &w,
        "staff@seoul.example",
        "association",
        None,
        Some(w.assoc_a),
    )
    .await;
    let (status, v) = api(app, &staff.api, "/api/v1/reports?status=lost").await;
    assert_eq!(status, 422);
    assert_eq!(
        (v["error"].as_str(), v["field"].as_str()),
        (Some("validation"), Some("status"))
    );
    assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()));
}

#[tokio::test]
async fn a_form_shown_again_asks_for_its_files_and_the_placeholder_passes() {
    let w = world().await;
    let app = &w.app;
    let page = get(app, &format!("/reports/new?incident={}", w.incident), "").await;
    let base = good(w.incident, w.assoc_a);
    let with = |name: &'static str, value: &str| {
        let mut f = base.clone();
        set(&mut f, name, value);
        f
    };
    // A photo sent with a bad number: the page names it and asks for it again, plainly.
    let receipt = vec![("영수증.png", PNG.to_vec())];
    let (status, body) = submit(app, &page, &with("brn", "123-45-67890"), receipt, "").await;
    assert_eq!(status, 422);
    assert!(
        body.contains("첨부했던 파일을 다시 선택해 주세요: <strong>영수증.png</strong>"),
        "the attachment is announced, not silently dropped: {body}"
    );
    let (_, body) = submit(app, &page, &with("brn", "123-45-67890"), vec![], "").await;
    assert!(!body.contains("다시 선택해 주세요"), "nothing was attached");
    // The placeholder is a number the form accepts.
    let placeholder = page
        .body
        .split("id=\"brn\"")
        .nth(1)
        .and_then(|rest| rest.split("placeholder=\"").nth(1))
        .and_then(|rest| rest.split('"').next())
        .expect("a placeholder on the registration number")
        .to_string();
    let (status, _) = submit(app, &page, &with("brn", &placeholder), vec![], "").await;
    assert_eq!(
        status, 303,
        "the placeholder {placeholder} passes validation"
    );
}

#[tokio::test]
async fn submissions_are_rate_limited_per_address() {
    let w = world().await;
    let mut codes = Vec::new();
    for _ in 0..21 {
        let form = Form::new().text("x", "y");
        let r = w
            .app
            .client
            .post(w.app.url("/reports/new"))
            .multipart(form)
            .send()
            .await;
        codes.push(r.expect("post").status().as_u16());
    }
    assert!(
        codes[..20].iter().all(|c| *c == 403),
        "no CSRF token: {codes:?}"
    );
    assert_eq!(codes[20], 429);
}

#[tokio::test]
async fn associations_and_merchants_see_only_their_own_reports() {
    let w = world().await;
    let app = &w.app;
    let m1 = merchant(&w, "먹통분식", "010-1234-5678", w.assoc_a).await;
    let m2 = merchant(&w, "옆집카페", "010-9876-5432", w.assoc_b).await;
    let owner1 = sign_in(&w, "one@example.com", "merchant", Some(m1), None).await;
    let owner2 = sign_in(&w, "two@example.com", "merchant", Some(m2), None).await;
    let staff_a = sign_in(&w, "a@assoc.example", "association", None, Some(w.assoc_a)).await;
    let staff_b = sign_in(&w, "b@assoc.example", "association", None, Some(w.assoc_b)).await;

    // A signed-in merchant files with the session's CSRF token, their business pre-filled.
    let page = get(
        app,
        &format!("/reports/new?incident={}", w.incident),
        &owner1.cookie,
    )
    .await;
    assert!(page.body.contains("value=\"먹통분식\""));
    assert_eq!(page.hidden("csrf"), owner1.csrf);
    let pdf = vec![("a.pdf", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n".to_vec())];
    let (status, _) = submit(app, &page, &good(w.incident, w.assoc_a), pdf, "").await;
    assert_eq!(status, 303);
    let r = only_report(app).await;
    assert_eq!(r.merchant_id, Some(m1));
    let file = report_attachments::Entity::find()
        .one(&app.db.conn)
        .await
        .expect("query");
    let file = file.expect("the attachment");

    // The other association's staff: the report does not exist for them.
    let detail = format!("/association/reports/{}", r.id);
    let attachment = format!("{detail}/attachments/{}", file.id);
    let one = format!("/api/v1/reports/{}", r.id);
    let totals = format!("/api/v1/reports/incidents/{}/totals", w.incident);
    let csv = format!("/association/incidents/{}/reports.csv", w.incident);
    assert_eq!(status_of(app, &staff_a.cookie, &detail).await, 200);
    assert_eq!(status_of(app, &staff_b.cookie, &detail).await, 404);
    assert_eq!(status_of(app, &staff_b.cookie, &attachment).await, 404);
    assert_eq!(review(app, &staff_b, r.id, "verify", "").await.0, 404);
    assert_eq!(api(app, &staff_a.api, &one).await.0, 200);
    assert_eq!(api(app, &staff_b.api, &one).await.0, 404);
    assert_eq!(
        api(app, &staff_b.api, "/api/v1/reports").await.1["reports"],
        serde_json::json!([])
    );
    assert_eq!(api(app, &staff_b.api, &totals).await.1["reports"], 0);
    let queue_b = get(app, "/association/reports?status=all", &staff_b.cookie).await;
    assert!(!queue_b.body.contains("먹통분식"));
    let (_, _, csv_b) = download(app, &staff_b.cookie, &csv).await;
    assert!(!String::from_utf8_lossy(&csv_b).contains("먹통분식"));

    // The other merchant: 404 on pages and in the API; merchants never reach staff pages.
    let mine = format!("/reports/{}", r.id);
    assert_eq!(status_of(app, &owner1.cookie, &mine).await, 200);
    assert_eq!(status_of(app, &owner2.cookie, &mine).await, 404);
    assert_eq!(api(app, &owner1.api, &one).await.0, 200);
    assert_eq!(api(app, &owner2.api, &one).await.0, 404);
    assert!(
        !get(app, "/reports", &owner2.cookie)
            .await
            .body
            .contains("먹통분식")
    );
    assert_eq!(status_of(app, &owner1.cookie, &detail).await, 404);
    assert_eq!(
        status_of(app, "", "/association/reports").await,
        303,
        "strangers log in first"
    );
    assert_eq!(api(app, "nonsense", "/api/v1/reports").await.0, 401);
}
