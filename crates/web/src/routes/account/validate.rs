//! Parse, don't validate: forms of the account pages become typed values or field messages.
use crate::auth::password::MIN_LENGTH;
use crate::i18n::Lang;
use crate::views::Errors;
use meoktong_domain::contact::{EmailAddr, platform_of_email};
use meoktong_domain::phone::{PhoneError, parse_mobile};
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Default, Deserialize)]
pub struct SignUpForm {
    #[serde(default)]
    pub csrf: String,
    #[serde(default)]
    pub business_name: String,
    #[serde(default)]
    pub owner_name: String,
    #[serde(default)]
    pub phone: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub password: String,
}

pub struct ValidSignUp {
    pub business_name: String,
    pub owner_name: String,
    pub phone: String,
    pub email: String,
    pub email_platform: Option<String>,
    pub password: String,
}

pub fn phone_message(lang: Lang, e: PhoneError) -> &'static str {
    match e {
        PhoneError::Landline => lang.t(
            "유선 전화는 문자를 받을 수 없습니다. 휴대폰 번호를 적어 주세요.",
            "A landline cannot receive SMS; give a mobile number.",
        ),
        PhoneError::NotMobile => lang.t(
            "문자를 받을 수 있는 휴대폰 번호가 아닙니다.",
            "This number cannot receive SMS; give a mobile number.",
        ),
        PhoneError::Invalid => lang.t(
            "휴대폰 번호를 확인해 주세요 (예: 010-1234-5678).",
            "Check the mobile number (e.g. 010-1234-5678).",
        ),
    }
}

pub fn email_message(lang: Lang) -> &'static str {
    lang.t("이메일 주소를 확인해 주세요.", "Check the email address.")
}

/// A required short text: trimmed, 1..=max characters.
pub fn short_text(
    errors: &mut Errors,
    field: &'static str,
    value: &str,
    max: usize,
    lang: Lang,
) -> String {
    let v = value.trim();
    if v.is_empty() {
        errors.add(field, lang.t("필수 항목입니다.", "Required."));
    } else if v.chars().count() > max {
        errors.add(field, lang.t("너무 깁니다.", "Too long."));
    } else if let Err(problem) = meoktong_domain::text::check_line(v) {
        errors.add(
            field,
            crate::services::merchant::text_message(lang, problem),
        );
    }
    v.to_string()
}

pub fn password(errors: &mut Errors, value: &str, lang: Lang) {
    if value.chars().count() < MIN_LENGTH {
        errors.add(
            "password",
            lang.t(
                "비밀번호는 10자 이상이어야 합니다.",
                "The password needs at least 10 characters.",
            ),
        );
    } else if value.chars().count() > 256 {
        errors.add(
            "password",
            lang.t("비밀번호가 너무 깁니다.", "The password is too long."),
        );
    }
}

pub fn sign_up(
    f: &SignUpForm,
    lang: Lang,
    domains: &BTreeMap<String, Vec<String>>,
) -> Result<ValidSignUp, Errors> {
    let mut errors = Errors::default();
    let business_name = short_text(&mut errors, "business_name", &f.business_name, 100, lang);
    let owner_name = short_text(&mut errors, "owner_name", &f.owner_name, 60, lang);
    let phone = match parse_mobile(&f.phone) {
        Ok(p) => p.into_string(),
        Err(e) => {
            errors.add("phone", phone_message(lang, e));
            String::new()
        }
    };
    let (email, email_platform) = match EmailAddr::parse(&f.email) {
        Ok(e) => {
            let platform = platform_of_email(&e, domains).map(str::to_string);
            (e.into_string(), platform)
        }
        Err(_) => {
            errors.add("email", email_message(lang));
            (String::new(), None)
        }
    };
    password(&mut errors, &f.password, lang);
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(ValidSignUp {
        business_name,
        owner_name,
        phone,
        email,
        email_platform,
        password: f.password.clone(),
    })
}

