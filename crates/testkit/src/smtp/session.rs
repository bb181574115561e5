//! One SMTP conversation.
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::SystemTime;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedWriteHalf;

use super::{ReceivedMail, SmtpState};

/// Larger messages are refused (552): a runaway client must not eat the test's memory.
const MAX_MESSAGE_BYTES: usize = 10 * 1024 * 1024;

#[derive(Default)]
struct Envelope {
    from: Option<String>,
    to: Vec<String>,
}

/// Runs one connection until QUIT, EOF or an I/O error (the client's problem, not the test's).
pub(crate) async fn run(stream: TcpStream, state: Arc<SmtpState>) {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    if state.refusing.load(Ordering::SeqCst) {
        let _ = write
            .write_all(b"421 4.3.2 Service not available, closing transmission channel\r\n")
            .await;
        return;
    }
    if reply(&mut write, "220 meoktong-testkit ESMTP ready")
        .await
        .is_err()
    {
        return;
    }
    let mut envelope = Envelope::default();
    let mut auth: Option<(String, String)> = None;
    loop {
        let Some(line) = read_line(&mut reader).await else {
            return;
        };
        let (verb, arg) = match line.split_once(' ') {
            Some((v, a)) => (v.to_ascii_uppercase(), a.trim().to_string()),
            None => (line.to_ascii_uppercase(), String::new()),
        };
        let answer = match verb.as_str() {
            "EHLO" => {
                envelope = Envelope::default();
                "250-meoktong-testkit\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250-AUTH PLAIN LOGIN\r\n250 SIZE 10485760".to_string()
            }
            "HELO" => {
                envelope = Envelope::default();
                "250 meoktong-testkit".to_string()
            }
            "MAIL" => mail_from(&state, &mut envelope, &arg),
            "RCPT" => rcpt_to(&state, &mut envelope, &arg),
            "DATA" => {
                if envelope.from.is_none() || envelope.to.is_empty() {
                    "503 5.5.1 Need MAIL and RCPT first".to_string()
                } else {
                    if reply(&mut write, "354 End data with <CR><LF>.<CR><LF>")
                        .await
                        .is_err()
                    {
                        return;
                    }
                    let Some(data) = read_data(&mut reader).await else {
                        return;
                    };
                    let envelope = std::mem::take(&mut envelope);
                    if data.len() > MAX_MESSAGE_BYTES {
                        "552 5.3.4 Message too big".to_string()
                    } else {
                        let mut received = state.received();
                        received.push(ReceivedMail {
                            from: envelope.from.unwrap_or_default(),
                            to: envelope.to,
                            data,
                            auth: auth.clone(),
                            at: SystemTime::now(),
                        });
                        format!("250 2.0.0 OK queued as {}", received.len())
                    }
                }
            }
            "AUTH" => match authenticate(&mut reader, &mut write, &arg).await {
                Some(credentials) => {
                    auth = Some(credentials);
                    "235 2.7.0 Authentication successful".to_string()
                }
                None => "501 5.5.2 Cannot decode the credentials".to_string(),
            },
            "RSET" => {
                envelope = Envelope::default();
                "250 2.0.0 OK".to_string()
            }
            "NOOP" => "250 2.0.0 OK".to_string(),
            "VRFY" => "252 2.1.5 Cannot verify, will attempt delivery".to_string(),
            "QUIT" => {
                let _ = reply(&mut write, "221 2.0.0 Bye").await;
                return;
            }
            _ => "502 5.5.2 Command not recognized".to_string(),
        };
        if reply(&mut write, &answer).await.is_err() {
            return;
        }
    }
}

fn mail_from(state: &SmtpState, envelope: &mut Envelope, arg: &str) -> String {
    if state.refusing.load(Ordering::SeqCst) {
        return "451 4.3.2 Service temporarily unavailable, try again later".to_string();
    }
    match path_argument(arg, "FROM:") {
        Some(address) => {
            *envelope = Envelope {
                from: Some(address),
                to: Vec::new(),
            };
            "250 2.1.0 OK".to_string()
        }
        None => "501 5.5.4 Syntax: MAIL FROM:<address>".to_string(),
    }
}

