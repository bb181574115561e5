//! `/dev/outbox`: every message the `log` providers "sent", newest first (demo only), with
//! the links in each message clickable (the demo's whole story starts from them).
use crate::AppState;
use crate::error::WebError;
use crate::i18n::Lang;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Html;
use chrono::TimeZone;
use std::collections::HashMap;

pub struct Row {
    pub at: String,
    pub channel: String,
    pub recipient: String,
    pub subject: String,
    pub body: Vec<Piece>,
}

/// A run of a message's text: a link when `link`.
#[derive(Debug, PartialEq, Eq)]
pub struct Piece {
    pub text: String,
    pub link: bool,
}

/// Splits text into plain runs and `http(s)://` links (a link ends at whitespace or at a
/// character no URL we write contains).
pub fn linkify(text: &str) -> Vec<Piece> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(at) = ["http://", "https://"]
        .iter()
        .filter_map(|p| rest.find(p))
        .min()
    {
        let end = rest[at..]
            .find(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | '"' | ')' | '\''))
            .map_or(rest.len(), |e| at + e);
        let link = rest[at..end].trim_end_matches(['.', ',']);
        let end = at + link.len();
        if at > 0 {
            out.push(Piece {
                text: rest[..at].to_string(),
                link: false,
            });
        }
        out.push(Piece {
            text: link.to_string(),
            link: true,
        });
        rest = &rest[end..];
    }
    if !rest.is_empty() {
        out.push(Piece {
            text: rest.to_string(),
            link: false,
        });
    }
    out
}

#[derive(Template)]
#[template(path = "dev/outbox.html")]
struct OutboxPage {
    lang: &'static str,
    title: &'static str,
    l: Lang,
    rows: Vec<Row>,
}

pub async fn outbox(
    State(state): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Html<String>, WebError> {
    if !state.dev_mode {
        return Err(WebError::NotFound);
    }
    let lang = Lang::negotiate(q.get("lang").map(String::as_str), &headers);
    let tz: chrono_tz::Tz = state
        .settings
        .notify
        .time_zone
        .parse()
        .unwrap_or(chrono_tz::Asia::Seoul);
    let rows = meoktong_storage::dev_outbox::list(&state.db, 500)
        .await?
        .into_iter()
        .map(|m| Row {
            at: tz
                .timestamp_millis_opt(m.at)
                .single()
                .map(|t| t.format("%m-%d %H:%M:%S").to_string())
                .unwrap_or_default(),
            channel: m.channel,
            recipient: m.recipient,
            subject: m.subject.unwrap_or_default(),
            body: linkify(&m.body),
        })
        .collect();
    let page = OutboxPage {
        lang: lang.code(),
        title: lang.t("보낸 메시지 (개발용)", "Sent messages (dev outbox)"),
        l: lang,
        rows,
    };
    Ok(Html(page.render()?))
}

#[cfg(test)]
mod tests {
    use super::{Piece, linkify};

    #[test]
    fn links_in_a_message_become_their_own_pieces() {
        let p = linkify("[장애] 카카오 로그인 http://127.0.0.1:8080/a/abc_-1. 확인");
        assert_eq!(
            p,
            vec![
                Piece {
                    text: "[장애] 카카오 로그인 ".into(),
                    link: false
                },
                Piece {
                    text: "http://127.0.0.1:8080/a/abc_-1".into(),
                    link: true
                },
                Piece {
                    text: ". 확인".into(),
                    link: false
                },
            ]
        );
        assert_eq!(linkify("no link").len(), 1);
        assert!(linkify("").is_empty());
        let two = linkify("https://a.example/x\nhttp://b.example/y");
        assert_eq!(two.iter().filter(|p| p.link).count(), 2);
    }
}
