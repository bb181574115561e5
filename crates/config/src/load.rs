//! Reading settings: strict TOML first (for line numbers), then figment layering with env.
use crate::model::{CheckKind, CheckSettings, Settings, SmsProviderKind};
use crate::secret::Secret;
use figment::Figment;
use figment::providers::{Env, Format, Toml};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{file}: cannot read: {source}")]
    Read {
        file: String,
        source: std::io::Error,
    },
    #[error("{file}: line {line}: {message}")]
    Syntax {
        file: String,
        line: usize,
        message: String,
    },
    #[error("{origin}: {message}")]
    Override { origin: String, message: String },
    #[error("{file}: {key}: {message}")]
    Invalid {
        file: String,
        key: String,
        message: String,
    },
    #[error("environment variable {name} is not set ({purpose})")]
    MissingEnv { name: String, purpose: String },
}

/// Where the file came from, for error messages.
fn origin(path: Option<&Path>) -> String {
    path.map(|p| p.display().to_string())
        .unwrap_or_else(|| "built-in defaults".to_string())
}

/// Loads settings from `explicit` (must exist), else `meoktong.toml` in the working directory if
/// present, else built-in defaults; then applies `MEOKTONG_<SECTION>__<KEY>` overrides.
pub fn load(explicit: Option<&Path>) -> Result<(Settings, Option<PathBuf>), ConfigError> {
    let path = match explicit {
        Some(p) => Some(p.to_path_buf()),
        None => {
            let default = PathBuf::from("meoktong.toml");
            default.exists().then_some(default)
        }
    };
    let text = match &path {
        Some(p) => std::fs::read_to_string(p).map_err(|source| ConfigError::Read {
            file: p.display().to_string(),
            source,
        })?,
        None => String::new(),
    };
    let settings = load_str(&text, path.as_deref())?;
    Ok((settings, path))
}

/// Like [`load`] for a file's text; `path` only names it in errors.
pub fn load_str(text: &str, path: Option<&Path>) -> Result<Settings, ConfigError> {
    let file = origin(path);
    // Strict pass: unknown keys and wrong types, with the line they are on.
    if let Err(e) = toml::from_str::<Settings>(text) {
        let line = e.span().map(|s| line_of(text, s.start)).unwrap_or(0);
        return Err(ConfigError::Syntax {
            file,
            line,
            message: e.message().trim().to_string(),
        });
    }
    let figment = Figment::new().merge(Toml::string(text)).merge(
        Env::prefixed("MEOKTONG_")
            .filter(|k| k.as_str().contains("__"))
            .split("__"),
    );
    let mut settings: Settings = figment.extract().map_err(|e| ConfigError::Override {
        origin: format!("{file} + MEOKTONG_* environment"),
        message: e.to_string(),
    })?;
    apply_sms_provider_keys(&mut settings, text, &file)?;
    expand_env_in_checks(&mut settings, &file)?;
    validate(&settings, &file)?;
    Ok(settings)
}

/// Each `[[sms]]` entry may only have its provider's keys ([`SmsProviderKind::keys`]), and
/// takes its provider's `base_url` when it names none.
fn apply_sms_provider_keys(
    settings: &mut Settings,
    text: &str,
    file: &str,
) -> Result<(), ConfigError> {
    let Ok(raw) = toml::from_str::<toml::Table>(text) else {
        return Ok(());
    };
    let Some(entries) = raw.get("sms").and_then(|v| v.as_array()) else {
        return Ok(());
    };
    for (i, (entry, sms)) in entries.iter().zip(settings.sms.iter_mut()).enumerate() {
        let Some(table) = entry.as_table() else {
            continue;
        };
        let allowed = sms.provider.keys();
        if let Some(key) = table.keys().find(|k| !allowed.contains(&k.as_str())) {
            return Err(invalid(
                file,
                format!("sms[{i}].{key}"),
                format!(
                    "not a key of provider {} (it takes {})",
                    sms.provider.as_str(),
                    allowed.join(", ")
                ),
            ));
        }
        if !table.contains_key("base_url") {
            sms.base_url = sms.provider.default_base_url().to_string();
        }
    }
    Ok(())
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())]
        .bytes()
        .filter(|b| *b == b'\n')
        .count()
        + 1
}

