//! One error type for the web layer; logs the cause once and answers without leaking it.
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
        (
            status,
            Json(serde_json::json!({"error": error, "message": message, "field": field})),
        )
            .into_response()
    }
}
