//! `GET|POST /hb/{token}`: a store heartbeat. The merchant's POS or router calls it every
//! period; the heartbeat sweeper tells the merchant when the calls stop.
//!
//! Only the keyed hash (HMAC-SHA256) of the token is stored and looked up, so the look-up's
//! timing says nothing about how close a guess came. The answer is a short text either way;
//! it is `no-store` and sends no referrer, since the URL is the secret.
use crate::AppState;
use crate::error::WebError;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use meoktong_storage::{heartbeats, now_ms};

/// Longer tokens are never ours (ours are 32 characters): not even hashed.
const MAX_TOKEN_LEN: usize = 128;

pub async fn ping(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> Result<Response, WebError> {
    let found = if token.is_empty() || token.len() > MAX_TOKEN_LEN {
        None
    } else {
        heartbeats::ping(&state.db, &state.crypto.lookup_hashes(&token), now_ms()).await?
    };
    let (status, body) = match found {
        Some(p) => {
            if p.came_back {
                tracing::info!(
                    merchant.id = p.merchant_id,
                    heartbeat.id = p.monitor_id,
                    "store heartbeat is back"
                );
            }
            (StatusCode::OK, "OK\n")
        }
        None => (StatusCode::NOT_FOUND, "unknown heartbeat\n"),
    };
    let headers = [
        (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
        (header::CACHE_CONTROL, "no-store"),
        (header::REFERRER_POLICY, "no-referrer"),
    ];
    Ok((status, headers, body).into_response())
}
