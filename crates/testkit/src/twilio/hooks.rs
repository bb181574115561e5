//! Twilio's side of the webhooks: status callbacks and inbound SMS, signed as Twilio signs.
//!
//! The signature is computed here independently of `meoktong-notify`, so the service's
//! verifier is tested against a second implementation of Twilio's documented algorithm:
//! base64(HMAC-SHA1(auth token, URL + each parameter name and value, names sorted)).
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use rand::Rng as _;
use sha1::Sha1;

use super::segments::num_segments;
use super::{RecordedMessage, TwilioStandIn};

/// How a webhook from the stand-in is signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signing {
    /// As Twilio signs: the receiver must accept it.
    Valid,
    /// A signature made with another token: the receiver must answer 403.
    Wrong,
    /// No `X-Twilio-Signature` header at all: 403 too.
    Missing,
}

/// What the receiver answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookResponse {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: String,
}

#[derive(Debug, thiserror::Error)]
pub enum StandInError {
    #[error("no message with sid {0} was accepted by the stand-in")]
    UnknownSid(String),
    #[error("message {0} was created without a StatusCallback")]
    NoStatusCallback(String),
    #[error("webhook request failed: {0}")]
    Http(String),
}

/// base64(HMAC-SHA1(token, url + sorted name/value pairs)).
pub(crate) fn sign(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    let mut sorted = params.to_vec();
    sorted.sort();
    let mut data = url.to_string();
    for (name, value) in &sorted {
        data.push_str(name);
        data.push_str(value);
    }
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(auth_token.as_bytes()) else {
        unreachable!("HMAC takes keys of any length")
    };
    mac.update(data.as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

fn pairs(items: &[(&str, String)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

impl TwilioStandIn {
    /// Posts a status callback for an accepted message to its `StatusCallback`, signed
    /// correctly, and returns the HTTP status the receiver answered.
    ///
    /// Parameters as Twilio sends them: MessageSid/SmsSid, MessageStatus/SmsStatus,
    /// AccountSid, From, To, ApiVersion, and ErrorCode only for `failed`/`undelivered`
    /// (an `error_code` given with another status is dropped, as Twilio would never send it).
    pub async fn send_status_callback(
        &self,
        sid: &str,
        status: &str,
        error_code: Option<u32>,
    ) -> Result<u16, StandInError> {
        Ok(self
            .send_status_callback_signed(sid, status, error_code, Signing::Valid)
            .await?
            .status)
    }

    /// [`Self::send_status_callback`] with a chosen signature, and the whole answer.
    pub async fn send_status_callback_signed(
        &self,
        sid: &str,
        status: &str,
        error_code: Option<u32>,
        signing: Signing,
    ) -> Result<HookResponse, StandInError> {
        let message = self
            .messages()
            .into_iter()
            .find(|m| m.sid == sid)
            .ok_or_else(|| StandInError::UnknownSid(sid.to_string()))?;
        let url = message
            .status_callback
            .clone()
            .ok_or_else(|| StandInError::NoStatusCallback(sid.to_string()))?;
        let params = self.status_params(&message, status, error_code);
        // Wrong or missing signatures play a forger, not Twilio: Twilio's view stays as it was.
        if signing == Signing::Valid {
            let mut inner = self.shared.lock();
            if let Some(m) = inner.messages.iter_mut().find(|m| m.sid == sid) {
                m.status = status.to_string();
            }
        }
        self.post_signed(&url, params, signing).await
    }

    fn status_params(
        &self,
        message: &RecordedMessage,
        status: &str,
        error_code: Option<u32>,
    ) -> Vec<(String, String)> {
        let from = message
            .from
            .clone()
            .unwrap_or_else(|| self.shared.lock().own_number.clone());
        let mut params = vec![
            ("MessageSid", message.sid.clone()),
            ("SmsSid", message.sid.clone()),
            ("MessageStatus", status.to_string()),
            ("SmsStatus", status.to_string()),
            ("AccountSid", self.shared.account_sid.clone()),
            ("From", from),
            ("To", message.to.clone()),
            ("ApiVersion", "2010-04-01".to_string()),
        ];
        if let Some(service) = &message.messaging_service_sid {
            params.push(("MessagingServiceSid", service.clone()));
        }
        if let Some(code) = error_code.filter(|_| matches!(status, "failed" | "undelivered")) {
            params.push(("ErrorCode", code.to_string()));
        }
        pairs(&params)
    }

    /// Posts an inbound SMS (`From` the merchant, `To` the stand-in's own number) to
    /// `to_url`, signed correctly; the answer should be TwiML.
    pub async fn send_inbound(
        &self,
        to_url: &str,
        from: &str,
        body: &str,
    ) -> Result<HookResponse, StandInError> {
        self.send_inbound_signed(to_url, from, body, Signing::Valid)
            .await
    }

    /// [`Self::send_inbound`] with a chosen signature.
    pub async fn send_inbound_signed(
        &self,
        to_url: &str,
        from: &str,
        body: &str,
        signing: Signing,
    ) -> Result<HookResponse, StandInError> {
        let id: u128 = rand::thread_rng().r#gen();
        let sid = format!("SM{id:032x}");
        let own_number = self.shared.lock().own_number.clone();
        let params = pairs(&[
            ("MessageSid", sid.clone()),
            ("SmsSid", sid.clone()),
            ("SmsMessageSid", sid),
            ("AccountSid", self.shared.account_sid.clone()),
            ("From", from.to_string()),
            ("To", own_number),
            ("Body", body.to_string()),
            ("NumMedia", "0".to_string()),
            ("NumSegments", num_segments(body).to_string()),
            ("ApiVersion", "2010-04-01".to_string()),
        ]);
        self.post_signed(to_url, params, signing).await
    }

    async fn post_signed(
        &self,
        url: &str,
        params: Vec<(String, String)>,
        signing: Signing,
    ) -> Result<HookResponse, StandInError> {
        let mut request = self.http.post(url).form(&params);
        let token = match signing {
            Signing::Valid => Some(self.shared.auth_token.clone()),
            Signing::Wrong => Some(format!("{}-wrong", self.shared.auth_token)),
            Signing::Missing => None,
        };
        if let Some(token) = token {
            request = request.header("X-Twilio-Signature", sign(&token, url, &params));
        }
        let response = request
            .send()
            .await
            .map_err(|e| StandInError::Http(e.to_string()))?;
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = response
            .text()
            .await
            .map_err(|e| StandInError::Http(e.to_string()))?;
        Ok(HookResponse {
            status,
            content_type,
            body,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_twilios_documented_example() {
        let params = pairs(&[
            ("CallSid", "CA1234567890ABCDE".into()),
            ("Caller", "+14158675310".into()),
            ("Digits", "1234".into()),
            ("From", "+14158675310".into()),
            ("To", "+18005551212".into()),
        ]);
        let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
        assert_eq!(sign("12345", url, &params), "GvWf1cFY/Q7PnoempGyD5oXAezc=");
    }
}
