//! The world of the damage-report tests: two associations, an incident of KakaoTalk with its
//! probe events, merchants, signed-in users, and a browser-like way to fill in the form.
#![allow(dead_code)]

use meoktong_config::DependencySettings;
use meoktong_domain::Category;
use meoktong_domain::message::NoticeKind;
use meoktong_storage::entity::{damage_reports, merchants, report_attachments};
use meoktong_storage::merchants::MerchantRecord;
use meoktong_storage::outbox::{self, NewNotice, NoticeStatus};
use meoktong_storage::users::{self, NewUser};
use meoktong_storage::{catalog, incidents, now_ms, probes, sessions};
use meoktong_tests::{Backend, TestApp, spawn_app_with};
use meoktong_web::routes::reports::form_stamp;
use reqwest::multipart::{Form, Part};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, Set};

/// 2022-10-15 15:30 KST, the hour of the data-centre fire.
pub const STARTED: i64 = 1_665_815_400_000;
/// Recovered 8 h 10 min later (23:40 KST).
pub const RESOLVED: i64 = STARTED + (8 * 60 + 10) * 60_000;
/// Form fields, and files to attach (name, content).
pub type Fields = Vec<(&'static str, String)>;
pub type Files = Vec<(&'static str, Vec<u8>)>;

pub const BRN: &str = "220-81-62517";
pub const PNG: &[u8] =
    b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89";

pub fn dependency(slug: &str, name: &str, name_en: &str) -> DependencySettings {
    DependencySettings {
        slug: slug.into(),
        name: name.into(),
        name_en: Some(name_en.into()),
        category: Category::Messenger,
        platform: Some("kakao".into()),
        description: None,
        check: Vec::new(),
    }
}

pub struct World {
    pub app: TestApp,
    pub incident: i64,
    pub assoc_a: i64,
    pub assoc_b: i64,
}

pub async fn world() -> World {
    world_with(|_| {}).await
}

/// The world, with `tweak` applied to the settings.
pub async fn world_with(tweak: impl FnOnce(&mut meoktong_config::Settings)) -> World {
    let app = spawn_app_with(
        Backend::default_for_tests(),
        |s| {
            s.dependency = vec![
                dependency("kakaotalk", "카카오톡", "KakaoTalk"),
                dependency("kakaopay", "카카오페이", "KakaoPay"),
            ];
            tweak(s);
        },
        Default::default(),
    )
    .await;
    let dep = catalog::dependency_by_slug(&app.db, "kakaotalk")
        .await
        .expect("query")
        .expect("configured");
    let incident = incidents::open(
        &app.db.conn,
        dep.id,
        "down",
        STARTED,
        STARTED + 6_000,
        &serde_json::json!({}),
    )
    .await
    .expect("open incident");
    incidents::resolve(&app.db.conn, incident, RESOLVED, RESOLVED)
        .await
        .expect("resolve");
    let sample = serde_json::json!({"status": 503, "error": "connection reset"});
    incidents::add_event(
        &app.db.conn,
        incident,
        STARTED,
        "first_failure",
        None,
        None,
        &sample,
    )
    .await
    .expect("event");
    incidents::add_event(
        &app.db.conn,
        incident,
        RESOLVED,
        "recovered",
        None,
        None,
        &serde_json::json!({}),
    )
    .await
    .expect("event");
    // The probes' record of those hours (what the evidence pack prints by hour).
    let location = probes::ensure_location(&app.db, "seoul-kt", "local", STARTED)
        .await
        .expect("location");
    let probe = |at: i64, outcome: &str| probes::ResultRow {
        check_id: 1,
        dependency_id: dep.id,
        location_id: location,
        slot_at: at,
        started_at: at,
        outcome: outcome.into(),
        class: None,
        status: Some(if outcome == "ok" { 200 } else { 503 }),
        provider_code: None,
        error: None,
        duration_us: 120_000,
        timings: None,
    };
    probes::record_results(
        &app.db,
        &[
            probe(STARTED - 3_000_000, "ok"),
            probe(STARTED + 60_000, "fail"),
            probe(STARTED + 120_000, "fail"),
            probe(RESOLVED + 60_000, "ok"),
        ],
    )
    .await
    .expect("probe results");
    let assoc_a = users::association_by_name(&app.db, "서울소상공인연합회")
        .await
        .expect("association");
    let assoc_b = users::association_by_name(&app.db, "부산상인회")
        .await
        .expect("association");
    World {
        app,
        incident,
        assoc_a,
        assoc_b,
    }
}

/// Imports a merchant in 서울 마포구, a restaurant, with a registration number on file.
pub async fn merchant(w: &World, name: &str, phone: &str, association: i64) -> i64 {
    let record = MerchantRecord {
        business_name: name.into(),
        phone: phone.into(),
        email: None,
        email_platform: None,
        dependencies: vec!["kakaotalk".into()],
        locale: None,
        region: Some("서울 마포구".into()),
        trade: Some("음식점".into()),
        backup_phone: None,
        backup_email: None,
        backup_email_platform: None,
    };
    meoktong_storage::merchants::import(&w.app.db, &w.app.crypto, &[record], now_ms())
        .await
        .expect("import");
    let m = merchants::Entity::find()
        .filter(merchants::Column::BusinessName.eq(name))
        .one(&w.app.db.conn)
        .await
        .expect("query")
        .expect("imported");
    let mut am: merchants::ActiveModel = m.clone().into();
    am.brn_enc = Set(Some(w.app.crypto.encrypt(BRN)));
    am.association_id = Set(Some(association));
    am.update(&w.app.db.conn).await.expect("update merchant");
    // A member of that association (associations see only their members' reports).
    meoktong_storage::members::add(&w.app.db.conn, association, m.id, now_ms())
        .await
        .expect("membership");
    m.id
}

/// A recovery notice for the merchant about the incident; returns the link token.
pub async fn recovery_link(w: &World, merchant_id: i64) -> String {
    let token = format!("tok-{}", uuid::Uuid::new_v4().simple());
    let now = now_ms();
    let notice = NewNotice {
        merchant_id,
        kind: NoticeKind::Recovery,
        dedupe_key: format!("recovery:{merchant_id}:{}", w.incident),
        dependency_ids: vec![],
        incident_ids: vec![w.incident],
        incident_keys: vec!["recovery:0".into()],
        since: STARTED,
        // A token from before link tokens had a locator: found by its hash alone.
        link: outbox::LinkKey::of(&w.app.crypto, &token),
        token_expires_at: now + 14 * 24 * 3_600_000,
        escalate_at: None,
        status: NoticeStatus::Closed,
        now,
    };
    outbox::create_notice(&w.app.db, notice, &[])
        .await
        .expect("notice")
        .expect("new notice");
    token
}

pub struct Session {
    pub cookie: String,
    pub csrf: String,
    pub api: String,
}

pub async fn sign_in(
    w: &World,
    email: &str,
    role: &str,
    merchant_id: Option<i64>,
    association_id: Option<i64>,
) -> Session {
    let password_hash = meoktong_web::auth::password::hash("correct horse battery").expect("hash");
    let user = NewUser {
        email,
        password_hash: &password_hash,
        role,
        merchant_id,
        association_id,
    };
    let user_id = users::create(&w.app.db, &w.app.crypto, user, "test")
        .await
        .expect("user");
    let (token, csrf, api) = (
        format!("s-{}", uuid::Uuid::new_v4()),
        format!("c-{}", uuid::Uuid::new_v4()),
        format!("a-{}", uuid::Uuid::new_v4()),
    );
    let now = now_ms();
    sessions::create_session(
        &w.app.db,
        &w.app.crypto,
        &token,
        user_id,
        &csrf,
        now,
        3_600_000,
    )
    .await
    .expect("session");
    sessions::create_api_token(&w.app.db, &w.app.crypto, user_id, "test", &api, "api", now)
        .await
        .expect("api token");
    Session {
        cookie: format!("mt_session={token}"),
        csrf,
        api,
    }
}

pub struct Page {
    pub status: u16,
    pub body: String,
    /// The cookies to send back: the given ones plus what the page set.
    pub cookie: String,
}

impl Page {
    pub fn hidden(&self, name: &str) -> String {
        let marker = format!("name=\"{name}\" value=\"");
        let at = self
            .body
            .find(&marker)
            .unwrap_or_else(|| panic!("no field {name}"))
            + marker.len();
        self.body[at..]
            .split('"')
            .next()
            .unwrap_or_default()
            .to_string()
    }
}

pub async fn get(app: &TestApp, path: &str, cookie: &str) -> Page {
    let r = app
        .client
        .get(app.url(path))
        .header("cookie", cookie)
        .send()
        .await
        .expect("get");
    let set: Vec<String> = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok()?.split(';').next().map(str::to_string))
        .collect();
    let cookie = std::iter::once(cookie.to_string())
        .chain(set)
        .filter(|c| !c.is_empty())
        .collect::<Vec<_>>()
        .join("; ");
    Page {
        status: r.status().as_u16(),
        body: r.text().await.expect("body"),
        cookie,
    }
}

/// A report that passes every check, as form fields.
pub fn good(incident: i64, association: i64) -> Vec<(&'static str, String)> {
    vec![
        ("incident", incident.to_string()),
        ("business_name", "먹통분식".into()),
        ("brn", BRN.into()),
        ("contact", "010-1234-5678".into()),
        ("region_sido", "서울특별시".into()),
        ("region_sigungu", "마포구".into()),
        ("trade", "restaurant".into()),
        ("services", "kakaotalk".into()),
        ("kinds", "lost_orders".into()),
        ("kinds", "failed_payments".into()),
        ("estimated_loss", "1,200,000".into()),
        ("lost_orders", "35".into()),
        (
            "description",
            "토요일 오후 카카오톡 주문이 하나도 안 들어왔습니다.".into(),
        ),
        ("association", association.to_string()),
        ("consent", "yes".into()),
        ("action", "submit".into()),
    ]
}

pub fn set(fields: &mut Vec<(&'static str, String)>, name: &'static str, value: &str) {
    fields.retain(|(k, _)| *k != name);
    fields.push((name, value.to_string()));
}

/// Posts the form the way a browser does; the page's stamp is swapped for one a person could
/// have made (filled in over 10 s) unless `fields` brings its own.
pub async fn submit(
    app: &TestApp,
    page: &Page,
    fields: &[(&'static str, String)],
    files: Vec<(&str, Vec<u8>)>,
    query: &str,
) -> (u16, String) {
    let mut form = Form::new().text("csrf", page.hidden("csrf"));
    if !fields.iter().any(|(k, _)| *k == "stamp") {
        form = form.text("stamp", form_stamp(&app.crypto, now_ms() - 10_000));
    }
    if page.body.contains("name=\"token\"") {
        form = form.text("token", page.hidden("token"));
    }
    for (k, v) in fields {
        form = form.text(*k, v.clone());
    }
    for (name, data) in files {
        form = form.part("attachments", Part::bytes(data).file_name(name.to_string()));
    }
    let r = app
        .client
        .post(app.url(&format!("/reports/new{query}")))
        .header("cookie", &page.cookie)
        .multipart(form)
        .send()
        .await
        .expect("post");
    (r.status().as_u16(), r.text().await.expect("body"))
}

pub async fn review(
    app: &TestApp,
    staff: &Session,
    id: i64,
    action: &str,
    reason: &str,
) -> (u16, String) {
    let r = app
        .client
        .post(app.url(&format!("/association/reports/{id}/review")))
        .header("cookie", &staff.cookie)
        .form(&[
            ("csrf", staff.csrf.as_str()),
            ("action", action),
            ("reason", reason),
        ])
        .send()
        .await
        .expect("review");
    (r.status().as_u16(), r.text().await.expect("body"))
}

pub async fn stored(app: &TestApp) -> (u64, u64) {
    let reports = damage_reports::Entity::find()
        .count(&app.db.conn)
        .await
        .expect("count");
    let files = report_attachments::Entity::find()
        .count(&app.db.conn)
        .await
        .expect("count");
    (reports, files)
}

pub async fn only_report(app: &TestApp) -> damage_reports::Model {
    let all = damage_reports::Entity::find()
        .all(&app.db.conn)
        .await
        .expect("query");
    assert_eq!(all.len(), 1, "exactly one report");
    all.into_iter().next().expect("one")
}

/// The status of a GET with cookies.
pub async fn status_of(app: &TestApp, cookie: &str, path: &str) -> u16 {
    let r = app
        .client
        .get(app.url(path))
        .header("cookie", cookie)
        .send()
        .await
        .expect("get");
    r.status().as_u16()
}

/// A GET of the JSON API with a bearer token: status and body (null if not JSON).
pub async fn api(app: &TestApp, token: &str, path: &str) -> (u16, serde_json::Value) {
    let r = app
        .client
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .expect("api");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(serde_json::Value::Null))
}

/// A download: status, content type and bytes.
pub async fn download(app: &TestApp, cookie: &str, path: &str) -> (u16, String, Vec<u8>) {
    let r = app
        .client
        .get(app.url(path))
        .header("cookie", cookie)
        .send()
        .await
        .expect("get");
    let status = r.status().as_u16();
    let kind = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    (status, kind, r.bytes().await.expect("bytes").to_vec())
}
