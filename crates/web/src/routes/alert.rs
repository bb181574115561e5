//! `/a/{token}`: the page an alert links to, and its acknowledge button.
//!
//! No login: the link's random token is the key. Only its keyed hash is stored, so the page
//! hashes what it is given and looks the notice up; unknown or expired tokens get a 404 page.
//! The page says what is down, since when, how each dependency is now, what to do (the
//! merchant's own playbook or the default one, with the customer centres to call) and links
//! the printable manual order sheet (`/a/{token}/order-sheet`); a recovery page gives the
//! outage's length and links to the pre-filled damage report and the merchant's reports.
//! Because the token is in the URL, every answer is `no-store` and sends no Referer.
use crate::AppState;
use crate::error::WebError;
use crate::i18n::Lang;
use crate::routes::alert_words::{PageState, Words};
use crate::views::catalog_words::{Call, calls_for_category};
use crate::views::since_words;
use askama::Template;
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, HeaderName, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use meoktong_domain::Category;
use meoktong_domain::duration_text::{Locale, format_duration, format_since};
use meoktong_domain::message::{
    NoticeKind, category_label, default_playbook_text, slow_playbook_line,
};
use meoktong_notify::compose;
use meoktong_storage::entity::{incidents as incident_entity, notices};
use meoktong_storage::outbox::NoticeStatus;
use meoktong_storage::{contacts, incidents, now_ms, outbox, status};
use serde::Deserialize;
use std::collections::HashMap;
use std::time::Duration;
use subtle::ConstantTimeEq;

/// Headers of every answer under `/a/`: the token in the URL must not be cached, leak in a
/// Referer, or sit under someone else's frame next to the acknowledge button.
const PRIVATE_HEADERS: [(HeaderName, &str); 5] = [
    (header::CACHE_CONTROL, "no-store"),
    (header::REFERRER_POLICY, "no-referrer"),
    (header::X_FRAME_OPTIONS, "DENY"),
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (HeaderName::from_static("x-robots-tag"), "noindex, nofollow"),
];

/// How often a page about something still going on reloads itself (a meta refresh: no
/// script needed, gentle on a phone).
const LIVE_REFRESH_SECS: u32 = 60;

pub(crate) fn private(status: StatusCode, body: impl IntoResponse) -> Response {
    (status, PRIVATE_HEADERS, body).into_response()
}

pub(crate) fn private_error(e: WebError) -> Response {
    (PRIVATE_HEADERS, e).into_response()
}

/// The notice behind a link token, if the token is known and not expired. Every key a row may
/// carry during a key rotation is tried.
pub(crate) async fn find_notice(
    state: &AppState,
    token: &str,
    now: i64,
) -> Result<Option<notices::Model>, WebError> {
    if token.is_empty() || token.len() > 128 {
        return Ok(None);
    }
    Ok(
        outbox::notice_by_link_token(&state.db, &state.crypto, token)
            .await?
            .filter(|n| n.token_expires_at > now),
    )
}

/// The CSRF token of a notice's acknowledge form: a keyed hash bound to the notice, so it is
/// unguessable without the data key and the same on every replica.
fn csrf_token(state: &AppState, notice: &notices::Model) -> String {
    state.crypto.hash(&format!("csrf-ack:{}", notice.id))
}

fn csrf_ok(state: &AppState, notice: &notices::Model, given: &str) -> bool {
    let expected = csrf_token(state, notice);
    !given.is_empty() && bool::from(expected.as_bytes().ct_eq(given.as_bytes()))
}

/// A path segment, percent-encoded (tokens are URL-safe base64, but never trust that).
pub(crate) fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A playbook line without its own `1. ` (the page numbers them).
fn without_number(line: &str) -> &str {
    let line = line.trim();
    let digits = line.bytes().take_while(u8::is_ascii_digit).count();
    match line[digits..].strip_prefix(['.', ')']) {
        Some(rest) if digits > 0 => rest.trim_start(),
        _ => line,
    }
}

fn locale_of(lang: Lang) -> Locale {
    match lang {
        Lang::Ko => Locale::Ko,
        Lang::En => Locale::En,
    }
}

fn state_label(lang: Lang, state: &str) -> (&'static str, &'static str) {
    match state {
        "up" => (lang.t("정상", "Up"), "✓"),
        "degraded" => (lang.t("느림", "Slow"), "!"),
        "down" => (lang.t("장애", "Down"), "✕"),
        _ => (lang.t("확인 중", "Unknown"), "?"),
    }
}

