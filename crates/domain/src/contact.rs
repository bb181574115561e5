//! Email addresses and channel independence.
//!
//! A channel that runs on the failed platform is no fallback: in the 2022 fire, Daum/Hanmail
//! mail went down with KakaoTalk. Which mail domains belong to which platform is data
//! (`[channels] platform_domains`), so this module only answers questions against a map the
//! caller passes in.
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use email_address::{EmailAddress, Options};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why an email address was refused. `Display` is what an import report or a form shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not an email address")]
pub struct EmailError;

/// A deliverable-looking email address, its domain lower-cased.
///
/// Display names (`Kim <kim@x>`), domain literals (`kim@[10.0.0.1]`) and domains without a dot
/// are refused: each is either a paste error or an address no public mail server accepts.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EmailAddr(String);

impl EmailAddr {
    /// Parses and normalises an address. The local part keeps its case (it is the mail
    /// server's to interpret); the domain is lower-cased so platform lookups and
    /// deduplication work.
    pub fn parse(input: &str) -> Result<Self, EmailError> {
        let options = Options::default()
            .with_required_tld()
            .without_domain_literal()
            .without_display_text();
        let parsed =
            EmailAddress::parse_with_options(input.trim(), options).map_err(|_| EmailError)?;
        let local = parsed.local_part();
        let domain = parsed.domain().to_ascii_lowercase();
        Ok(EmailAddr(format!("{local}@{domain}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The lower-cased domain, e.g. `hanmail.net`.
    pub fn domain(&self) -> &str {
        self.0.rsplit_once('@').map_or("", |(_, d)| d)
    }

    /// For logs: `k***@example.com`.
    pub fn masked(&self) -> String {
        crate::mask::mask_email(&self.0)
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for EmailAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for EmailAddr {
    type Err = EmailError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EmailAddr::parse(s)
    }
}

impl Serialize for EmailAddr {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for EmailAddr {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        EmailAddr::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// The platform whose mail service hosts `email`, if any.
///
/// `platform_domains` maps a platform (`kakao`) to its mail domains (`daum.net`, …). A domain
/// matches exactly or as a parent (`mail.kakao.com` is Kakao's too); case is ignored.
/// When two platforms list the same domain the first in key order wins, so the answer is
/// stable.
pub fn platform_of_email<'a>(
    email: &EmailAddr,
    platform_domains: &'a BTreeMap<String, Vec<String>>,
) -> Option<&'a str> {
    let domain = email.domain();
    platform_domains
        .iter()
        .find(|(_, domains)| domains.iter().any(|d| domain_matches(domain, d)))
        .map(|(platform, _)| platform.as_str())
}

/// True when a channel hosted by `platform_of_channel` is down with one of `failed_platforms`,
/// and so must be skipped for the next independent channel. A channel of no known platform
/// (SMS, an independent mail host) never depends on anything.
pub fn channel_depends_on(platform_of_channel: Option<&str>, failed_platforms: &[&str]) -> bool {
    platform_of_channel.is_some_and(|p| failed_platforms.iter().any(|f| f.eq_ignore_ascii_case(p)))
}

fn domain_matches(domain: &str, listed: &str) -> bool {
    let listed = listed.trim().trim_start_matches('@').trim_end_matches('.');
    if listed.is_empty() {
        return false;
    }
    let (domain, listed) = (domain.to_ascii_lowercase(), listed.to_ascii_lowercase());
    domain == listed
        || domain
            .strip_suffix(&listed)
            .is_some_and(|p| p.ends_with('.'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn defaults() -> BTreeMap<String, Vec<String>> {
        BTreeMap::from([
            (
                "kakao".to_owned(),
                vec!["daum.net".into(), "hanmail.net".into(), "kakao.com".into()],
            ),
            ("naver".to_owned(), vec!["naver.com".into()]),
        ])
    }

    fn addr(s: &str) -> EmailAddr {
        EmailAddr::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn parse_lowercases_the_domain_only() {
        let e = addr("  Kim.Lee@HanMail.NET ");
        assert_eq!(e.as_str(), "Kim.Lee@hanmail.net");
        assert_eq!(e.domain(), "hanmail.net");
        assert_eq!(e.masked(), "K***@hanmail.net");
    }

    #[test]
    fn parse_refuses_what_cannot_be_mailed() {
        for s in [
            "",
            "kim",
            "kim@",
            "@example.com",
            "kim@localhost",
            "kim@[127.0.0.1]",
            "Kim <kim@example.com>",
            "kim@@example.com",
            "kim @example.com",
        ] {
            assert_eq!(EmailAddr::parse(s), Err(EmailError), "{s:?}");
        }
        assert_eq!(EmailError.to_string(), "not an email address");
    }

    #[test]
    fn serde_round_trip() {
        let e = addr("kim@Example.com");
        let json = serde_json::to_string(&e).expect("ser");
        assert_eq!(json, "\"kim@example.com\"");
        assert_eq!(serde_json::from_str::<EmailAddr>(&json).expect("de"), e);
        assert!(serde_json::from_str::<EmailAddr>("\"nope\"").is_err());
    }

    #[test]
    fn platforms_of_mail_domains() {
        let map = defaults();
        assert_eq!(platform_of_email(&addr("a@daum.net"), &map), Some("kakao"));
        assert_eq!(
            platform_of_email(&addr("a@HANMAIL.NET"), &map),
            Some("kakao")
        );
        assert_eq!(
            platform_of_email(&addr("a@mail.kakao.com"), &map),
            Some("kakao")
        );
        assert_eq!(platform_of_email(&addr("a@naver.com"), &map), Some("naver"));
        assert_eq!(platform_of_email(&addr("a@gmail.com"), &map), None);
        assert_eq!(platform_of_email(&addr("a@notkakao.com"), &map), None);
        assert_eq!(platform_of_email(&addr("a@kakao.com.evil.io"), &map), None);
        assert_eq!(
            platform_of_email(&addr("a@daum.net"), &BTreeMap::new()),
            None
        );
    }

    #[test]
    fn dependence() {
        assert!(channel_depends_on(Some("kakao"), &["kakao"]));
        assert!(channel_depends_on(Some("kakao"), &["naver", "Kakao"]));
        assert!(!channel_depends_on(Some("kakao"), &["naver"]));
        assert!(!channel_depends_on(Some("kakao"), &[]));
        assert!(!channel_depends_on(None, &["kakao"]));
    }

    proptest! {
        #[test]
        fn parse_never_panics(s in "\\PC{0,60}") {
            let _ = EmailAddr::parse(&s);
        }

        #[test]
        fn parsed_domain_is_lowercase_and_reparses(
            local in "[A-Za-z0-9._-]{1,20}",
            host in "[A-Za-z][A-Za-z0-9-]{0,10}",
            tld in "[A-Za-z]{2,6}",
        ) {
            let input = format!("{local}@{host}.{tld}");
            if let Ok(e) = EmailAddr::parse(&input) {
                prop_assert_eq!(e.domain(), format!("{host}.{tld}").to_ascii_lowercase());
                prop_assert_eq!(EmailAddr::parse(e.as_str()), Ok(e.clone()));
            }
        }
    }
}
