//! What wraps every route, in one place so no handler can forget it:
//!
//! - [`page_headers`]: every HTML response refuses to be framed (`X-Frame-Options: DENY`,
//!   `Content-Security-Policy: frame-ancestors 'none'`) and sends `Referrer-Policy:
//!   same-origin` unless it chose something stricter; every response sends `nosniff`.
//! - [`errors_by_area`]: under `/api/` every error is JSON `{error, message, field}` — also
//!   axum's own rejections (a path or query that does not parse, a wrong method, a body too
//!   large) — and every answer is `Cache-Control: no-store` (they carry personal data); on
//!   pages a [`WebError`] becomes a small HTML page in the reader's language.
//! - [`not_found`]: the fallback (JSON under `/api/`, a page elsewhere).
//! - The page's query string is kept at hand for the language links
//!   ([`crate::i18n::switch_href`]), and a page asked for with `?lang=` remembers the choice
//!   in the `mt_lang` cookie.
use crate::error::{Shown, WebError};
use crate::i18n::{self, Lang};
use askama::Template;
use axum::Router;
use axum::body::Body;
use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};

/// The fallback, the error layer and the header layer around `router`.
pub fn around(router: Router) -> Router {
    router
        .fallback(not_found)
        .layer(middleware::from_fn(errors_by_area))
        .layer(middleware::map_response(page_headers))
}

/// No route matched: under `/api/` a JSON 404 pointing at the OpenAPI document, elsewhere
/// the not-found page.
pub async fn not_found(uri: Uri) -> Response {
    if uri.path().starts_with("/api/") {
        let body = serde_json::json!({
            "error": "not_found",
            "message": NO_SUCH_ENDPOINT,
            "field": null,
        });
        return (StatusCode::NOT_FOUND, axum::Json(body)).into_response();
    }
    WebError::NotFound.into_response()
}

const NO_SUCH_ENDPOINT: &str = "no such endpoint; see /api/v1/openapi.json";

/// Programs read these; they never get an HTML error page.
fn is_machine_path(path: &str) -> bool {
    ["/api/", "/hooks/", "/hb/"]
        .iter()
        .any(|p| path.starts_with(p))
        || matches!(
            path,
            "/healthz" | "/readyz" | "/metrics" | "/status.json" | "/status/feed.atom"
        )
}

fn is_html(resp: &Response) -> bool {
    resp.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"))
}

fn is_json(resp: &Response) -> bool {
    resp.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

/// Clickjacking and sniffing defences on every HTML response.
pub async fn page_headers(mut resp: Response) -> Response {
    let html = is_html(&resp);
    let h = resp.headers_mut();
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if !html {
        return resp;
    }
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    let csp = match h
        .get(header::CONTENT_SECURITY_POLICY)
        .and_then(|v| v.to_str().ok())
    {
        Some(own) if own.contains("frame-ancestors") => None,
        Some(own) => HeaderValue::from_str(&format!("{own}; frame-ancestors 'none'")).ok(),
        None => Some(HeaderValue::from_static("frame-ancestors 'none'")),
    };
    if let Some(csp) = csp {
        h.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    // `no-referrer` (alert and report pages) is stricter: keep it.
    if !h.contains_key(header::REFERRER_POLICY) {
        h.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        );
    }
    resp
}

/// JSON errors under `/api/`, HTML error pages elsewhere; and the page's query string for
/// the language links.
pub async fn errors_by_area(req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or_default().to_string();
    let matched = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string());
    if path.starts_with("/api/") {
        let resp = next.run(req).await;
        let mut resp = api_json(resp, matched.as_deref()).await;
        // Contacts, notifications, reports: personal data, never kept by a cache on the way
        // or on disk. Simplest to hold: every `/api/` answer.
        resp.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        return resp;
    }
    let asked = i18n::query_lang(&query).map(str::to_string);
    let lang = Lang::choose(asked.as_deref(), req.headers(), None);
    let resp = i18n::with_page_query(query, next.run(req)).await;
    let mut resp = match resp.extensions().get::<Shown>().cloned() {
        Some(shown) if !is_machine_path(&path) => error_page(resp.status(), &shown, lang),
        _ => resp,
    };
    if let Some(l) = asked.filter(|_| is_html(&resp)) {
        remember_lang(&mut resp, &l);
    }
    resp
}

/// A page asked for with `?lang=` remembers the choice in `mt_lang` (unless the handler
/// already set it), whichever page it was: report and alert pages too.
fn remember_lang(resp: &mut Response, lang: &str) {
    let prefix = format!("{}=", i18n::LANG_COOKIE);
    let already = resp
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .any(|c| c.to_str().is_ok_and(|c| c.starts_with(&prefix)));
    if already {
        return;
    }
    let cookie = format!("{prefix}{lang}; Path=/; SameSite=Lax; Max-Age=31536000");
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
}

