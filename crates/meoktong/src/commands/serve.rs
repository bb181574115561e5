//! `meoktong serve`.
use super::CmdResult;
use crate::app::{Application, BuildOptions, shutdown_signal};
use meoktong_config::Settings;

pub async fn serve(settings: Settings) -> CmdResult {
    let app = Application::build(
        settings,
        BuildOptions {
            run_workers: true,
            ..BuildOptions::default()
        },
    )
    .await?;
    tracing::info!(port = app.port(), "meoktong is serving");
    app.run_until_stopped(shutdown_signal()).await?;
    Ok(())
}
