//! SmtpEmail against a real SMTP conversation with the stand-in server.
use std::time::Duration;

use meoktong_config::{EmailSettings, Secret};
use meoktong_notify::providers::{EmailMessage, EmailProvider, SmtpEmail};
use meoktong_testkit::SmtpServer;

const WAIT: Duration = Duration::from_secs(10);

fn smtp(url: String, password: Option<&str>) -> SmtpEmail {
    let settings = EmailSettings {
        smtp_url: url,
        password_env: None,
        from: "Meoktong <alerts@meoktong.example>".into(),
    };
    SmtpEmail::new(
        &settings,
        password.map(Secret::new),
        Duration::from_secs(10),
    )
    .expect("valid settings")
}

fn korean_alert() -> EmailMessage {
    EmailMessage {
        to: "김사장 <kim@example.com>".into(),
        subject: "[장애] 카카오톡·카카오페이 먹통 (14:05부터)".into(),
        text: "사장님, 카카오페이 결제가 14:05부터 되지 않습니다.\n.점으로 시작하는 줄도 그대로 갑니다.\n카드 단말기를 LTE 라우터로 바꾸세요.".into(),
        html: Some("<p>사장님, 카카오페이 결제가 <b>14:05</b>부터 되지 않습니다.</p>".into()),
    }
}

#[tokio::test]
async fn a_korean_alert_arrives_intact() {
    let server = SmtpServer::start().await;
    smtp(server.url(), None)
        .send(&korean_alert())
        .await
        .expect("sent");
    let mail = server.wait_for(1, WAIT).await.expect("received").remove(0);
    assert_eq!(mail.from, "alerts@meoktong.example");
    assert_eq!(mail.to, vec!["kim@example.com".to_string()]);
    assert_eq!(
        mail.subject().as_deref(),
        Some("[장애] 카카오톡·카카오페이 먹통 (14:05부터)")
    );
    let text = mail.text().expect("text part");
    assert_eq!(text.replace("\r\n", "\n").trim_end(), korean_alert().text);
    assert!(mail.html().expect("html part").contains("<b>14:05</b>"));
    assert!(
        !mail.raw().contains("카카오톡"),
        "headers and bodies travel encoded"
    );
    assert!(mail.auth.is_none());
}

#[tokio::test]
async fn a_text_only_alert_has_no_html_part() {
    let server = SmtpServer::start().await;
    let msg = EmailMessage {
        html: None,
        ..korean_alert()
    };
    smtp(server.url(), None).send(&msg).await.expect("sent");
    let mail = server.wait_for(1, WAIT).await.expect("received").remove(0);
    assert!(mail.text().expect("text").contains("LTE"));
    assert_eq!(mail.html(), None);
}

#[tokio::test]
async fn the_url_user_and_the_env_password_authenticate() {
    let server = SmtpServer::start().await;
    let url = format!("smtp://alerts%40meoktong.example@{}", server.addr());
    smtp(url, Some("s3cret"))
        .send(&korean_alert())
        .await
        .expect("sent");
    let mail = server.wait_for(1, WAIT).await.expect("received").remove(0);
    assert_eq!(
        mail.auth,
        Some(("alerts@meoktong.example".to_string(), "s3cret".to_string()))
    );
}

#[tokio::test]
async fn a_refusing_relay_is_transient() {
    let server = SmtpServer::start().await;
    server.set_refusing(true);
    let e = smtp(server.url(), None)
        .send(&korean_alert())
        .await
        .expect_err("refused");
    assert!(!e.is_permanent(), "{e}");
    assert_eq!(e.code(), Some("421"));
    assert!(server.received().is_empty());
}

#[tokio::test]
async fn a_relay_that_goes_away_on_a_pooled_connection_is_transient() {
    let server = SmtpServer::start().await;
    let email = smtp(server.url(), None);
    email
        .send(&korean_alert())
        .await
        .expect("first one goes through");
    server.set_refusing(true);
    let e = email.send(&korean_alert()).await.expect_err("refused");
    assert!(!e.is_permanent(), "{e}");
    server.set_refusing(false);
    email.send(&korean_alert()).await.expect("recovers");
    assert_eq!(server.wait_for(2, WAIT).await.expect("two").len(), 2);
}

#[tokio::test]
async fn a_rejected_mailbox_is_permanent() {
    let server = SmtpServer::start().await;
    server.set_rejecting_recipients(true);
    let e = smtp(server.url(), None)
        .send(&korean_alert())
        .await
        .expect_err("550");
    assert!(e.is_permanent(), "{e}");
    assert_eq!(e.code(), Some("550"));
    assert!(
        !e.message().contains("kim@example.com"),
        "addresses are masked: {}",
        e.message()
    );
}

#[tokio::test]
async fn nobody_listening_is_transient() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let e = smtp(format!("smtp://127.0.0.1:{port}"), None)
        .send(&korean_alert())
        .await
        .expect_err("refused");
    assert!(!e.is_permanent(), "{e}");
}
