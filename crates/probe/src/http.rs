//! One HTTP/1.1 exchange on a fresh connection: resolve, vet, connect to the vetted address, TLS,
//! hyper's client connection, first byte, body (kept up to [`MAX_BODY`]). Redirects are not
//! followed: a 3xx is the answer (the default `expect_status` accepts it), so a redirect can never
//! lead a probe past the SSRF guard.
use crate::net::{self, HostRef, NetError, Progress, Stage};
use crate::runner::Shared;
use bytes::Bytes;
use http::header::{ACCEPT, CONNECTION, HOST, HeaderName, HeaderValue, USER_AGENT};
use http::{Method, Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::{Pin, pin};
use tokio::io::{AsyncRead, AsyncWrite};
use url::{Position, Url};

/// Bodies are read up to this many bytes; the rest is not waited for.
pub const MAX_BODY: usize = 1 << 20;

pub(crate) struct HttpRequest<'a> {
    pub method: &'a str,
    pub url: &'a str,
    pub headers: &'a BTreeMap<String, String>,
    pub body: Option<&'a str>,
    /// Keep the body (expectations read it); otherwise it is only drained.
    pub keep_body: bool,
}

pub(crate) struct HttpResponse {
    pub status: u16,
    pub body: Bytes,
}

/// Sends `req` and reads the answer, recording phase marks in `p`.
pub(crate) async fn exchange(
    shared: &Shared,
    req: &HttpRequest<'_>,
    p: &mut Progress<'_>,
) -> Result<HttpResponse, NetError> {
    let url = Url::parse(req.url)
        .map_err(|e| NetError::BadTarget(format!("`{}` is not a URL: {e}", req.url)))?;
    let https = match url.scheme() {
        "https" => true,
        "http" => false,
        other => {
            return Err(NetError::BadTarget(format!(
                "scheme `{other}` is not http or https"
            )));
        }
    };
    let host = HostRef::from_url(
        url.host()
            .ok_or_else(|| NetError::BadTarget(format!("`{}` has no host", req.url)))?,
    );
    let port = url
        .port_or_known_default()
        .unwrap_or(if https { 443 } else { 80 });
    let request = build_request(shared, &url, req)?;
    let addrs = net::resolve(&host, port, shared.ssrf, p).await?;
    let tcp = net::connect(&addrs, p).await?;
    if https {
        let tls = net::tls_handshake(tcp, &host, &shared.tls, p).await?;
        send(tls, request, req.keep_body, p).await
    } else {
        send(tcp, request, req.keep_body, p).await
    }
}

fn build_request(
    shared: &Shared,
    url: &Url,
    req: &HttpRequest<'_>,
) -> Result<Request<Full<Bytes>>, NetError> {
    let method = Method::from_bytes(req.method.trim().as_bytes())
        .map_err(|_| NetError::BadTarget(format!("`{}` is not an HTTP method", req.method)))?;
    let target = &url[Position::BeforePath..Position::AfterQuery];
    let uri = Uri::try_from(target)
        .map_err(|e| NetError::BadTarget(format!("bad request target `{target}`: {e}")))?;
    let authority = &url[Position::BeforeHost..Position::AfterPort];
    let host = HeaderValue::from_str(authority)
        .map_err(|_| NetError::BadTarget(format!("bad host `{authority}`")))?;
    let body = req
        .body
        .map(|b| Bytes::copy_from_slice(b.as_bytes()))
        .unwrap_or_default();
    let mut request = Request::new(Full::new(body));
    *request.method_mut() = method;
    *request.uri_mut() = uri;
    let headers = request.headers_mut();
    headers.insert(HOST, host);
    headers.insert(USER_AGENT, shared.user_agent.clone());
    headers.insert(ACCEPT, HeaderValue::from_static("*/*"));
    // One request per connection; the server closes, so TIME_WAIT stays on its side.
    headers.insert(CONNECTION, HeaderValue::from_static("close"));
    for (name, value) in req.headers {
        let name = HeaderName::from_bytes(name.trim().as_bytes())
            .map_err(|_| NetError::BadTarget(format!("`{name}` is not a header name")))?;
        // Never echo the value: it is often a secret.
        let value = HeaderValue::from_str(value)
            .map_err(|_| NetError::BadTarget(format!("header `{name}` has an invalid value")))?;
        headers.insert(name, value);
    }
    Ok(request)
}

fn http_error(e: hyper::Error) -> NetError {
    NetError::Http(e.to_string())
}

async fn send<IO>(
    io: IO,
    request: Request<Full<Bytes>>,
    keep_body: bool,
    p: &mut Progress<'_>,
) -> Result<HttpResponse, NetError>
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(http_error)?;
    // The connection is driven here, in this task: dropping the probe (timeout) closes it.
    let mut conn = pin!(conn);
    let mut conn_done = false;
    p.stage = Stage::WaitingForResponse;
    let response = drive(conn.as_mut(), &mut conn_done, sender.send_request(request))
        .await
        .map_err(http_error)?;
    p.timings.first_byte = p.mark();
    let status = response.status().as_u16();
    p.stage = Stage::ReadingBody;
    let body = drive(
        conn.as_mut(),
        &mut conn_done,
        read_body(response.into_body(), keep_body),
    )
    .await
    .map_err(http_error)?;
    Ok(HttpResponse { status, body })
}

/// Polls `fut` while keeping the connection future going; once the connection has finished
/// (closed, or failed), `fut` alone decides (it reports a broken connection itself).
async fn drive<C: Future, F: Future>(mut conn: Pin<&mut C>, done: &mut bool, fut: F) -> F::Output {
    let mut fut = pin!(fut);
    if !*done {
        tokio::select! {
            biased;
            out = &mut fut => return out,
            _ = conn.as_mut() => *done = true,
        }
    }
    fut.await
}

/// Reads the body up to [`MAX_BODY`]: kept when `keep`, else only counted.
async fn read_body(mut body: Incoming, keep: bool) -> Result<Bytes, hyper::Error> {
    let mut first: Option<Bytes> = None;
    let mut joined: Vec<u8> = Vec::new();
    let mut seen = 0usize;
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame?.into_data() else {
            continue;
        };
        seen += data.len();
        if keep {
            match first.take() {
                None if joined.is_empty() => first = Some(data),
                None => joined.extend_from_slice(&data),
                Some(f) => {
                    joined.reserve(f.len() + data.len());
                    joined.extend_from_slice(&f);
                    joined.extend_from_slice(&data);
                }
            }
        }
        if seen >= MAX_BODY {
            break;
        }
    }
    let mut out = match first {
        Some(f) => f,
        None => Bytes::from(joined),
    };
    out.truncate(MAX_BODY);
    Ok(out)
}
