//! `meoktong agent --server URL --token TOKEN --location NAME`: a remote probe agent.
use super::{CmdResult, Failure};
use crate::agent::{Agent, AgentConfig};
use crate::cli::AgentArgs;
use meoktong_config::Settings;
use tokio_util::sync::CancellationToken;

/// Runs until SIGTERM or Ctrl-C. A refusal by the server (bad token, wrong location) ends it
/// with exit code 1; an unreachable server is waited for.
pub async fn run(_settings: Settings, args: &AgentArgs) -> CmdResult {
    let mut cfg = AgentConfig::new(&args.server, &args.token, &args.location);
    cfg.buffer_capacity = args.buffer;
    cfg.max_concurrency = args.max_concurrency;
    let agent = Agent::new(cfg).map_err(|e| Failure::usage(e.to_string()))?;
    let stop = CancellationToken::new();
    let on_signal = stop.clone();
    tokio::spawn(async move {
        crate::app::shutdown_signal().await;
        on_signal.cancel();
    });
    agent.run_until_stopped(stop).await?;
    Ok(())
}
