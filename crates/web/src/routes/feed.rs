//! `GET /status/feed.atom`: an Atom feed of the last 90 days of incidents (RFC 4287), one
//! entry per incident, updated when it resolves. Korean unless `?lang=en`.
use crate::AppState;
use crate::error::WebError;
use crate::i18n::Lang;
use crate::views::rfc3339;
use crate::views::{dep_name, duration_words, service_tz};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, header};
use axum::response::IntoResponse;
use meoktong_storage::{now_ms, status};
use std::collections::HashMap;
use std::fmt::Write;

const NINETY_DAYS_MS: i64 = 90 * 24 * 3600 * 1000;
const MAX_ENTRIES: usize = 100;

fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

pub async fn atom(
    State(state): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, WebError> {
    let l = Lang::negotiate(q.get("lang").map(String::as_str), &headers);
    let tz = service_tz(&state);
    let now = now_ms();
    let base = state
        .settings
        .server
        .public_url
        .trim_end_matches('/')
        .to_string();
    let deps: HashMap<i64, (String, String)> = status::overview(&state.db)
        .await?
        .into_iter()
        .map(|d| {
            (
                d.dependency.id,
                (d.dependency.slug.clone(), dep_name(l, &d.dependency)),
            )
        })
        .collect();
    let list = status::incidents_since(&state.db, now - NINETY_DAYS_MS).await?;
    let comms = crate::views::comms::Comms::load(&state.db, &list, now).await?;
    let newest_update = comms
        .updates
        .iter()
        .map(|u| u.created_at)
        .max()
        .unwrap_or(0);
    let updated = list
        .iter()
        .map(|i| i.updated_at)
        .max()
        .unwrap_or(now)
        .max(newest_update);
    // Readable times in the service's zone: `2026-12-08 15:20 KST`.
    let readable = |ms: i64| {
        use chrono::TimeZone;
        tz.timestamp_millis_opt(ms)
            .single()
            .map(|t| t.format("%Y-%m-%d %H:%M %Z").to_string())
            .unwrap_or_default()
    };
    let mut out = String::new();
    let _ = write!(
        out,
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\" xml:lang=\"{}\">\n<title>{}</title>\n<id>{base}/status/feed.atom</id>\n<link rel=\"self\" href=\"{base}/status/feed.atom\"/>\n<link rel=\"alternate\" type=\"text/html\" href=\"{base}/status\"/>\n<updated>{}</updated>\n<author><name>Meoktong</name></author>\n",
        l.code(),
        xml(l.t("먹통 — 장애 기록", "Meoktong — incidents")),
        rfc3339(tz, updated)
    );
    for i in list.iter().take(MAX_ENTRIES) {
        let (slug, name) = deps.get(&i.dependency_id).cloned().unwrap_or_default();
        let maintenance = meoktong_storage::status_comms::is_maintenance_evidence(&i.evidence);
        let tag = match (i.resolved_at.is_some(), i.severity.as_str()) {
            _ if comms.false_alarm(i.id) => l.t("[오경보]", "[FALSE ALARM]"),
            (true, _) => l.t("[복구]", "[RECOVERED]"),
            (false, _) if maintenance => l.t("[점검]", "[MAINTENANCE]"),
            (false, "down") => l.t("[장애]", "[DOWN]"),
            (false, _) => l.t("[느림]", "[SLOW]"),
        };
        let mut summary = format!(
            "{} {} · {} {} · {} {}",
            l.t("시작", "Started"),
            readable(i.started_at),
            l.t("복구", "Resolved"),
            i.resolved_at
                .map(readable)
                .unwrap_or_else(|| l.t("진행 중", "ongoing").into()),
            l.t("기간", "Duration"),
            duration_words(l, i.resolved_at.unwrap_or(now) - i.started_at)
        );
        let ctx_tz = crate::views::Ctx::for_lang(l, tz);
        for t in comms.timeline(&ctx_tz, i.id) {
            let _ = write!(summary, "\n{} {} — {}", t.at, t.status, t.body);
        }
        let entry_updated = comms
            .updates
            .iter()
            .filter(|u| u.incident_id == Some(i.id))
            .map(|u| u.created_at)
            .max()
            .unwrap_or(0)
            .max(i.updated_at);
        let _ = write!(
            out,
            "<entry>\n<title>{}</title>\n<id>{base}/status/{slug}#incident-{}</id>\n<link href=\"{base}/status/incidents/{}\"/>\n<published>{}</published>\n<updated>{}</updated>\n<summary>{}</summary>\n</entry>\n",
            xml(&format!("{tag} {name}")),
            i.id,
            i.id,
            rfc3339(tz, i.started_at),
            rfc3339(tz, entry_updated),
            xml(&summary)
        );
    }
    out.push_str("</feed>\n");
    Ok((
        [
            (header::CONTENT_TYPE, "application/atom+xml; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=30"),
        ],
        out,
    ))
}
