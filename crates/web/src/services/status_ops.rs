//! The operator's status controls (issue 20), shared by the operator page and the JSON API:
//! declare an incident the probes missed, post an update (a `resolved` one resolves by hand),
//! mark a false alarm (one short correction to exactly the merchants who were told),
//! schedule a maintenance window. Each is audited in the storage call; the callers check the
//! operator role and CSRF.
use crate::AppState;
use crate::auth::session::{CurrentUser, Role};
use crate::error::WebError;
use crate::i18n::Lang;
use chrono::TimeZone;
use meoktong_storage::status_comms::maintenance::{self, NewWindow};
use meoktong_storage::status_comms::marks::{self, Declaration};
use meoktong_storage::status_comms::updates::UpdateStatus;
use meoktong_storage::status_comms::{StatusMessage, queue};
use meoktong_storage::{catalog, contacts, now_ms};

/// Only operators; everyone else is told the thing does not exist.
pub fn operator(user: &CurrentUser) -> Result<(), WebError> {
    match user.role {
        Role::Operator => Ok(()),
        _ => Err(WebError::NotFound),
    }
}

fn invalid(field: &str, message: impl Into<String>) -> WebError {
    WebError::Validation {
        field: field.into(),
        message: message.into(),
    }
}

/// A time typed as RFC 3339, or as the page's `datetime-local` (`2026-12-08T02:00`, read in
/// the service's time zone); blank is `default`.
pub fn parse_time(tz: chrono_tz::Tz, s: &str, default: i64) -> Option<i64> {
    let s = s.trim();
    if s.is_empty() {
        return Some(default);
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp_millis());
    }
    let naive = chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M")
        .or_else(|_| chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S"))
        .ok()?;
    tz.from_local_datetime(&naive)
        .earliest()
        .map(|t| t.timestamp_millis())
}

fn text(field: &str, s: &str, max: usize) -> Result<String, WebError> {
    let s = s.trim();
    if s.chars().count() > max || s.chars().any(|c| c.is_control() && c != '\n') {
        return Err(invalid(
            field,
            format!("at most {max} characters, no control characters"),
        ));
    }
    Ok(s.to_string())
}

async fn dependency_ids(state: &AppState, slugs: &[String]) -> Result<Vec<i64>, WebError> {
    let deps = catalog::list_dependencies(&state.db).await?;
    let mut ids = Vec::new();
    for s in slugs {
        let d = deps
            .iter()
            .find(|d| &d.slug == s && d.owner_merchant_id.is_none())
            .ok_or_else(|| invalid("dependencies", format!("unknown dependency {s:?}")))?;
        ids.push(d.id);
    }
    if ids.is_empty() {
        return Err(invalid("dependencies", "choose at least one dependency"));
    }
    Ok(ids)
}

fn actor(user: &CurrentUser) -> String {
    format!("user:{}", user.user_id)
}

pub async fn declare(
    state: &AppState,
    user: &CurrentUser,
    slugs: &[String],
    started_at: &str,
    body: &str,
) -> Result<Vec<i64>, WebError> {
    operator(user)?;
    let now = now_ms();
    let ids = dependency_ids(state, slugs).await?;
    let started = parse_time(crate::views::service_tz(state), started_at, now)
        .filter(|t| *t <= now)
        .ok_or_else(|| invalid("started_at", "a time in the past (RFC 3339)"))?;
    let body = text("text", body, 500)?;
    let out = marks::declare(
        &state.db,
        Declaration {
            dependency_ids: &ids,
            started_at: started,
            text: &body,
            user_id: user.user_id,
            actor: &actor(user),
        },
        now,
    )
    .await?;
    tracing::info!(user.id = user.user_id, incidents = ?out, "incident declared");
    Ok(out)
}

