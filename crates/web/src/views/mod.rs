//! What every server-rendered page shares: the language and time zone of the reader, times
//! as they read them, state labels, the anonymous forms' CSRF cookie, and form fields with
//! their error messages; and read models pages share (`uptime`).
pub mod alert_links;
pub mod catalog_words;
pub mod comms;
pub mod sparkline;
pub mod uptime;

use crate::AppState;
use crate::auth::session::{CurrentUser, cookie_value, random_token, same_secret};
use crate::error::WebError;
use crate::i18n::Lang;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use chrono::TimeZone;
use std::collections::HashMap;

pub use crate::i18n::LANG_COOKIE;
/// Double-submit token of the forms a reader fills in before signing in.
pub const CSRF_COOKIE: &str = "mt_csrf";

/// The reader: language and time zone.
#[derive(Debug, Clone)]
pub struct Ctx {
    pub lang: Lang,
    pub tz: chrono_tz::Tz,
    cookies: Vec<String>,
}

pub fn service_tz(state: &AppState) -> chrono_tz::Tz {
    state
        .settings
        .notify
        .time_zone
        .parse()
        .unwrap_or(chrono_tz::Asia::Seoul)
}

impl Ctx {
    /// `?lang=`, then the remembered choice, then the user's locale, then Accept-Language.
    pub fn new(
        state: &AppState,
        q: &HashMap<String, String>,
        headers: &HeaderMap,
        user: Option<&CurrentUser>,
    ) -> Ctx {
        let asked = q
            .get("lang")
            .map(String::as_str)
            .filter(|l| matches!(*l, "ko" | "en"));
        let lang = Lang::choose(asked, headers, user.and_then(|u| u.locale.as_deref()));
        let mut cookies = Vec::new();
        if let Some(l) = asked {
            cookies.push(format!(
                "{LANG_COOKIE}={l}; Path=/; SameSite=Lax; Max-Age=31536000"
            ));
        }
        Ctx {
            lang,
            tz: service_tz(state),
            cookies,
        }
    }

    /// A reader with no request (the feed, built per language): no cookies to set.
    pub fn for_lang(lang: Lang, tz: chrono_tz::Tz) -> Ctx {
        Ctx {
            lang,
            tz,
            cookies: Vec::new(),
        }
    }

    pub fn t(&self, ko: &'static str, en: &'static str) -> &'static str {
        self.lang.t(ko, en)
    }

    /// `2026-11-22 15:20` in the reader's time zone.
    pub fn time(&self, ms: i64) -> String {
        self.tz
            .timestamp_millis_opt(ms)
            .single()
            .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
            .unwrap_or_default()
    }

    /// `06:09` today, `10/15 06:09` another day (`Oct 15 06:09` in English).
    pub fn since(&self, ms: i64, now: i64) -> String {
        meoktong_domain::duration_text::format_since(locale(self.lang), ms, now, self.tz)
    }

    pub fn add_cookie(&mut self, cookie: String) {
        self.cookies.push(cookie);
    }

    /// An HTML page (never cached: it shows live state and personal data).
    pub fn page(self, status: StatusCode, html: String) -> Response {
        let mut resp = (status, [(header::CACHE_CONTROL, "no-store")], Html(html)).into_response();
        for c in self.cookies {
            if let Ok(v) = c.parse() {
                resp.headers_mut().append(header::SET_COOKIE, v);
            }
        }
        resp
    }

    pub fn ok(self, html: String) -> Response {
        self.page(StatusCode::OK, html)
    }

    /// A form shown again with its field messages.
    pub fn invalid(self, html: String) -> Response {
        self.page(StatusCode::UNPROCESSABLE_ENTITY, html)
    }

    /// After a successful POST: see-other to `to`, with any cookies set on the way.
    pub fn redirect(self, to: &str) -> Response {
        let mut resp = axum::response::Redirect::to(to).into_response();
        for c in self.cookies {
            if let Ok(v) = c.parse() {
                resp.headers_mut().append(header::SET_COOKIE, v);
            }
        }
        resp
    }

    /// The CSRF token of an anonymous form: the cookie's, or a new one (set on this page).
    pub fn anon_csrf(&mut self, state: &AppState, headers: &HeaderMap) -> String {
        if let Some(t) = cookie_value(headers, CSRF_COOKIE).filter(|t| t.len() >= 32) {
            return t;
        }
        let token = random_token(32);
        let secure = if state.settings.server.public_url.starts_with("https://") {
            "; Secure"
        } else {
            ""
        };
        self.cookies.push(format!(
            "{CSRF_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict{secure}"
        ));
        token
    }
}

/// An anonymous form's `csrf` field must equal its cookie (double submit).
pub fn check_anon_csrf(headers: &HeaderMap, submitted: &str) -> Result<(), WebError> {
    match cookie_value(headers, CSRF_COOKIE) {
        Some(c) if c.len() >= 32 && same_secret(&c, submitted) => Ok(()),
        _ => Err(WebError::Csrf),
    }
}

