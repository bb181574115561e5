//! Twilio's Messages API, as a thin client on reqwest.
//!
//! Why not a Twilio crate: see the README's design notes (hard-coded host, lost error codes,
//! a second TLS stack). This client does one call, `POST /2010-04-01/Accounts/{sid}/Messages.json`, with a
//! configurable base URL so tests point it at `meoktong_testkit::TwilioStandIn`.
use std::time::Duration;

use async_trait::async_trait;
use meoktong_config::Secret;
use meoktong_config::SmsProviderSettings;
use meoktong_domain::mask::mask_phone;
use tracing::Instrument;

use super::twilio_classify::{classify_failure, classify_transport_error, parse_accepted};
use super::{ProviderError, SmsAccepted, SmsProvider, SmsRequest};

/// Twilio accepts `ValidityPeriod` from 1 to 36000 seconds (10 hours).
const MAX_VALIDITY_SECS: u64 = 36_000;

/// Sends SMS through Twilio (or anything that speaks its Messages API).
pub struct TwilioSms {
    http: reqwest::Client,
    messages_url: String,
    account_sid: String,
    auth_token: Secret,
    /// `("From", number)` or `("MessagingServiceSid", MG…)`, decided once from `from`.
    sender: (&'static str, String),
    validity_secs: Option<u64>,
    timeout: Duration,
}

/// Checks the settings of a Twilio account (SMS or voice) that could never work: a base URL
/// that does not parse or is not http(s), an empty or non-alphanumeric account sid, an empty
/// `from` or token. Returns the trimmed account sid.
pub(super) fn check_account<'a>(
    what: &str,
    base_url: &str,
    account_sid: &'a str,
    from: &str,
    auth_token: &Secret,
) -> Result<&'a str, ProviderError> {
    let config_error =
        |why: &str| ProviderError::permanent(None, format!("{what} misconfigured: {why}"));
    let base = url::Url::parse(base_url).map_err(|e| config_error(&format!("base_url: {e}")))?;
    if !matches!(base.scheme(), "http" | "https") {
        return Err(config_error("base_url must be http(s)"));
    }
    let sid = account_sid.trim();
    if sid.is_empty() || !sid.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(config_error(
            "account_sid must be non-empty and alphanumeric",
        ));
    }
    if from.trim().is_empty() {
        return Err(config_error("from is empty"));
    }
    if auth_token.is_empty() {
        return Err(config_error("the auth token is empty"));
    }
    Ok(sid)
}