/// One dependency's state, as `parts/dep_head.html` shows it.
pub struct DepView {
    pub name: String,
    /// Where the name links to; empty for none.
    pub href: String,
    pub state: String,
    pub state_label: &'static str,
    pub icon: &'static str,
    /// `06:09부터 장애`.
    pub since: String,
}

pub struct PlaybookView {
    pub label: &'static str,
    pub lines: Vec<String>,
    /// The customer centres this playbook may have the reader call.
    pub calls: Vec<Call>,
}

pub struct ReportLink {
    pub dependency: String,
    pub href: String,
}

/// Every fixed text of the page, in the reader's language (those that depend on the page's
/// state are [`Words`]).
pub struct Texts {
    pub since: &'static str,
    pub report: &'static str,
    pub report_hint: &'static str,
    pub what_to_do: &'static str,
    pub acked: &'static str,
    pub refreshes: &'static str,
    pub sheet: &'static str,
    pub sheet_hint: &'static str,
    pub calls: &'static str,
    pub my_reports: &'static str,
    pub status_page: &'static str,
}

impl Texts {
    fn new(l: Lang) -> Texts {
        Texts {
            since: l.t("시작", "Since"),
            report: l.t("피해 신고하기", "File a damage report"),
            report_hint: l.t(
                "측정된 시간이 미리 채워진 피해 신고서입니다.",
                "The form comes pre-filled with the measured outage window.",
            ),
            what_to_do: l.t("지금 할 일", "What to do now"),
            acked: l.t("확인함", "Acknowledged at"),
            refreshes: l.t(
                "이 페이지는 1분마다 스스로 새로 고쳐 지금 상태를 보여 줍니다.",
                "This page reloads itself every minute to show the state now.",
            ),
            sheet: l.t("수동 주문서 (A4 인쇄용)", "Manual order sheet (prints on A4)"),
            sheet_hint: l.t(
                "전화·현장 주문을 손으로 적어 두세요. 복구 뒤 빠진 주문이 없는지 확인할 때 씁니다.",
                "Write phone and walk-in orders down by hand; after recovery, check none were missed.",
            ),
            calls: l.t("전화할 곳", "Numbers to call"),
            my_reports: l.t("내 피해 신고 보기", "See my damage reports"),
            status_page: l.t("전체 서비스 상태 보기", "See every service's status"),
        }
    }
}

#[derive(Template)]
#[template(path = "alert/page.html")]
struct AlertPage {
    lang: &'static str,
    title: String,
    t: Texts,
    w: Words,
    /// `down`, `slow`, `back`, `test`, `store-offline`: the heading's colour.
    state_class: &'static str,
    is_back: bool,
    /// Seconds between the page's own reloads while what it tells is still going on.
    refresh_secs: Option<u32>,
    show_since: bool,
    show_sheet: bool,
    /// While slow: the one line of what to do now ([`slow_playbook_line`]).
    slow_line: Option<&'static str>,
    deps: Vec<DepView>,
    since: String,
    outage: Option<String>,
    playbooks: Vec<PlaybookView>,
    reports: Vec<ReportLink>,
    acked_at: Option<String>,
    can_ack: bool,
    ack_action: String,
    csrf: String,
    sheet_href: String,
}

#[derive(Template)]
#[template(path = "alert/message.html")]
struct MessagePage {
    lang: &'static str,
    title: &'static str,
    message: &'static str,
}

pub(crate) fn not_found(lang: Lang) -> Response {
    let page = MessagePage {
        lang: lang.code(),
        title: lang.t("알림을 찾을 수 없어요", "Alert not found"),
        message: lang.t(
            "링크가 잘못되었거나 기간이 지났어요. 문자나 이메일의 링크를 다시 확인해 주세요.",
            "This link is wrong or has expired. Check the link in your SMS or email.",
        ),
    };
    match page.render() {
        Ok(html) => private(StatusCode::NOT_FOUND, Html(html)),
        Err(e) => private_error(e.into()),
    }
}

