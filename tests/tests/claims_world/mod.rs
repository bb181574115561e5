//! The fire as the claims tests see it: Talk, Login, Pay and Map down in overlapping windows
//! (one outage event), a KakaoPay blip a day later (another event), merchants of one
//! association.
#![allow(dead_code)]

use crate::reports_world::*;
use meoktong_domain::message::NoticeKind;
use meoktong_storage::outbox::{self, NewNotice, NoticeStatus};
use meoktong_storage::{catalog, incidents, now_ms};

pub const MIN: i64 = 60_000;

pub struct Fire {
    pub w: World,
    /// Talk (the event's key), Login, Pay, Map.
    pub talk: i64,
    pub login: i64,
    pub pay: i64,
    pub map: i64,
    /// KakaoPay the next day: its own event.
    pub later: i64,
}

async fn down(w: &World, slug: &str, start: i64, end: i64) -> i64 {
    let dep = catalog::dependency_by_slug(&w.app.db, slug)
        .await
        .expect("query")
        .expect("configured");
    let id = incidents::open(
        &w.app.db.conn,
        dep.id,
        "down",
        start,
        start + 6_000,
        &serde_json::json!({}),
    )
    .await
    .expect("open");
    incidents::resolve(&w.app.db.conn, id, end, end)
        .await
        .expect("resolve");
    id
}

pub async fn fire_with(tweak: impl FnOnce(&mut meoktong_config::Settings)) -> Fire {
    let w = world_with(|s| {
        s.dependency
            .push(dependency("kakao-login", "카카오 로그인", "Kakao Login"));
        s.dependency
            .push(dependency("kakaomap", "카카오맵", "KakaoMap"));
        tweak(s);
    })
    .await;
    // Talk is the world's incident: 15:30 to 23:40.
    let login = down(&w, "kakao-login", STARTED + MIN, STARTED + 90 * MIN).await;
    let pay = down(&w, "kakaopay", STARTED + 2 * MIN, RESOLVED + 10 * MIN).await;
    // Map starts after Login is back but while Talk and Pay are still down.
    let map = down(
        &w,
        "kakaomap",
        STARTED + 100 * MIN,
        STARTED + 101 * MIN + 30_000,
    )
    .await;
    let later = down(
        &w,
        "kakaopay",
        RESOLVED + 24 * 60 * MIN,
        RESOLVED + 24 * 60 * MIN + 20 * MIN,
    )
    .await;
    Fire {
        talk: w.incident,
        login,
        pay,
        map,
        later,
        w,
    }
}

pub async fn fire() -> Fire {
    fire_with(|_| {}).await
}

/// A recovery notice telling the merchant about `incident_ids`; returns the link token.
pub async fn link_for(w: &World, merchant_id: i64, incident_ids: &[i64]) -> String {
    let token = format!("tok-{}", uuid::Uuid::new_v4().simple());
    let now = now_ms();
    let notice = NewNotice {
        merchant_id,
        kind: NoticeKind::Recovery,
        dedupe_key: format!("recovery:{merchant_id}:{incident_ids:?}"),
        dependency_ids: vec![],
        incident_ids: incident_ids.to_vec(),
        incident_keys: incident_ids
            .iter()
            .map(|_| "recovery:0".to_string())
            .collect(),
        since: STARTED,
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