/// A dependency state as words and an icon, never colour alone.
pub fn state_words(lang: Lang, state: &str) -> (&'static str, &'static str) {
    match state {
        "up" => (lang.t("정상", "Up"), "✓"),
        "degraded" => (lang.t("느림", "Degraded"), "!"),
        "down" => (lang.t("장애", "Down"), "✕"),
        "maintenance" => (lang.t("점검", "Maintenance"), "⚙"),
        _ => (lang.t("확인 중", "Unknown"), "?"),
    }
}

/// A state and since when, as people say it: `06:09부터 정상`, `Up since 06:09`.
pub fn since_words(lang: Lang, state_label: &str, when: &str) -> String {
    match lang {
        Lang::Ko => format!("{when}부터 {state_label}"),
        Lang::En => format!("{state_label} since {when}"),
    }
}

/// How a notice was acknowledged, in the reader's words.
pub fn acked_via(l: Lang, via: Option<&str>) -> &'static str {
    match via {
        Some("web") => l.t("알림 페이지", "alert page"),
        Some("sms") => l.t("문자 답장", "SMS reply"),
        Some("voice") => l.t("전화", "phone call"),
        Some("api") => "API",
        _ => "",
    }
}

/// The dependency's name in the reader's language.
pub fn dep_name(lang: Lang, d: &meoktong_storage::entity::dependencies::Model) -> String {
    match lang {
        Lang::En => d.name_en.clone().unwrap_or_else(|| d.name.clone()),
        Lang::Ko => d.name.clone(),
    }
}

pub fn locale(lang: Lang) -> meoktong_domain::duration_text::Locale {
    match lang {
        Lang::En => meoktong_domain::duration_text::Locale::En,
        Lang::Ko => meoktong_domain::duration_text::Locale::Ko,
    }
}

/// `2시간 5분` / `2h 5m`.
pub fn duration_words(lang: Lang, ms: i64) -> String {
    let d = std::time::Duration::from_millis(u64::try_from(ms).unwrap_or(0));
    meoktong_domain::duration_text::format_duration(locale(lang), d)
}

/// One input of a form, with its message when the value was refused.
#[derive(Debug, Clone)]
pub struct Field {
    pub name: &'static str,
    pub label: &'static str,
    pub kind: &'static str,
    pub value: String,
    pub error: String,
    pub autocomplete: &'static str,
    pub hint: &'static str,
}

impl Field {
    pub fn new(
        name: &'static str,
        label: &'static str,
        kind: &'static str,
        autocomplete: &'static str,
    ) -> Field {
        Field {
            name,
            label,
            kind,
            value: String::new(),
            error: String::new(),
            autocomplete,
            hint: "",
        }
    }

    pub fn value(mut self, v: &str) -> Field {
        if self.kind != "password" {
            self.value = v.to_string();
        }
        self
    }

    pub fn hint(mut self, h: &'static str) -> Field {
        self.hint = h;
        self
    }
}

/// Field messages collected while validating a form.
#[derive(Debug, Default)]
pub struct Errors(pub Vec<(&'static str, String)>);

impl Errors {
    pub fn add(&mut self, field: &'static str, message: impl Into<String>) {
        self.0.push((field, message.into()));
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Puts each message on its field.
    pub fn apply(&self, fields: &mut [Field]) {
        for f in fields.iter_mut() {
            if let Some((_, m)) = self.0.iter().find(|(n, _)| *n == f.name) {
                f.error = m.clone();
            }
        }
    }

    /// The first message as an API error.
    pub fn into_web_error(self) -> Option<WebError> {
        self.0
            .into_iter()
            .next()
            .map(|(field, message)| WebError::Validation {
                field: field.to_string(),
                message,
            })
    }
}

/// The value of `name` in a posted form with repeated keys.
pub fn form_value<'a>(form: &'a [(String, String)], name: &str) -> &'a str {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or("")
}

/// A Korean mobile number the way people write it (`010-1234-5678`); others stay E.164.
pub fn display_phone(e164: &str) -> String {
    match e164.strip_prefix("+82") {
        Some(rest)
            if rest.len() == 10
                && rest.starts_with('1')
                && rest.bytes().all(|b| b.is_ascii_digit()) =>
        {
            format!("0{}-{}-{}", &rest[..2], &rest[2..6], &rest[6..])
        }
        _ => e164.to_string(),
    }
}

/// A time as RFC 3339 with the zone's offset, as every JSON answer gives it.
pub fn rfc3339(tz: chrono_tz::Tz, ms: i64) -> String {
    use chrono::TimeZone;
    tz.timestamp_millis_opt(ms)
        .single()
        .map(|t| t.to_rfc3339())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_state_reads_since_when() {
        use crate::i18n::Lang;
        assert_eq!(
            super::since_words(Lang::Ko, "정상", "06:09"),
            "06:09부터 정상"
        );
        assert_eq!(
            super::since_words(Lang::En, "Up", "06:09"),
            "Up since 06:09"
        );
    }

    #[test]
    fn korean_mobiles_read_the_korean_way() {
        assert_eq!(super::display_phone("+821012345678"), "010-1234-5678");
        assert_eq!(super::display_phone("+15005550006"), "+15005550006");
    }
}
