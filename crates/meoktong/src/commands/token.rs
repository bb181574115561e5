//! `meoktong token create`: an `/api/v1` token for a user, or (with `--location`) an agent
//! token for a remote probe agent. The token is printed once; only its keyed hash is stored.
use super::{CmdResult, Failure};
use crate::app::open_database;
use crate::cli::TokenCreateArgs;
use meoktong_config::Settings;
use meoktong_storage::{Crypto, Db, now_ms, probes, sessions, users};

pub async fn create(settings: Settings, args: &TokenCreateArgs) -> CmdResult {
    let (db, crypto) = open_database(&settings).await?;
    let token = issue(
        &db,
        &crypto,
        &args.email,
        args.location.as_deref(),
        &args.name,
    )
    .await?;
    println!("{token}");
    if let Some(location) = &args.location {
        eprintln!(
            "run the agent with: meoktong agent --server {} --location {location} --token <this token> (or MEOKTONG_AGENT_TOKEN)",
            settings.server.public_url
        );
    }
    Ok(())
}

/// Issues a token for the user with this email; with `location`, an agent token for that
/// probe location (created if missing), which only operators may issue.
pub async fn issue(
    db: &Db,
    crypto: &Crypto,
    email: &str,
    location: Option<&str>,
    name: &str,
) -> Result<String, Failure> {
    let user = users::find_by_email(db, crypto, email.trim())
        .await?
        .filter(|u| !u.disabled)
        .ok_or_else(|| Failure::usage("--email: no active user has this email"))?;
    let token = meoktong_web::auth::session::random_token(32);
    let now = now_ms();
    match location {
        Some(location) => {
            if user.role != "operator" {
                return Err(Failure::usage(format!(
                    "--location: agent tokens are issued by operators, and this user is a {}",
                    user.role
                )));
            }
            check_location_name(location)?;
            let location_id = probes::ensure_location(db, location, "agent", now).await?;
            sessions::create_agent_token(db, crypto, user.id, name, &token, location_id, now)
                .await?;
        }
        None => {
            sessions::create_api_token(db, crypto, user.id, name, &token, sessions::SCOPE_API, now)
                .await?;
        }
    }
    Ok(token)
}

/// Location names appear in metrics labels and pages: short, plain.
fn check_location_name(name: &str) -> Result<(), Failure> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(Failure::usage("--location: 1 to 64 of A-Z a-z 0-9 - _ ."))
    }
}