fn forbidden(lang: Lang) -> Response {
    let page = MessagePage {
        lang: lang.code(),
        title: lang.t("요청을 처리할 수 없어요", "Request refused"),
        message: lang.t(
            "페이지를 새로 고친 뒤 다시 눌러 주세요.",
            "Reload the page and press the button again.",
        ),
    };
    match page.render() {
        Ok(html) => private(StatusCode::FORBIDDEN, Html(html)),
        Err(e) => private_error(e.into()),
    }
}

/// `GET /a/{token}`.
pub async fn page(
    State(state): State<AppState>,
    Path(token): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let asked = q.get("lang").map(String::as_str);
    let now = now_ms();
    let notice = match find_notice(&state, &token, now).await {
        Ok(Some(n)) => n,
        Ok(None) => return not_found(Lang::negotiate(asked, &headers)),
        Err(e) => return private_error(e),
    };
    match render_page(&state, &notice, &token, asked, &headers, now).await {
        Ok(html) => private(StatusCode::OK, Html(html)),
        Err(e) => private_error(e),
    }
}

/// `?lang=` when given, else the merchant's language, else Accept-Language.
/// `?lang=`, then the reader's remembered choice (`mt_lang`), then the merchant's locale,
/// then Accept-Language ([`Lang::choose`]).
pub(crate) fn page_lang(
    asked: Option<&str>,
    merchant_locale: Option<&str>,
    headers: &HeaderMap,
) -> Lang {
    let locale = merchant_locale.and_then(Locale::parse).map(|l| match l {
        Locale::En => "en",
        Locale::Ko => "ko",
    });
    Lang::choose(asked, headers, locale)
}