/// `${VAR}` in check headers and bodies is read from the environment at start-up.
/// `${step.var}` (with a dot) is a capture of a `steps` check and is left alone.
fn expand_env_in_checks(settings: &mut Settings, file: &str) -> Result<(), ConfigError> {
    for dep in &mut settings.dependency {
        for check in &mut dep.check {
            let key = format!("dependency.{}.check.{}", dep.slug, check.name);
            for v in check.headers.values_mut() {
                *v = expand_env(v, &key, file)?;
            }
            if let Some(b) = &mut check.body {
                *b = expand_env(b, &key, file)?;
            }
            for step in &mut check.steps {
                for v in step.headers.values_mut() {
                    *v = expand_env(v, &key, file)?;
                }
                if let Some(b) = &mut step.body {
                    *b = expand_env(b, &key, file)?;
                }
            }
        }
    }
    Ok(())
}

/// Replaces every `${NAME}` (NAME of `A-Z`, `0-9`, `_`) with the variable's value.
pub fn expand_env(value: &str, key: &str, file: &str) -> Result<String, ConfigError> {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[start..]);
            return Ok(out);
        };
        let name = &after[..end];
        let is_env = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
        if is_env {
            let v = std::env::var(name).map_err(|_| ConfigError::MissingEnv {
                name: name.to_string(),
                purpose: format!("used by {key} in {file}"),
            })?;
            out.push_str(&v);
        } else {
            out.push_str(&rest[start..start + 2 + end + 1]);
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn invalid(file: &str, key: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        file: file.to_string(),
        key: key.into(),
        message: message.into(),
    }
}

/// `[[maintenance]]`: a dependency slug and two RFC 3339 times, the end after the start.
fn validate_maintenance(s: &Settings, file: &str) -> Result<(), ConfigError> {
    for (n, m) in s.maintenance.iter().enumerate() {
        let key = |k: &str| format!("maintenance[{n}].{k}");
        if m.dependency.trim().is_empty() {
            return Err(invalid(
                file,
                key("dependency"),
                "a dependency slug is required",
            ));
        }
        let time = |k: &str, v: &str| {
            chrono::DateTime::parse_from_rfc3339(v)
                .map(|t| t.timestamp_millis())
                .map_err(|_| {
                    invalid(
                        file,
                        key(k),
                        format!("`{v}` is not an RFC 3339 time like 2026-12-20T02:00:00+09:00"),
                    )
                })
        };
        if time("ends_at", &m.ends_at)? <= time("starts_at", &m.starts_at)? {
            return Err(invalid(file, key("ends_at"), "must be after starts_at"));
        }
    }
    Ok(())
}