impl std::fmt::Debug for TwilioSms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TwilioSms")
            .field("messages_url", &self.messages_url)
            .field("sender", &self.sender)
            .field("validity_secs", &self.validity_secs)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl TwilioSms {
    /// A request that has not answered within this is abandoned and retried (transient).
    /// Twilio answers a create in well under a second; ten is generous.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

    /// Builds the client from one `[[sms]]` entry, its auth token (`settings.auth_token()`)
    /// and the process's shared HTTP client.
    ///
    /// Fails (permanently) on settings that could never work, so start-up reports them
    /// instead of the first outage: a base URL that does not parse, an empty account sid,
    /// sender or token. `from` may be a phone number or a Messaging Service sid (`MG…`).
    /// A zero `validity` leaves `ValidityPeriod` out (Twilio's default, 10 hours); longer
    /// than 10 hours is capped to Twilio's maximum.
    pub fn new(
        settings: &SmsProviderSettings,
        auth_token: Secret,
        http: reqwest::Client,
    ) -> Result<Self, ProviderError> {
        let sid = check_account(
            "twilio provider",
            &settings.base_url,
            &settings.account_sid,
            &settings.from,
            &auth_token,
        )?;
        let from = settings.from.trim().to_string();
        let sender = if from.starts_with("MG") && from.len() == 34 {
            ("MessagingServiceSid", from)
        } else {
            ("From", from)
        };
        let validity = settings.validity.as_secs();
        let validity_secs =
            (!settings.validity.is_zero()).then(|| validity.clamp(1, MAX_VALIDITY_SECS));
        Ok(TwilioSms {
            http,
            messages_url: format!(
                "{}/2010-04-01/Accounts/{sid}/Messages.json",
                settings.base_url.trim_end_matches('/')
            ),
            account_sid: sid.to_string(),
            auth_token,
            sender,
            validity_secs,
            timeout: Self::DEFAULT_TIMEOUT,
        })
    }

    /// Overrides the per-request timeout ([`Self::DEFAULT_TIMEOUT`]).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The form Twilio receives: To, From (or MessagingServiceSid), Body, and when set
    /// StatusCallback and ValidityPeriod.
    fn form(&self, req: &SmsRequest) -> Vec<(&'static str, String)> {
        let mut form = vec![
            ("To", req.to.clone()),
            (self.sender.0, self.sender.1.clone()),
            ("Body", req.body.clone()),
        ];
        if let Some(callback) = &req.status_callback {
            form.push(("StatusCallback", callback.clone()));
        }
        if let Some(secs) = self.validity_secs {
            // What is left of the message's validity (a retry), in whole seconds rounded up.
            let left = req
                .validity
                .map(|d| d.as_millis().div_ceil(1000))
                .and_then(|s| u64::try_from(s).ok())
                .unwrap_or(secs);
            form.push(("ValidityPeriod", left.clamp(1, secs).to_string()));
        }
        form
    }

    async fn send_inner(&self, req: &SmsRequest) -> Result<SmsAccepted, ProviderError> {
        create(
            &self.http,
            &self.messages_url,
            &self.account_sid,
            &self.auth_token,
            &self.form(req),
            self.timeout,
            "twilio",
        )
        .await
    }
}