/// The alert page of a notice: what it is about and its state now, what to do, and the
/// damage report once it is back.
async fn render_page(
    state: &AppState,
    notice: &notices::Model,
    token: &str,
    asked: Option<&str>,
    headers: &HeaderMap,
    now: i64,
) -> Result<String, WebError> {
    let merchant = contacts::merchant(&state.db, notice.merchant_id)
        .await?
        .ok_or(WebError::NotFound)?;
    let lang = page_lang(asked, merchant.locale.as_deref(), headers);
    let locale = locale_of(lang);
    let tz = compose::zone_of(&merchant, crate::views::service_tz(state));
    let kind = NoticeKind::parse(&notice.kind).map_err(|e| WebError::Unexpected(e.to_string()))?;
    let incs = notice_incidents(state, notice).await?;
    let slow = !incs.is_empty() && incs.iter().all(|i| i.severity == "degraded");
    let ended = !incs.is_empty() && incs.iter().all(|i| i.resolved_at.is_some());
    let page_state = PageState::of(kind, slow, ended);
    let is_back = page_state.is_back();
    let told = told_dependencies(state, notice, lang, now, tz).await?;
    // The store's own internet has the network playbook, whatever dependency records it.
    let categories = match page_state {
        PageState::StoreOffline | PageState::StoreBack => vec![Category::Network],
        _ => told.categories.clone(),
    };
    let outage = is_back
        .then(|| outage_length(notice, &incs, locale))
        .flatten();
    let reports = if page_state.offers_report() {
        report_links(&incs, token, &told.names)
    } else {
        Vec::new()
    };
    let playbooks = if page_state.wants_playbook() {
        let own = contacts::playbooks(&state.db, merchant.id).await?;
        let mut books = playbook_views(&own, &categories, locale);
        for (b, c) in books.iter_mut().zip(&categories) {
            let deps: Vec<_> = told.models.iter().collect();
            b.calls = calls_for_category(lang, &state.catalog_extras, *c, &deps);
        }
        books
    } else {
        Vec::new()
    };
    let acked_at = acknowledged(notice, lang, now, tz);
    let name_list = told
        .deps
        .iter()
        .map(|d| d.name.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let page = AlertPage {
        lang: lang.code(),
        title: format!("{} {name_list}", page_state.tag(kind, locale))
            .trim()
            .to_string(),
        t: Texts::new(lang),
        w: Words::new(lang, page_state),
        state_class: page_state.css_class(),
        is_back,
        refresh_secs: page_state.is_live().then_some(LIVE_REFRESH_SECS),
        show_since: page_state != PageState::Test,
        show_sheet: page_state.wants_playbook(),
        slow_line: (page_state == PageState::Slow).then(|| {
            slow_playbook_line(
                categories.first().copied().unwrap_or(Category::Other),
                locale,
            )
        }),
        deps: told.deps,
        since: format_since(locale, notice.since, now, tz),
        outage,
        playbooks,
        reports,
        can_ack: acked_at.is_none() && !is_back,
        acked_at,
        ack_action: format!("/a/{}/ack", encode_segment(token)),
        csrf: csrf_token(state, notice),
        sheet_href: format!("/a/{}/order-sheet", encode_segment(token)),
    };
    Ok(page.render()?)
}

/// The dependencies a notice told about, in its order, with their state now.
struct ToldDependencies {
    deps: Vec<DepView>,
    categories: Vec<Category>,
    /// Names by dependency id, in the page's language.
    names: HashMap<i64, String>,
    models: Vec<meoktong_storage::entity::dependencies::Model>,
}

async fn told_dependencies(
    state: &AppState,
    notice: &notices::Model,
    lang: Lang,
    now: i64,
    tz: chrono_tz::Tz,
) -> Result<ToldDependencies, WebError> {
    let locale = locale_of(lang);
    let dep_ids: Vec<i64> = serde_json::from_str(&notice.dependency_ids).unwrap_or_default();
    let overview = status::overview(&state.db).await?;
    let mut out = ToldDependencies {
        deps: Vec::new(),
        categories: Vec::new(),
        names: HashMap::new(),
        models: Vec::new(),
    };
    for id in &dep_ids {
        let Some(d) = overview.iter().find(|d| d.dependency.id == *id) else {
            continue;
        };
        let name = match lang {
            Lang::En => d
                .dependency
                .name_en
                .clone()
                .unwrap_or_else(|| d.dependency.name.clone()),
            Lang::Ko => d.dependency.name.clone(),
        };
        let category = Category::parse(&d.dependency.category).unwrap_or(Category::Other);
        if !out.categories.contains(&category) {
            out.categories.push(category);
        }
        let (state_label, icon) = state_label(lang, &d.state);
        out.names.insert(*id, name.clone());
        out.models.push(d.dependency.clone());
        out.deps.push(DepView {
            name,
            href: String::new(),
            state: d.state.clone(),
            state_label,
            icon,
            since: since_words(lang, state_label, &format_since(locale, d.since, now, tz)),
        });
    }
    Ok(out)
}

/// The incidents a notice told about, as they are now.
async fn notice_incidents(
    state: &AppState,
    notice: &notices::Model,
) -> Result<Vec<incident_entity::Model>, WebError> {
    let ids: Vec<i64> = serde_json::from_str(&notice.incident_ids).unwrap_or_default();
    Ok(incidents::by_ids(&state.db, &ids).await?)
}

/// How long it lasted: from the notice's start to the last of its incidents' ends.
fn outage_length(
    notice: &notices::Model,
    incs: &[incident_entity::Model],
    locale: Locale,
) -> Option<String> {
    incs.iter().filter_map(|i| i.resolved_at).max().map(|end| {
        let ms = u64::try_from(end - notice.since).unwrap_or(0);
        format_duration(locale, Duration::from_millis(ms))
    })
}

/// A pre-filled damage report link per outage event: incidents whose windows overlap (the
/// fire's Talk, Login, Pay, Map) are one report, so one link naming them all. The form opens
/// the whole event from any of its incidents.
fn report_links(
    incs: &[incident_entity::Model],
    token: &str,
    names: &HashMap<i64, String>,
) -> Vec<ReportLink> {
    use meoktong_domain::claims::{Window, anchor, event_group};
    let windows: Vec<Window> = incs
        .iter()
        .map(|i| Window {
            id: i.id,
            start: i.started_at,
            end: i.resolved_at,
        })
        .collect();
    let now = meoktong_storage::now_ms();
    let mut seen: Vec<i64> = Vec::new();
    let mut links = Vec::new();
    for w in &windows {
        if seen.contains(&w.id) {
            continue;
        }
        let group = event_group(&windows, w.id, now);
        seen.extend(group.iter().map(|g| g.id));
        let Some(key) = anchor(&group) else { continue };
        let mut deps: Vec<String> = Vec::new();
        for g in &group {
            let dep = incs
                .iter()
                .find(|i| i.id == g.id)
                .and_then(|i| names.get(&i.dependency_id))
                .cloned()
                .unwrap_or_default();
            if !dep.is_empty() && !deps.contains(&dep) {
                deps.push(dep);
            }
        }
        links.push(ReportLink {
            dependency: deps.join(" · "),
            href: format!(
                "/reports/new?incident={key}&token={}",
                encode_segment(token)
            ),
        });
    }
    links
}

/// What to do: the merchant's own playbook per category, else the default.
fn playbook_views(
    own: &[meoktong_storage::entity::playbooks::Model],
    categories: &[Category],
    locale: Locale,
) -> Vec<PlaybookView> {
    categories
        .iter()
        .map(|c| {
            let text = own
                .iter()
                .find(|p| p.category == c.as_str() && !p.text.trim().is_empty())
                .map(|p| p.text.clone())
                .unwrap_or_else(|| default_playbook_text(*c, locale).to_string());
            PlaybookView {
                calls: Vec::new(),
                label: category_label(*c, locale),
                lines: text
                    .lines()
                    .map(without_number)
                    .filter(|l| !l.is_empty())
                    .map(str::to_string)
                    .collect(),
            }
        })
        .collect()
}

/// When and how the notice was acknowledged, if it was.
fn acknowledged(
    notice: &notices::Model,
    lang: Lang,
    now: i64,
    tz: chrono_tz::Tz,
) -> Option<String> {
    let locale = locale_of(lang);
    (NoticeStatus::parse(&notice.status).ok() == Some(NoticeStatus::Acked)).then(|| {
        let at = notice
            .acked_at
            .map(|a| format_since(locale, a, now, tz))
            .unwrap_or_default();
        match crate::views::acked_via(lang, notice.acked_via.as_deref()) {
            "" => at,
            how => format!("{at} ({how})"),
        }
    })
}

#[derive(Deserialize)]
pub struct AckForm {
    #[serde(default)]
    csrf: String,
}

/// `POST /a/{token}/ack`: acknowledges the notice (idempotent), then back to the page.
pub async fn ack(
    State(state): State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
    form: Result<Form<AckForm>, FormRejection>,
) -> Response {
    let lang = Lang::negotiate(None, &headers);
    let now = now_ms();
    let notice = match find_notice(&state, &token, now).await {
        Ok(Some(n)) => n,
        Ok(None) => return not_found(lang),
        Err(e) => return private_error(e),
    };
    let given = form.map(|Form(f)| f.csrf).unwrap_or_default();
    if !csrf_ok(&state, &notice, &given) {
        tracing::warn!(
            notice.id = notice.id,
            "alert acknowledgement with a missing or wrong CSRF token"
        );
        return forbidden(lang);
    }
    match outbox::acknowledge(&state.db, notice.id, "web", None, now).await {
        Ok(first) => {
            tracing::info!(
                notice.id = notice.id,
                merchant.id = notice.merchant_id,
                first,
                "alert acknowledged on the web"
            );
            private(
                StatusCode::SEE_OTHER,
                Redirect::to(&format!("/a/{}", encode_segment(&token))),
            )
        }
        Err(e) => private_error(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_percent_encoded() {
        assert_eq!(encode_segment("aZ09-_.~"), "aZ09-_.~");
        assert_eq!(encode_segment("a/b?c"), "a%2Fb%3Fc");
        assert_eq!(encode_segment("확"), "%ED%99%95");
    }

    #[test]
    fn playbook_numbers_are_dropped() {
        assert_eq!(without_number(" 1. 전화로 받으세요"), "전화로 받으세요");
        assert_eq!(without_number("12) Call"), "Call");
        assert_eq!(without_number("2022년에"), "2022년에");
        assert_eq!(without_number("Plain"), "Plain");
    }

    #[test]
    fn an_explicit_lang_wins_then_the_merchants() {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT_LANGUAGE, "en".parse().expect("header"));
        assert_eq!(page_lang(Some("ko"), Some("en"), &h), Lang::Ko);
        assert_eq!(page_lang(None, Some("ko"), &h), Lang::Ko);
        assert_eq!(page_lang(None, Some(""), &h), Lang::En);
        assert_eq!(page_lang(None, None, &HeaderMap::new()), Lang::Ko);
        h.insert(header::COOKIE, "mt_lang=en".parse().expect("header"));
        assert_eq!(
            page_lang(None, Some("ko"), &h),
            Lang::En,
            "the reader's remembered choice"
        );
    }
}
