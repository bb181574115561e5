//! An association's own pages (staff only; anybody else gets 404): its members
//! (`/association/members`: the CSV upload, the invite code, removal, each member's
//! subscriptions and masked contacts) and the live reach of an outage with broadcasts
//! (`/association/reach`). The review queue and the per-incident totals live in
//! [`crate::routes::reports`]; all of them share the navigation of
//! `web/templates/association/_nav.html`.
//!
//! Scope: every query here starts from the staff member's association and
//! [`meoktong_storage::members`]; a merchant that is not a member does not exist to it.
pub mod api;
pub mod members;
pub mod reach;

use crate::AppState;
use crate::auth::session::{CurrentUser, Role};
use crate::error::WebError;
use crate::i18n::Lang;
use crate::views::Ctx;
use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRequestParts, Query};
use axum::http::request::Parts;
use axum::routing::{get, post};
use std::collections::HashMap;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/association", get(members::home))
        .route("/association/members", get(members::page))
        .route(
            "/association/members/import",
            post(members::import)
                .layer(DefaultBodyLimit::max(members::MAX_UPLOAD_BYTES + 64 * 1024)),
        )
        .route(
            "/association/members/invite-code",
            post(members::rotate_code),
        )
        .route("/association/members/{id}/remove", post(members::remove))
        .route("/association/reach", get(reach::page))
        .route("/association/broadcasts", post(reach::broadcast))
}

/// A signed-in staff member of an association, by session (pages) or bearer token (API).
pub struct Staff {
    pub user: CurrentUser,
    pub association_id: i64,
    pub ctx: Ctx,
    pub done: String,
}

impl FromRequestParts<AppState> for Staff {
    type Rejection = WebError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let user = CurrentUser::from_request_parts(parts, state).await?;
        let association_id = match (&user.role, user.association_id) {
            (Role::Association, Some(a)) => a,
            _ => return Err(WebError::NotFound),
        };
        let q = Query::<HashMap<String, String>>::try_from_uri(&parts.uri)
            .map(|Query(q)| q)
            .unwrap_or_default();
        let ctx = Ctx::new(state, &q, &parts.headers, Some(&user));
        let done = q.get("done").cloned().unwrap_or_default();
        Ok(Staff {
            user,
            association_id,
            ctx,
            done,
        })
    }
}

/// What the association layout shows around every page (`association/_nav.html`).
pub struct Nav {
    pub lang: &'static str,
    pub l: Lang,
    pub title: String,
    pub csrf: String,
    /// `members`, `reach`, `reports` or `incidents`.
    pub active: &'static str,
    pub association_name: String,
    pub flash: &'static str,
}

impl Staff {
    pub async fn nav(
        &self,
        state: &AppState,
        title: String,
        active: &'static str,
    ) -> Result<Nav, WebError> {
        let l = self.ctx.lang;
        let name = meoktong_storage::members::association(&state.db, self.association_id)
            .await?
            .map(|a| a.name)
            .unwrap_or_default();
        Ok(Nav {
            lang: l.code(),
            l,
            title,
            csrf: self.user.csrf.clone(),
            active,
            association_name: name,
            flash: flash(l, &self.done),
        })
    }

    /// A form's CSRF token must be the session's.
    pub fn csrf(&self, submitted: &str) -> Result<(), WebError> {
        self.user.check_csrf(Some(submitted))
    }
}

fn flash(l: Lang, done: &str) -> &'static str {
    match done {
        "imported" => l.t("회원 명단을 반영했습니다.", "Member list imported."),
        "removed" => l.t("회원에서 뺐습니다.", "Member removed."),
        "code" => l.t(
            "새 초대 코드를 만들었습니다. 이전 코드는 이제 쓸 수 없습니다.",
            "New invite code made; the old one no longer works.",
        ),
        "sent" => l.t(
            "공지를 보내는 중입니다. 회원마다 한 번씩 갑니다.",
            "The notice is on its way, once to each member.",
        ),
        _ => "",
    }
}

/// Lets page templates read the nav's fields (`lang`, `title`, `csrf`, …) directly.
macro_rules! with_nav {
    ($t:ty) => {
        impl std::ops::Deref for $t {
            type Target = $crate::routes::association::Nav;
            fn deref(&self) -> &Self::Target {
                &self.nav
            }
        }
    };
}
pub(crate) use with_nav;