/// One create request to Twilio's REST API (a message or a call): form-encoded, basic auth
/// with the account, its answer parsed (`sid`, `status`) or its failure classified. `what`
/// names the client in transport errors.
pub(super) async fn create(
    http: &reqwest::Client,
    url: &str,
    account_sid: &str,
    auth_token: &Secret,
    form: &[(&'static str, String)],
    timeout: Duration,
    what: &str,
) -> Result<SmsAccepted, ProviderError> {
    let response = http
        .post(url)
        .basic_auth(account_sid, Some(auth_token.expose()))
        .header(reqwest::header::ACCEPT, "application/json")
        .form(form)
        .timeout(timeout)
        .send()
        .await
        .map_err(|e| classify_transport_error(what, &e))?;
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = response
        .text()
        .await
        .map_err(|e| classify_transport_error(what, &e))?;
    if (200..300).contains(&status) {
        parse_accepted(status, &body)
    } else {
        Err(classify_failure(
            status,
            retry_after.as_deref(),
            &body,
            std::time::SystemTime::now(),
        ))
    }
}

#[async_trait]
impl SmsProvider for TwilioSms {
    fn name(&self) -> &str {
        "twilio"
    }

    async fn send(&self, req: &SmsRequest) -> Result<SmsAccepted, ProviderError> {
        let span =
            tracing::info_span!("sms.send", provider = "twilio", sms.to = %mask_phone(&req.to));
        async {
            let result = self.send_inner(req).await;
            match &result {
                Ok(accepted) => tracing::info!(sms.sid = %accepted.provider_message_id, sms.status = %accepted.status, "twilio accepted the message"),
                Err(e) if e.is_config_error() => tracing::error!(error = %e, "twilio rejected our account or settings"),
                Err(e) => tracing::warn!(error = %e, "twilio did not accept the message"),
            }
            result
        }
        .instrument(span)
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> SmsProviderSettings {
        SmsProviderSettings {
            base_url: "http://127.0.0.1:9/".into(),
            account_sid: "AC0123".into(),
            from: "+15005550006".into(),
            validity: Duration::from_secs(900),
            ..SmsProviderSettings::default()
        }
    }

    fn request() -> SmsRequest {
        SmsRequest {
            to: "+821012345678".into(),
            body: "안녕".into(),
            status_callback: Some("https://x/hooks".into()),
            validity: None,
        }
    }

    #[test]
    fn the_form_carries_every_field_and_the_url_has_no_double_slash() {
        let sms = TwilioSms::new(&settings(), Secret::new("t"), reqwest::Client::new())
            .expect("valid settings");
        assert_eq!(
            sms.messages_url,
            "http://127.0.0.1:9/2010-04-01/Accounts/AC0123/Messages.json"
        );
        let form = sms.form(&request());
        assert_eq!(
            form,
            vec![
                ("To", "+821012345678".to_string()),
                ("From", "+15005550006".to_string()),
                ("Body", "안녕".to_string()),
                ("StatusCallback", "https://x/hooks".to_string()),
                ("ValidityPeriod", "900".to_string()),
            ]
        );
    }

    #[test]
    fn validity_is_capped_and_zero_is_left_out() {
        let mut s = settings();
        s.validity = Duration::from_secs(100_000);
        let sms = TwilioSms::new(&s, Secret::new("t"), reqwest::Client::new()).expect("valid");
        assert_eq!(sms.validity_secs, Some(36_000));
        s.validity = Duration::from_millis(300);
        let sms = TwilioSms::new(&s, Secret::new("t"), reqwest::Client::new()).expect("valid");
        assert_eq!(sms.validity_secs, Some(1));
        s.validity = Duration::ZERO;
        let sms = TwilioSms::new(&s, Secret::new("t"), reqwest::Client::new()).expect("valid");
        assert!(
            !sms.form(&request())
                .iter()
                .any(|(k, _)| *k == "ValidityPeriod")
        );
    }

    #[test]
    fn a_retry_sends_what_is_left_of_the_validity() {
        let sms = TwilioSms::new(&settings(), Secret::new("t"), reqwest::Client::new())
            .expect("valid settings");
        let validity = |left: Option<Duration>| {
            let req = SmsRequest {
                validity: left,
                ..request()
            };
            sms.form(&req)
                .into_iter()
                .find(|(k, _)| *k == "ValidityPeriod")
                .map(|(_, v)| v)
        };
        assert_eq!(validity(None).as_deref(), Some("900"));
        assert_eq!(
            validity(Some(Duration::from_millis(899_001))).as_deref(),
            Some("900"),
            "rounded up"
        );
        assert_eq!(
            validity(Some(Duration::from_secs(300))).as_deref(),
            Some("300")
        );
        assert_eq!(validity(Some(Duration::ZERO)).as_deref(), Some("1"));
        assert_eq!(
            validity(Some(Duration::from_secs(5000))).as_deref(),
            Some("900"),
            "never more than configured"
        );
    }

    #[test]
    fn a_messaging_service_sid_is_sent_as_such() {
        let mut s = settings();
        s.from = format!("MG{}", "a".repeat(32));
        let sms = TwilioSms::new(&s, Secret::new("t"), reqwest::Client::new()).expect("valid");
        assert_eq!(sms.form(&request())[1].0, "MessagingServiceSid");
    }

    #[test]
    fn settings_that_cannot_work_are_refused_at_start() {
        let client = reqwest::Client::new();
        let mut s = settings();
        s.base_url = "not a url".into();
        assert!(TwilioSms::new(&s, Secret::new("t"), client.clone()).is_err());
        let mut s = settings();
        s.account_sid = "AC/../x".into();
        assert!(TwilioSms::new(&s, Secret::new("t"), client.clone()).is_err());
        assert!(TwilioSms::new(&settings(), Secret::new(""), client).is_err());
    }

    #[test]
    fn debug_never_shows_the_token() {
        let sms = TwilioSms::new(
            &settings(),
            Secret::new("super-secret"),
            reqwest::Client::new(),
        )
        .expect("valid");
        assert!(!format!("{sms:?}").contains("super-secret"));
    }
}
