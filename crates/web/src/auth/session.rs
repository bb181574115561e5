//! Who is asking: a session cookie (pages) or a bearer token (`/api/v1`).
//!
//! Session cookies are random 256-bit tokens, `HttpOnly; SameSite=Lax` (and `Secure` when
//! `server.public_url` is https); only their keyed hash is stored. Every session carries a
//! CSRF token that every form must echo ([`CurrentUser::check_csrf`]).
use crate::AppState;
use crate::error::WebError;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use base64::Engine;
use meoktong_storage::sessions;

pub const COOKIE: &str = "mt_session";
pub const SESSION_TTL_MS: i64 = 14 * 24 * 3600 * 1000;

/// A random URL-safe token of `bytes` random bytes.
pub fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut buf);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}

/// Constant-time equality for secrets (subtle's; only the lengths may leak, and they are
/// not secret).
pub fn same_secret(a: &str, b: &str) -> bool {
    subtle::ConstantTimeEq::ct_eq(a.as_bytes(), b.as_bytes()).into()
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    Merchant,
    Association,
    Operator,
}

impl Role {
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "merchant" => Some(Role::Merchant),
            "association" => Some(Role::Association),
            "operator" => Some(Role::Operator),
            _ => None,
        }
    }
}

/// The signed-in user.
#[derive(Debug, Clone)]
pub struct CurrentUser {
    pub user_id: i64,
    pub role: Role,
    pub merchant_id: Option<i64>,
    pub association_id: Option<i64>,
    pub locale: Option<String>,
    /// The session's CSRF token (empty for bearer-token requests, which need none).
    pub csrf: String,
    pub via_api_token: bool,
}

impl CurrentUser {
    fn from_user(
        u: &meoktong_storage::entity::users::Model,
        csrf: String,
        via_api_token: bool,
    ) -> Option<CurrentUser> {
        Some(CurrentUser {
            user_id: u.id,
            role: Role::parse(&u.role)?,
            merchant_id: u.merchant_id,
            association_id: u.association_id,
            locale: u.locale.clone(),
            csrf,
            via_api_token,
        })
    }

    /// A form's `csrf` field must equal the session's token.
    pub fn check_csrf(&self, submitted: Option<&str>) -> Result<(), WebError> {
        if self.via_api_token {
            return Ok(());
        }
        match submitted {
            Some(s) if !self.csrf.is_empty() && same_secret(s, &self.csrf) => Ok(()),
            _ => Err(WebError::Csrf),
        }
    }

    /// The merchant this user acts for, or 404 (never 403: ids of others do not exist to them).
    pub fn merchant(&self) -> Result<i64, WebError> {
        match (self.role.clone(), self.merchant_id) {
            (Role::Merchant, Some(m)) => Ok(m),
            _ => Err(WebError::NotFound),
        }
    }
}

pub fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|kv| {
            let (k, v) = kv.trim().split_once('=')?;
            (k == name).then(|| v.to_string())
        })
}

/// `Set-Cookie` for a new session (or, with `None`, one that clears it).
pub fn session_cookie(state: &AppState, token: Option<&str>) -> String {
    let secure = if state.settings.server.public_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    match token {
        Some(t) => format!(
            "{COOKIE}={t}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
            SESSION_TTL_MS / 1000
        ),
        None => format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure}"),
    }
}

/// Resolves the caller from a bearer token or the session cookie.
pub async fn resolve(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<CurrentUser>, WebError> {
    let now = meoktong_storage::now_ms();
    if let Some(auth) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let Some(token) = auth.strip_prefix("Bearer ") else {
            return Err(WebError::Unauthorized);
        };
        let found = sessions::find_api_token(&state.db, &state.crypto, token.trim(), now).await?;
        return match found {
            Some((_, user)) => Ok(CurrentUser::from_user(&user, String::new(), true)),
            None => Err(WebError::Unauthorized),
        };
    }
    let Some(token) = cookie_value(headers, COOKIE) else {
        return Ok(None);
    };
    let found = sessions::find_session(&state.db, &state.crypto, &token, now).await?;
    Ok(found.and_then(|(s, u)| CurrentUser::from_user(&u, s.csrf_token, false)))
}

/// Extractor: the caller if signed in (pages that also work anonymously).
pub struct MaybeUser(pub Option<CurrentUser>);

impl FromRequestParts<AppState> for MaybeUser {
    type Rejection = WebError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(MaybeUser(resolve(state, &parts.headers).await?))
    }
}

/// Extractor: a signed-in caller; pages redirect to /login, the API answers 401.
impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = WebError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        match resolve(state, &parts.headers).await? {
            Some(u) => Ok(u),
            None if parts.uri.path().starts_with("/api/") => Err(WebError::Unauthorized),
            None => Err(WebError::Redirect(format!(
                "/login?next={}",
                urlencode(parts.uri.path())
            ))),
        }
    }
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