/// A local path to go to after signing in; anything else becomes the default.
///
/// Browsers strip tab, CR and LF from URLs and read `\` as `/`, so `/\t/evil.example/` would
/// leave the site: control characters, whitespace other than a plain space and backslashes
/// are refused outright. What is left is resolved against this site with a WHATWG URL parser
/// (the `url` crate, the same rules a browser follows) and accepted only when it stays on the
/// site; the answer is the parsed path, query and fragment, so it is always a valid header
/// value.
pub fn safe_next(next: Option<&str>) -> Option<String> {
    const SITE: &str = "http://meoktong.invalid/";
    let n = next?;
    if !n.starts_with('/')
        || n.starts_with("//")
        || n.len() >= 512
        || n.chars()
            .any(|c| c == '\\' || c.is_control() || (c.is_whitespace() && c != ' '))
    {
        return None;
    }
    let base = url::Url::parse(SITE).ok()?;
    let target = base.join(n).ok()?;
    let same_site = target.scheme() == base.scheme()
        && target.host_str() == base.host_str()
        && target.port() == base.port()
        && target.username().is_empty()
        && target.password().is_none();
    let local = &target[url::Position::BeforePath..];
    (same_site && local.starts_with('/') && !local.starts_with("//")).then(|| local.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form() -> SignUpForm {
        SignUpForm {
            csrf: String::new(),
            business_name: "행복분식".into(),
            owner_name: "김사장".into(),
            phone: "010-1234-5678".into(),
            email: "owner@example.com".into(),
            password: "correct horse battery".into(),
        }
    }

    #[test]
    fn a_good_form_is_normalised() {
        let Ok(v) = sign_up(&form(), Lang::Ko, &BTreeMap::new()) else {
            panic!("valid")
        };
        assert_eq!(v.phone, "+821012345678");
        assert_eq!(v.email, "owner@example.com");
    }

    #[test]
    fn bad_fields_each_get_a_message() {
        let f = SignUpForm {
            phone: "02-123-4567".into(),
            email: "nope".into(),
            password: "short".into(),
            business_name: " ".into(),
            ..form()
        };
        let Err(errors) = sign_up(&f, Lang::En, &BTreeMap::new()) else {
            panic!("invalid")
        };
        let fields: Vec<&str> = errors.0.iter().map(|(f, _)| *f).collect();
        assert_eq!(fields, ["business_name", "phone", "email", "password"]);
        assert!(errors.0[1].1.contains("landline"));
    }

    #[test]
    fn next_must_stay_on_this_site() {
        assert_eq!(safe_next(Some("/dashboard")), Some("/dashboard".into()));
        assert_eq!(safe_next(Some("//evil.example")), None);
        assert_eq!(safe_next(Some("https://evil.example")), None);
        assert_eq!(
            safe_next(Some("/reports?x=1&y=2")),
            Some("/reports?x=1&y=2".into())
        );
    }

    #[test]
    fn next_refuses_what_browsers_strip_or_bend() {
        for evil in [
            "/\t/evil.example/",
            "/\r/evil.example/",
            "/\n/evil.example/",
            "/\t\t/evil.example",
            "/\\evil.example",
            "/\\/evil.example",
            "\\\\evil.example",
            "/\u{1}x",
            "/\u{7f}x",
            "/\u{0b}/evil.example",
            "/\u{a0}/evil.example",
            "/\u{2028}/evil.example",
            "//evil.example",
            "///evil.example",
            "http:evil.example",
            "evil.example",
            "",
        ] {
            assert_eq!(safe_next(Some(evil)), None, "{evil:?}");
        }
    }

    #[test]
    fn next_is_always_a_header_value() {
        let n = safe_next(Some("/dashboard/가게 이름")).expect("a local path");
        assert!(n.is_ascii() && !n.contains(' '), "{n}");
        assert!(axum::http::HeaderValue::from_str(&n).is_ok());
        // Dot segments resolve on this site, never above its root.
        assert_eq!(safe_next(Some("/a/../../b")), Some("/b".into()));
    }
}