/// A non-JSON error answer (axum's plain-text rejections, an empty 405) as JSON.
async fn api_json(resp: Response, matched: Option<&str>) -> Response {
    let status = resp.status();
    if status.as_u16() < 400 || is_json(&resp) {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let text = axum::body::to_bytes(body, 4096)
        .await
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let (error, message, field) = describe(status, &text, matched);
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    let body = serde_json::json!({ "error": error, "message": message, "field": field });
    Response::from_parts(parts, Body::from(body.to_string()))
}

/// `{error, message, field}` for an error answer whose body was `text`.
pub fn describe(
    status: StatusCode,
    text: &str,
    matched: Option<&str>,
) -> (&'static str, String, Option<String>) {
    let error = match status.as_u16() {
        400 => "bad_request",
        401 => "unauthorized",
        403 => "forbidden",
        404 => "not_found",
        405 => "method_not_allowed",
        413 => "too_large",
        415 => "unsupported_media_type",
        422 => "validation",
        429 => "too_many_requests",
        _ => "internal",
    };
    let text = text.trim();
    if let Some(rest) = text.strip_prefix("Failed to deserialize query string: ") {
        // serde_path_to_error's `field: reason`.
        let (field, reason) = rest.split_once(": ").unwrap_or((".", rest));
        let field = (field != ".").then(|| field.to_string());
        return (error, format!("bad query string: {reason}"), field);
    }
    if text.starts_with("Invalid URL") || text.starts_with("Wrong number of path") {
        let params: Vec<&str> = matched
            .unwrap_or_default()
            .split('/')
            .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
            .collect();
        let field = match params.as_slice() {
            [one] => Some(one.to_string()),
            many => many
                .iter()
                .find(|p| text.contains(&format!("`{p}`")))
                .map(|p| p.to_string()),
        };
        return (error, text.to_string(), field);
    }
    let message = match (status, text.is_empty()) {
        (StatusCode::NOT_FOUND, true) => NO_SUCH_ENDPOINT.into(),
        (StatusCode::METHOD_NOT_ALLOWED, true) => {
            "method not allowed here; the Allow header lists the methods".into()
        }
        (_, true) => status.canonical_reason().unwrap_or("error").to_lowercase(),
        (_, false) => text.chars().take(500).collect(),
    };
    (error, message, None)
}

#[derive(Template)]
#[template(path = "layout/error.html")]
struct ErrorPage {
    lang: &'static str,
    title: &'static str,
    message: String,
    home: &'static str,
}

/// A [`WebError`] on a page: a small HTML page in the reader's language, same status.
fn error_page(status: StatusCode, shown: &Shown, lang: Lang) -> Response {
    let l = lang;
    let (title, fixed) = match status {
        StatusCode::FORBIDDEN if shown.csrf => (
            l.t("요청을 처리하지 못했습니다", "Request refused"),
            l.t(
                "보안 확인 값이 없거나 만료되었습니다. 이전 페이지로 돌아가 새로 고친 뒤 다시 시도해 주세요.",
                "The form's security token is missing or has expired. Go back, reload the page and try again.",
            ),
        ),
        StatusCode::FORBIDDEN => (
            l.t("권한이 없습니다", "Not allowed"),
            l.t("이 작업을 할 권한이 없습니다.", "You are not allowed to do this."),
        ),
        StatusCode::NOT_FOUND => (
            l.t("찾을 수 없습니다", "Not found"),
            l.t("요청하신 페이지가 없습니다.", "There is no such page."),
        ),
        StatusCode::UNAUTHORIZED => (
            l.t("로그인이 필요합니다", "Log in first"),
            l.t("로그인한 뒤 다시 시도해 주세요.", "Log in and try again."),
        ),
        StatusCode::TOO_MANY_REQUESTS => (
            l.t("요청이 너무 많습니다", "Too many requests"),
            l.t("잠시 뒤에 다시 시도해 주세요.", "Try again later."),
        ),
        s if s.is_client_error() => (
            l.t("요청을 처리하지 못했습니다", "Request refused"),
            l.t("입력한 내용을 확인해 주세요.", "Check what you entered."),
        ),
        _ => (
            l.t("일시적인 오류", "Something went wrong"),
            l.t(
                "일시적인 오류가 생겼습니다. 잠시 뒤에 다시 시도해 주세요.",
                "Something went wrong on our side. Try again shortly.",
            ),
        ),
    };
    let message = match (&shown.message, status) {
        (Some(m), StatusCode::UNPROCESSABLE_ENTITY | StatusCode::TOO_MANY_REQUESTS) => m.clone(),
        _ => fixed.to_string(),
    };
    let page = ErrorPage {
        lang: l.code(),
        title,
        message,
        home: l.t("처음으로", "Home"),
    };
    match page.render() {
        Ok(html) => (status, [(header::CACHE_CONTROL, "no-store")], Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error.cause = %e, "error page template failed");
            (status, fixed).into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejections_name_their_field() {
        let (e, _, f) = describe(
            StatusCode::BAD_REQUEST,
            "Failed to deserialize query string: limit: invalid digit found in string",
            Some("/api/v1/me/notifications"),
        );
        assert_eq!((e, f.as_deref()), ("bad_request", Some("limit")));
        let (_, _, f) = describe(
            StatusCode::BAD_REQUEST,
            "Invalid URL: Cannot parse `abc` to a `i64`",
            Some("/api/v1/incidents/{id}"),
        );
        assert_eq!(f.as_deref(), Some("id"));
        let (e, m, f) = describe(StatusCode::METHOD_NOT_ALLOWED, "", None);
        assert_eq!(e, "method_not_allowed");
        assert!(m.contains("Allow") && f.is_none());
    }

    #[test]
    fn machine_paths_keep_json() {
        assert!(is_machine_path("/api/v1/incidents"));
        assert!(is_machine_path("/status.json"));
        assert!(!is_machine_path("/status"));
        assert!(!is_machine_path("/dashboard/contacts"));
    }
}
