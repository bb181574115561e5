//! A small HTTP/1.1 load generator: `connections` keep-alive connections, each sending the
//! next request when the previous answer has been read, until a deadline.
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

/// What one request needs: the path and an optional `Cookie` header.
#[derive(Clone)]
pub struct Request {
    pub path: String,
    pub cookie: Option<String>,
}

/// How an answer is judged.
#[derive(Clone)]
pub struct Expect {
    pub status: u16,
    /// The body must contain this (e.g. `probe_success 1`).
    pub body_contains: Option<String>,
}

#[derive(Debug, Default)]
pub struct LoadResult {
    pub ok: u64,
    pub failed: u64,
    pub elapsed: Duration,
    /// Latencies of the good answers, sorted, in microseconds.
    pub latencies_us: Vec<u32>,
    pub first_failure: Option<String>,
}

impl LoadResult {
    pub fn per_second(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    pub fn quantile(&self, q: f64) -> Duration {
        Duration::from_micros(u64::from(crate::machine::quantile(&self.latencies_us, q)))
    }
}

/// Runs for `duration` on `connections` connections to `127.0.0.1:port`; connection `i`
/// sends `requests[i % len]`.
pub async fn run(
    port: u16,
    requests: Vec<Request>,
    expect: Expect,
    connections: usize,
    duration: Duration,
) -> LoadResult {
    let deadline = Instant::now() + duration;
    let started = Instant::now();
    let requests = Arc::new(requests);
    let tasks: Vec<_> = (0..connections)
        .map(|i| {
            let (requests, expect) = (requests.clone(), expect.clone());
            tokio::spawn(async move {
                connection(port, &requests[i % requests.len()], &expect, deadline).await
            })
        })
        .collect();
    let mut total = LoadResult::default();
    for t in tasks {
        if let Ok(r) = t.await {
            total.ok += r.ok;
            total.failed += r.failed;
            total.latencies_us.extend(r.latencies_us);
            if total.first_failure.is_none() {
                total.first_failure = r.first_failure;
            }
        }
    }
    total.elapsed = started.elapsed();
    total.latencies_us.sort_unstable();
    total
}

type Sender = hyper::client::conn::http1::SendRequest<Empty<Bytes>>;

async fn connect(port: u16) -> Result<Sender, String> {
    let stream = TcpStream::connect(("127.0.0.1", port))
        .await
        .map_err(|e| e.to_string())?;
    let _ = stream.set_nodelay(true);
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

async fn connection(port: u16, req: &Request, expect: &Expect, deadline: Instant) -> LoadResult {
    let mut out = LoadResult::default();
    let mut sender: Option<Sender> = None;
    while Instant::now() < deadline {
        let s = match sender.as_mut() {
            Some(s) => s,
            None => match connect(port).await {
                Ok(s) => sender.insert(s),
                Err(e) => {
                    fail(&mut out, e);
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        let mut builder =
            hyper::Request::get(req.path.as_str()).header("host", format!("127.0.0.1:{port}"));
        if let Some(c) = &req.cookie {
            builder = builder.header("cookie", c.as_str());
        }
        let Ok(request) = builder.body(Empty::<Bytes>::new()) else {
            fail(&mut out, "cannot build the request".into());
            return out;
        };
        let t0 = Instant::now();
        match one(s, request, expect).await {
            Ok(()) => {
                out.ok += 1;
                out.latencies_us
                    .push(u32::try_from(t0.elapsed().as_micros()).unwrap_or(u32::MAX));
            }
            Err(e) => {
                fail(&mut out, e);
                sender = None; // a fresh connection after any failure
            }
        }
    }
    out
}

fn fail(out: &mut LoadResult, e: String) {
    out.failed += 1;
    if out.first_failure.is_none() {
        out.first_failure = Some(e);
    }
}

async fn one(
    s: &mut Sender,
    request: hyper::Request<Empty<Bytes>>,
    expect: &Expect,
) -> Result<(), String> {
    s.ready().await.map_err(|e| e.to_string())?;
    let resp = s.send_request(request).await.map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    if status != expect.status {
        return Err(format!(
            "HTTP {status}: {}",
            String::from_utf8_lossy(&body[..body.len().min(200)])
        ));
    }
    if let Some(needle) = &expect.body_contains
        && memchr::memmem::find(&body, needle.as_bytes()).is_none()
    {
        return Err(format!(
            "body lacks `{needle}`: {}",
            String::from_utf8_lossy(&body[..body.len().min(300)])
        ));
    }
    Ok(())
}
