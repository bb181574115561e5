//! The shape of `meoktong.toml`. Every struct denies unknown fields.
use crate::duration::{duration_list, humantime_duration, option_duration};
use meoktong_domain::Category;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub probe: ProbeSettings,
    pub detection: DetectionSettings,
    pub notify: NotifySettings,
    pub sms: Vec<SmsProviderSettings>,
    pub email: Option<EmailSettings>,
    /// No `[voice]` = no calls.
    pub voice: Option<VoiceSettings>,
    pub channels: ChannelSettings,
    pub catalog: CatalogSettings,
    pub log: LogSettings,
    pub compensation: CompensationSettings,
    pub dependency: Vec<DependencySettings>,
    /// Scheduled maintenance windows (`[[maintenance]]`), announced to status subscribers
    /// and left out of uptime.
    pub maintenance: Vec<MaintenanceSettings>,
}

/// One maintenance window from the configuration.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct MaintenanceSettings {
    /// The dependency's slug.
    pub dependency: String,
    /// RFC 3339, e.g. `2026-12-20T02:00:00+09:00`.
    pub starts_at: String,
    pub ends_at: String,
    /// What subscribers and the status page are told, e.g. `카카오 정기 점검`.
    pub title: String,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            server: ServerSettings::default(),
            database: DatabaseSettings::default(),
            probe: ProbeSettings::default(),
            detection: DetectionSettings::default(),
            notify: NotifySettings::default(),
            sms: vec![SmsProviderSettings::default()],
            email: None,
            voice: None,
            channels: ChannelSettings::default(),
            catalog: CatalogSettings::default(),
            log: LogSettings::default(),
            compensation: CompensationSettings::default(),
            dependency: Vec::new(),
            maintenance: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSettings {
    /// Address to listen on, e.g. `127.0.0.1:8080`.
    pub listen: String,
    /// Base of every link inside SMS and email, and of Twilio signature checks.
    pub public_url: String,
    /// Proxies (IP addresses or CIDR blocks) whose `X-Forwarded-For` is believed; from any
    /// other peer the header is ignored. Empty: the peer's address is the client's.
    pub trusted_proxies: Vec<String>,
}

impl ServerSettings {
    /// [`ServerSettings::trusted_proxies`] parsed; entries that do not parse are skipped
    /// (start-up refuses them, see `validate`).
    pub fn trusted_proxy_nets(&self) -> Vec<IpNet> {
        self.trusted_proxies
            .iter()
            .filter_map(|p| IpNet::parse(p))
            .collect()
    }
}

/// An IP address block (`10.0.0.0/8`, `fd00::/8`) or one address (`10.0.0.5`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    addr: std::net::IpAddr,
    prefix: u8,
}

impl IpNet {
    pub fn parse(s: &str) -> Option<IpNet> {
        let s = s.trim();
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (
                a.parse::<std::net::IpAddr>().ok()?,
                Some(p.parse::<u8>().ok()?),
            ),
            None => (s.parse::<std::net::IpAddr>().ok()?, None),
        };
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        (prefix <= max).then_some(IpNet { addr, prefix })
    }

    /// True when `ip` is in this block (an IPv4-mapped IPv6 address counts as its IPv4).
    pub fn contains(&self, ip: std::net::IpAddr) -> bool {
        use std::net::IpAddr;
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            listen: "127.0.0.1:8080".into(),
            public_url: "http://127.0.0.1:8080".into(),
            trusted_proxies: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseSettings {
    /// `sqlite://FILE?mode=rwc` or `postgres://user@host/db`.
    pub url: String,
    pub max_connections: u32,
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        DatabaseSettings {
            url: "sqlite://meoktong.db?mode=rwc".into(),
            max_connections: 16,
        }
    }
}

