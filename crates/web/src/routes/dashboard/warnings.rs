//! "Your only fallback runs on the platform you are being warned about": a contact's email on
//! Daum/Hanmail goes down with Kakao, so it cannot carry a Kakao outage alert.
use meoktong_storage::contact_book::ContactView;
use std::collections::BTreeSet;

/// A platform that some subscribed dependency runs on and that every email fallback shares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedPlatform {
    pub platform: String,
    /// Names of the subscribed dependencies on that platform.
    pub dependencies: Vec<String>,
}

/// For each platform of a subscribed dependency: warn when the merchant has email fallbacks
/// and every one of them is on that platform (so none is left when it fails).
/// `subscribed` is (dependency name, platform).
pub fn shared_platforms(
    contacts: &[ContactView],
    subscribed: &[(String, Option<String>)],
) -> Vec<SharedPlatform> {
    let platforms: BTreeSet<&str> = subscribed
        .iter()
        .filter_map(|(_, p)| p.as_deref())
        .collect();
    let emails: Vec<Option<&str>> = contacts
        .iter()
        .filter(|c| c.email.is_some())
        .map(|c| c.email_platform.as_deref())
        .collect();
    platforms
        .into_iter()
        .filter(|p| {
            !emails.is_empty()
                && emails
                    .iter()
                    .all(|e| e.is_some_and(|e| e.eq_ignore_ascii_case(p)))
        })
        .map(|p| SharedPlatform {
            platform: p.to_string(),
            dependencies: subscribed
                .iter()
                .filter(|(_, dp)| dp.as_deref() == Some(p))
                .map(|(n, _)| n.clone())
                .collect(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contact(email: Option<&str>, platform: Option<&str>) -> ContactView {
        ContactView {
            id: 1,
            position: 0,
            label: None,
            phone: Some("+821012345678".into()),
            email: email.map(str::to_string),
            email_platform: platform.map(str::to_string),
            phone_verified: true,
            email_verified: true,
            sms_opted_out: false,
            voice_enabled: true,
        }
    }

    #[test]
    fn hanmail_only_fallback_with_kakao_subscription_is_warned() {
        let subs = vec![
            ("카카오 로그인".to_string(), Some("kakao".to_string())),
            ("토스".to_string(), Some("toss".to_string())),
        ];
        let w = shared_platforms(&[contact(Some("a@hanmail.net"), Some("kakao"))], &subs);
        assert_eq!(
            w,
            vec![SharedPlatform {
                platform: "kakao".into(),
                dependencies: vec!["카카오 로그인".into()]
            }]
        );
    }

    #[test]
    fn an_independent_email_anywhere_removes_the_warning() {
        let subs = vec![("카카오 로그인".to_string(), Some("kakao".to_string()))];
        let contacts = [
            contact(Some("a@hanmail.net"), Some("kakao")),
            contact(Some("b@example.com"), None),
        ];
        assert!(shared_platforms(&contacts, &subs).is_empty());
        assert!(shared_platforms(&[contact(None, None)], &subs).is_empty());
    }
}
