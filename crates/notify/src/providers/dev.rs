//! The `log` providers: SMS and email that never leave the machine.
//!
//! `meoktong demo` and local development use them so a newcomer sees every message at
//! `/dev/outbox` without a Twilio account or a mail relay. They write through [`DevOutbox`],
//! which the storage layer implements; this crate does not depend on how it is stored.
use std::sync::Arc;

use async_trait::async_trait;
use meoktong_domain::mask::{mask_email, mask_phone};
use rand::Rng as _;

use super::{EmailMessage, EmailProvider, ProviderError, SmsAccepted, SmsProvider, SmsRequest};

/// Where the `log` providers put messages.
#[async_trait]
pub trait DevOutbox: Send + Sync {
    /// Records one message; `channel` is `sms` or `email`.
    async fn record(
        &self,
        channel: &str,
        recipient: &str,
        subject: Option<&str>,
        body: &str,
    ) -> Result<(), String>;
}

/// A failed write to the outbox (a busy database) is worth retrying, like a provider's 5xx.
fn outbox_error(e: String) -> ProviderError {
    ProviderError::transient(
        Some("dev-outbox".into()),
        format!("dev outbox write failed: {e}"),
        None,
    )
}

/// SMS into the dev outbox.
#[derive(Clone)]
pub struct LogSms {
    outbox: Arc<dyn DevOutbox>,
}

impl LogSms {
    pub fn new(outbox: Arc<dyn DevOutbox>) -> Self {
        LogSms { outbox }
    }
}

#[async_trait]
impl SmsProvider for LogSms {
    fn name(&self) -> &str {
        "log"
    }

    /// Answers `delivered` at once with a `LOG` + 32 hex id: no status callback will ever
    /// come, so the dispatcher must not wait for one.
    async fn send(&self, req: &SmsRequest) -> Result<SmsAccepted, ProviderError> {
        self.outbox
            .record("sms", &req.to, None, &req.body)
            .await
            .map_err(outbox_error)?;
        let id: u128 = rand::thread_rng().r#gen();
        tracing::info!(sms.to = %mask_phone(&req.to), "sms written to the dev outbox");
        Ok(SmsAccepted {
            provider_message_id: format!("LOG{id:032x}"),
            status: "delivered".into(),
        })
    }
}

/// Email into the dev outbox (the text part; the HTML part is for real mail clients).
#[derive(Clone)]
pub struct LogEmail {
    outbox: Arc<dyn DevOutbox>,
}

impl LogEmail {
    pub fn new(outbox: Arc<dyn DevOutbox>) -> Self {
        LogEmail { outbox }
    }
}

#[async_trait]
impl EmailProvider for LogEmail {
    async fn send(&self, msg: &EmailMessage) -> Result<(), ProviderError> {
        self.outbox
            .record("email", &msg.to, Some(&msg.subject), &msg.text)
            .await
            .map_err(outbox_error)?;
        tracing::info!(email.to = %mask_email(&msg.to), "email written to the dev outbox");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    type Row = (String, String, Option<String>, String);

    #[derive(Default)]
    struct MemoryOutbox {
        rows: Mutex<Vec<Row>>,
        fail: bool,
    }

    #[async_trait]
    impl DevOutbox for MemoryOutbox {
        async fn record(
            &self,
            channel: &str,
            recipient: &str,
            subject: Option<&str>,
            body: &str,
        ) -> Result<(), String> {
            if self.fail {
                return Err("database is locked".into());
            }
            let row = (
                channel.into(),
                recipient.into(),
                subject.map(str::to_owned),
                body.into(),
            );
            self.rows.lock().map_err(|e| e.to_string())?.push(row);
            Ok(())
        }
    }

    #[tokio::test]
    async fn log_sms_records_and_answers_a_log_id() {
        let outbox = Arc::new(MemoryOutbox::default());
        let sms = LogSms::new(outbox.clone());
        let req = SmsRequest {
            to: "+821012345678".into(),
            body: "[장애] 카카오톡".into(),
            status_callback: None,
            validity: None,
        };
        let a = sms.send(&req).await.expect("recorded");
        let b = sms.send(&req).await.expect("recorded");
        assert!(a.provider_message_id.starts_with("LOG") && a.provider_message_id.len() == 35);
        assert_ne!(a.provider_message_id, b.provider_message_id);
        assert_eq!(a.status, "delivered");
        let rows = outbox.rows.lock().expect("lock").clone();
        assert_eq!(
            rows[0],
            (
                "sms".into(),
                "+821012345678".into(),
                None,
                "[장애] 카카오톡".into()
            )
        );
    }

    #[tokio::test]
    async fn log_email_records_subject_and_text() {
        let outbox = Arc::new(MemoryOutbox::default());
        let msg = EmailMessage {
            to: "kim@example.com".into(),
            subject: "s".into(),
            text: "t".into(),
            html: Some("<p>t</p>".into()),
        };
        LogEmail::new(outbox.clone())
            .send(&msg)
            .await
            .expect("recorded");
        let rows = outbox.rows.lock().expect("lock").clone();
        assert_eq!(
            rows,
            vec![(
                "email".into(),
                "kim@example.com".into(),
                Some("s".into()),
                "t".into()
            )]
        );
    }

    #[tokio::test]
    async fn an_outbox_failure_is_transient() {
        let outbox = Arc::new(MemoryOutbox {
            fail: true,
            ..MemoryOutbox::default()
        });
        let req = SmsRequest {
            to: "+821012345678".into(),
            body: "x".into(),
            status_callback: None,
            validity: None,
        };
        assert!(
            LogSms::new(outbox)
                .send(&req)
                .await
                .is_err_and(|e| !e.is_permanent())
        );
    }
}
