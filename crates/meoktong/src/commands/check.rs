//! `meoktong check URL`: one probe, its verdict and timing breakdown, like `curl -w`.
//! Exit 0 healthy, 1 degraded or failing, 2 usage error.
use super::{CmdResult, Failure};
use crate::cli::CheckArgs;
use meoktong_config::{CheckKind, CheckSettings, Dialect, Settings};
use meoktong_domain::Outcome;
use meoktong_probe::report_text::format_report;
use meoktong_probe::{Runner, RunnerOptions, SsrfPolicy};
use std::collections::BTreeMap;

fn duration(flag: &str, v: &str) -> Result<std::time::Duration, Failure> {
    humantime::parse_duration(v)
        .map_err(|e| Failure::usage(format!("{flag}: `{v}` is not a duration ({e})")))
}

pub fn check_settings(args: &CheckArgs) -> Result<CheckSettings, Failure> {
    let kind = match args.kind.as_str() {
        "http" => CheckKind::Http,
        "tcp" => CheckKind::Tcp,
        "dns" => CheckKind::Dns,
        "tls" => CheckKind::Tls,
        other => {
            return Err(Failure::usage(format!(
                "--type: `{other}` is not http, tcp, dns or tls"
            )));
        }
    };
    let mut expect_json = BTreeMap::new();
    for pair in &args.expect_json {
        let (path, value) = pair
            .split_once('=')
            .ok_or_else(|| Failure::usage(format!("--expect-json: `{pair}` is not PATH=VALUE")))?;
        // A JSON value if it parses as one, else a plain string.
        let value = serde_json::from_str(value)
            .unwrap_or_else(|_| serde_json::Value::String(value.to_string()));
        expect_json.insert(path.to_string(), value);
    }
    let mut headers = BTreeMap::new();
    for h in &args.headers {
        let (k, v) = h
            .split_once(':')
            .ok_or_else(|| Failure::usage(format!("--header: `{h}` is not `Name: value`")))?;
        headers.insert(k.trim().to_string(), v.trim().to_string());
    }
    let dialect = match args.dialect.as_deref() {
        None => None,
        Some("kakao") => Some(Dialect::Kakao),
        Some("toss") => Some(Dialect::Toss),
        Some("statuspage") => Some(Dialect::Statuspage),
        Some(other) => {
            return Err(Failure::usage(format!(
                "--dialect: `{other}` is not kakao, toss or statuspage"
            )));
        }
    };
    let check = CheckSettings {
        name: "cli".into(),
        kind,
        url: Some(args.url.clone()),
        method: Some(args.method.clone()),
        headers,
        body: None,
        expect_status: args.expect_status.clone(),
        expect_body_contains: args.expect_body_contains.clone(),
        expect_json,
        expect_json_exists: args.expect_json_exists.clone(),
        record_type: None,
        expect_records: Vec::new(),
        min_days_valid: None,
        dialect,
        steps: Vec::new(),
        interval: None,
        schedule: None,
        timeout: Some(duration("--timeout", &args.timeout)?),
        degraded_latency: args
            .degraded_latency
            .as_deref()
            .map(|d| duration("--degraded-latency", d))
            .transpose()?,
    };
    meoktong_config::validate_check(&check, "check", "command line")
        .map_err(|e| Failure::usage(e.to_string()))?;
    Ok(check)
}

pub async fn check(_settings: Settings, args: &CheckArgs) -> CmdResult {
    let check = check_settings(args)?;
    // The operator typed this URL on their own machine: private targets are allowed.
    let runner = Runner::new(RunnerOptions {
        ssrf: SsrfPolicy {
            allow_private: true,
        },
        ..RunnerOptions::default()
    });
    let report = runner.run(&check, meoktong_storage::now_ms()).await;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", format_report(&args.url, &report));
    }
    match report.outcome {
        Outcome::Ok => Ok(()),
        _ => Err(Failure {
            code: 1,
            message: format!("{} is not healthy", args.url),
        }),
    }
}
