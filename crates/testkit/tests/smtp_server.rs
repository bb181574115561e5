//! The SMTP stand-in speaks enough RFC 5321 for a hand-written conversation.
use std::time::Duration;

use meoktong_testkit::SmtpServer;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

struct Client {
    reader: BufReader<tokio::net::tcp::OwnedReadHalf>,
    writer: tokio::net::tcp::OwnedWriteHalf,
}

impl Client {
    async fn connect(server: &SmtpServer) -> (Client, String) {
        let (read, writer) = TcpStream::connect(server.addr())
            .await
            .expect("connect")
            .into_split();
        let mut client = Client {
            reader: BufReader::new(read),
            writer,
        };
        let greeting = client.reply().await;
        (client, greeting)
    }

    /// Reads one (possibly multi-line) reply and returns its last line.
    async fn reply(&mut self) -> String {
        loop {
            let mut line = String::new();
            self.reader.read_line(&mut line).await.expect("read");
            if line.len() < 4 || line.as_bytes()[3] != b'-' {
                return line.trim_end().to_string();
            }
        }
    }

    async fn say(&mut self, line: &str) -> String {
        self.writer
            .write_all(format!("{line}\r\n").as_bytes())
            .await
            .expect("write");
        self.reply().await
    }
}

#[tokio::test]
async fn a_whole_conversation_with_dot_stuffing() {
    let server = SmtpServer::start().await;
    let (mut c, greeting) = Client::connect(&server).await;
    assert!(greeting.starts_with("220"), "{greeting}");
    assert!(c.say("EHLO client.example").await.starts_with("250 "));
    assert!(
        c.say("RCPT TO:<a@b.c>").await.starts_with("503"),
        "RCPT before MAIL"
    );
    assert!(
        c.say("MAIL FROM:<from@x.example> BODY=8BITMIME")
            .await
            .starts_with("250")
    );
    assert!(c.say("RSET").await.starts_with("250"));
    assert!(
        c.say("DATA").await.starts_with("503"),
        "RSET forgot the envelope"
    );
    assert!(c.say("NOOP").await.starts_with("250"));
    assert!(c.say("MAIL FROM:<from@x.example>").await.starts_with("250"));
    assert!(c.say("RCPT TO:<one@y.example>").await.starts_with("250"));
    assert!(c.say("RCPT TO:<two@y.example>").await.starts_with("250"));
    assert!(c.say("DATA").await.starts_with("354"));
    let data = "Subject: =?utf-8?b?7J6l7JWg?=\r\n\r\nline one\r\n..starts with a dot\r\n.\r\n";
    c.writer.write_all(data.as_bytes()).await.expect("write");
    assert!(c.reply().await.starts_with("250"));
    assert!(c.say("QUIT").await.starts_with("221"));

    let mail = server
        .wait_for(1, Duration::from_secs(10))
        .await
        .expect("one mail")
        .remove(0);
    assert_eq!(mail.from, "from@x.example");
    assert_eq!(
        mail.to,
        vec!["one@y.example".to_string(), "two@y.example".to_string()]
    );
    assert_eq!(mail.subject().as_deref(), Some("장애"));
    assert_eq!(
        mail.text().expect("text").trim_end(),
        "line one\r\n.starts with a dot"
    );
}

#[tokio::test]
async fn auth_plain_and_login_are_accepted_and_recorded() {
    let server = SmtpServer::start().await;
    let (mut c, _) = Client::connect(&server).await;
    c.say("EHLO client").await;
    // base64("\0user\0pass")
    assert!(
        c.say("AUTH PLAIN AHVzZXIAcGFzcw==")
            .await
            .starts_with("235")
    );
    let (mut c2, _) = Client::connect(&server).await;
    c2.say("EHLO client").await;
    assert!(c2.say("AUTH LOGIN").await.starts_with("334"));
    assert!(c2.say("dXNlcg==").await.starts_with("334"));
    assert!(c2.say("cGFzcw==").await.starts_with("235"));
    assert_eq!(server.connection_count(), 2);
}

#[tokio::test]
async fn refusing_answers_421_on_connect_and_451_on_open_connections() {
    let server = SmtpServer::start().await;
    let (mut open, _) = Client::connect(&server).await;
    open.say("EHLO client").await;
    server.set_refusing(true);
    let (_, greeting) = Client::connect(&server).await;
    assert!(greeting.starts_with("421"), "{greeting}");
    assert!(open.say("MAIL FROM:<a@b.c>").await.starts_with("451"));
    assert!(
        server
            .wait_for(1, Duration::from_millis(100))
            .await
            .is_err()
    );
}
