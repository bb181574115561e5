//! Language choice: `?lang=`, then the remembered choice (cookie `mt_lang`), then the user's
//! locale, then Accept-Language; Korean by default. Also the language links of every page,
//! which keep the rest of the page's query string.
use crate::auth::session::cookie_value;
use axum::http::HeaderMap;

/// The language choice a reader made with `?lang=`, remembered for the next pages.
pub const LANG_COOKIE: &str = "mt_lang";

tokio::task_local! {
    /// The query string of the page being answered (set by [`crate::layers`]), so the
    /// language links in `layout/base.html` can keep it.
    static PAGE_QUERY: String;
}

/// Runs `f` (a request being answered) with its query string at hand for [`switch_href`].
pub async fn with_page_query<F: std::future::Future>(query: String, f: F) -> F::Output {
    PAGE_QUERY.scope(query, f).await
}

/// The link to this page in language `to`: its query string with `lang` replaced, so
/// switching on `/reports/new?incident=7&token=…` keeps the pre-filled form.
pub fn switch_href(to: &str) -> String {
    let query = PAGE_QUERY.try_with(String::clone).unwrap_or_default();
    query_with_lang(&query, to)
}

/// `query` (raw, as received) without its `lang` pairs, then `lang=to`.
pub fn query_with_lang(query: &str, to: &str) -> String {
    let lang = format!("lang={to}");
    let kept: Vec<&str> = query
        .split('&')
        .filter(|p| !p.is_empty() && p.split('=').next() != Some("lang"))
        .chain(std::iter::once(lang.as_str()))
        .collect();
    format!("?{}", kept.join("&"))
}

/// The `lang` value of a raw query string, if it names a language we speak.
pub fn query_lang(query: &str) -> Option<&str> {
    query
        .split('&')
        .filter_map(|p| p.split_once('='))
        .find(|(k, _)| *k == "lang")
        .map(|(_, v)| v)
        .filter(|v| matches!(*v, "ko" | "en"))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Ko,
    En,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::Ko => "ko",
            Lang::En => "en",
        }
    }

    /// Korean unless `?lang=en` or Accept-Language prefers English over Korean.
    pub fn negotiate(query_lang: Option<&str>, headers: &HeaderMap) -> Lang {
        match query_lang {
            Some("en") => return Lang::En,
            Some("ko") => return Lang::Ko,
            _ => {}
        }
        let accept = headers
            .get(axum::http::header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let mut best: Option<(f32, Lang)> = None;
        for part in accept.split(',') {
            let mut it = part.trim().split(';');
            let tag = it.next().unwrap_or("").trim().to_ascii_lowercase();
            let q = it
                .find_map(|p| {
                    p.trim()
                        .strip_prefix("q=")
                        .and_then(|q| q.parse::<f32>().ok())
                })
                .unwrap_or(1.0);
            let lang = if tag.starts_with("en") {
                Lang::En
            } else if tag.starts_with("ko") {
                Lang::Ko
            } else {
                continue;
            };
            if best.is_none_or(|(bq, _)| q > bq) {
                best = Some((q, lang));
            }
        }
        best.map(|(_, l)| l).unwrap_or(Lang::Ko)
    }

    /// `?lang=`, then the remembered choice (cookie `mt_lang`), then `locale` (the signed-in
    /// user's or the merchant's), then Accept-Language.
    pub fn choose(asked: Option<&str>, headers: &HeaderMap, locale: Option<&str>) -> Lang {
        let asked = asked.filter(|l| matches!(*l, "ko" | "en"));
        let remembered = cookie_value(headers, LANG_COOKIE);
        let locale = locale.filter(|l| matches!(*l, "ko" | "en"));
        Lang::negotiate(asked.or(remembered.as_deref()).or(locale), headers)
    }

    /// Picks the text for this language.
    pub fn t<'a>(self, ko: &'a str, en: &'a str) -> &'a str {
        match self {
            Lang::Ko => ko,
            Lang::En => en,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn korean_by_default_english_when_asked() {
        let mut h = HeaderMap::new();
        assert_eq!(Lang::negotiate(None, &h), Lang::Ko);
        h.insert(
            "accept-language",
            HeaderValue::from_static("en-US,en;q=0.9,ko;q=0.8"),
        );
        assert_eq!(Lang::negotiate(None, &h), Lang::En);
        assert_eq!(Lang::negotiate(Some("ko"), &h), Lang::Ko);
        h.insert(
            "accept-language",
            HeaderValue::from_static("ko-KR,ko;q=0.9,en;q=0.5"),
        );
        assert_eq!(Lang::negotiate(None, &h), Lang::Ko);
        assert_eq!(Lang::negotiate(Some("en"), &h), Lang::En);
    }

    #[test]
    fn the_remembered_choice_beats_the_locale_but_not_the_query() {
        let mut h = HeaderMap::new();
        h.insert("cookie", HeaderValue::from_static("a=b; mt_lang=en"));
        assert_eq!(Lang::choose(None, &h, Some("ko")), Lang::En);
        assert_eq!(Lang::choose(Some("ko"), &h, None), Lang::Ko);
        assert_eq!(Lang::choose(None, &HeaderMap::new(), Some("en")), Lang::En);
        assert_eq!(Lang::choose(Some("fr"), &HeaderMap::new(), None), Lang::Ko);
    }

    #[test]
    fn language_links_keep_the_rest_of_the_query() {
        assert_eq!(query_with_lang("", "en"), "?lang=en");
        assert_eq!(
            query_with_lang("incident=7&lang=ko&token=a%26b", "en"),
            "?incident=7&token=a%26b&lang=en"
        );
        assert_eq!(query_lang("incident=7&lang=en"), Some("en"));
        assert_eq!(query_lang("lang=fr"), None);
    }
}
