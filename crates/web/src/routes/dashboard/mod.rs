//! The merchant dashboard: phone-sized pages, Korean first. Every page is scoped to the
//! signed-in merchant; another merchant's ids answer 404.
mod associations;
mod catalog;
mod contacts;
mod history;
mod monitors;
mod overview;
mod playbooks;
mod tokens;
pub mod warnings;
mod webhook;

use crate::AppState;
use crate::auth::session::CurrentUser;
use crate::error::WebError;
use crate::i18n::Lang;
use crate::views::Ctx;
use axum::Router;
use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;
use axum::routing::{get, post};
use std::collections::HashMap;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/dashboard", get(overview::page))
        .route("/dashboard/catalog", get(catalog::page).post(catalog::save))
        .route(
            "/dashboard/contacts",
            get(contacts::page).post(contacts::add),
        )
        .route("/dashboard/contacts/{id}/delete", post(contacts::remove))
        .route("/dashboard/contacts/{id}/move", post(contacts::reorder))
        .route("/dashboard/contacts/{id}/voice", post(contacts::voice))
        .route(
            "/dashboard/contacts/{id}/send-code",
            post(contacts::send_code),
        )
        .route(
            "/dashboard/contacts/{id}/verify-phone",
            post(contacts::verify_phone),
        )
        .route(
            "/dashboard/contacts/{id}/send-email-link",
            post(contacts::send_email_link),
        )
        .route("/dashboard/contacts/{id}/test", post(contacts::test_alert))
        .route("/dashboard/webhook", post(webhook::save))
        .route("/dashboard/webhook/secret", post(webhook::rotate))
        .route("/dashboard/webhook/delete", post(webhook::remove))
        .route("/dashboard/webhook/test", post(webhook::test))
        .route("/dashboard/playbooks", get(playbooks::page))
        .route("/dashboard/playbooks/{category}", post(playbooks::save))
        .route("/dashboard/history", get(history::page))
        .route(
            "/dashboard/heartbeats",
            get(monitors::page).post(monitors::create),
        )
        .route("/dashboard/heartbeats/{id}/delete", post(monitors::remove))
        .route("/dashboard/tokens", get(tokens::page).post(tokens::create))
        .route("/dashboard/tokens/{id}/revoke", post(tokens::revoke))
        .route(
            "/dashboard/associations",
            get(associations::page).post(associations::join),
        )
}

/// The signed-in merchant with the reader's language: what every dashboard handler needs.
pub struct Dash {
    pub user: CurrentUser,
    pub merchant_id: i64,
    pub ctx: Ctx,
    pub done: String,
}

impl FromRequestParts<AppState> for Dash {
    type Rejection = WebError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let user = CurrentUser::from_request_parts(parts, state).await?;
        let merchant_id = user.merchant()?;
        let q = Query::<HashMap<String, String>>::try_from_uri(&parts.uri)
            .map(|Query(q)| q)
            .unwrap_or_default();
        let ctx = Ctx::new(state, &q, &parts.headers, Some(&user));
        let done = q.get("done").cloned().unwrap_or_default();
        Ok(Dash {
            user,
            merchant_id,
            ctx,
            done,
        })
    }
}

/// What the dashboard layout shows around every page.
pub struct Shell {
    pub lang: &'static str,
    pub title: &'static str,
    pub l: Lang,
    pub csrf: String,
    pub active: &'static str,
    pub flash: &'static str,
    /// The merchant menu; other roles (on `/dashboard/tokens`) get a link home instead.
    pub merchant_nav: bool,
    pub home: &'static str,
}

impl Dash {
    pub fn shell(&self, title: &'static str, active: &'static str) -> Shell {
        let l = self.ctx.lang;
        Shell {
            lang: l.code(),
            title,
            l,
            csrf: self.user.csrf.clone(),
            active,
            flash: flash(l, &self.done),
            merchant_nav: true,
            home: "/dashboard",
        }
    }

    /// Checks the form's CSRF token against the session's.
    pub fn csrf(&self, submitted: &str) -> Result<(), WebError> {
        self.user.check_csrf(Some(submitted))
    }
}

pub(crate) fn flash(l: Lang, done: &str) -> &'static str {
    match done {
        "saved" => l.t("저장했습니다.", "Saved."),
        "added" => l.t(
            "연락처를 추가했습니다. 아래에서 번호와 이메일을 확인해 주세요.",
            "Contact added. Verify its number and email below.",
        ),
        "removed" => l.t("삭제했습니다.", "Removed."),
        "code-sent" => l.t("인증번호를 문자로 보냈습니다.", "We texted a code."),
        "verified" => l.t("확인되었습니다.", "Verified."),
        "link-sent" => l.t(
            "확인 메일을 보냈습니다. 메일의 링크를 눌러 주세요.",
            "We emailed a link; open it to confirm.",
        ),
        "test-sent" => l.t(
            "테스트 알림을 보냈습니다. 알림 기록에서 전송 상태를 볼 수 있습니다.",
            "Test alert sent. Its delivery shows in the history.",
        ),
        "revoked" => l.t("토큰을 폐기했습니다.", "Token revoked."),
        _ => "",
    }
}

/// Lets page templates read the shell's fields (`lang`, `title`, `csrf`, …) directly.
macro_rules! with_shell {
    ($t:ty) => {
        impl std::ops::Deref for $t {
            type Target = $crate::routes::dashboard::Shell;
            fn deref(&self) -> &Self::Target {
                &self.shell
            }
        }
    };
}
pub(crate) use with_shell;