fn validate(s: &Settings, file: &str) -> Result<(), ConfigError> {
    validate_maintenance(s, file)?;
    if s.server.listen.parse::<std::net::SocketAddr>().is_err() {
        return Err(invalid(
            file,
            "server.listen",
            format!(
                "`{}` is not an address like 127.0.0.1:8080",
                s.server.listen
            ),
        ));
    }
    let public = url::Url::parse(&s.server.public_url)
        .map_err(|e| invalid(file, "server.public_url", format!("not a URL: {e}")))?;
    if !matches!(public.scheme(), "http" | "https") {
        return Err(invalid(
            file,
            "server.public_url",
            "must start with http:// or https://",
        ));
    }
    for (i, p) in s.server.trusted_proxies.iter().enumerate() {
        if crate::model::IpNet::parse(p).is_none() {
            return Err(invalid(
                file,
                format!("server.trusted_proxies[{i}]"),
                format!("`{p}` is not an IP address or CIDR block like 10.0.0.0/8"),
            ));
        }
    }
    let db = &s.database.url;
    if !(db.starts_with("sqlite:") || s.database.is_postgres()) {
        return Err(invalid(
            file,
            "database.url",
            "must start with sqlite:// or postgres://",
        ));
    }
    let mut previous = 0;
    for (i, t) in s.compensation.tiers.iter().enumerate() {
        if t.up_to_krw <= previous || t.estimate_krw < 0 {
            return Err(invalid(
                file,
                format!("compensation.tiers[{i}]"),
                "tiers must ascend by up_to_krw (above 0) with an estimate_krw of 0 or more",
            ));
        }
        previous = t.up_to_krw;
    }
    if s.probe.max_concurrency == 0 {
        return Err(invalid(file, "probe.max_concurrency", "must be at least 1"));
    }
    if s.probe.location.trim().is_empty() {
        return Err(invalid(file, "probe.location", "must not be empty"));
    }
    for (i, url) in s.probe.canaries.iter().enumerate() {
        let parsed = url::Url::parse(url).map_err(|e| {
            invalid(
                file,
                format!("probe.canaries[{i}]"),
                format!("not a URL: {e}"),
            )
        })?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(invalid(
                file,
                format!("probe.canaries[{i}]"),
                "must be an http:// or https:// URL",
            ));
        }
    }
    if s.detection.recovery_successes == 0 {
        return Err(invalid(
            file,
            "detection.recovery_successes",
            "must be at least 1",
        ));
    }
    if !matches!(s.notify.default_locale.as_str(), "ko" | "en") {
        return Err(invalid(file, "notify.default_locale", "must be ko or en"));
    }
    if chrono_tz::Tz::from_str(&s.notify.time_zone).is_err() {
        return Err(invalid(
            file,
            "notify.time_zone",
            format!("`{}` is not an IANA time zone", s.notify.time_zone),
        ));
    }
    if s.notify.dispatch_concurrency == 0 {
        return Err(invalid(
            file,
            "notify.dispatch_concurrency",
            "must be at least 1",
        ));
    }
    if let Some(v) = &s.voice {
        let base = url::Url::parse(&v.base_url)
            .map_err(|e| invalid(file, "voice.base_url", format!("not a URL: {e}")))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(invalid(file, "voice.base_url", "must be http(s)"));
        }
        if v.account_sid.is_empty() {
            return Err(invalid(file, "voice.account_sid", "required for twilio"));
        }
        if v.auth_token_env.is_empty() {
            return Err(invalid(file, "voice.auth_token_env", "required for twilio"));
        }
        if !v.from.starts_with('+') || v.from.len() < 8 {
            return Err(invalid(
                file,
                "voice.from",
                "a Twilio number or verified caller id in E.164 (+15005550006)",
            ));
        }
    }
    for (i, sms) in s.sms.iter().enumerate() {
        let key = format!("sms[{i}]");
        if sms.provider == SmsProviderKind::Twilio {
            url::Url::parse(&sms.base_url)
                .map_err(|e| invalid(file, format!("{key}.base_url"), format!("not a URL: {e}")))?;
            if sms.account_sid.is_empty() {
                return Err(invalid(
                    file,
                    format!("{key}.account_sid"),
                    "required for twilio",
                ));
            }
            if sms.from.is_empty() {
                return Err(invalid(file, format!("{key}.from"), "required for twilio"));
            }
            if sms.auth_token_env.is_empty() {
                return Err(invalid(
                    file,
                    format!("{key}.auth_token_env"),
                    "required for twilio",
                ));
            }
        }
        if sms.provider == SmsProviderKind::Solapi {
            let base = url::Url::parse(&sms.base_url)
                .map_err(|e| invalid(file, format!("{key}.base_url"), format!("not a URL: {e}")))?;
            if !matches!(base.scheme(), "http" | "https") {
                return Err(invalid(file, format!("{key}.base_url"), "must be http(s)"));
            }
            let digits = sms.from.chars().filter(|c| *c != '-').collect::<String>();
            if !(8..=11).contains(&digits.len()) || !digits.chars().all(|c| c.is_ascii_digit()) {
                return Err(invalid(
                    file,
                    format!("{key}.from"),
                    "the registered sender number: 8 to 11 digits with the area code (0212345678, 15440000)",
                ));
            }
            for (name, value) in [
                ("api_key_env", &sms.api_key_env),
                ("api_secret_env", &sms.api_secret_env),
            ] {
                if value.is_empty() {
                    return Err(invalid(
                        file,
                        format!("{key}.{name}"),
                        "required for solapi",
                    ));
                }
            }
            if !(1..=10_000).contains(&sms.batch_size) {
                return Err(invalid(
                    file,
                    format!("{key}.batch_size"),
                    "must be between 1 and 10000 (Solapi's limit per request)",
                ));
            }
        }
        if sms.validity < Duration::from_secs(1) || sms.validity > Duration::from_secs(36_000) {
            return Err(invalid(
                file,
                format!("{key}.validity"),
                "must be between 1s and 10h (Twilio's ValidityPeriod)",
            ));
        }
    }
    if let Some(email) = &s.email {
        let u = url::Url::parse(&email.smtp_url)
            .map_err(|e| invalid(file, "email.smtp_url", format!("not a URL: {e}")))?;
        if !matches!(u.scheme(), "smtp" | "smtps") {
            return Err(invalid(
                file,
                "email.smtp_url",
                "must start with smtp:// or smtps://",
            ));
        }
    }
    let mut slugs = std::collections::HashSet::new();
    for (i, dep) in s.dependency.iter().enumerate() {
        let key = format!("dependency[{i}]");
        if !is_slug(&dep.slug) {
            return Err(invalid(
                file,
                format!("{key}.slug"),
                "use lowercase letters, digits and dashes",
            ));
        }
        if !slugs.insert(dep.slug.clone()) {
            return Err(invalid(
                file,
                format!("{key}.slug"),
                format!("`{}` is defined twice", dep.slug),
            ));
        }
        let mut names = std::collections::HashSet::new();
        for (j, check) in dep.check.iter().enumerate() {
            let key = format!("dependency.{}.check[{j}]", dep.slug);
            if !names.insert(check.name.clone()) {
                return Err(invalid(
                    file,
                    format!("{key}.name"),
                    format!("`{}` is defined twice", check.name),
                ));
            }
            validate_check(check, &key, file)?;
        }
    }
    Ok(())
}

