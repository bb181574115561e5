//! Associations as tenants: members come from a browser CSV upload (all or nothing, the
//! importer's `line N: field: reason`, physical lines of CRLF and CP949 files) or an invite
//! code; an association sees only its own members (pages and API) and only the reports its
//! members filed to it; a merchant may belong to two associations, and each sees only its part.
#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed
mod common;

use common::{Client, app};
use meoktong_storage::entity::{audit_log, memberships, merchants};
use meoktong_storage::reports::{self, ReportData};
use meoktong_storage::users::{self, NewUser};
use meoktong_storage::{catalog, incidents, members, now_ms};
use meoktong_tests::TestApp;
use reqwest::StatusCode;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};

const PASSWORD: &str = "correct horse battery";

/// A staff member of association `name` (created), signed in.
async fn staff<'a>(app: &'a TestApp, name: &str, email: &str) -> (Client<'a>, i64) {
    let association = users::association_by_name(&app.db, name).await.unwrap();
    let hash = meoktong_web::auth::password::hash(PASSWORD).unwrap();
    let user = NewUser {
        email,
        password_hash: &hash,
        role: "association",
        merchant_id: None,
        association_id: Some(association),
    };
    users::create(&app.db, &app.crypto, user, "test")
        .await
        .unwrap();
    let c = Client::new(app);
    let page = c
        .submit(
            "/login",
            "/login",
            &[("email", email), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    (c, association)
}

async fn merchant_id(app: &TestApp, name: &str) -> i64 {
    merchants::Entity::find()
        .filter(merchants::Column::BusinessName.eq(name))
        .one(&app.db.conn)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("no merchant {name}"))
        .id
}

/// Posts `bytes` as the members file, with the page's CSRF token (or `csrf` when given).
async fn upload(c: &Client<'_>, bytes: Vec<u8>, csrf: Option<&str>) -> (StatusCode, String) {
    let token = match csrf {
        Some(t) => t.to_string(),
        None => c.get("/association/members").await.csrf(),
    };
    let form = reqwest::multipart::Form::new().text("csrf", token).part(
        "file",
        reqwest::multipart::Part::bytes(bytes)
            .file_name("members.csv")
            .mime_str("text/csv")
            .unwrap(),
    );
    let resp = c
        .app
        .client
        .post(c.app.url("/association/members/import"))
        .header("cookie", c.cookies())
        .multipart(form)
        .send()
        .await
        .unwrap();
    (resp.status(), resp.text().await.unwrap())
}

const HEADER: &str = "business_name,phone,email,dependencies,locale,region,trade\r\n";

async fn report(app: &TestApp, merchant: Option<i64>, association: i64, name: &str) -> i64 {
    let dep = catalog::dependency_by_slug(&app.db, "kakao-login")
        .await
        .unwrap()
        .unwrap();
    let started = now_ms() - 3_600_000;
    let incident = incidents::open(&app.db.conn, dep.id, "down", started, started, &json!({}))
        .await
        .unwrap();
    let data = ReportData {
        incident_id: incident,
        merchant_id: merchant,
        association_id: association,
        business_name: name.into(),
        brn: "220-81-62517".into(),
        contact: None,
        region_sido: "서울".into(),
        region_sigungu: None,
        trade: "음식점".into(),
        affected_services: vec!["kakao-login".into()],
        damage_kinds: vec!["lost_sales".into()],
        estimated_loss_krw: 100_000,
        lost_orders: None,
        description: String::new(),
        outage_start: started,
        outage_end: None,
        consent: true,
    };
    reports::save(&app.db, &app.crypto, &data, &[], "test", now_ms())
        .await
        .unwrap()
        .id()
}

async fn api_members(c: &Client<'_>) -> (StatusCode, Value) {
    let resp = c
        .app
        .client
        .get(c.app.url("/api/v1/association/members"))
        .header("cookie", c.cookies())
        .send()
        .await
        .unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

fn names(v: &Value) -> Vec<String> {
    v["members"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|m| m["business_name"].as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn a_crlf_upload_names_the_physical_line_and_imports_nothing() {
    let app = app().await;
    let (a, _) = staff(&app, "마포상인회", "staff@mapo.example").await;
    // Excel's CRLF, in CP949 as Korean spreadsheet programs save it; a landline on line 3.
    let text = format!(
        "{HEADER}행복분식,010-1234-5678,,kakao-login,ko,서울 마포구,분식\r\n떡볶이집,02-123-4567,,kakao-login,ko,서울 마포구,분식\r\n"
    );
    let (cp949, _, _) = encoding_rs::EUC_KR.encode(&text);
    let (status, body) = upload(&a, cp949.into_owned(), None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body.contains("line 3: phone: `02-123-4567`: cannot receive SMS (landline)"),
        "{body}"
    );
    assert!(!body.contains("line 2:"), "{body}");
    assert_eq!(
        merchants::Entity::find().count(&app.db.conn).await.unwrap(),
        0
    );
    // UTF-8 with CRLF, a bad dependency on line 3 as well.
    let text = format!(
        "{HEADER}행복분식,010-1234-5678,,kakao-login,ko,서울 마포구,분식\r\n떡볶이집,010-1234-5679,,nope,ko,,\r\n"
    );
    let (status, body) = upload(&a, text.clone().into_bytes(), None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body.contains("line 3: dependencies: unknown dependency `nope`"),
        "{body}"
    );
    assert_eq!(
        merchants::Entity::find().count(&app.db.conn).await.unwrap(),
        0
    );
    // Fixed: both rows become members; the page shows them, contacts masked.
    let text = text.replace("nope", "kakao-login");
    let (status, body) = upload(&a, text.into_bytes(), None).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    let page = a.get("/association/members").await;
    assert!(page.body.contains("행복분식") && page.body.contains("떡볶이집"));
    assert!(page.body.contains("****5678"), "masked: {}", page.body);
    assert!(!page.body.contains("+821012345678"), "never in full");
    assert!(!page.body.contains("010-1234-5678"), "never in full");
    assert!(page.body.contains("미확인"), "verification state shown");
    assert!(
        page.body.contains("action=\"/logout\""),
        "logout on every association page"
    );
    assert_eq!(
        memberships::Entity::find()
            .count(&app.db.conn)
            .await
            .unwrap(),
        2
    );
    let audited = audit_log::Entity::find()
        .filter(audit_log::Column::Action.eq("merchant.import"))
        .one(&app.db.conn)
        .await
        .unwrap()
        .unwrap();
    assert!(audited.actor.starts_with("user:"), "{audited:?}");
}

#[tokio::test]
async fn associations_see_only_their_own_members_and_the_reports_filed_to_them() {
    let app = app().await;
    let (a, assoc_a) = staff(&app, "마포상인회", "staff@mapo.example").await;
    let (b, assoc_b) = staff(&app, "성남상인회", "staff@seongnam.example").await;

    // B uploads its member 판교치킨; A cannot see it, on pages or in the API.
    let csv = format!("{HEADER}판교치킨,010-5555-0001,,kakao-login,ko,경기 성남시,치킨\r\n");
    assert_eq!(
        upload(&b, csv.into_bytes(), None).await.0,
        StatusCode::SEE_OTHER
    );
    let chicken = merchant_id(&app, "판교치킨").await;

    // A merchant who signed up on their own joins A with A's invite code.
    let m = Client::new(&app);
    m.sign_up("행복분식", "010-4000-0001", "owner@bunsik.example")
        .await;
    let bunsik = merchant_id(&app, "행복분식").await;
    let code = members::invite_code(&app.db, assoc_a, "UNUSED-CODE")
        .await
        .unwrap();
    let wrong = m
        .submit(
            "/dashboard/associations",
            "/dashboard/associations",
            &[("code", "NOPE0-NOPE0")],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    let joined = m
        .submit(
            &format!("/dashboard/associations?code={code}"),
            "/dashboard/associations",
            &[("code", &code.to_lowercase())],
        )
        .await;
    assert_eq!(joined.status, StatusCode::SEE_OTHER, "{}", joined.body);
    assert!(
        m.get("/dashboard/associations")
            .await
            .body
            .contains("마포상인회")
    );

    let page_a = a.get("/association/members").await.body;
    assert!(page_a.contains("행복분식") && !page_a.contains("판교치킨"));
    let page_b = b.get("/association/members").await.body;
    assert!(page_b.contains("판교치킨") && !page_b.contains("행복분식"));
    let (status, json_a) = api_members(&a).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(names(&json_a), ["행복분식"]);
    assert_eq!(names(&api_members(&b).await.1), ["판교치킨"]);

    // A cannot remove B's member: 404, and the membership stays.
    let csrf = a.get("/association/members").await.csrf();
    let denied = a
        .post(
            &format!("/association/members/{chicken}/remove"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(denied.status, StatusCode::NOT_FOUND);
    assert!(members::is_member(&app.db, assoc_b, chicken).await.unwrap());
    // Nor rewrite it by uploading its phone and name: the whole file is refused.
    let steal = format!("{HEADER}판교치킨,010-5555-0001,evil@example.com,,ko,,\r\n");
    let (status, body) = upload(&a, steal.into_bytes(), None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains("line 2: business_name:"), "{body}");
    assert!(!members::is_member(&app.db, assoc_a, chicken).await.unwrap());
    // Without the CSRF token nothing happens either.
    let (status, _) = upload(&a, b"x".to_vec(), Some("forged")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // A merchant is no association's staff: the pages and the API do not exist to it.
    assert_eq!(
        m.get("/association/members").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        m.get("/association/reach").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(api_members(&m).await.0, StatusCode::NOT_FOUND);

    // Reports: A sees what its member filed to A, not what a non-member filed to A, and not
    // what its member filed to B.
    let to_a = report(&app, Some(bunsik), assoc_a, "행복분식").await;
    let chicken_to_a = report(&app, Some(chicken), assoc_a, "판교치킨").await;
    let queue_a = a.get("/association/reports?status=all").await.body;
    assert!(queue_a.contains(&format!("/association/reports/{to_a}\"")));
    assert!(!queue_a.contains("판교치킨"), "not A's member");
    assert_eq!(
        a.get(&format!("/association/reports/{chicken_to_a}"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let api: Value = app
        .client
        .get(app.url("/api/v1/reports"))
        .header("cookie", a.cookies())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ids: Vec<i64> = api["reports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [to_a]);
    // B never sees a report filed to A, even by a merchant who is B's member.
    assert_eq!(
        b.get(&format!("/association/reports/{chicken_to_a}"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );

    // 행복분식 joins B too: each association sees it, and only the reports filed to itself.
    let code_b = members::invite_code(&app.db, assoc_b, "UNUSED-CODE2")
        .await
        .unwrap();
    m.submit(
        "/dashboard/associations",
        "/dashboard/associations",
        &[("code", &code_b)],
    )
    .await;
    assert!(
        b.get("/association/members")
            .await
            .body
            .contains("행복분식")
    );
    let to_b = report(&app, Some(bunsik), assoc_b, "행복분식").await;
    let queue_b = b.get("/association/reports?status=all").await.body;
    assert!(queue_b.contains(&format!("/association/reports/{to_b}\"")));
    assert!(!queue_b.contains(&format!("/association/reports/{to_a}\"")));
    let queue_a = a.get("/association/reports?status=all").await.body;
    assert!(!queue_a.contains(&format!("/association/reports/{to_b}\"")));

    // A removes 행복분식: its reports leave A's view with it; B keeps it.
    let csrf = a.get("/association/members").await.csrf();
    let removed = a
        .post(
            &format!("/association/members/{bunsik}/remove"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(removed.status, StatusCode::SEE_OTHER);
    assert_eq!(
        a.get(&format!("/association/reports/{to_a}")).await.status,
        StatusCode::NOT_FOUND
    );
    assert!(members::is_member(&app.db, assoc_b, bunsik).await.unwrap());
}
