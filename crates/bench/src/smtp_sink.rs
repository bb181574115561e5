//! A counting SMTP relay on loopback: it speaks the conversation lettre's pooled transport
//! has with a relay (EHLO, MAIL, RCPT, DATA, RSET, NOOP, QUIT; several mails per connection),
//! accepts every mail, and notes each recipient in [`Reach`] when the mail's data ends.
use crate::reach::Reach;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio_util::sync::CancellationToken;

type Window = std::sync::Mutex<Option<(Instant, Instant)>>;

pub struct SmtpSink {
    pub url: String,
    /// The first and the latest mail accepted.
    window: Arc<Window>,
    pub mails: Arc<AtomicU64>,
    pub connections: Arc<AtomicU64>,
    stop: CancellationToken,
}

impl SmtpSink {
    pub async fn start(reach: Arc<Reach>) -> anyhow::Result<SmtpSink> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("smtp://{}", listener.local_addr()?);
        let (mails, connections) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let stop = CancellationToken::new();
        let window: Arc<Window> = Arc::default();
        let (m, c, s, w) = (
            mails.clone(),
            connections.clone(),
            stop.clone(),
            window.clone(),
        );
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    _ = s.cancelled() => return,
                    a = listener.accept() => a,
                };
                let Ok((stream, _)) = accepted else { continue };
                c.fetch_add(1, Ordering::Relaxed);
                let (reach, mails, window) = (reach.clone(), m.clone(), w.clone());
                tokio::spawn(async move {
                    let _ = session(stream, &reach, &mails, &window).await;
                });
            }
        });
        Ok(SmtpSink {
            url,
            window,
            mails,
            connections,
            stop,
        })
    }
}

impl SmtpSink {
    /// When the first and the latest mail were accepted.
    pub fn window(&self) -> Option<(Instant, Instant)> {
        *self.window.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn session(
    stream: tokio::net::TcpStream,
    reach: &Reach,
    mails: &AtomicU64,
    window: &Window,
) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    write.write_all(b"220 bench-relay ESMTP\r\n").await?;
    let mut recipients: Vec<String> = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let verb = line.get(..4).unwrap_or("").to_ascii_uppercase();
        let answer: &[u8] = match verb.as_str() {
            "EHLO" => b"250-bench-relay\r\n250-PIPELINING\r\n250 8BITMIME\r\n",
            "HELO" => b"250 bench-relay\r\n",
            "MAIL" => {
                recipients.clear();
                b"250 OK\r\n"
            }
            "RCPT" => {
                let addr = line
                    .split_once('<')
                    .and_then(|(_, r)| r.split_once('>'))
                    .map(|(a, _)| a.to_string())
                    .unwrap_or_default();
                recipients.push(addr);
                b"250 OK\r\n"
            }
            "DATA" => {
                write.write_all(b"354 go ahead\r\n").await?;
                loop {
                    line.clear();
                    if lines.read_line(&mut line).await? == 0 {
                        return Ok(());
                    }
                    if line == ".\r\n" || line == ".\n" {
                        break;
                    }
                }
                let now = Instant::now();
                for r in recipients.drain(..) {
                    reach.mark(&r, false, now);
                }
                mails.fetch_add(1, Ordering::Relaxed);
                {
                    let mut w = window.lock().unwrap_or_else(|p| p.into_inner());
                    *w = Some(w.map_or((now, now), |(first, _)| (first, now)));
                }
                b"250 queued\r\n"
            }
            "RSET" => {
                recipients.clear();
                b"250 OK\r\n"
            }
            "NOOP" => b"250 OK\r\n",
            "QUIT" => {
                write.write_all(b"221 bye\r\n").await?;
                return Ok(());
            }
            _ => b"502 not implemented\r\n",
        };
        write.write_all(answer).await?;
    }
}