impl DatabaseSettings {
    pub fn is_postgres(&self) -> bool {
        self.url.starts_with("postgres://") || self.url.starts_with("postgresql://")
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ProbeSettings {
    /// Name of this process's probe location (a network vantage point).
    pub location: String,
    /// Probes in flight at once.
    pub max_concurrency: usize,
    /// Let checks that do not come from this file reach private and loopback addresses.
    pub allow_private_targets: bool,
    /// Days of raw probe results kept; hourly rollups are kept longer.
    pub raw_retention_days: u32,
    /// Whether this process runs probes at all (`false` for a web-only replica).
    pub enabled: bool,
    /// The own-network guard: unrelated, well-known endpoints probed every 30 s and at once
    /// when a check fails. When at least half give no HTTP answer, this location's results
    /// neither open nor close incidents. Empty turns the guard off.
    pub canaries: Vec<String>,
}

impl ProbeSettings {
    /// Public connectivity-check endpoints of Google, Microsoft and Apple: none is a monitored
    /// platform, each answers any client with a tiny body, and they fail independently.
    pub const DEFAULT_CANARIES: [&str; 3] = [
        "http://connectivitycheck.gstatic.com/generate_204",
        "http://www.msftconnecttest.com/connecttest.txt",
        "http://captive.apple.com/hotspot-detect.html",
    ];
}

impl Default for ProbeSettings {
    fn default() -> Self {
        ProbeSettings {
            location: "local".into(),
            max_concurrency: 256,
            allow_private_targets: false,
            raw_retention_days: 14,
            enabled: true,
            canaries: ProbeSettings::DEFAULT_CANARIES
                .iter()
                .map(|u| u.to_string())
                .collect(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DetectionSettings {
    /// Re-checks before a location calls a dependency down; each delay counts from the end of
    /// the previous attempt.
    #[serde(with = "duration_list")]
    pub confirm_after: Vec<Duration>,
    /// Good probes in a row (at the normal interval) before a dependency is up again.
    pub recovery_successes: u32,
    /// The first notice waits this long to gather other failing dependencies.
    #[serde(with = "humantime_duration")]
    pub group_window: Duration,
    /// A relapse within this window continues the same incident.
    #[serde(with = "humantime_duration")]
    pub reopen_window: Duration,
    /// Something back this long while the rest of the merchant's outage is still down is
    /// told in a partial recovery notice; sooner, the one recovery notice waits for the rest.
    #[serde(with = "humantime_duration")]
    pub partial_recovery_after: Duration,
}

impl Default for DetectionSettings {
    fn default() -> Self {
        DetectionSettings {
            confirm_after: vec![Duration::from_secs(2), Duration::from_secs(4)],
            recovery_successes: 2,
            group_window: Duration::from_secs(5),
            reopen_window: Duration::from_secs(600),
            partial_recovery_after: Duration::from_secs(15 * 60),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct NotifySettings {
    /// Counted from the provider's acceptance; then email.
    #[serde(with = "humantime_duration")]
    pub sms_delivery_timeout: Duration,
    /// An SMS that would leave later than this sends the email at once too.
    #[serde(with = "humantime_duration")]
    pub sms_queue_budget: Duration,
    /// No acknowledgement within this: the next contact.
    #[serde(with = "humantime_duration")]
    pub ack_timeout: Duration,
    /// No acknowledgement within this (from when the current contact was tried): a call to
    /// that contact, when `[voice]` is configured. Not less than `ack_timeout`: no call.
    #[serde(with = "humantime_duration")]
    pub voice_after: Duration,
    pub default_locale: String,
    pub time_zone: String,
    /// Provider requests in flight at once.
    pub dispatch_concurrency: usize,
    /// A provider failing transiently this long hands new messages to the next one.
    #[serde(with = "humantime_duration")]
    pub failover_after: Duration,
    /// Lifetime of the `/a/{token}` alert links.
    #[serde(with = "humantime_duration")]
    pub alert_link_ttl: Duration,
}

impl Default for NotifySettings {
    fn default() -> Self {
        NotifySettings {
            sms_delivery_timeout: Duration::from_secs(120),
            sms_queue_budget: Duration::from_secs(60),
            ack_timeout: Duration::from_secs(600),
            voice_after: Duration::from_secs(180),
            default_locale: "ko".into(),
            time_zone: "Asia/Seoul".into(),
            dispatch_concurrency: 32,
            failover_after: Duration::from_secs(30),
            alert_link_ttl: Duration::from_secs(14 * 24 * 3600),
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SmsProviderKind {
    Twilio,
    /// Solapi (CoolSMS): domestic Korean SMS/LMS from a registered sender number.
    Solapi,
    /// Writes to the local dev outbox (`/dev/outbox`); nothing leaves the machine.
    Log,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SmsProviderSettings {
    pub provider: SmsProviderKind,
    /// Default: the provider's own (`https://api.twilio.com`, `https://api.solapi.com`).
    pub base_url: String,
    /// Twilio only.
    pub account_sid: String,
    /// Twilio only: name of the environment variable that holds the auth token.
    pub auth_token_env: String,
    /// Solapi only: name of the environment variable that holds the API key.
    pub api_key_env: String,
    /// Solapi only: name of the environment variable that holds the API secret.
    pub api_secret_env: String,
    /// Twilio: a number or a Messaging Service sid; Solapi: the registered sender number.
    pub from: String,
    /// Messages a second; 0 means unlimited. Shared by all replicas on PostgreSQL.
    pub rate_per_second: u32,
    /// Twilio only (`ValidityPeriod`); also how long a message is retried.
    #[serde(with = "humantime_duration")]
    pub validity: Duration,
    /// Solapi only: most messages in one request (`send-many/detail`).
    pub batch_size: usize,
}

/// Solapi's API, the default `base_url` of `provider = "solapi"`.
pub const SOLAPI_BASE_URL: &str = "https://api.solapi.com";
/// Twilio's API, the default `base_url` of `provider = "twilio"`.
pub const TWILIO_BASE_URL: &str = "https://api.twilio.com";

impl SmsProviderKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SmsProviderKind::Twilio => "twilio",
            SmsProviderKind::Solapi => "solapi",
            SmsProviderKind::Log => "log",
        }
    }

    /// The keys an `[[sms]]` entry of this provider may have; any other is an error, so a
    /// Twilio key left on a Solapi entry is not silently ignored.
    pub fn keys(self) -> &'static [&'static str] {
        match self {
            SmsProviderKind::Twilio => &[
                "provider",
                "base_url",
                "account_sid",
                "auth_token_env",
                "from",
                "rate_per_second",
                "validity",
            ],
            SmsProviderKind::Solapi => &[
                "provider",
                "base_url",
                "api_key_env",
                "api_secret_env",
                "from",
                "rate_per_second",
                "validity",
                "batch_size",
            ],
            SmsProviderKind::Log => &["provider", "rate_per_second", "validity"],
        }
    }

    pub fn default_base_url(self) -> &'static str {
        match self {
            SmsProviderKind::Solapi => SOLAPI_BASE_URL,
            _ => TWILIO_BASE_URL,
        }
    }
}

impl Default for SmsProviderSettings {
    fn default() -> Self {
        SmsProviderSettings {
            provider: SmsProviderKind::Log,
            base_url: TWILIO_BASE_URL.into(),
            account_sid: String::new(),
            auth_token_env: "TWILIO_AUTH_TOKEN".into(),
            api_key_env: "SOLAPI_API_KEY".into(),
            api_secret_env: "SOLAPI_API_SECRET".into(),
            from: String::new(),
            rate_per_second: 10,
            validity: Duration::from_secs(900),
            batch_size: 100,
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum VoiceProviderKind {
    /// Twilio's Calls API with inline TwiML (`<Say>`, `<Gather numDigits="1">`).
    Twilio,
}

/// `[voice]`: a call to the current contact before the next contact is tried.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct VoiceSettings {
    pub provider: VoiceProviderKind,
    /// Default `https://api.twilio.com`.
    pub base_url: String,
    pub account_sid: String,
    /// Name of the environment variable that holds the auth token.
    pub auth_token_env: String,
    /// A Twilio number or verified caller id, E.164.
    pub from: String,
}

impl Default for VoiceSettings {
    fn default() -> Self {
        VoiceSettings {
            provider: VoiceProviderKind::Twilio,
            base_url: TWILIO_BASE_URL.into(),
            account_sid: String::new(),
            auth_token_env: "TWILIO_AUTH_TOKEN".into(),
            from: String::new(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct EmailSettings {
    /// lettre URL: `smtp://host:port`, `smtps://user@host`, `smtp://host?tls=required`.
    pub smtp_url: String,
    /// Optional name of the environment variable that holds the SMTP password.
    pub password_env: Option<String>,
    pub from: String,
}

impl Default for EmailSettings {
    fn default() -> Self {
        EmailSettings {
            smtp_url: "smtp://127.0.0.1:2525".into(),
            password_env: None,
            from: "Meoktong <alerts@meoktong.example>".into(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ChannelSettings {
    /// Platform → mail domains that run on it. A contact whose mail is on the failed
    /// dependency's platform is skipped for the next independent one.
    pub platform_domains: BTreeMap<String, Vec<String>>,
}

impl Default for ChannelSettings {
    fn default() -> Self {
        let mut platform_domains = BTreeMap::new();
        platform_domains.insert(
            "kakao".to_string(),
            vec![
                "daum.net".to_string(),
                "hanmail.net".to_string(),
                "kakao.com".to_string(),
            ],
        );
        platform_domains.insert("naver".to_string(), vec!["naver.com".to_string()]);
        ChannelSettings { platform_domains }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct CatalogSettings {
    /// Slugs of built-in presets to enable (`kakao-login`, `kakaopay`, `toss-payments`, ...).
    pub enable: Vec<String>,
    /// The merchant-facing KakaoTalk channel the `kakaotalk-channel` preset probes: its id
    /// (`_AbCdE`, as in `pf.kakao.com/_AbCdE`) or its page URL. Required to enable that preset.
    pub kakaotalk_channel: Option<String>,
}

/// `[compensation]`: the table the report form's estimated compensation tier comes from.
/// Shown to merchants always as an estimate (추정), never a promise.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct CompensationSettings {
    /// Ascending tiers: a claimed loss up to `up_to_krw` (inclusive) is estimated at
    /// `estimate_krw`; above the last tier the estimate is "증빙 필요" (judged on proof).
    /// Default: the 2022 tiers (≤300,000원 → 30,000원; ≤500,000원 → 50,000원).
    pub tiers: Vec<CompensationTier>,
    /// Where the tiers come from, printed beside the estimate.
    pub basis: String,
}

impl Default for CompensationSettings {
    fn default() -> Self {
        CompensationSettings {
            tiers: meoktong_domain::claims::TIERS_2022
                .iter()
                .map(|t| CompensationTier {
                    up_to_krw: t.up_to_krw,
                    estimate_krw: t.estimate_krw,
                })
                .collect(),
            basis: "2022년 카카오 소상공인 보상 기준".into(),
        }
    }
}

impl CompensationSettings {
    pub fn domain_tiers(&self) -> Vec<meoktong_domain::claims::Tier> {
        self.tiers
            .iter()
            .map(|t| meoktong_domain::claims::Tier {
                up_to_krw: t.up_to_krw,
                estimate_krw: t.estimate_krw,
            })
            .collect()
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct CompensationTier {
    pub up_to_krw: i64,
    pub estimate_krw: i64,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LogSettings {
    pub format: LogFormat,
    /// A tracing `EnvFilter` directive; `RUST_LOG` wins when set.
    pub level: String,
}

impl Default for LogSettings {
    fn default() -> Self {
        LogSettings {
            format: LogFormat::Text,
            level: "info".into(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DependencySettings {
    pub slug: String,
    pub name: String,
    #[serde(default)]
    pub name_en: Option<String>,
    pub category: Category,
    /// `kakao`, `naver`, `toss`, ...: the platform this dependency runs on.
    #[serde(default)]
    pub platform: Option<String>,
    /// One line on what the dependency covers, shown in the catalog.
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub check: Vec<CheckSettings>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum CheckKind {
    Http,
    Tcp,
    Dns,
    Tls,
    Steps,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Dialect {
    Kakao,
    Toss,
    /// Atlassian Statuspage `/api/v2/summary.json`: `status.indicator` `major`/`critical` is the
    /// provider failing, `minor` degraded (`none`, `maintenance` healthy).
    Statuspage,
}

/// One check of a dependency. Which keys apply depends on `type`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CheckSettings {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: CheckKind,
    /// http: the URL; tcp/tls: `host:port` or a URL; dns: the host name.
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub method: Option<String>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default)]
    pub expect_status: Vec<u16>,
    #[serde(default)]
    pub expect_body_contains: Option<String>,
    /// JSON path (RFC 9535; a bare name means `$.name`) → expected JSON value.
    #[serde(default)]
    pub expect_json: BTreeMap<String, serde_json::Value>,
    /// JSON paths that must match something.
    #[serde(default)]
    pub expect_json_exists: Vec<String>,
    /// dns: record type (`A`, `AAAA`, `CNAME`, `MX`, `TXT`), default `A`.
    #[serde(default)]
    pub record_type: Option<String>,
    /// dns: values that must be among the answers.
    #[serde(default)]
    pub expect_records: Vec<String>,
    /// tls: fewer days than this until the certificate expires is degraded.
    #[serde(default)]
    pub min_days_valid: Option<u32>,
    #[serde(default)]
    pub dialect: Option<Dialect>,
    /// steps: a multi-step transaction; later steps use `${step.var}` from earlier answers.
    #[serde(default)]
    pub steps: Vec<StepSettings>,
    #[serde(
        default,
        with = "option_duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub interval: Option<Duration>,
    /// Cron, seven fields, seconds first: `*/10 * * * * * *` or six fields `*/10 * * * * *`.
    #[serde(default)]
    pub schedule: Option<String>,
    #[serde(
        default,
        with = "option_duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub timeout: Option<Duration>,
    #[serde(
        default,
        with = "option_duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub degraded_latency: Option<Duration>,
}

/// One step of a `steps` check: an HTTP request with expectations and captures.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StepSettings {
    pub name: String,
    /// May contain `${earlier_step.var}`.
    pub url: String,
    #[serde(default)]
    pub method: Option<String>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default)]
    pub expect_status: Vec<u16>,
    #[serde(default)]
    pub expect_body_contains: Option<String>,
    #[serde(default)]
    pub expect_json: BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    pub expect_json_exists: Vec<String>,
    /// var → JSON path whose (first) match is kept for later steps.
    #[serde(default)]
    pub capture: BTreeMap<String, String>,
}

impl CheckSettings {
    pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
}
