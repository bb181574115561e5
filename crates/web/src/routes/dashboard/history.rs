//! `/dashboard/history`: every alert sent to the merchant — which channels were tried, how
//! each delivery went, whether and how it was acknowledged, and a link to its alert page
//! while that link lives.
use super::{Dash, Shell, with_shell};
use crate::AppState;
use crate::error::WebError;
use crate::i18n::Lang;
use crate::views::{Ctx, dep_name};
use askama::Template;
use axum::extract::State;
use axum::response::Response;
use meoktong_domain::duration_text::Locale;
use meoktong_domain::mask::{mask_email, mask_phone};
use meoktong_domain::message::NoticeKind;
use meoktong_storage::entity::{dependencies, notices, outbox};
use meoktong_storage::outbox::{Channel, NoticeStatus};
use meoktong_storage::{catalog, dashboard, incidents};
use std::collections::{HashMap, HashSet};

pub struct Attempt {
    pub channel: &'static str,
    pub to: String,
    pub state: String,
    pub state_label: &'static str,
    pub error: String,
}

pub struct Entry {
    pub id: i64,
    pub kind: String,
    pub tag: &'static str,
    pub at: String,
    pub deps: String,
    pub acked: String,
    pub status_label: &'static str,
    pub attempts: Vec<Attempt>,
    pub alert_href: Option<String>,
}

#[derive(Template)]
#[template(path = "dashboard/history.html")]
struct HistoryPage {
    shell: Shell,
    entries: Vec<Entry>,
}
with_shell!(HistoryPage);

pub async fn page(State(state): State<AppState>, dash: Dash) -> Result<Response, WebError> {
    let l = dash.ctx.lang;
    let list = dashboard::history(&state.db, dash.merchant_id, 100).await?;
    let deps: HashMap<i64, dependencies::Model> = catalog::list_dependencies(&state.db)
        .await?
        .into_iter()
        .map(|d| (d.id, d))
        .collect();
    let incident_ids: Vec<i64> = list
        .iter()
        .flat_map(|(n, _)| serde_json::from_str::<Vec<i64>>(&n.incident_ids).unwrap_or_default())
        .collect();
    let slow_incidents: HashSet<i64> = incidents::by_ids(&state.db, &incident_ids)
        .await?
        .into_iter()
        .filter(|i| i.severity == "degraded")
        .map(|i| i.id)
        .collect();
    let now = meoktong_storage::now_ms();
    let entries = list
        .iter()
        .map(|(n, msgs)| {
            let slow = told_only_slowness(n, &slow_incidents);
            let mut e = entry(&dash.ctx, &state, &deps, n, msgs, slow);
            e.alert_href = crate::views::alert_links::href_of(&state, n, msgs, now);
            e
        })
        .collect();
    let page = HistoryPage {
        shell: dash.shell(l.t("알림 기록", "Alert history"), "history"),
        entries,
    };
    Ok(dash.ctx.ok(page.render()?))
}

/// True when every incident the notice told is a slowdown (its texts said `[느림]`).
pub fn told_only_slowness(n: &notices::Model, slow_incidents: &HashSet<i64>) -> bool {
    let ids: Vec<i64> = serde_json::from_str(&n.incident_ids).unwrap_or_default();
    !ids.is_empty() && ids.iter().all(|i| slow_incidents.contains(i))
}

/// The tag a notice of this stored kind began with, in the page's language: a slowdown's
/// own when `slow`.
pub fn kind_tag(l: Lang, kind: &str, slow: bool) -> &'static str {
    let locale = match l {
        Lang::Ko => Locale::Ko,
        Lang::En => Locale::En,
    };
    NoticeKind::parse(kind).map_or("", |k| k.tag_for(slow, locale))
}

pub fn delivery_label(l: Lang, state: &str) -> &'static str {
    match state {
        "waiting" => l.t("대기 (문자 실패 시 발송)", "waiting (sent if SMS fails)"),
        "pending" | "sending" => l.t("보내는 중", "sending"),
        "accepted" => l.t("통신사 접수", "accepted"),
        "delivered" => l.t("도착", "delivered"),
        "failed" => l.t("실패", "failed"),
        "expired" => l.t("만료", "expired"),
        "cancelled" => l.t("취소 (이미 확인함)", "cancelled (not needed)"),
        _ => "",
    }
}

fn entry(
    ctx: &Ctx,
    state: &AppState,
    deps: &HashMap<i64, dependencies::Model>,
    n: &notices::Model,
    msgs: &[outbox::Model],
    slow: bool,
) -> Entry {
    let l = ctx.lang;
    let ids: Vec<i64> = serde_json::from_str(&n.dependency_ids).unwrap_or_default();
    let names: Vec<String> = ids
        .iter()
        .filter_map(|i| deps.get(i))
        .map(|d| dep_name(l, d))
        .collect();
    let acked = match (n.acked_at, n.acked_via.as_deref()) {
        (Some(at), via) => match crate::views::acked_via(l, via) {
            "" => ctx.time(at),
            how => format!("{} ({how})", ctx.time(at)),
        },
        _ => String::new(),
    };
    Entry {
        id: n.id,
        kind: n.kind.clone(),
        tag: kind_tag(l, &n.kind, slow),
        at: ctx.time(n.created_at),
        deps: names.join(", "),
        acked,
        status_label: match NoticeStatus::parse(&n.status) {
            Ok(NoticeStatus::Acked) => l.t("확인함", "acknowledged"),
            Ok(NoticeStatus::Exhausted) => l.t(
                "모든 연락처에 보냈으나 확인 없음",
                "every contact tried, no acknowledgement",
            ),
            Ok(NoticeStatus::Closed) => l.t("확인이 필요 없는 알림", "needs no acknowledgement"),
            Ok(NoticeStatus::Open) | Err(_) => {
                l.t("확인 기다리는 중", "waiting for acknowledgement")
            }
        },
        attempts: msgs.iter().map(|m| attempt(state, l, m)).collect(),
        alert_href: None,
    }
}

fn attempt(state: &AppState, l: Lang, m: &outbox::Model) -> Attempt {
    let to = state.crypto.decrypt(&m.recipient_enc).unwrap_or_default();
    Attempt {
        channel: match Channel::parse(&m.channel) {
            Ok(Channel::Sms) => l.t("문자", "SMS"),
            Ok(Channel::Email) => l.t("이메일", "email"),
            Ok(Channel::Voice) => l.t("전화", "call"),
            _ => l.t("웹훅", "webhook"),
        },
        to: match m.channel.as_str() {
            "sms" | "voice" => mask_phone(&to),
            // The host only: a webhook's path may carry the receiver's own token.
            "webhook" => to
                .split("://")
                .nth(1)
                .and_then(|rest| rest.split(['/', '?', '#']).next())
                .unwrap_or_default()
                .to_string(),
            _ => mask_email(&to),
        },
        state: m.state.clone(),
        state_label: delivery_label(l, &m.state),
        error: m.last_error.clone().unwrap_or_default(),
    }
}
