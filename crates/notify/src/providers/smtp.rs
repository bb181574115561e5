//! Email over SMTP with lettre's pooled async transport.
//!
//! The whole connection (host, port, TLS mode, user) is one lettre URL from `[email]
//! smtp_url` (`smtp://host:2525`, `smtps://user@host`, `smtp://host?tls=required`); the
//! password comes from the environment (`password_env`) so it never sits in the file.
use std::time::Duration;

use async_trait::async_trait;
use lettre::message::{Mailbox, MultiPart, header::ContentType};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use meoktong_config::EmailSettings;
use meoktong_config::Secret;
use meoktong_domain::mask::{mask_email, mask_text};
use tracing::Instrument;

use super::{EmailMessage, EmailProvider, ProviderError};

/// Sends email through one SMTP relay.
pub struct SmtpEmail {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl std::fmt::Debug for SmtpEmail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpEmail")
            .field("from", &self.from.to_string())
            .finish_non_exhaustive()
    }
}

impl SmtpEmail {
    /// Per SMTP command; a relay that takes longer is treated as down (transient).
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

    /// Builds the transport from `[email]`, reading the password from `password_env`.
    pub fn from_settings(settings: &EmailSettings) -> Result<Self, ProviderError> {
        let password = settings.password().map_err(|e| {
            ProviderError::permanent(None, format!("smtp provider misconfigured: {e}"))
        })?;
        Self::new(settings, password, Self::DEFAULT_TIMEOUT)
    }

    /// Builds the transport from `[email]` and an already-read password.
    ///
    /// The user is the URL's (percent-decoded); with a password, credentials are set even
    /// when the URL has none. No connection is made until the first send, so a relay that is
    /// down at start-up is not fatal. Errors here are settings that could never work.
    /// Call it inside the Tokio runtime: lettre's connection pool spawns its reaper task.
    pub fn new(
        settings: &EmailSettings,
        password: Option<Secret>,
        timeout: Duration,
    ) -> Result<Self, ProviderError> {
        let config_error = |what: String| {
            ProviderError::permanent(None, format!("smtp provider misconfigured: {what}"))
        };
        let from: Mailbox = settings
            .from
            .parse()
            .map_err(|e| config_error(format!("from: {e}")))?;
        let url = url::Url::parse(&settings.smtp_url)
            .map_err(|e| config_error(format!("smtp_url: {e}")))?;
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(&settings.smtp_url)
            .map_err(|e| config_error(format!("smtp_url: {e}")))?
            .timeout(Some(timeout));
        if let Some(password) = password {
            let user = percent_decode(url.username());
            builder = builder.credentials(Credentials::new(user, password.expose().to_owned()));
        }
        Ok(SmtpEmail {
            transport: builder.build(),
            from,
        })
    }

    fn build(&self, msg: &EmailMessage) -> Result<Message, ProviderError> {
        let to: Mailbox = msg.to.parse().map_err(|e| {
            ProviderError::permanent(
                None,
                format!("invalid recipient {}: {e}", mask_email(&msg.to)),
            )
        })?;
        let builder = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(msg.subject.clone())
            .message_id(None);
        let built = match &msg.html {
            Some(html) => builder.multipart(MultiPart::alternative_plain_html(
                msg.text.clone(),
                html.clone(),
            )),
            None => builder
                .header(ContentType::TEXT_PLAIN)
                .body(msg.text.clone()),
        };
        built.map_err(|e| ProviderError::permanent(None, format!("cannot build the email: {e}")))
    }
}

#[async_trait]
impl EmailProvider for SmtpEmail {
    async fn send(&self, msg: &EmailMessage) -> Result<(), ProviderError> {
        let span =
            tracing::info_span!("email.send", provider = "smtp", email.to = %mask_email(&msg.to));
        async {
            let message = self.build(msg)?;
            match self.transport.send(message).await {
                Ok(_) => {
                    tracing::info!("smtp relay accepted the email");
                    Ok(())
                }
                Err(e) => {
                    let error = classify_smtp_error(&e);
                    tracing::warn!(error = %error, "smtp relay did not accept the email");
                    Err(error)
                }
            }
        }
        .instrument(span)
        .await
    }
}

