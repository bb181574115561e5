//! `meoktong user create`.
use super::{CmdResult, Failure};
use crate::app::open_database;
use crate::cli::{RoleArg, UserCreateArgs};
use meoktong_config::Settings;
use meoktong_domain::contact::EmailAddr;
use meoktong_storage::{merchants, users};

pub async fn create(settings: Settings, args: &UserCreateArgs) -> CmdResult {
    let email =
        EmailAddr::parse(&args.email).map_err(|e| Failure::usage(format!("--email: {e}")))?;
    let password = std::env::var(&args.password_env).map_err(|_| {
        Failure::usage(format!(
            "environment variable {} (the password) is not set",
            args.password_env
        ))
    })?;
    let password_hash = meoktong_web::auth::password::hash(&password)
        .map_err(|e| Failure::usage(format!("{}: {e}", args.password_env)))?;
    let (db, crypto) = open_database(&settings).await?;
    let mut association_id = None;
    let mut merchant_id = None;
    match args.role {
        RoleArg::Association => {
            let name = args.association.as_deref().ok_or_else(|| {
                Failure::usage("--association is required for an association account")
            })?;
            association_id = Some(users::association_by_name(&db, name).await?);
        }
        RoleArg::Merchant => {
            let phone = args.merchant_phone.as_deref().ok_or_else(|| {
                Failure::usage("--merchant-phone is required for a merchant account")
            })?;
            let msisdn = meoktong_domain::phone::parse_mobile(phone)
                .map_err(|e| Failure::usage(format!("--merchant-phone: {e}")))?;
            let found = merchants::find_by_phone(&db, &crypto, msisdn.as_str()).await?;
            match found.as_slice() {
                [m] => merchant_id = Some(m.id),
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
            }
        }
        RoleArg::Operator => {}
    }
    let id = users::create(
        &db,
        &crypto,
        users::NewUser {
            email: email.as_str(),
            password_hash: &password_hash,
            role: args.role.as_str(),
            merchant_id,
            association_id,
        },
        "cli",
    )
    .await?;
    println!(
        "created {} user {} (id {id})",
        args.role.as_str(),
        args.email
    );
    Ok(())
}
