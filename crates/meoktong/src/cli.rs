//! The command line. `--config` and `--log-format` are global: before or after the subcommand.
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "meoktong",
    version,
    about = "Tells small merchants within seconds when a platform they depend on has gone dark."
)]
pub struct Cli {
    /// Configuration file (default: meoktong.toml in the working directory if present).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Log format: readable text (default) or JSON lines.
    #[arg(long, global = true, value_enum)]
    pub log_format: Option<LogFormatArg>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormatArg {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the service: probes, detector, notifications and the web server.
    Serve,
    /// Run everything on loopback with simulated Kakao-like dependencies and a scripted outage.
    Demo(DemoArgs),
    /// Apply pending database migrations (serve, demo and import also do this themselves).
    Migrate,
    /// Rewrite every encrypted value and look-up hash with MEOKTONG_DATA_KEY (key rotation:
    /// set the new key there and the old one in MEOKTONG_DATA_KEY_PREVIOUS, run this, then
    /// drop the previous key).
    Rekey,
    /// Run one probe and print its verdict and timing breakdown.
    Check(CheckArgs),
    /// Merchants: bulk import and listing.
    #[command(subcommand)]
    Merchant(MerchantCommand),
    /// Accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// Store heartbeats: a URL the store's POS or router pings; silence is an alert.
    #[command(subcommand)]
    Heartbeat(HeartbeatCommand),
    /// API tokens: `/api/v1` tokens for users, agent tokens for remote probe agents.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Run a remote probe agent: fetch the checks from the server, run them here, report back.
    Agent(AgentArgs),
}

#[derive(Debug, Subcommand)]
pub enum HeartbeatCommand {
    /// Create a heartbeat for a merchant and print its URL (shown once; only a hash is kept).
    Create(HeartbeatCreateArgs),
}

#[derive(Debug, Args)]
pub struct HeartbeatCreateArgs {
    /// The merchant, by mobile number.
    #[arg(long = "merchant-phone")]
    pub merchant_phone: String,
    /// How often the store pings.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub period: std::time::Duration,
    /// How late a ping may be before the merchant is told (counted after the period).
    #[arg(long, default_value = "120s", value_parser = parse_duration)]
    pub grace: std::time::Duration,
    /// A name for it, e.g. "counter POS".
    #[arg(long, default_value = "store")]
    pub name: String,
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token and print it (shown once; only a hash is kept). With --location it is an
    /// agent token for that probe location (issued by an operator), else an `/api/v1` token
    /// acting as the user.
    Create(TokenCreateArgs),
}

#[derive(Debug, Args)]
pub struct TokenCreateArgs {
    /// The user the token belongs to (an operator for agent tokens).
    #[arg(long)]
    pub email: String,
    /// Make an agent token reporting for this probe location (created if missing).
    #[arg(long)]
    pub location: Option<String>,
    /// A name to recognise the token by.
    #[arg(long, default_value = "cli")]
    pub name: String,
}

#[derive(Debug, Args)]
pub struct AgentArgs {
    /// The server's public URL, e.g. https://meoktong.example.
    #[arg(long)]
    pub server: String,
    /// The agent token (`meoktong token create --email E --location NAME`).
    #[arg(long, env = "MEOKTONG_AGENT_TOKEN", hide_env_values = true)]
    pub token: String,
    /// The probe location this agent reports as; must be its token's.
    #[arg(long)]
    pub location: String,
    /// Results kept while the server is unreachable; beyond that the oldest are dropped.
    #[arg(long, default_value_t = 10_000)]
    pub buffer: usize,
    /// Probes in flight at once.
    #[arg(long, default_value_t = 64)]
    pub max_concurrency: usize,
}

fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("`{s}`: {e} (e.g. 60s, 2m)"))
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// Directory for the demo's SQLite database and key.
    #[arg(long, default_value = "meoktong-demo")]
    pub data: PathBuf,
    /// When the scripted "1015 fire" starts after launch.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub outage_after: std::time::Duration,
    /// How long the scripted outage lasts before the services recover.
    #[arg(long, default_value = "180s", value_parser = parse_duration)]
    pub outage_length: std::time::Duration,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The URL to probe (http/https), or host:port with --type tcp|tls, or a host with --type dns.
    pub url: String,
    /// Check type.
    #[arg(long = "type", default_value = "http")]
    pub kind: String,
    /// Acceptable status codes (repeatable). Default: any 2xx or 3xx.
    #[arg(long = "expect-status", value_name = "CODE")]
    pub expect_status: Vec<u16>,
    /// The body must contain this text.
    #[arg(long = "expect-body-contains", value_name = "TEXT")]
    pub expect_body_contains: Option<String>,
    /// JSON path and expected JSON value, e.g. `issuer="https://kauth.kakao.com"` (repeatable).
    #[arg(long = "expect-json", value_name = "PATH=VALUE")]
    pub expect_json: Vec<String>,
    /// JSON paths that must match something (repeatable).
    #[arg(long = "expect-json-exists", value_name = "PATH")]
    pub expect_json_exists: Vec<String>,
    /// HTTP method.
    #[arg(long, default_value = "GET")]
    pub method: String,
    /// Request header `Name: value` (repeatable).
    #[arg(long = "header", value_name = "NAME: VALUE")]
    pub headers: Vec<String>,
    /// Whole-probe timeout.
    #[arg(long, default_value = "5s")]
    pub timeout: String,
    /// Slower than this is degraded.
    #[arg(long = "degraded-latency")]
    pub degraded_latency: Option<String>,
    /// Read provider error codes: kakao | toss | statuspage.
    #[arg(long)]
    pub dialect: Option<String>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum MerchantCommand {
    /// Import merchants from CSV: business_name,phone,email,dependencies,locale,region,trade
    /// [,backup_phone,backup_email,association]. Bad rows are reported by line; nothing is
    /// half-imported. A row's `association` (an existing association's exact name) makes the
    /// merchant its member.
    Import {
        /// The CSV file (UTF-8 with or without BOM, or CP949/EUC-KR).
        file: PathBuf,
        /// Every row joins this association (an `association` column must then be empty or
        /// name it).
        #[arg(long, value_name = "NAME")]
        association: Option<String>,
    },
    /// List merchants.
    List {
        #[arg(long, value_enum, default_value = "csv")]
        format: ListFormat,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ListFormat {
    Csv,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create an account; the password is read from the environment variable --password-env.
    Create(UserCreateArgs),
}

#[derive(Debug, Args)]
pub struct UserCreateArgs {
    #[arg(long, value_enum)]
    pub role: RoleArg,
    #[arg(long)]
    pub email: String,
    /// The association an `association` account belongs to (created if missing).
    #[arg(long)]
    pub association: Option<String>,
    /// The merchant a `merchant` account belongs to, by mobile number.
    #[arg(long = "merchant-phone")]
    pub merchant_phone: Option<String>,
    /// Name of the environment variable holding the password.
    #[arg(long = "password-env", default_value = "MEOKTONG_NEW_PASSWORD")]
    pub password_env: String,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum RoleArg {
    Operator,
    Association,
    Merchant,
}

impl RoleArg {
    pub fn as_str(self) -> &'static str {
        match self {
            RoleArg::Operator => "operator",
            RoleArg::Association => "association",
            RoleArg::Merchant => "merchant",
        }
    }
}
