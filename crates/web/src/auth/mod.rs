//! Authentication primitives shared by the web layer and the CLI.
pub mod password;
pub mod session;
