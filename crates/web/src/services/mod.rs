//! Use cases several handlers share: each takes the app's state and plain values, does one
//! thing, and answers with a value or a `WebError` (handlers render; services never do).
pub mod limits;
pub mod merchant;
pub mod status_limits;
pub mod status_ops;
pub mod webhook;
