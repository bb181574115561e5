//! The agent's HTTP client for `/api/v1/agent/*`.
use meoktong_engine::agent::{AgentAck, AgentBatch, AgentChecks};
use reqwest::StatusCode;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The server answered and refused (bad token, wrong location, bad request): retrying
    /// the same request will not help until an operator fixes something.
    #[error("the server refused: {0}")]
    Refused(String),
    /// The agent's own settings are unusable (e.g. `--server` is not an http(s) URL).
    #[error("{0}")]
    Usage(String),
    /// Not reached, or a transient failure (5xx, 429, timeout): retry later.
    #[error("the server is unreachable: {0}")]
    Unreachable(String),
}

#[derive(Clone)]
pub struct AgentClient {
    http: reqwest::Client,
    server: String,
    token: String,
    location: String,
}

impl AgentClient {
    pub fn new(
        server: &str,
        token: &str,
        location: &str,
        timeout: Duration,
    ) -> Result<AgentClient, AgentError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .user_agent(concat!("meoktong-agent/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| AgentError::Usage(format!("HTTP client: {e}")))?;
        let server = server.trim_end_matches('/').to_string();
        if !(server.starts_with("http://") || server.starts_with("https://")) {
            return Err(AgentError::Usage(format!(
                "--server must be an http(s) URL, not `{server}`"
            )));
        }
        Ok(AgentClient {
            http,
            server,
            token: token.trim().to_string(),
            location: location.to_string(),
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server)
    }

    pub async fn fetch_checks(&self) -> Result<AgentChecks, AgentError> {
        let resp = self
            .http
            .get(self.url("/api/v1/agent/checks"))
            .query(&[("location", &self.location)])
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(|e| AgentError::Unreachable(e.to_string()))?;
        Self::read(resp).await
    }

    pub async fn post_results(&self, batch: &AgentBatch) -> Result<AgentAck, AgentError> {
        let resp = self
            .http
            .post(self.url("/api/v1/agent/results"))
            .query(&[("location", &self.location)])
            .bearer_auth(&self.token)
            .json(batch)
            .send()
            .await
            .map_err(|e| AgentError::Unreachable(e.to_string()))?;
        Self::read(resp).await
    }

    async fn read<T: serde::de::DeserializeOwned>(
        resp: reqwest::Response,
    ) -> Result<T, AgentError> {
        let status = resp.status();
        if status.is_success() {
            return resp
                .json()
                .await
                .map_err(|e| AgentError::Unreachable(format!("unreadable answer: {e}")));
        }
        let body = resp.text().await.unwrap_or_default();
        let message = serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["message"].as_str().map(str::to_string))
            .unwrap_or(body);
        let text = format!(
            "HTTP {status}: {}",
            message.chars().take(200).collect::<String>()
        );
        if status.is_server_error()
            || status == StatusCode::TOO_MANY_REQUESTS
            || status == StatusCode::REQUEST_TIMEOUT
        {
            Err(AgentError::Unreachable(text))
        } else {
            Err(AgentError::Refused(text))
        }
    }
}
