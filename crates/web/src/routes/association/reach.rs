//! `/association/reach`: during an outage, which of the association's members subscribed to
//! what is down our alert reached (SMS delivered, email sent, a call answered), who
//! acknowledged, and whom to call — with the member's number, which the staff of the member's
//! own association may see here (they hold it from their own member list; every other page
//! masks it). The page refreshes itself every [`REFRESH_SECONDS`]. Below it, broadcasts:
//! `POST /association/broadcasts` sends one text to every member through the outbox, once
//! per member, at most [`BROADCASTS_PER_DAY`] a day per association, audited.
use super::{Nav, Staff, with_nav};
use crate::AppState;
use crate::error::WebError;
use crate::views::dep_name;
use askama::Template;
use axum::extract::{Form, State};
use axum::response::Response;
use meoktong_domain::duration_text::Locale;
use meoktong_notify::compose::{self, BroadcastDraft};
use meoktong_storage::member_reach::{self, MemberReach};
use meoktong_storage::outbox::Channel;
use meoktong_storage::{broadcasts, catalog, contacts, members, now_ms};
use serde::Deserialize;
use std::collections::HashMap;

pub const REFRESH_SECONDS: u32 = 15;
/// Broadcasts per association per 24 hours (members' phones are not a mailing list).
pub const BROADCASTS_PER_DAY: u64 = 3;
/// A broadcast's length: an LMS holds it, and it stays readable on a lock screen.
pub const MAX_BROADCAST_CHARS: usize = 300;
const DAY_MS: i64 = 24 * 3600 * 1000;

pub struct ReachRow {
    pub business_name: String,
    pub services: String,
    pub sms: &'static str,
    pub email: &'static str,
    pub acked: String,
    pub reached: bool,
    /// Shown (with a `tel:` link) only while the member has not acknowledged.
    pub phone: String,
    pub tel: String,
}

pub struct BroadcastRow {
    pub at: String,
    pub channel: &'static str,
    pub body: String,
    pub recipients: i32,
}

#[derive(Template)]
#[template(path = "association/reach.html")]
struct ReachPage {
    nav: Nav,
    refresh: u32,
    down: String,
    since: String,
    rows: Vec<ReachRow>,
    total: usize,
    by_sms: usize,
    by_email: usize,
    acked: usize,
    not_reached: usize,
    broadcasts: Vec<BroadcastRow>,
    left_today: u64,
    error: String,
    text: String,
}
with_nav!(ReachPage);

pub async fn page(State(state): State<AppState>, staff: Staff) -> Result<Response, WebError> {
    render(&state, staff, String::new(), String::new()).await
}

fn row(staff: &Staff, names: &HashMap<i64, String>, r: &MemberReach) -> ReachRow {
    let l = staff.ctx.lang;
    let sms = if r.sms_delivered {
        l.t("✓ 도착", "✓ delivered")
    } else if r.sms_pending {
        l.t("… 보내는 중", "… sending")
    } else {
        l.t("✕ 못 보냄", "✕ not sent")
    };
    let email = if r.email_sent {
        l.t("✓ 보냄", "✓ sent")
    } else {
        "–"
    };
    let phone = if r.acknowledged_at.is_none() {
        r.phone.clone().unwrap_or_default()
    } else {
        String::new()
    };
    ReachRow {
        business_name: r.business_name.clone(),
        services: r
            .down_dependency_ids
            .iter()
            .filter_map(|d| names.get(d).cloned())
            .collect::<Vec<_>>()
            .join(", "),
        sms,
        email,
        acked: r
            .acknowledged_at
            .map(|t| format!("✓ {}", staff.ctx.time(t)))
            .unwrap_or_default(),
        reached: r.reached(),
        tel: phone
            .chars()
            .filter(|c| c.is_ascii_digit() || *c == '+')
            .collect(),
        phone: national(&phone),
    }
}

/// A Korean mobile in the way people dial it: `+821012345678` → `010-1234-5678`.
fn national(e164: &str) -> String {
    match e164.strip_prefix("+82") {
        Some(rest) if rest.len() == 10 && rest.bytes().all(|b| b.is_ascii_digit()) => {
            format!("0{}-{}-{}", &rest[..2], &rest[2..6], &rest[6..])
        }
        _ => e164.to_string(),
    }
}

