//! Solapi's Messages API v4 (CoolSMS), as a thin client on reqwest.
//!
//! Why not the official `solapi` crate: its base URL cannot be pointed at a stand-in, it brings
//! native-tls (OpenSSL) beside our rustls, and it drops the per-message ids of accepted
//! messages (README, design notes). This client makes two calls:
//! - `POST /messages/v4/send-many/detail` with `showMessageList: true`: many messages in one
//!   request, each carrying our outbox row id in `customFields`, so each outcome (a batch may
//!   partly fail) is matched to its row;
//! - `GET /messages/v4/list?messageIds[0]=…`: delivery reports, polled (Solapi documents no
//!   signable webhook).
//!
//! Texts are prepared by [`meoktong_domain::euc_kr::prepare`]: an SMS within 90 EUC-KR bytes,
//! else an LMS with a subject; characters outside EUC-KR are replaced, never refused.
use std::time::Duration;

use async_trait::async_trait;
use meoktong_config::{Secret, SmsProviderSettings};
use meoktong_domain::euc_kr;
use meoktong_domain::mask::mask_phone;
use meoktong_domain::message::SmsLimit;
use serde_json::json;
use tracing::Instrument;

use super::solapi_classify::{
    REFERENCE_FIELD, classify_http_failure, national_number, parse_batch_answer, parse_list_answer,
};
use super::solapi_signature::solapi_authorization;
use super::twilio_classify::classify_transport_error;
use super::{BatchItem, DeliveryReport, ProviderError, SmsAccepted, SmsProvider, SmsRequest};

/// Ids asked for in one list request.
const IDS_PER_LIST: usize = 100;

/// Sends SMS and LMS through Solapi (or anything that speaks its Messages API v4).
pub struct SolapiSms {
    http: reqwest::Client,
    base_url: String,
    api_key: Secret,
    api_secret: Secret,
    /// The registered sender number, digits only.
    from: String,
    batch_size: usize,
    timeout: Duration,
}

impl std::fmt::Debug for SolapiSms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SolapiSms")
            .field("base_url", &self.base_url)
            .field("from", &self.from)
            .field("batch_size", &self.batch_size)
            .finish_non_exhaustive()
    }
}

impl SolapiSms {
    /// A request that has not answered within this is abandoned and retried (transient). A
    /// batch of hundreds takes longer to register than one Twilio create.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(20);