fn rcpt_to(state: &SmtpState, envelope: &mut Envelope, arg: &str) -> String {
    if envelope.from.is_none() {
        return "503 5.5.1 Need MAIL first".to_string();
    }
    if state.rejecting_recipients.load(Ordering::SeqCst) {
        return "550 5.1.1 Mailbox unavailable".to_string();
    }
    match path_argument(arg, "TO:") {
        Some(address) if !address.is_empty() => {
            envelope.to.push(address);
            "250 2.1.5 OK".to_string()
        }
        _ => "501 5.5.4 Syntax: RCPT TO:<address>".to_string(),
    }
}

/// `FROM:<a@b> BODY=8BITMIME` → `a@b` (parameters after the path are ignored).
fn path_argument(arg: &str, prefix: &str) -> Option<String> {
    let head = arg.get(..prefix.len())?;
    if !head.eq_ignore_ascii_case(prefix) {
        return None;
    }
    let rest = arg[prefix.len()..].trim_start();
    let inner = rest.strip_prefix('<')?;
    let end = inner.find('>')?;
    Some(inner[..end].to_string())
}

/// AUTH PLAIN (initial response or after `334`) and AUTH LOGIN; any credentials pass.
async fn authenticate(
    reader: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
    write: &mut OwnedWriteHalf,
    arg: &str,
) -> Option<(String, String)> {
    let (mechanism, initial) = match arg.split_once(' ') {
        Some((m, i)) => (m.to_ascii_uppercase(), Some(i.trim().to_string())),
        None => (arg.to_ascii_uppercase(), None),
    };
    let decode = |text: &str| {
        STANDARD
            .decode(text.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
    };
    match mechanism.as_str() {
        "PLAIN" => {
            let response = match initial {
                Some(i) => i,
                None => {
                    reply(write, "334 ").await.ok()?;
                    read_line(reader).await?
                }
            };
            // authzid NUL authcid NUL password
            let decoded = decode(&response)?;
            let mut parts = decoded.split('\0').skip(1);
            Some((parts.next()?.to_string(), parts.next()?.to_string()))
        }
        "LOGIN" => {
            let user = match initial {
                Some(i) => decode(&i)?,
                None => {
                    reply(write, "334 VXNlcm5hbWU6").await.ok()?;
                    decode(&read_line(reader).await?)?
                }
            };
            reply(write, "334 UGFzc3dvcmQ6").await.ok()?;
            let password = decode(&read_line(reader).await?)?;
            Some((user, password))
        }
        _ => None,
    }
}

async fn reply(write: &mut OwnedWriteHalf, text: &str) -> std::io::Result<()> {
    write.write_all(format!("{text}\r\n").as_bytes()).await
}

/// One command line without its line ending; `None` at EOF or on an I/O error.
async fn read_line(reader: &mut BufReader<tokio::net::tcp::OwnedReadHalf>) -> Option<String> {
    let mut buf = Vec::new();
    match reader.read_until(b'\n', &mut buf).await {
        Ok(0) | Err(_) => None,
        Ok(_) => Some(
            String::from_utf8_lossy(&buf)
                .trim_end_matches(['\r', '\n'])
                .to_string(),
        ),
    }
}

/// The DATA section up to the lone `.` line, dot-unstuffed (RFC 5321 §4.5.2), CRLF endings.
async fn read_data(reader: &mut BufReader<tokio::net::tcp::OwnedReadHalf>) -> Option<Vec<u8>> {
    let mut data = Vec::new();
    loop {
        let mut line = Vec::new();
        match reader.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => return None,
            Ok(_) => {}
        }
        let content = line.strip_suffix(b"\n").unwrap_or(&line);
        let content = content.strip_suffix(b"\r").unwrap_or(content);
        if content == b"." {
            return Some(data);
        }
        let content = content.strip_prefix(b".").unwrap_or(content);
        if data.len() <= MAX_MESSAGE_BYTES {
            data.extend_from_slice(content);
            data.extend_from_slice(b"\r\n");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_read_with_or_without_parameters() {
        assert_eq!(
            path_argument("FROM:<a@b.c> BODY=8BITMIME SMTPUTF8", "FROM:"),
            Some("a@b.c".into())
        );
        assert_eq!(
            path_argument("from: <a@b.c>", "FROM:"),
            Some("a@b.c".into())
        );
        assert_eq!(path_argument("FROM:<>", "FROM:"), Some(String::new()));
        assert_eq!(path_argument("TO:a@b.c", "TO:"), None);
        assert_eq!(path_argument("", "TO:"), None);
    }
}
