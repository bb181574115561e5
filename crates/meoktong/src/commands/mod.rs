//! One module per subcommand; `run` turns their errors into one line on stderr and an exit code.
use crate::cli::{
    Cli, Command, HeartbeatCommand, LogFormatArg, MerchantCommand, TokenCommand, UserCommand,
};
use meoktong_config::{LogFormat, Settings};
use std::process::ExitCode;

pub mod agent;
pub mod check;
pub mod demo;
pub mod heartbeat;
pub mod merchant;
pub mod serve;
pub mod token;
pub mod user;

/// A failure with the exit code it deserves: 2 for bad input, 1 for everything else.
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub message: String,
}

impl<E: std::fmt::Display> From<E> for Failure {
    fn from(e: E) -> Self {
        Failure {
            code: 1,
            message: format!("{e:#}"),
        }
    }
}

impl Failure {
    pub fn usage(message: impl Into<String>) -> Failure {
        Failure {
            code: 2,
            message: message.into(),
        }
    }
}

pub type CmdResult = Result<(), Failure>;

fn load_settings(cli: &Cli) -> Result<Settings, Failure> {
    let (mut settings, _) =
        meoktong_config::load(cli.config.as_deref()).map_err(|e| Failure::usage(e.to_string()))?;
    match cli.log_format {
        Some(LogFormatArg::Json) => settings.log.format = LogFormat::Json,
        Some(LogFormatArg::Text) => settings.log.format = LogFormat::Text,
        None => {}
    }
    Ok(settings)
}

pub async fn run(cli: Cli) -> ExitCode {
    let result = dispatch(&cli).await;
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            let mut line = f.message.replace('\n', " ");
            if line.contains("database or disk is full") || line.contains("disk I/O error") {
                line.push_str(" — the disk holding the database is full or failing; nothing from this command was kept: free some space and run it again");
            }
            eprintln!("meoktong: {}", meoktong_domain::mask::mask_text(&line));
            ExitCode::from(f.code.max(1))
        }
    }
}

async fn dispatch(cli: &Cli) -> CmdResult {
    let settings = load_settings(cli)?;
    crate::telemetry::init(settings.log.format, &settings.log.level);
    match &cli.command {
        Command::Serve => serve::serve(settings).await,
        Command::Demo(args) => demo::demo(settings, args).await,
        Command::Migrate => migrate(settings).await,
        Command::Rekey => rekey(settings).await,
        Command::Check(args) => check::check(settings, args).await,
        Command::Merchant(MerchantCommand::Import { file, association }) => {
            merchant::import(settings, file, association.as_deref()).await
        }
        Command::Merchant(MerchantCommand::List { format }) => {
            merchant::list(settings, *format).await
        }
        Command::User(UserCommand::Create(args)) => user::create(settings, args).await,
        Command::Heartbeat(HeartbeatCommand::Create(args)) => {
            heartbeat::create(settings, args).await
        }
        Command::Token(TokenCommand::Create(args)) => token::create(settings, args).await,
        Command::Agent(args) => agent::run(settings, args).await,
    }
}

async fn rekey(settings: Settings) -> CmdResult {
    let (db, crypto) = crate::app::open_database(&settings).await?;
    let s = meoktong_storage::rekey::rekey(&db, &crypto).await?;
    println!(
        "re-encrypted {} merchants, {} contacts, {} users, {} outbox messages, {} webhooks with the current key",
        s.merchants, s.contacts, s.users, s.outbox, s.webhooks
    );
    Ok(())
}

async fn migrate(settings: Settings) -> CmdResult {
    // Not `open_database`: it would migrate before we count what was pending.
    let (db, _) = crate::app::connect_database(&settings, None).await?;
    let pending = db
        .migrate()
        .await
        .map_err(|e| anyhow::anyhow!("cannot apply migrations: {e}"))?;
    db.ready().await?;
    println!("database is up to date ({pending} migration(s) were pending)");
    Ok(())
}