    /// Builds the client from one `[[sms]]` entry and its key and secret
    /// (`settings.solapi_credentials()`). Settings that could never work fail here.
    pub fn new(
        settings: &SmsProviderSettings,
        api_key: Secret,
        api_secret: Secret,
        http: reqwest::Client,
    ) -> Result<Self, ProviderError> {
        let config_error = |what: &str| {
            ProviderError::permanent(None, format!("solapi provider misconfigured: {what}"))
        };
        let base = url::Url::parse(&settings.base_url)
            .map_err(|e| config_error(&format!("base_url: {e}")))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(config_error("base_url must be http(s)"));
        }
        let from: String = settings.from.chars().filter(|c| *c != '-').collect();
        if !(8..=11).contains(&from.len()) || !from.chars().all(|c| c.is_ascii_digit()) {
            return Err(config_error(
                "from must be the registered sender number (8 to 11 digits)",
            ));
        }
        if api_key.is_empty() || api_secret.is_empty() {
            return Err(config_error("the API key or secret is empty"));
        }
        Ok(SolapiSms {
            http,
            base_url: settings.base_url.trim_end_matches('/').to_string(),
            api_key,
            api_secret,
            from,
            batch_size: settings.batch_size.clamp(1, 10_000),
            timeout: Self::DEFAULT_TIMEOUT,
        })
    }

    /// Overrides the per-request timeout ([`Self::DEFAULT_TIMEOUT`]).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    fn authorization(&self) -> String {
        solapi_authorization(
            self.api_key.expose(),
            self.api_secret.expose(),
            chrono::Utc::now(),
        )
    }

    /// One message of the request body; `None` for a number Solapi cannot reach.
    fn message(&self, item: &BatchItem) -> Option<serde_json::Value> {
        let to = national_number(&item.req.to)?;
        let prepared = euc_kr::prepare(&item.req.body);
        if prepared.replaced > 0 || prepared.truncated {
            tracing::warn!(
                outbox.id = item.reference,
                replaced = prepared.replaced,
                truncated = prepared.truncated,
                "text adapted for EUC-KR before sending"
            );
        }
        let mut m = json!({
            "to": to,
            "from": self.from,
            "text": prepared.text,
            "type": prepared.kind.as_str(),
            "country": "82",
            "autoTypeDetect": false,
            "customFields": { REFERENCE_FIELD: item.reference.to_string() },
        });
        if let Some(subject) = prepared.subject {
            m["subject"] = json!(subject);
        }
        Some(m)
    }

    async fn send_many(&self, items: &[BatchItem]) -> Vec<Result<SmsAccepted, ProviderError>> {
        let mut outcomes: Vec<Option<Result<SmsAccepted, ProviderError>>> = vec![None; items.len()];
        let mut messages = Vec::new();
        let mut sent: Vec<(usize, (i64, String))> = Vec::new();
        for (i, item) in items.iter().enumerate() {
            match self.message(item) {
                Some(m) => {
                    sent.push((
                        i,
                        (item.reference, m["to"].as_str().unwrap_or("").to_string()),
                    ));
                    messages.push(m);
                }
                None => {
                    outcomes[i] = Some(Err(ProviderError::permanent(
                        Some("not-korean".into()),
                        format!(
                            "solapi sends to Korean numbers only, not {}",
                            mask_phone(&item.req.to)
                        ),
                    )))
                }
            }
        }
        if !messages.is_empty() {
            let body = json!({
                "messages": messages,
                "showMessageList": true,
                // Our outbox deduplicates; two notices to one number in a batch are both meant.
                "allowDuplicates": true,
            });
            let refs: Vec<(i64, String)> = sent.iter().map(|(_, r)| r.clone()).collect();
            let results = match self.post_json("/messages/v4/send-many/detail", &body).await {
                Ok(text) => parse_batch_answer(&text, &refs),
                Err(e) => refs.iter().map(|_| Err(e.clone())).collect(),
            };
            for ((i, _), r) in sent.iter().zip(results) {
                outcomes[*i] = Some(r);
            }
        }
        outcomes
            .into_iter()
            .map(|o| o.unwrap_or_else(|| Err(ProviderError::permanent(None, "not sent"))))
            .collect()
    }

    async fn post_json(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<String, ProviderError> {
        let response = self
            .http
            .post(format!("{}{path}", self.base_url))
            .header(reqwest::header::AUTHORIZATION, self.authorization())
            .json(body)
            .timeout(self.timeout)
            .send()
            .await
            .map_err(|e| classify_transport_error("solapi", &e))?;
        read(response).await
    }
}

async fn read(response: reqwest::Response) -> Result<String, ProviderError> {
    let status = response.status().as_u16();
    let text = response
        .text()
        .await
        .map_err(|e| classify_transport_error("solapi", &e))?;
    if (200..300).contains(&status) {
        Ok(text)
    } else {
        Err(classify_http_failure(status, &text))
    }
}

#[async_trait]
impl SmsProvider for SolapiSms {
    fn name(&self) -> &str {
        "solapi"
    }

    fn text_limit(&self) -> SmsLimit {
        SmsLimit::LMS
    }

    fn batch_size(&self) -> usize {
        self.batch_size
    }

    fn polls_reports(&self) -> bool {
        true
    }

    async fn send(&self, req: &SmsRequest) -> Result<SmsAccepted, ProviderError> {
        let item = BatchItem {
            reference: 0,
            req: req.clone(),
        };
        self.send_batch(std::slice::from_ref(&item))
            .await
            .pop()
            .unwrap_or_else(|| Err(ProviderError::permanent(None, "no outcome")))
    }

