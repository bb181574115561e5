//! `/healthz` (the process answers), `/readyz` (database reachable and migrated), `/metrics`.
use crate::AppState;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;

pub async fn healthz() -> &'static str {
    "ok"
}

pub async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    match state.db.ready().await {
        Ok(()) => (StatusCode::OK, "ready".to_string()),
        Err(e) => {
            tracing::warn!(error = %e, "not ready");
            (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {e}"))
        }
    }
}

/// The registry, with `meoktong_dependency_state` read from the database at scrape time (two
/// small queries): every replica reports every enabled dependency's current state, including
/// states another process decided or that were decided before this one started.
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    match meoktong_storage::status::overview(&state.db).await {
        Ok(deps) => state.metrics.set_dependency_states(deps.iter().map(|d| {
            let value = meoktong_domain::DepState::parse(&d.state)
                .unwrap_or_default()
                .gauge_value();
            (d.dependency.slug.as_str(), value)
        })),
        Err(e) => tracing::warn!(error = %e, "cannot read dependency states for /metrics"),
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        axum::body::Body::from_stream(futures::stream::iter(
            state
                .metrics
                .render_chunks()
                .map(Ok::<_, std::convert::Infallible>),
        )),
    )
}
