//! `meoktong heartbeat create`: a store heartbeat URL for a merchant.
use super::{CmdResult, Failure};
use crate::app::open_database;
use crate::cli::HeartbeatCreateArgs;
use meoktong_config::Settings;
use meoktong_storage::{Crypto, Db, dashboard, merchants, now_ms};
use std::time::Duration;

pub async fn create(settings: Settings, args: &HeartbeatCreateArgs) -> CmdResult {
    let (db, crypto) = open_database(&settings).await?;
    let spec = HeartbeatSpec {
        name: &args.name,
        period: args.period,
        grace: args.grace,
    };
    let url = create_heartbeat(
        &db,
        &crypto,
        &settings.server.public_url,
        &args.merchant_phone,
        spec,
    )
    .await?;
    println!("{url}");
    Ok(())
}

/// What a new heartbeat expects.
#[derive(Debug, Clone, Copy)]
pub struct HeartbeatSpec<'a> {
    pub name: &'a str,
    pub period: Duration,
    pub grace: Duration,
}

/// Creates a heartbeat for the merchant with this mobile number; returns its URL
/// `{public_url}/hb/{token}`. The token is shown only here: only its keyed hash is stored.
pub async fn create_heartbeat(
    db: &Db,
    crypto: &Crypto,
    public_url: &str,
    merchant_phone: &str,
    spec: HeartbeatSpec<'_>,
) -> Result<String, Failure> {
    if spec.period < Duration::from_secs(1) {
        return Err(Failure::usage("--period: at least 1s"));
    }
    let name = spec.name.trim();
    if name.is_empty() || name.chars().count() > 60 {
        return Err(Failure::usage("--name: 1 to 60 characters"));
    }
    let msisdn = meoktong_domain::phone::parse_mobile(merchant_phone)
        .map_err(|e| Failure::usage(format!("--merchant-phone: {e}")))?;
    let merchant_id = match merchants::find_by_phone(db, crypto, msisdn.as_str())
        .await?
        .as_slice()
    {
        [m] => m.id,
        [] => {
            return Err(Failure::usage(
                "--merchant-phone: no merchant has this number (import it first)",
            ));
        }
        _ => {
            return Err(Failure::usage(
                "--merchant-phone: several merchants share this number",
            ));
        }
    };
    let token = meoktong_web::auth::session::random_token(24);
    let ms = |d: Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
    dashboard::create_heartbeat(
        db,
        merchant_id,
        name,
        &crypto.hash(&token),
        ms(spec.period),
        ms(spec.grace),
        now_ms(),
    )
    .await?;
    Ok(format!("{}/hb/{token}", public_url.trim_end_matches('/')))
}

#[cfg(test)]
mod tests {
    use crate::cli::{Cli, Command, HeartbeatCommand};
    use clap::Parser;
    use std::time::Duration;

    #[test]
    fn periods_are_humantime_and_default_to_a_minute_plus_two() {
        let cli = Cli::try_parse_from([
            "meoktong",
            "heartbeat",
            "create",
            "--merchant-phone",
            "010-1234-5678",
        ])
        .expect("parses");
        let Command::Heartbeat(HeartbeatCommand::Create(a)) = cli.command else {
            panic!("heartbeat create")
        };
        assert_eq!(
            (a.period, a.grace),
            (Duration::from_secs(60), Duration::from_secs(120))
        );
        let cli = Cli::try_parse_from([
            "meoktong",
            "heartbeat",
            "create",
            "--merchant-phone",
            "P",
            "--period",
            "30s",
            "--grace",
            "2m",
        ])
        .expect("parses");
        let Command::Heartbeat(HeartbeatCommand::Create(a)) = cli.command else {
            panic!("heartbeat create")
        };
        assert_eq!(
            (a.period, a.grace),
            (Duration::from_secs(30), Duration::from_secs(120))
        );
        assert!(
            Cli::try_parse_from([
                "meoktong",
                "heartbeat",
                "create",
                "--merchant-phone",
                "P",
                "--period",
                "soon"
            ])
            .is_err()
        );
    }

    #[test]
    fn the_agent_takes_server_token_and_location() {
        let cli = Cli::try_parse_from([
            "meoktong",
            "agent",
            "--server",
            "https://m.example",
            "--token",
            "t",
            "--location",
            "busan-lg",
        ])
        .expect("parses");
        let Command::Agent(a) = cli.command else {
            panic!("agent")
        };
        assert_eq!(
            (a.server.as_str(), a.token.as_str(), a.location.as_str()),
            ("https://m.example", "t", "busan-lg")
        );
        assert_eq!(a.buffer, 10_000);
    }
}