    async fn send_batch(&self, items: &[BatchItem]) -> Vec<Result<SmsAccepted, ProviderError>> {
        let span = tracing::info_span!(
            "sms.send_batch",
            provider = "solapi",
            batch.size = items.len()
        );
        async {
            let out = self.send_many(items).await;
            let accepted = out.iter().filter(|o| o.is_ok()).count();
            let refused = out.iter().find_map(|o| o.as_ref().err().filter(|e| e.is_config_error()));
            match refused {
                Some(e) => tracing::error!(error = %e, accepted, "solapi refused our account or sender number"),
                None if accepted < out.len() => tracing::warn!(accepted, failed = out.len() - accepted, "solapi did not accept every message"),
                None => tracing::info!(accepted, "solapi accepted the batch"),
            }
            out
        }
        .instrument(span)
        .await
    }

    async fn poll_reports(&self, ids: &[String]) -> Result<Vec<DeliveryReport>, ProviderError> {
        let mut reports = Vec::new();
        for chunk in ids.chunks(IDS_PER_LIST) {
            let mut query: Vec<(String, String)> = chunk
                .iter()
                .enumerate()
                .map(|(i, id)| (format!("messageIds[{i}]"), id.clone()))
                .collect();
            query.push(("limit".into(), chunk.len().to_string()));
            let response = self
                .http
                .get(format!("{}/messages/v4/list", self.base_url))
                .header(reqwest::header::AUTHORIZATION, self.authorization())
                .query(&query)
                .timeout(self.timeout)
                .send()
                .await
                .map_err(|e| classify_transport_error("solapi", &e))?;
            reports.extend(parse_list_answer(&read(response).await?)?);
        }
        Ok(reports)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> SmsProviderSettings {
        SmsProviderSettings {
            provider: meoktong_config::SmsProviderKind::Solapi,
            base_url: "http://127.0.0.1:9/".into(),
            from: "02-1234-5678".into(),
            ..SmsProviderSettings::default()
        }
    }

    fn sms() -> SolapiSms {
        SolapiSms::new(
            &settings(),
            Secret::new("NCSKEY"),
            Secret::new("super-secret"),
            reqwest::Client::new(),
        )
        .expect("valid")
    }

    fn item(body: &str) -> BatchItem {
        BatchItem {
            reference: 7,
            req: SmsRequest {
                to: "+821012345678".into(),
                body: body.into(),
                status_callback: None,
                validity: None,
            },
        }
    }

    #[test]
    fn a_short_text_is_an_sms_a_long_one_an_lms_with_a_subject() {
        let s = sms();
        let m = s.message(&item("[장애] 카카오톡 장애 🔥")).expect("korean");
        assert_eq!(m["type"], "SMS");
        assert_eq!(m["to"], "01012345678");
        assert_eq!(m["from"], "0212345678");
        assert_eq!(m["text"], "[장애] 카카오톡 장애 ?");
        assert_eq!(m["customFields"][REFERENCE_FIELD], "7");
        assert!(m.get("subject").is_none());
        let long = format!("[장애] {}", "카카오 ".repeat(30));
        let m = s.message(&item(&long)).expect("korean");
        assert_eq!(m["type"], "LMS");
        assert!(
            m["subject"]
                .as_str()
                .is_some_and(|x| x.starts_with("[장애] 카카오"))
        );
    }

    #[test]
    fn settings_that_cannot_work_are_refused_and_secrets_stay_hidden() {
        let mut s = settings();
        s.from = "+821012345678".into();
        assert!(
            SolapiSms::new(
                &s,
                Secret::new("k"),
                Secret::new("s"),
                reqwest::Client::new()
            )
            .is_err()
        );
        assert!(
            SolapiSms::new(
                &settings(),
                Secret::new("k"),
                Secret::new(""),
                reqwest::Client::new()
            )
            .is_err()
        );
        assert!(!format!("{:?}", sms()).contains("super-secret"));
        assert!(sms().message(&item("x")).is_some());
        let mut foreign = item("x");
        foreign.req.to = "+15005550006".into();
        assert!(sms().message(&foreign).is_none());
    }
}
