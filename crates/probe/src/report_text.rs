//! `meoktong check URL` output: one verdict line, then the timing breakdown (like `curl -w`).
//! For JSON, serialize the [`ProbeReport`] with serde (`serde_json::to_string_pretty`).
use crate::report::ProbeReport;
use meoktong_domain::Outcome;
use std::fmt::Write;
use std::time::Duration;

/// The verdict word: `UP`, `DEGRADED`, `DOWN`, `CONFIG`.
pub fn verdict_word(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Ok => "UP",
        Outcome::Degraded => "DEGRADED",
        Outcome::Fail => "DOWN",
        Outcome::ConfigError => "CONFIG",
    }
}

fn ms(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms < 10.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{} ms", ms.round() as u64)
    }
}

/// ```text
/// UP 200 in 123 ms  https://kauth.kakao.com/.well-known/openid-configuration
///   dns            3.1 ms
///   connect        9.8 ms
///   tls             41 ms
///   first byte     118 ms
///   total          123 ms
/// ```
/// Failures read `DOWN connect refused by 127.0.0.1:9 (0.4 ms)`, `CONFIG 401 kakao -401: ...`.
pub fn format_report(check_url: &str, r: &ProbeReport) -> String {
    let mut out = String::with_capacity(256);
    out.push_str(verdict_word(r.outcome));
    if let Some(status) = r.status {
        let _ = write!(out, " {status}");
    }
    let total = ms(r.timings.total);
    match (r.outcome, r.error.as_deref()) {
        (Outcome::Ok, _) | (_, None) => {
            let _ = write!(out, " in {total}");
        }
        (Outcome::Degraded, Some(e)) => {
            let _ = write!(out, " in {total}: {e}");
        }
        (_, Some(e)) => {
            let _ = write!(out, " {e} ({total})");
        }
    }
    if !check_url.is_empty() {
        let _ = write!(out, "  {check_url}");
    }
    out.push('\n');
    let t = &r.timings;
    let rows = [
        ("dns", t.dns),
        ("connect", t.connect),
        ("tls", t.tls),
        ("first byte", t.first_byte),
        ("total", Some(t.total)),
    ];
    for (label, value) in rows {
        if let Some(v) = value {
            let _ = writeln!(out, "  {label:<12}{:>10}", ms(v));
        }
    }
    if let Some(code) = &r.provider_code {
        let _ = writeln!(out, "  {:<12}{code}", "provider");
    }
    if let Some(detail) = &r.detail {
        let _ = writeln!(out, "  {detail}");
    }
    if r.resolver_failure {
        let _ = writeln!(out, "  (failed while resolving the host name)");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Timings;
    use meoktong_domain::FailureClass;

    fn report(outcome: Outcome) -> ProbeReport {
        ProbeReport {
            started_at: 0,
            outcome,
            class: None,
            status: Some(200),
            provider_code: None,
            error: None,
            timings: Timings {
                dns: Some(Duration::from_micros(3100)),
                connect: Some(Duration::from_micros(9800)),
                tls: Some(Duration::from_millis(41)),
                first_byte: Some(Duration::from_millis(118)),
                total: Duration::from_millis(123),
            },
            detail: None,
            resolver_failure: false,
        }
    }

    #[test]
    fn up_line_and_breakdown() {
        let text = format_report("https://kauth.kakao.com/x", &report(Outcome::Ok));
        let expected = "UP 200 in 123 ms  https://kauth.kakao.com/x\n  dns             3.1 ms\n  connect         9.8 ms\n  tls              41 ms\n  first byte      118 ms\n  total           123 ms\n";
        assert_eq!(text, expected);
    }

    #[test]
    fn down_and_config_lines() {
        let mut r = report(Outcome::Fail);
        r.status = None;
        r.class = Some(FailureClass::Provider);
        r.error = Some("connect refused by 127.0.0.1:9".into());
        r.timings = Timings {
            connect: None,
            total: Duration::from_micros(400),
            ..Timings::default()
        };
        let text = format_report("http://127.0.0.1:9/", &r);
        assert!(
            text.starts_with("DOWN connect refused by 127.0.0.1:9 (0.4 ms)  http://127.0.0.1:9/\n"),
            "{text}"
        );
        assert!(!text.contains("dns"));

        let mut r = report(Outcome::ConfigError);
        r.status = Some(401);
        r.provider_code = Some("-401".into());
        r.error = Some("kakao -401: invalid appKey".into());
        let text = format_report("u", &r);
        assert!(
            text.starts_with("CONFIG 401 kakao -401: invalid appKey (123 ms)  u\n"),
            "{text}"
        );
        assert!(text.contains("  provider    -401\n"), "{text}");

        let mut r = report(Outcome::Degraded);
        r.error = Some("slow: 123 ms, over 100 ms".into());
        assert!(
            format_report("", &r)
                .starts_with("DEGRADED 200 in 123 ms: slow: 123 ms, over 100 ms\n")
        );
    }
}