/// SMTP reply 4xx, refused or dropped connections, timeouts and TLS trouble are transient
/// (README, webhooks and design notes: email is retried on 4xx/refused connections with backoff); a 5xx reply is
/// permanent, and so is a client-side refusal (no common auth mechanism, an address the
/// relay cannot take) that no retry would change. Addresses in the text are masked.
pub(crate) fn classify_smtp_error(e: &lettre::transport::smtp::Error) -> ProviderError {
    let message = mask_text(&error_chain(e));
    match e.status() {
        Some(code) if e.is_permanent() => ProviderError::permanent(Some(code.to_string()), message),
        Some(code) => ProviderError::transient(Some(code.to_string()), message, None),
        None if e.is_timeout() => ProviderError::transient(Some("timeout".into()), message, None),
        None if e.is_client() => ProviderError::permanent(None, message),
        None => ProviderError::transient(None, message, None),
    }
}

/// Percent-decodes the URL's user (`alerts%40example.com`). form_urlencoded also turns `+`
/// into a space, so a literal `+` is escaped first to keep it.
fn percent_decode(text: &str) -> String {
    let escaped = format!("u={}", text.replace('+', "%2B"));
    url::form_urlencoded::parse(escaped.as_bytes())
        .next()
        .map(|(_, value)| value.into_owned())
        .unwrap_or_default()
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(&format!(": {s}"));
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(url: &str) -> EmailSettings {
        EmailSettings {
            smtp_url: url.into(),
            password_env: None,
            from: "Meoktong <alerts@meoktong.example>".into(),
        }
    }

    #[tokio::test]
    async fn every_documented_url_form_builds() {
        for url in [
            "smtp://127.0.0.1:2525",
            "smtps://user@smtp.example.com",
            "smtp://smtp.example.com?tls=required",
        ] {
            assert!(
                SmtpEmail::new(
                    &settings(url),
                    Some(Secret::new("pw")),
                    SmtpEmail::DEFAULT_TIMEOUT
                )
                .is_ok(),
                "{url}"
            );
        }
    }

    #[test]
    fn the_url_user_is_percent_decoded() {
        assert_eq!(
            percent_decode("alerts%40meoktong.example"),
            "alerts@meoktong.example"
        );
        assert_eq!(percent_decode("a+b"), "a+b");
    }

    #[tokio::test]
    async fn bad_settings_are_refused() {
        assert!(
            SmtpEmail::new(&settings("ftp://host"), None, SmtpEmail::DEFAULT_TIMEOUT)
                .is_err_and(|e| e.is_permanent())
        );
        let mut s = settings("smtp://127.0.0.1:2525");
        s.from = "not an address".into();
        assert!(SmtpEmail::new(&s, None, SmtpEmail::DEFAULT_TIMEOUT).is_err());
    }

    #[tokio::test]
    async fn a_bad_recipient_is_permanent_and_masked() {
        let smtp = SmtpEmail::new(
            &settings("smtp://127.0.0.1:2525"),
            None,
            SmtpEmail::DEFAULT_TIMEOUT,
        )
        .expect("valid");
        let msg = EmailMessage {
            to: "kim@@example.com".into(),
            subject: "s".into(),
            text: "t".into(),
            html: None,
        };
        let e = smtp.build(&msg).expect_err("bad address");
        assert!(e.is_permanent());
        assert!(!e.message().contains("kim@@"), "{}", e.message());
    }

    #[tokio::test]
    async fn html_makes_a_multipart_alternative() {
        let smtp = SmtpEmail::new(
            &settings("smtp://127.0.0.1:2525"),
            None,
            SmtpEmail::DEFAULT_TIMEOUT,
        )
        .expect("valid");
        let msg = EmailMessage {
            to: "kim@example.com".into(),
            subject: "[장애] 카카오톡".into(),
            text: "본문".into(),
            html: Some("<p>본문</p>".into()),
        };
        let raw = String::from_utf8(smtp.build(&msg).expect("builds").formatted())
            .expect("ascii headers");
        assert!(raw.contains("multipart/alternative"), "{raw}");
        assert!(
            raw.contains("Subject: =?utf-8?b?"),
            "subject is RFC 2047 encoded: {raw}"
        );
    }
}
