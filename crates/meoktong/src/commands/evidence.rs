//! `meoktong evidence verify FILE`: checks a downloaded evidence sheet's signature
//! (`meoktong_web::routes::reports::signature`). Reads only the file and the data key; never
//! makes a key (a made-up key would call every genuine sheet altered).
use super::{CmdResult, Failure};
use meoktong_config::Settings;
use meoktong_storage::Crypto;
use meoktong_web::routes::reports::signature::{self, Verdict};
use std::path::{Path, PathBuf};

pub fn verify(settings: &Settings, file: &Path) -> CmdResult {
    let crypto = data_key(settings)?;
    check_file(&crypto, file)
}

/// The check itself, with a key at hand: `Ok` when genuine, a failure (exit 1) naming what is
/// wrong otherwise.
pub fn check_file(crypto: &Crypto, file: &Path) -> CmdResult {
    let bytes = std::fs::read(file)
        .map_err(|e| Failure::usage(format!("cannot read {}: {e}", file.display())))?;
    match signature::verify(crypto, &bytes) {
        Verdict::Genuine => {
            println!(
                "{}: genuine (signed by this server, unchanged)",
                file.display()
            );
            Ok(())
        }
        Verdict::Altered => Err(Failure::from(format!(
            "{}: ALTERED — changed after it was signed, or signed with another key",
            file.display()
        ))),
        Verdict::Unsigned => Err(Failure::from(format!(
            "{}: not a signed evidence sheet",
            file.display()
        ))),
    }
}

fn data_key(settings: &Settings) -> Result<Crypto, Failure> {
    let env_set =
        std::env::var(meoktong_storage::crypto::DATA_KEY_ENV).is_ok_and(|v| !v.trim().is_empty());
    let sqlite: Option<PathBuf> = if settings.database.is_postgres() {
        None
    } else {
        meoktong_storage::db::sqlite_path(&settings.database.url).map(PathBuf::from)
    };
    let key_file = sqlite
        .as_deref()
        .map(meoktong_storage::crypto::key_file_for)
        .filter(|p| p.exists());
    if !env_set && key_file.is_none() {
        return Err(Failure::usage(
            "no data key: set MEOKTONG_DATA_KEY (the key the server signs with)",
        ));
    }
    let (crypto, _) = Crypto::load(sqlite.as_deref())?;
    Ok(crypto)
}