async fn render(
    state: &AppState,
    staff: Staff,
    error: String,
    text: String,
) -> Result<Response, WebError> {
    let l = staff.ctx.lang;
    let names: HashMap<i64, String> = catalog::list_dependencies(&state.db)
        .await?
        .iter()
        .map(|d| (d.id, dep_name(l, d)))
        .collect();
    let live = member_reach::live_reach(&state.db, &state.crypto, staff.association_id).await?;
    let mut down: Vec<String> = Vec::new();
    for i in &live.open_incidents {
        if let Some(n) = names.get(&i.dependency_id).filter(|n| !down.contains(n)) {
            down.push(n.clone());
        }
    }
    let since = live
        .open_incidents
        .iter()
        .map(|i| i.started_at)
        .min()
        .map(|t| match l {
            crate::i18n::Lang::Ko => format!("{}부터", staff.ctx.time(t)),
            crate::i18n::Lang::En => format!("since {}", staff.ctx.time(t)),
        })
        .unwrap_or_default();
    let rows: Vec<ReachRow> = live
        .members
        .iter()
        .map(|r| row(&staff, &names, r))
        .collect();
    let m = &live.members;
    let sent = broadcasts::count_since(&state.db, staff.association_id, now_ms() - DAY_MS).await?;
    let broadcasts = broadcasts::recent(&state.db, staff.association_id, 5)
        .await?
        .into_iter()
        .map(|b| BroadcastRow {
            at: staff.ctx.time(b.created_at),
            channel: if b.channel == "email" {
                l.t("이메일", "Email")
            } else {
                l.t("문자", "SMS")
            },
            body: b.body,
            recipients: b.recipients,
        })
        .collect();
    let mut nav = staff.nav(state, String::new(), "reach").await?;
    nav.title = format!(
        "{} · {}",
        l.t("실시간 도달", "Live reach"),
        nav.association_name
    );
    let page = ReachPage {
        nav,
        refresh: REFRESH_SECONDS,
        down: down.join(", "),
        since,
        total: m.len(),
        by_sms: m.iter().filter(|r| r.sms_delivered).count(),
        by_email: m.iter().filter(|r| r.email_sent).count(),
        acked: m.iter().filter(|r| r.acknowledged_at.is_some()).count(),
        not_reached: m.iter().filter(|r| !r.reached()).count(),
        rows,
        broadcasts,
        left_today: BROADCASTS_PER_DAY.saturating_sub(sent),
        error: error.clone(),
        text,
    };
    let html = page.render()?;
    Ok(if error.is_empty() {
        staff.ctx.ok(html)
    } else {
        staff.ctx.invalid(html)
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn numbers_read_as_dialled() {
        assert_eq!(super::national("+821012345678"), "010-1234-5678");
        assert_eq!(super::national("+15005550006"), "+15005550006");
        assert_eq!(super::national(""), "");
    }
}

#[derive(Deserialize)]
pub struct BroadcastForm {
    pub csrf: String,
    #[serde(default)]
    pub channel: String,
    #[serde(default)]
    pub text: String,
}

/// `POST /association/broadcasts`: one text to every member, once each, through the outbox.
pub async fn broadcast(
    State(state): State<AppState>,
    staff: Staff,
    Form(f): Form<BroadcastForm>,
) -> Result<Response, WebError> {
    staff.csrf(&f.csrf)?;
    let l = staff.ctx.lang;
    let text = f.text.split_whitespace().collect::<Vec<_>>().join(" ");
    let channel = match f.channel.as_str() {
        "sms" => Channel::Sms,
        "email" => Channel::Email,
        _ => {
            let e = l.t("문자나 이메일을 골라 주세요.", "Choose SMS or email.");
            return render(&state, staff, e.into(), f.text).await;
        }
    };
    let problem = if text.is_empty() {
        Some(l.t("보낼 내용을 써 주세요.", "Write what to send."))
    } else if text.chars().count() > MAX_BROADCAST_CHARS {
        Some(l.t("300자까지 보낼 수 있습니다.", "At most 300 characters."))
    } else if meoktong_domain::text::check_line(&text).is_err() {
        Some(l.t(
            "보낼 수 없는 문자가 들어 있습니다.",
            "The text holds characters that cannot be sent.",
        ))
    } else {
        None
    };
    if let Some(p) = problem {
        return render(&state, staff, p.into(), f.text).await;
    }
    let now = now_ms();
    if broadcasts::count_since(&state.db, staff.association_id, now - DAY_MS).await?
        >= BROADCASTS_PER_DAY
    {
        return Err(WebError::TooManyRequests(
            l.t(
                "공지는 하루에 3번까지 보낼 수 있습니다. 내일 다시 해 주세요.",
                "At most 3 notices a day. Try again tomorrow.",
            )
            .into(),
        ));
    }
    let association = members::association(&state.db, staff.association_id)
        .await?
        .ok_or(WebError::NotFound)?;
    let ids = members::member_ids(&state.db.conn, staff.association_id).await?;
    let mut book = contacts::of_merchants(&state.db, &state.crypto, &ids).await?;
    let shops = contacts::merchants_by_ids(&state.db, &ids).await?;
    let record = broadcasts::NewBroadcast {
        association_id: staff.association_id,
        user_id: staff.user.user_id,
        channel: channel.as_str(),
        body: &text,
        now,
    };
    let draft = |id| BroadcastDraft {
        broadcast_id: id,
        association: &association.name,
        channel,
        text: &text,
        now,
    };
    let reachable = book
        .values()
        .filter(|cs| {
            compose::broadcast_notice(&state.crypto, &draft(0), 0, Locale::Ko, cs).is_some()
        })
        .count();
    let id = broadcasts::record(
        &state.db,
        &record,
        i32::try_from(reachable).unwrap_or(i32::MAX),
    )
    .await?;
    let default_locale = &state.settings.notify.default_locale;
    let batch: Vec<_> = shops
        .iter()
        .filter_map(|m| {
            let cs = book.remove(&m.id)?;
            let locale = compose::locale_of(m, default_locale);
            compose::broadcast_notice(&state.crypto, &draft(id), m.id, locale, &cs)
        })
        .collect();
    let written = broadcasts::queue(&state.db, &batch).await?;
    state.outbox_changed.notify_waiters();
    tracing::info!(
        association.id = staff.association_id,
        broadcast.id = id,
        members = ids.len(),
        written,
        "broadcast queued"
    );
    Ok(staff.ctx.redirect("/association/reach?done=sent"))
}
