//! The `steps` check: HTTP requests in order; `capture` keeps JSON values that later steps use as
//! `${step.var}` in their url, headers and body. The first failing step fails the check.
use crate::classify::{HttpExpectations, Verdict, classify_http};
use crate::expect;
use crate::http::{HttpRequest, exchange};
use crate::net::Progress;
use crate::runner::{Finding, Shared};
use meoktong_config::CheckSettings;
use meoktong_domain::Outcome;
use std::borrow::Cow;
use std::collections::BTreeMap;

/// Captured values, keyed `step.var`.
pub type Captures = Vec<(String, String)>;

/// Replaces each `${step.var}` with its captured value. `${NAME}` without a dot is left alone
/// (environment variables are expanded when the config is loaded). An unknown capture is an error.
pub fn substitute<'s>(
    text: &'s str,
    captures: &[(String, String)],
) -> Result<Cow<'s, str>, String> {
    if !text.contains("${") {
        return Ok(Cow::Borrowed(text));
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[start..]);
            return Ok(Cow::Owned(out));
        };
        let name = &after[..end];
        if name.contains('.') {
            let value = captures
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v)
                .ok_or_else(|| {
                    format!("unknown reference `${{{name}}}` (no earlier step captured it)")
                })?;
            out.push_str(value);
        } else {
            out.push_str(&rest[start..start + 2 + end + 1]);
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(Cow::Owned(out))
}

fn in_step(step: &str, mut v: Verdict) -> Verdict {
    v.error = Some(format!("step `{step}`: {}", v.error.unwrap_or_default()));
    v
}

pub(crate) async fn run<'a>(
    shared: &Shared,
    check: &'a CheckSettings,
    p: &mut Progress<'a>,
) -> Finding {
    if check.steps.is_empty() {
        return Finding::new(Verdict::config("a steps check needs at least one step"));
    }
    let mut captures: Captures = Vec::new();
    let mut status = None;
    for step in &check.steps {
        let prepared = (|| {
            let url = substitute(&step.url, &captures)?;
            let mut headers = BTreeMap::new();
            for (k, v) in &step.headers {
                headers.insert(k.clone(), substitute(v, &captures)?.into_owned());
            }
            let body = step
                .body
                .as_deref()
                .map(|b| substitute(b, &captures))
                .transpose()?;
            Ok::<_, String>((url, headers, body))
        })();
        let (url, headers, body) = match prepared {
            Ok(parts) => parts,
            Err(e) => return Finding::new(in_step(&step.name, Verdict::config(e))),
        };
        let exp = HttpExpectations::from_step(step, check.dialect);
        let req = HttpRequest {
            method: step.method.as_deref().unwrap_or("GET"),
            url: &url,
            headers: &headers,
            body: body.as_deref(),
            keep_body: exp.needs_body(),
        };
        p.begin_request(Some(&step.name));
        let resp = match exchange(shared, &req, p).await {
            Ok(r) => r,
            Err(e) => {
                let f = Finding::net(e);
                return Finding {
                    verdict: in_step(&step.name, f.verdict),
                    status,
                    ..f
                };
            }
        };
        status = Some(resp.status);
        let judged = classify_http(&exp, resp.status, &resp.body);
        if judged.verdict.outcome != Outcome::Ok {
            return Finding {
                status,
                ..Finding::new(in_step(&step.name, judged.verdict))
            };
        }
        for (var, path) in &step.capture {
            let found = judged
                .json
                .as_ref()
                .map(|json| expect::first_as_string(json, path));
            let value = match found {
                Some(Ok(Some(v))) => v,
                Some(Err(e)) => {
                    return Finding {
                        status,
                        ..Finding::new(in_step(&step.name, Verdict::config(e)))
                    };
                }
                Some(Ok(None)) | None => {
                    let v = Verdict::fail(format!("capture `{var}`: `{path}` matched nothing"));
                    return Finding {
                        status,
                        ..Finding::new(in_step(&step.name, v))
                    };
                }
            };
            captures.push((format!("{}.{var}", step.name), value));
        }
    }
    let detail = format!("{} steps", check.steps.len());
    Finding {
        status,
        detail: Some(detail),
        ..Finding::new(Verdict::ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substitutes_captures_only() -> Result<(), String> {
        let caps = vec![(
            "discovery.jwks_uri".to_string(),
            "https://kauth.kakao.com/.well-known/jwks.json".to_string(),
        )];
        assert_eq!(
            substitute("${discovery.jwks_uri}", &caps)?,
            "https://kauth.kakao.com/.well-known/jwks.json"
        );
        assert_eq!(
            substitute("a ${discovery.jwks_uri} b ${ENV} c", &caps)?,
            "a https://kauth.kakao.com/.well-known/jwks.json b ${ENV} c"
        );
        assert!(matches!(
            substitute("plain", &caps)?,
            Cow::Borrowed("plain")
        ));
        assert_eq!(substitute("open ${x", &caps)?, "open ${x");
        let err = substitute("${login.token}", &caps).err();
        assert_eq!(
            err.as_deref(),
            Some("unknown reference `${login.token}` (no earlier step captured it)")
        );
        Ok(())
    }
}
