//! A merchant subscribed to one dependency, an incident and a notice with its SMS and email,
//! written straight into storage (no planner, no dispatcher), so a test can drive what
//! happens next (callbacks, replies, the alert page) and read the rows back.
#![allow(dead_code)]

use meoktong_config::DependencySettings;
use meoktong_domain::Category;
use meoktong_domain::message::NoticeKind;
use meoktong_storage::entity::{contacts, notices, outbox as outbox_entity};
use meoktong_storage::merchants::{self, MerchantRecord};
use meoktong_storage::outbox::{self, Channel, MessageState, NewMessage, NewNotice, NoticeStatus};
use meoktong_storage::{catalog, incidents, now_ms};
use meoktong_tests::TestApp;

pub const PHONE: &str = "+821012345678";
pub const EMAIL: &str = "owner@example.com";
pub const DEP_SLUG: &str = "kakaotalk";
pub const DEP_NAME: &str = "카카오톡";
pub const DEP_NAME_EN: &str = "KakaoTalk";
const HOUR_MS: i64 = 3_600_000;

/// The dependency every fixture merchant relies on; put it in `settings.dependency`.
pub fn kakaotalk() -> DependencySettings {
    DependencySettings {
        slug: DEP_SLUG.into(),
        name: DEP_NAME.into(),
        name_en: Some(DEP_NAME_EN.into()),
        category: Category::Messenger,
        platform: Some("kakao".into()),
        description: None,
        check: Vec::new(),
    }
}

pub struct Merchant {
    pub id: i64,
    pub contact_id: i64,
    pub dependency_id: i64,
}

/// Imports the fixture merchant (phone [`PHONE`], email [`EMAIL`]).
pub async fn merchant(app: &TestApp, locale: Option<&str>) -> Merchant {
    let record = MerchantRecord {
        business_name: "먹통분식".into(),
        phone: PHONE.into(),
        email: Some(EMAIL.into()),
        email_platform: None,
        dependencies: vec![DEP_SLUG.into()],
        locale: locale.map(str::to_string),
        region: None,
        trade: None,
        backup_phone: None,
        backup_email: None,
        backup_email_platform: None,
    };
    merchants::import(&app.db, &app.crypto, &[record], now_ms())
        .await
        .expect("import merchant");
    let contact: contacts::Model =
        meoktong_storage::contacts::by_phone(&app.db, &app.crypto, PHONE)
            .await
            .expect("contacts by phone")
            .into_iter()
            .next()
            .expect("the merchant's contact");
    let dep = catalog::dependency_by_slug(&app.db, DEP_SLUG)
        .await
        .expect("dependency")
        .expect("configured");
    Merchant {
        id: contact.merchant_id,
        contact_id: contact.id,
        dependency_id: dep.id,
    }
}

/// What the notice is and how far its SMS got.
pub struct Spec {
    pub kind: &'static str,
    /// `pending` (not sent yet) or `accepted` (with `sid`).
    pub sms_state: &'static str,
    pub sid: Option<String>,
    /// The incident started this long ago.
    pub started_ago_ms: i64,
    /// Resolved this long ago (recoveries).
    pub resolved_ago_ms: Option<i64>,
    /// The link expires in this long (negative: already expired).
    pub expires_in_ms: i64,
}

impl Default for Spec {
    fn default() -> Self {
        Spec {
            kind: "down",
            sms_state: "accepted",
            sid: Some(format!("SM{}", uuid::Uuid::new_v4().simple())),
            started_ago_ms: 20 * 60_000,
            resolved_ago_ms: None,
            expires_in_ms: 24 * HOUR_MS,
        }
    }
}

pub struct Notice {
    pub id: i64,
    pub incident_id: i64,
    pub token: String,
    pub sid: Option<String>,
    pub sms_id: i64,
    pub email_id: i64,
}

/// Writes an incident of the merchant's dependency and a notice about it, with an SMS and a
/// `waiting` email fallback for the first contact.
pub async fn notice(app: &TestApp, m: &Merchant, spec: Spec) -> Notice {
    let now = now_ms();
    let started = now - spec.started_ago_ms;
    let incident_id = incidents::open(
        &app.db.conn,
        m.dependency_id,
        "down",
        started,
        started + 6_000,
        &serde_json::json!({}),
    )
    .await
    .expect("open incident");
    if let Some(ago) = spec.resolved_ago_ms {
        incidents::resolve(&app.db.conn, incident_id, now - ago, now)
            .await
            .expect("resolve");
    }
    let token = outbox::new_link_token(now);
    let dedupe = format!("{}:{}:{incident_id}", spec.kind, m.id);
    let message = |channel: &str, recipient: &str, state: &str| NewMessage {
        channel: Channel::parse(channel).expect("channel"),
        contact_id: Some(m.contact_id),
        contact_position: 0,
        recipient_enc: app.crypto.encrypt(recipient),
        subject: (channel == "email").then(|| "[장애] 카카오톡".to_string()),
        body: format!("[장애] 카카오톡 http://x/a/{token}"),
        html: None,
        priority: 0,
        state: MessageState::parse(state).expect("state"),
        next_attempt_at: now,
        expires_at: now + HOUR_MS,
        dedupe_key: format!("{dedupe}:0:{channel}"),
    };
    let sms_initial = if spec.sms_state == "accepted" {
        "sending"
    } else {
        spec.sms_state
    };
    let messages = vec![
        message("sms", PHONE, sms_initial),
        message("email", EMAIL, "waiting"),
    ];
    let new = NewNotice {
        merchant_id: m.id,
        kind: NoticeKind::parse(spec.kind).expect("kind"),
        dedupe_key: dedupe,
        dependency_ids: vec![m.dependency_id],
        incident_ids: vec![incident_id],
        incident_keys: vec![if spec.kind == "recovery" {
            "recovery:0".into()
        } else {
            "down".into()
        }],
        since: started,
        link: outbox::LinkKey::of(&app.crypto, &token),
        token_expires_at: now + spec.expires_in_ms,
        escalate_at: (spec.kind != "recovery").then_some(now + 10 * 60_000),
        status: if spec.kind == "recovery" {
            NoticeStatus::Closed
        } else {
            NoticeStatus::Open
        },
        now,
    };
    let id = outbox::create_notice(&app.db, new, &messages)
        .await
        .expect("create notice")
        .expect("a new notice");
    let rows = outbox::messages_of_notice(&app.db, id)
        .await
        .expect("messages");
    let sms_id = rows
        .iter()
        .find(|r| r.channel == "sms")
        .expect("sms row")
        .id;
    let email_id = rows
        .iter()
        .find(|r| r.channel == "email")
        .expect("email row")
        .id;
    if spec.sms_state == "accepted" {
        let sid = spec.sid.as_deref().expect("an accepted SMS has a sid");
        assert!(
            outbox::mark_accepted(&app.db, sms_id, 0, sid, now)
                .await
                .expect("accept")
        );
    }
    Notice {
        id,
        incident_id,
        token,
        sid: spec.sid,
        sms_id,
        email_id,
    }
}

/// The outbox row as stored now.
pub async fn row(app: &TestApp, id: i64) -> outbox_entity::Model {
    use sea_orm::EntityTrait;
    outbox_entity::Entity::find_by_id(id)
        .one(&app.db.conn)
        .await
        .expect("query")
        .expect("row exists")
}

pub async fn notice_row(app: &TestApp, id: i64) -> notices::Model {
    outbox::notice(&app.db, id)
        .await
        .expect("query")
        .expect("notice exists")
}
