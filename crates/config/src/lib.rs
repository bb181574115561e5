//! Settings: built-in defaults, then the TOML file, then `MEOKTONG_<SECTION>__<KEY>` variables.
//!
//! The file is read strictly: an unknown key is an error naming the key and its line, because a
//! typo must never silently disable an alert. Secrets never sit in the file; keys ending in `_env`
//! name the environment variable that holds them.
#![forbid(unsafe_code)]

mod duration;
mod load;
mod model;
mod secret;

pub use duration::{duration_list, humantime_duration};
pub use load::{ConfigError, expand_env, load, load_str, normalize_cron, validate_check};
pub use model::*;
pub use secret::Secret;
