//! The `dns` check: resolve a name for one record type with hickory (system resolver
//! configuration, no cache so every probe asks); every `expect_records` value must be answered.
use crate::classify::Verdict;
use crate::net::{Progress, Stage};
use crate::runner::{Finding, Shared};
use hickory_resolver::TokioResolver;
use hickory_resolver::proto::rr::{RData, RecordType};
use meoktong_config::CheckSettings;

/// The shared resolver: `/etc/resolv.conf` (or the OS equivalent), hosts file on, cache off.
pub(crate) fn system_resolver() -> Result<TokioResolver, String> {
    let mut builder = TokioResolver::builder_tokio()
        .map_err(|e| format!("cannot read the system resolver configuration: {e}"))?;
    builder.options_mut().cache_size = 0;
    Ok(builder.build())
}

/// `A` (default), `AAAA`, `CNAME`, `MX`, `TXT`.
pub fn parse_record_type(s: Option<&str>) -> Result<RecordType, String> {
    match s.map(|s| s.trim().to_ascii_uppercase()).as_deref() {
        None | Some("" | "A") => Ok(RecordType::A),
        Some("AAAA") => Ok(RecordType::AAAA),
        Some("CNAME") => Ok(RecordType::CNAME),
        Some("MX") => Ok(RecordType::MX),
        Some("TXT") => Ok(RecordType::TXT),
        Some(other) => Err(format!(
            "record_type `{other}` is not A, AAAA, CNAME, MX or TXT"
        )),
    }
}

/// The host name of a `dns` check's `url`: a bare name, or the host of a URL.
fn host_of(target: &str) -> Option<String> {
    let target = target.trim();
    if target.contains("://") {
        return url::Url::parse(target).ok()?.host_str().map(str::to_string);
    }
    (!target.is_empty()).then(|| target.to_string())
}

fn name_text(name: &impl ToString) -> String {
    name.to_string().trim_end_matches('.').to_ascii_lowercase()
}

/// One answer as text: `1.2.3.4`, `mx.example.com` (CNAME), `10 mx.example.com` (MX), TXT joined.
pub(crate) fn answer_text(rdata: &RData) -> Option<String> {
    Some(match rdata {
        RData::A(a) => a.0.to_string(),
        RData::AAAA(a) => a.0.to_string(),
        RData::CNAME(c) => name_text(&c.0),
        RData::MX(mx) => format!("{} {}", mx.preference(), name_text(mx.exchange())),
        RData::TXT(txt) => txt
            .iter()
            .map(|part| String::from_utf8_lossy(part))
            .collect(),
        _ => return None,
    })
}

/// Whether `expected` is among `answers` (names compare without case or trailing dot; an MX may
/// be given with or without its preference).
pub fn answered(record_type: RecordType, answers: &[String], expected: &str) -> bool {
    let want = expected.trim();
    match record_type {
        RecordType::TXT => answers.iter().any(|a| a == want),
        RecordType::A | RecordType::AAAA => {
            let want_ip = want.parse::<std::net::IpAddr>().ok();
            answers
                .iter()
                .any(|a| a == want || (want_ip.is_some() && a.parse().ok() == want_ip))
        }
        _ => {
            let want = want.trim_end_matches('.').to_ascii_lowercase();
            answers.iter().any(|a| {
                *a == want
                    || (record_type == RecordType::MX
                        && a.split_once(' ').map(|(_, n)| n) == Some(&want))
            })
        }
    }
}

pub(crate) async fn run(shared: &Shared, check: &CheckSettings, p: &mut Progress<'_>) -> Finding {
    let Some(host) = check.url.as_deref().and_then(host_of) else {
        return Finding::new(Verdict::config("a dns check needs a host name in url"));
    };
    let record_type = match parse_record_type(check.record_type.as_deref()) {
        Ok(t) => t,
        Err(e) => return Finding::new(Verdict::config(e)),
    };
    let resolver = match shared.resolver() {
        Ok(r) => r,
        Err(e) => {
            return Finding {
                resolver_failure: true,
                ..Finding::new(Verdict::fail(format!("DNS: {e}")))
            };
        }
    };
    p.stage = Stage::Resolving;
    let lookup = resolver.lookup(host.as_str(), record_type).await;
    p.timings.dns = p.mark();
    let answers: Vec<String> = match lookup {
        Ok(l) => l.iter().filter_map(answer_text).collect(),
        Err(e) => {
            let what = if e.is_no_records_found() {
                format!("no {record_type} records for {host}")
            } else {
                format!("{host}: {e}")
            };
            return Finding {
                resolver_failure: true,
                ..Finding::new(Verdict::fail(format!("DNS: {what}")))
            };
        }
    };
    if answers.is_empty() {
        let v = Verdict::fail(format!("DNS: no {record_type} records for {host}"));
        return Finding {
            resolver_failure: true,
            ..Finding::new(v)
        };
    }
    let mut detail = format!("{record_type}: ");
    for (i, a) in answers.iter().take(8).enumerate() {
        if i > 0 {
            detail.push_str(", ");
        }
        detail.push_str(a);
    }
    if answers.len() > 8 {
        detail.push_str(&format!(" (+{})", answers.len() - 8));
    }
    let missing = check
        .expect_records
        .iter()
        .find(|want| !answered(record_type, &answers, want));
    let verdict = match missing {
        Some(want) => Verdict::fail(format!(
            "DNS: {want} is not among the {record_type} answers for {host}"
        )),
        None => Verdict::ok(),
    };
    Finding {
        detail: Some(detail),
        ..Finding::new(verdict)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_types() {
        assert_eq!(parse_record_type(None), Ok(RecordType::A));
        assert_eq!(parse_record_type(Some("aaaa")), Ok(RecordType::AAAA));
        assert_eq!(parse_record_type(Some("MX")), Ok(RecordType::MX));
        assert!(parse_record_type(Some("SRV")).is_err());
    }

    #[test]
    fn matching_answers() {
        let a = vec!["211.249.220.24".to_string(), "2404:6800::1".to_string()];
        assert!(answered(RecordType::A, &a, "211.249.220.24"));
        assert!(answered(RecordType::AAAA, &a, "2404:6800:0::1"));
        assert!(!answered(RecordType::A, &a, "1.1.1.1"));
        let mx = vec!["10 mx1.kakao.com".to_string()];
        assert!(answered(RecordType::MX, &mx, "mx1.kakao.com."));
        assert!(answered(RecordType::MX, &mx, "10 MX1.kakao.com"));
        let cname = vec!["kakao.map.edge".to_string()];
        assert!(answered(RecordType::CNAME, &cname, "Kakao.Map.Edge."));
        let txt = vec!["v=spf1 include:_spf.kakao.com ~all".to_string()];
        assert!(answered(
            RecordType::TXT,
            &txt,
            "v=spf1 include:_spf.kakao.com ~all"
        ));
        assert!(!answered(RecordType::TXT, &txt, "v=spf1"));
    }

    #[test]
    fn host_of_accepts_names_and_urls() {
        assert_eq!(host_of("kakao.com").as_deref(), Some("kakao.com"));
        assert_eq!(
            host_of("https://kauth.kakao.com/x").as_deref(),
            Some("kauth.kakao.com")
        );
        assert_eq!(host_of("  "), None);
    }
}