fn is_slug(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// Checks one check's keys against its type. Shared with checks that arrive through the API.
pub fn validate_check(check: &CheckSettings, key: &str, file: &str) -> Result<(), ConfigError> {
    match (check.interval, &check.schedule) {
        (Some(_), Some(_)) => {
            return Err(invalid(
                file,
                format!("{key}.schedule"),
                "give interval or schedule, not both",
            ));
        }
        (Some(i), None) if i < Duration::from_secs(1) => {
            return Err(invalid(
                file,
                format!("{key}.interval"),
                "must be at least 1s",
            ));
        }
        (None, Some(cron)) => {
            let normalized = normalize_cron(cron);
            cron::Schedule::from_str(&normalized).map_err(|e| {
                invalid(
                    file,
                    format!("{key}.schedule"),
                    format!("`{cron}` is not a cron schedule (seconds first): {e}"),
                )
            })?;
        }
        _ => {}
    }
    if check.timeout.is_some_and(|t| t.is_zero()) {
        return Err(invalid(
            file,
            format!("{key}.timeout"),
            "must be more than 0",
        ));
    }
    let needs_url = !matches!(check.kind, CheckKind::Steps);
    if needs_url && check.url.as_deref().is_none_or(str::is_empty) {
        return Err(invalid(
            file,
            format!("{key}.url"),
            "required for this check type",
        ));
    }
    if check.kind == CheckKind::Http {
        let u = check.url.as_deref().unwrap_or_default();
        let parsed = url::Url::parse(u)
            .map_err(|e| invalid(file, format!("{key}.url"), format!("not a URL: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(invalid(
                file,
                format!("{key}.url"),
                "must be http:// or https://",
            ));
        }
    }
    if check.kind == CheckKind::Steps && check.steps.is_empty() {
        return Err(invalid(
            file,
            format!("{key}.steps"),
            "a steps check needs at least one step",
        ));
    }
    for code in &check.expect_status {
        if !(100..=599).contains(code) {
            return Err(invalid(
                file,
                format!("{key}.expect_status"),
                format!("{code} is not an HTTP status"),
            ));
        }
    }
    Ok(())
}

/// The cron crate wants seven fields (seconds first, year last); six are accepted too.
pub fn normalize_cron(expr: &str) -> String {
    let fields = expr.split_whitespace().count();
    if fields == 6 {
        format!("{expr} *")
    } else {
        expr.to_string()
    }
}

impl crate::model::SmsProviderSettings {
    /// The auth token, read from the environment variable named by `auth_token_env`.
    pub fn auth_token(&self) -> Result<Secret, ConfigError> {
        std::env::var(&self.auth_token_env)
            .map(Secret::new)
            .map_err(|_| ConfigError::MissingEnv {
                name: self.auth_token_env.clone(),
                purpose: "the Twilio auth token of an [[sms]] provider".into(),
            })
    }
}

impl crate::model::SmsProviderSettings {
    /// Solapi's API key and secret, read from `api_key_env` and `api_secret_env`.
    pub fn solapi_credentials(&self) -> Result<(Secret, Secret), ConfigError> {
        let read = |name: &str, what: &str| {
            std::env::var(name)
                .map(Secret::new)
                .map_err(|_| ConfigError::MissingEnv {
                    name: name.to_string(),
                    purpose: format!("the Solapi {what} of an [[sms]] provider"),
                })
        };
        Ok((
            read(&self.api_key_env, "API key")?,
            read(&self.api_secret_env, "API secret")?,
        ))
    }
}

impl crate::model::VoiceSettings {
    /// The auth token, read from the environment variable named by `auth_token_env`.
    pub fn auth_token(&self) -> Result<Secret, ConfigError> {
        std::env::var(&self.auth_token_env)
            .map(Secret::new)
            .map_err(|_| ConfigError::MissingEnv {
                name: self.auth_token_env.clone(),
                purpose: "the Twilio auth token of [voice]".into(),
            })
    }
}

impl crate::model::EmailSettings {
    /// The SMTP password, if `password_env` names one.
    pub fn password(&self) -> Result<Option<Secret>, ConfigError> {
        match &self.password_env {
            None => Ok(None),
            Some(name) => std::env::var(name)
                .map(|v| Some(Secret::new(v)))
                .map_err(|_| ConfigError::MissingEnv {
                    name: name.clone(),
                    purpose: "the SMTP password of [email]".into(),
                }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn readme_example() -> String {
        let readme = include_str!("../../../README.md");
        let start = readme
            .find("<!-- example-config -->")
            .expect("marker in README");
        let rest = &readme[start..];
        let open = rest.find("```toml\n").expect("toml block") + "```toml\n".len();
        let close = rest[open..].find("```").expect("end of block");
        rest[open..open + close].to_string()
    }

    #[test]
    fn the_readme_example_parses_with_every_value() {
        let s = load_str(&readme_example(), Some(Path::new("README.md")))
            .expect("README example is valid");
        assert_eq!(s.server.listen, "127.0.0.1:8080");
        assert_eq!(s.probe.location, "seoul-kt");
        assert_eq!(
            s.detection.confirm_after,
            vec![Duration::from_secs(2), Duration::from_secs(4)]
        );
        assert_eq!(s.detection.reopen_window, Duration::from_secs(600));
        assert_eq!(s.notify.sms_delivery_timeout, Duration::from_secs(120));
        assert_eq!(s.sms.len(), 1);
        assert_eq!(s.sms[0].provider, SmsProviderKind::Twilio);
        assert_eq!(s.sms[0].validity, Duration::from_secs(900));
        assert_eq!(
            s.email.as_ref().map(|e| e.password_env.as_deref()),
            Some(Some("SMTP_PASSWORD"))
        );
        let dep = &s.dependency[0];
        assert_eq!(dep.slug, "kakao-login");
        assert_eq!(
            dep.check[0].expect_json["issuer"],
            serde_json::json!("https://kauth.kakao.com")
        );
        assert_eq!(
            dep.check[0].degraded_latency,
            Some(Duration::from_millis(1500))
        );
        // The secret is not in the file and Debug never shows a token.
        assert!(!format!("{s:?}").contains("TWILIO_AUTH_TOKEN="));
    }

    #[test]
    fn an_unknown_key_names_the_key_and_its_line() {
        let text = readme_example().replace("  interval = \"10s\"", "  intervall = \"10s\"");
        let e = load_str(&text, Some(Path::new("meoktong.toml"))).expect_err("typo must fail");
        let msg = e.to_string();
        let line = text
            .lines()
            .position(|l| l.contains("intervall"))
            .expect("line")
            + 1;
        assert!(
            msg.starts_with(&format!("meoktong.toml: line {line}:")),
            "{msg}"
        );
        assert!(msg.contains("intervall"), "{msg}");
    }

    #[test]
    fn canaries_default_to_public_connectivity_checks_and_an_empty_list_turns_them_off() {
        let s = load_str("", None).expect("defaults");
        assert_eq!(s.probe.canaries.len(), 3);
        assert!(s.probe.canaries.iter().all(|u| u.starts_with("http://")));
        let s = load_str("[probe]\ncanaries = []\n", None).expect("off");
        assert!(s.probe.canaries.is_empty());
        let e = load_str("[probe]\ncanaries = [\"ftp://x\"]\n", None).expect_err("scheme");
        assert!(e.to_string().contains("probe.canaries[0]"), "{e}");
    }

    #[test]
    fn compensation_tiers_default_to_2022_and_are_checked() {
        let s = load_str("", None).expect("defaults");
        assert_eq!(
            s.compensation.domain_tiers(),
            meoktong_domain::claims::TIERS_2022.to_vec()
        );
        let s = load_str(
            "[compensation]\ntiers = [{ up_to_krw = 100000, estimate_krw = 10000 }]\nbasis = \"test\"\n",
            None,
        )
        .expect("custom");
        assert_eq!(s.compensation.tiers.len(), 1);
        let e = load_str(
            "[compensation]\ntiers = [{ up_to_krw = 500000, estimate_krw = 1 }, { up_to_krw = 300000, estimate_krw = 2 }]\n",
            None,
        )
        .expect_err("descending");
        assert!(e.to_string().contains("compensation.tiers[1]"), "{e}");
        let e = load_str("[compensation]\ntier = []\n", None).expect_err("unknown key");
        assert!(e.to_string().contains("tier"), "{e}");
        let e = load_str(
            "[compensation]\ntiers = [{ up_to = 1, estimate_krw = 1 }]\n",
            None,
        )
        .expect_err("unknown tier key");
        assert!(e.to_string().contains("up_to"), "{e}");
    }

    #[test]
    fn bad_values_name_the_key() {
        let e = load_str("[detection]\nrecovery_successes = 0\n", None).expect_err("invalid");
        assert!(
            e.to_string().contains("detection.recovery_successes"),
            "{e}"
        );
        let e = load_str("[notify]\ntime_zone = \"Mars/Olympus\"\n", None).expect_err("invalid");
        assert!(e.to_string().contains("notify.time_zone"), "{e}");
        let e = load_str("[notify]\nack_timeout = \"soon\"\n", None).expect_err("invalid");
        assert!(e.to_string().contains("line 2"), "{e}");
        let text = "[[dependency]]\nslug=\"a\"\nname=\"A\"\ncategory=\"login\"\n[[dependency.check]]\nname=\"c\"\ntype=\"http\"\nurl=\"https://x.example\"\ninterval=\"500ms\"\n";
        let e = load_str(text, None).expect_err("interval too short");
        assert!(e.to_string().contains("interval"), "{e}");
    }

    #[test]
    fn trusted_proxies_are_addresses_or_blocks() {
        let s = load_str("", None).expect("defaults");
        assert!(s.server.trusted_proxies.is_empty(), "none by default");
        let s = load_str(
            "[server]\ntrusted_proxies = [\"10.0.0.0/8\", \"127.0.0.1\", \"fd00::/8\"]\n",
            None,
        )
        .expect("valid");
        let nets = s.server.trusted_proxy_nets();
        let ip = |s: &str| s.parse::<std::net::IpAddr>().expect("ip");
        assert!(nets.iter().any(|n| n.contains(ip("10.2.3.4"))));
        assert!(nets.iter().any(|n| n.contains(ip("::ffff:127.0.0.1"))));
        assert!(nets.iter().any(|n| n.contains(ip("fd12::1"))));
        assert!(!nets.iter().any(|n| n.contains(ip("127.0.0.2"))));
        assert!(!nets.iter().any(|n| n.contains(ip("192.168.1.1"))));
        let e = load_str("[server]\ntrusted_proxies = [\"10.0.0.0/33\"]\n", None)
            .expect_err("bad block");
        assert!(e.to_string().contains("server.trusted_proxies[0]"), "{e}");
        let e = load_str("[server]\ntrusted_proxie = []\n", None).expect_err("typo");
        assert!(e.to_string().contains("trusted_proxie"), "{e}");
    }

    #[test]
    fn env_placeholders_must_exist() {
        let e = expand_env(
            "KakaoAK ${MEOKTONG_TEST_SURELY_UNSET_VAR}",
            "dependency.x.check.y",
            "f.toml",
        )
        .expect_err("missing");
        assert!(
            e.to_string().contains("MEOKTONG_TEST_SURELY_UNSET_VAR"),
            "{e}"
        );
        assert_eq!(
            expand_env("${step.jwks_uri}", "k", "f").expect("kept"),
            "${step.jwks_uri}"
        );
    }

    #[test]
    fn maintenance_windows_need_a_dependency_and_an_end_after_the_start() {
        let ok = "[[maintenance]]\ndependency = \"kakaotalk\"\nstarts_at = \"2026-12-20T02:00:00+09:00\"\nends_at = \"2026-12-20T04:00:00+09:00\"\ntitle = \"정기 점검\"\n";
        let s = load_str(ok, None).expect("valid");
        assert_eq!(s.maintenance[0].title, "정기 점검");
        let backwards = ok.replace("04:00", "01:00");
        let e = load_str(&backwards, None).expect_err("end before start");
        assert!(e.to_string().contains("maintenance[0].ends_at"), "{e}");
        let bad = ok.replace("2026-12-20T02:00:00+09:00", "tomorrow");
        assert!(load_str(&bad, None).is_err());
    }

    #[test]
    fn the_readme_solapi_example_parses() {
        let readme = include_str!("../../../README.md");
        let start = readme
            .find("```toml\n[[sms]]\nprovider = \"solapi\"")
            .expect("the Solapi example in the README")
            + "```toml\n".len();
        let end = start + readme[start..].find("```").expect("end of block");
        let s = load_str(&readme[start..end], Some(Path::new("README.md"))).expect("valid");
        assert_eq!(s.sms.len(), 2);
        assert_eq!(s.sms[0].provider, SmsProviderKind::Solapi);
        assert_eq!(s.sms[0].base_url, "https://api.solapi.com");
        assert_eq!((s.sms[0].rate_per_second, s.sms[0].batch_size), (50, 100));
        assert_eq!(s.sms[1].provider, SmsProviderKind::Twilio);
    }

    #[test]
    fn the_readme_voice_example_parses() {
        let readme = include_str!("../../../README.md");
        let start = readme
            .find("```toml\n[voice]\n")
            .expect("the [voice] example in the README")
            + "```toml\n".len();
        let end = start + readme[start..].find("```").expect("end of block");
        let s = load_str(&readme[start..end], Some(Path::new("README.md"))).expect("valid");
        let v = s.voice.expect("[voice]");
        assert_eq!(v.provider, crate::model::VoiceProviderKind::Twilio);
        assert_eq!(v.base_url, "https://api.twilio.com");
        assert_eq!(v.from, "+15005550006");
    }

    #[test]
    fn a_solapi_provider_takes_its_own_keys_and_defaults() {
        let text = "[[sms]]\nprovider = \"solapi\"\nfrom = \"0212345678\"\nrate_per_second = 50\n\n[[sms]]\nprovider = \"twilio\"\naccount_sid = \"AC1\"\nfrom = \"+15005550006\"\n";
        let s = load_str(text, None).expect("valid");
        assert_eq!(s.sms[0].provider, SmsProviderKind::Solapi);
        assert_eq!(s.sms[0].base_url, "https://api.solapi.com");
        assert_eq!(s.sms[0].api_key_env, "SOLAPI_API_KEY");
        assert_eq!(s.sms[0].api_secret_env, "SOLAPI_API_SECRET");
        assert_eq!(s.sms[0].batch_size, 100);
        assert_eq!(s.sms[1].base_url, "https://api.twilio.com");
        let e = load_str(
            "[[sms]]\nprovider = \"solapi\"\nfrom = \"0212345678\"\naccount_sid = \"AC1\"\n",
            None,
        )
        .expect_err("a Twilio key on Solapi");
        assert!(e.to_string().contains("sms[0].account_sid"), "{e}");
        let e = load_str(
            "[[sms]]\nprovider = \"twilio\"\naccount_sid = \"AC1\"\nfrom = \"+1500\"\nbatch_size = 5\n",
            None,
        )
        .expect_err("a Solapi key on Twilio");
        assert!(e.to_string().contains("sms[0].batch_size"), "{e}");
        let e = load_str(
            "[[sms]]\nprovider = \"solapi\"\nfrom = \"+821012345678\"\n",
            None,
        )
        .expect_err("not a registered domestic number");
        assert!(e.to_string().contains("sms[0].from"), "{e}");
        let e = load_str(
            "[[sms]]\nprovider = \"solapi\"\nfrom = \"0212345678\"\nbatch_size = 0\n",
            None,
        )
        .expect_err("batch size");
        assert!(e.to_string().contains("batch_size"), "{e}");
    }

    #[test]
    fn defaults_are_the_contracts() {
        let s = load_str("", None).expect("defaults");
        assert_eq!(s.notify.dispatch_concurrency, 32);
        assert_eq!(s.notify.failover_after, Duration::from_secs(30));
        assert_eq!(s.notify.voice_after, Duration::from_secs(180));
        assert!(s.voice.is_none(), "no [voice]: no calls");
        assert_eq!(
            s.channels.platform_domains["kakao"],
            vec!["daum.net", "hanmail.net", "kakao.com"]
        );
        assert_eq!(normalize_cron("*/10 * * * * *"), "*/10 * * * * * *");
    }

    #[test]
    fn voice_takes_its_own_keys_strictly() {
        let text =
            "[voice]\nprovider = \"twilio\"\naccount_sid = \"AC1\"\nfrom = \"+15005550006\"\n";
        let s = load_str(text, None).expect("valid");
        let v = s.voice.expect("configured");
        assert_eq!(v.base_url, "https://api.twilio.com");
        assert_eq!(v.auth_token_env, "TWILIO_AUTH_TOKEN");
        let e = load_str(&format!("{text}rate_per_second = 1\n"), None).expect_err("unknown key");
        assert!(e.to_string().contains("rate_per_second"), "{e}");
        let e = load_str("[voice]\naccount_sid = \"AC1\"\nfrom = \"0101234\"\n", None)
            .expect_err("not E.164");
        assert!(e.to_string().contains("voice.from"), "{e}");
        let e = load_str("[voice]\nfrom = \"+15005550006\"\n", None).expect_err("no sid");
        assert!(e.to_string().contains("voice.account_sid"), "{e}");
    }
}
