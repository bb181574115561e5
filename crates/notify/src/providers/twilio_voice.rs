//! Twilio's Calls API (`[voice]`), as a thin client on reqwest: one call,
//! `POST /2010-04-01/Accounts/{sid}/Calls.json` with `To`, `From`, inline `Twiml` and
//! `StatusCallback`, on a configurable base URL so tests point it at
//! `meoktong_testkit::TwilioVoiceStandIn`. Errors are classified as for Twilio SMS (the
//! same API and error body): 401/20003 refuses our account, 21211/21215/21219 refuse the
//! number for good, 429/5xx/timeouts are transient.
use std::time::Duration;

use meoktong_config::{Secret, VoiceSettings};
use meoktong_domain::mask::mask_phone;
use tracing::Instrument;

use super::{ProviderError, SmsAccepted};

/// Seconds to ring before `no-answer`: short enough not to reach voicemail.
const RING_TIMEOUT_SECS: u32 = 30;

/// One call to place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallRequest {
    /// E.164 (`+821012345678`).
    pub to: String,
    /// The TwiML the call runs (at most 4,000 characters).
    pub twiml: String,
    /// `{public_url}/hooks/twilio/voice/status`.
    pub status_callback: Option<String>,
}

/// Places alert calls through Twilio (or anything that speaks its Calls API).
pub struct TwilioVoice {
    http: reqwest::Client,
    calls_url: String,
    account_sid: String,
    auth_token: Secret,
    from: String,
    timeout: Duration,
}

impl std::fmt::Debug for TwilioVoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TwilioVoice")
            .field("calls_url", &self.calls_url)
            .field("from", &self.from)
            .finish_non_exhaustive()
    }
}

impl TwilioVoice {
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

    /// Fails (permanently) on settings that could never work: a base URL that does not
    /// parse, an empty or non-alphanumeric account sid, an empty `from` or token.
    pub fn new(
        settings: &VoiceSettings,
        auth_token: Secret,
        http: reqwest::Client,
    ) -> Result<Self, ProviderError> {
        let sid = super::twilio::check_account(
            "twilio voice",
            &settings.base_url,
            &settings.account_sid,
            &settings.from,
            &auth_token,
        )?;
        Ok(TwilioVoice {
            http,
            calls_url: format!(
                "{}/2010-04-01/Accounts/{sid}/Calls.json",
                settings.base_url.trim_end_matches('/')
            ),
            account_sid: sid.to_string(),
            auth_token,
            from: settings.from.trim().to_string(),
            timeout: Self::DEFAULT_TIMEOUT,
        })
    }

    /// The form Twilio receives.
    fn form(&self, req: &CallRequest) -> Vec<(&'static str, String)> {
        let mut form = vec![
            ("To", req.to.clone()),
            ("From", self.from.clone()),
            ("Twiml", req.twiml.clone()),
            ("Timeout", RING_TIMEOUT_SECS.to_string()),
        ];
        if let Some(callback) = &req.status_callback {
            form.push(("StatusCallback", callback.clone()));
            form.push(("StatusCallbackMethod", "POST".into()));
        }
        form
    }

    /// Places the call; the answer's `sid` (`CA…`) matches the later status callbacks.
    pub async fn call(&self, req: &CallRequest) -> Result<SmsAccepted, ProviderError> {
        let span =
            tracing::info_span!("voice.call", provider = "twilio", voice.to = %mask_phone(&req.to));
        async {
            let result = self.call_inner(req).await;
            match &result {
                Ok(a) => {
                    tracing::info!(call.sid = %a.provider_message_id, "twilio accepted the call")
                }
                Err(e) if e.is_config_error() => {
                    tracing::error!(error = %e, "twilio rejected our account or settings for calls")
                }
                Err(e) => tracing::warn!(error = %e, "twilio did not accept the call"),
            }
            result
        }
        .instrument(span)
        .await
    }

    async fn call_inner(&self, req: &CallRequest) -> Result<SmsAccepted, ProviderError> {
        super::twilio::create(
            &self.http,
            &self.calls_url,
            &self.account_sid,
            &self.auth_token,
            &self.form(req),
            self.timeout,
            "twilio voice",
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_carries_inline_twiml_and_the_status_callback() {
        let settings = VoiceSettings {
            base_url: "http://127.0.0.1:9/".into(),
            account_sid: "AC0123".into(),
            from: "+15005550006".into(),
            ..VoiceSettings::default()
        };
        let v =
            TwilioVoice::new(&settings, Secret::new("t"), reqwest::Client::new()).expect("valid");
        assert_eq!(
            v.calls_url,
            "http://127.0.0.1:9/2010-04-01/Accounts/AC0123/Calls.json"
        );
        let form = v.form(&CallRequest {
            to: "+821012345678".into(),
            twiml: "<Response/>".into(),
            status_callback: Some("https://h/hooks/twilio/voice/status".into()),
        });
        let get = |k: &str| form.iter().find(|(n, _)| *n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("From"), Some("+15005550006"));
        assert_eq!(get("Twiml"), Some("<Response/>"));
        assert_eq!(
            get("StatusCallback"),
            Some("https://h/hooks/twilio/voice/status")
        );
        assert!(get("Url").is_none(), "one of Url/Twiml only");
        let bad = VoiceSettings {
            account_sid: String::new(),
            ..settings
        };
        assert!(TwilioVoice::new(&bad, Secret::new("t"), reqwest::Client::new()).is_err());
    }
}
