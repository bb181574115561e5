//! One error type for the web layer; logs the cause once and answers without leaking it.
//!
//! The answer is JSON `{error, message, field}`; on pages (anything outside `/api/`, the
//! provider hooks and the machine endpoints) [`crate::layers`] turns it into a small HTML
//! page in the reader's language, with the same status.
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use meoktong_storage::StorageError;

#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error("not found")]
    NotFound,
    #[error("{message}")]
    Validation { field: String, message: String },
    #[error("unauthorized")]
    Unauthorized,
    #[error("forbidden")]
    Forbidden,
    /// A form or JSON request with a session cookie but without the session's CSRF token
    /// (or with a stale one).
    #[error("missing or stale CSRF token")]
    Csrf,
    /// Too many requests of one kind; the message (in the reader's language) says when to
    /// try again.
    #[error("{0}")]
    TooManyRequests(String),
    /// A valid request the current state refuses (409), e.g. removing the last contact.
    #[error("{message}")]
    Conflict { field: String, message: String },
    /// A request body over the limit (413, like forms).
    #[error("{0}")]
    TooLarge(String),
    /// Pages answer a redirect (e.g. to /login) where the API would answer 401.
    #[error("redirect to {0}")]
    Redirect(String),
    #[error("unexpected: {0}")]
    Unexpected(String),
}

impl From<StorageError> for WebError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::NotFound(_) => WebError::NotFound,
            other => WebError::Unexpected(other.to_string()),
        }
    }
}

impl From<askama::Error> for WebError {
    fn from(e: askama::Error) -> Self {
        WebError::Unexpected(format!("template: {e}"))
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        if let WebError::Redirect(to) = &self {
            return axum::response::Redirect::to(to).into_response();
        }
        let (status, error, message, field) = match &self {
            WebError::NotFound => (
                StatusCode::NOT_FOUND,
                "not_found",
                "not found".to_string(),
                None,
            ),
            WebError::Validation { field, message } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation",
                message.clone(),
                Some(field.clone()),
            ),
            WebError::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "log in first".into(),
                None,
            ),
            WebError::Forbidden => (StatusCode::FORBIDDEN, "forbidden", "forbidden".into(), None),
            WebError::Csrf => (
                StatusCode::FORBIDDEN,
                "forbidden",
                "missing or stale CSRF token".into(),
                Some("csrf".to_string()),
            ),
            WebError::TooManyRequests(message) => (
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_requests",
                message.clone(),
                None,
            ),
            WebError::Conflict { field, message } => (
                StatusCode::CONFLICT,
                "conflict",
                message.clone(),
                Some(field.clone()),
            ),
            WebError::TooLarge(message) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                message.clone(),
                Some("body".to_string()),
            ),
            WebError::Redirect(_) => (StatusCode::SEE_OTHER, "redirect", String::new(), None),
            WebError::Unexpected(cause) => {
                tracing::error!(error.cause = %cause, "request failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "internal error".into(),
                    None,
                )
            }
        };
        let shown = Shown {
            csrf: matches!(self, WebError::Csrf),
            message: match &self {
                WebError::Validation { message, .. }
                | WebError::Conflict { message, .. }
                | WebError::TooManyRequests(message) => Some(message.clone()),
                _ => None,
            },
        };
        let mut resp = (
            status,
            Json(serde_json::json!({"error": error, "message": message, "field": field})),
        )
            .into_response();
        resp.extensions_mut().insert(shown);
        resp
    }
}

/// What an error response carries for [`crate::layers`]: pages show it as a small HTML page
/// in the reader's language instead of the JSON body.
#[derive(Debug, Clone)]
pub struct Shown {
    /// The CSRF token was missing or stale (the page says to reload the form).
    pub csrf: bool,
    /// A message already in the reader's language (validation, rate limits).
    pub message: Option<String>,
}
