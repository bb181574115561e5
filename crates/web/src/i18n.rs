//! Language choice: `?lang=`, then the user's choice, then Accept-Language; Korean by default.
use axum::http::HeaderMap;

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
}
