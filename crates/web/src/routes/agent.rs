//! `/api/v1/agent/*`: remote probe agents (`meoktong agent`) fetch their checks and post
//! their results here. Only a token of scope `agent` is accepted, and it reports for the one
//! probe location it was issued for (`meoktong token create --email E --location NAME`).
//! Routed from [`crate::routes::api::API_ROUTES`].
use crate::AppState;
use crate::error::WebError;
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequestParts, Query, State};
use axum::http::header;
use axum::http::request::Parts;
use meoktong_engine::agent::{self, AgentAck, AgentBatch, AgentChecks, AgentSource};
use meoktong_storage::{now_ms, probes, sessions};
use serde::Deserialize;

/// A remote agent, authenticated by its bearer token.
pub struct Agent {
    pub token_id: i64,
    pub location_id: i64,
    pub location: String,
}

impl FromRequestParts<AppState> for Agent {
    type Rejection = WebError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or(WebError::Unauthorized)?;
        let now = now_ms();
        let (t, location_id) =
            sessions::find_agent_token(&state.db, &state.crypto, token.trim(), now)
                .await?
                .ok_or(WebError::Unauthorized)?;
        let location = probes::location(&state.db, location_id)
            .await?
            .ok_or(WebError::Unauthorized)?;
        Ok(Agent {
            token_id: t.id,
            location_id,
            location: location.name,
        })
    }
}

#[derive(Debug, Deserialize)]
pub struct LocationQuery {
    /// The location the agent was started with; must be its token's.
    location: Option<String>,
}

impl Agent {
    fn expect_location(&self, q: &LocationQuery) -> Result<(), WebError> {
        match q.location.as_deref() {
            Some(asked) if asked != self.location => Err(WebError::Validation {
                field: "location".into(),
                message: format!(
                    "this token reports for location `{}`, not `{asked}`",
                    self.location
                ),
            }),
            _ => Ok(()),
        }
    }
}

pub async fn checks(
    State(state): State<AppState>,
    agent: Agent,
    Query(q): Query<LocationQuery>,
) -> Result<Json<AgentChecks>, WebError> {
    agent.expect_location(&q)?;
    probes::touch_location(&state.db, agent.location_id, now_ms()).await?;
    Ok(Json(
        agent::checks_for_agent(&state.db, &state.settings, &agent.location).await?,
    ))
}

pub async fn results(
    State(state): State<AppState>,
    agent: Agent,
    Query(q): Query<LocationQuery>,
    body: Result<Json<AgentBatch>, JsonRejection>,
) -> Result<Json<AgentAck>, WebError> {
    agent.expect_location(&q)?;
    let batch = crate::routes::api::body(body)?;
    if batch.results.len() > agent::MAX_BATCH {
        return Err(WebError::Validation {
            field: "results".into(),
            message: format!("at most {} results per batch", agent::MAX_BATCH),
        });
    }
    let holder = format!("agent:{}", agent.token_id);
    let source = AgentSource {
        location_id: agent.location_id,
        location_name: &agent.location,
        holder: &holder,
    };
    let ack = agent::ingest(
        &state.db,
        &state.metrics,
        &state.settings,
        &source,
        batch,
        now_ms(),
    )
    .await?;
    Ok(Json(ack))
}