pub async fn post_update(
    state: &AppState,
    user: &CurrentUser,
    incident_id: i64,
    status: &str,
    body: &str,
) -> Result<i64, WebError> {
    operator(user)?;
    let status = UpdateStatus::parse(status)
        .filter(|s| UpdateStatus::OPERATOR.contains(s))
        .ok_or_else(|| {
            invalid(
                "status",
                "one of investigating, identified, monitoring, resolved",
            )
        })?;
    let body = text("body", body, 500)?;
    let id = marks::post_update(
        &state.db,
        incident_id,
        status,
        &body,
        user.user_id,
        &actor(user),
        now_ms(),
    )
    .await?
    .ok_or(WebError::NotFound)?;
    Ok(id)
}

/// Marks the incident a false alarm and queues one short correction per merchant notice
/// that went out about it, on the same channel to the same address. Returns how many.
pub async fn false_alarm(
    state: &AppState,
    user: &CurrentUser,
    incident_id: i64,
) -> Result<usize, WebError> {
    operator(user)?;
    let now = now_ms();
    let (inc, told) = marks::false_alarm(&state.db, incident_id, user.user_id, &actor(user), now)
        .await?
        .ok_or(WebError::NotFound)?;
    let dep = catalog::list_dependencies(&state.db)
        .await?
        .into_iter()
        .find(|d| d.id == inc.dependency_id);
    let tz = crate::views::service_tz(state);
    let at = tz
        .timestamp_millis_opt(inc.started_at)
        .single()
        .map(|t| t.format("%H:%M").to_string())
        .unwrap_or_default();
    let mut queued = 0;
    for t in &told {
        let merchant = contacts::merchant(&state.db, t.merchant_id).await?;
        let lang = match merchant.and_then(|m| m.locale).as_deref() {
            Some("en") => Lang::En,
            _ => Lang::Ko,
        };
        let name = match (&dep, lang) {
            (Some(d), Lang::En) => d.name_en.clone().unwrap_or_else(|| d.name.clone()),
            (Some(d), Lang::Ko) => d.name.clone(),
            (None, _) => String::new(),
        };
        let body = match lang {
            Lang::Ko => format!(
                "[정정] 사장님, {at}부터 {name} 장애라고 알려 드린 것은 오경보였습니다. 실제 장애는 없었습니다. 죄송합니다."
            ),
            Lang::En => format!(
                "[CORRECTION] The {name} outage we told you about ({at}) was a false alarm. Nothing was down. Sorry."
            ),
        };
        let subject = (t.channel == "email").then(|| {
            lang.t("[먹통] 정정: 오경보", "[Meoktong] Correction: false alarm")
                .to_string()
        });
        queued += usize::from(
            queue(
                &state.db,
                StatusMessage {
                    merchant_id: t.merchant_id,
                    kind: "correction",
                    channel: &t.channel,
                    recipient_enc: &t.recipient_enc,
                    contact_id: t.contact_id,
                    subject,
                    body,
                    dedupe_key: format!("correction:{incident_id}:{}", t.notice_id),
                    validity_ms: 24 * 3600 * 1000,
                },
                now,
            )
            .await?,
        );
    }
    state.outbox_changed.notify_waiters();
    tracing::info!(
        incident.id = incident_id,
        corrections = queued,
        "incident marked a false alarm"
    );
    Ok(queued)
}

pub async fn schedule_maintenance(
    state: &AppState,
    user: &CurrentUser,
    slug: &str,
    starts_at: &str,
    ends_at: &str,
    title: &str,
    source: &str,
) -> Result<i64, WebError> {
    operator(user)?;
    let now = now_ms();
    let tz = crate::views::service_tz(state);
    let dep = dependency_ids(state, &[slug.to_string()]).await?[0];
    let starts =
        parse_time(tz, starts_at, now).ok_or_else(|| invalid("starts_at", "a time (RFC 3339)"))?;
    let ends = parse_time(tz, ends_at, -1)
        .filter(|e| *e > starts && *e > now)
        .ok_or_else(|| invalid("ends_at", "a time after starts_at and in the future"))?;
    let title = text("title", title, 200)?;
    Ok(maintenance::schedule(
        &state.db,
        NewWindow {
            dependency_id: dep,
            starts_at: starts,
            ends_at: ends,
            title: &title,
            source,
            user_id: Some(user.user_id),
        },
        now,
    )
    .await?)
}
