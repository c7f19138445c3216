//! The listener: accepts connections and hands them to hyper with the gateway's own
//! hygiene, which `axum::serve` does not offer:
//! - a cap on concurrent connections, below the process's file limit, answered with a JSON
//!   503 beyond it, so a flood of idle sockets cannot stop the gateway accepting anyone;
//! - a header read timeout that also closes keep-alive connections idle between requests,
//!   and a TLS handshake timeout;
//! - JSON bodies on the errors hyper writes itself (400, 414, 431) before any handler runs;
//! - optional TLS (rustls) for deployments without a proxy;
//! - the peer address as `ConnectInfo`, for per-address limits.

use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use anyhow::Context as _;
use axum::extract::ConnectInfo;
use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tower::ServiceExt;

use crate::gateway::config::ServerSettings;

/// File descriptors kept free for the database, the log and outgoing provider requests.
const RESERVED_FDS: u64 = 64;

/// How the listener treats connections, resolved from [`ServerSettings`].
#[derive(Clone)]
pub struct Listener {
    pub header_read_timeout: Duration,
    pub max_connections: usize,
    tls: Option<tokio_rustls::TlsAcceptor>,
}

impl Listener {
    pub fn new(settings: &ServerSettings) -> anyhow::Result<Listener> {
        let tls = match (&settings.tls_cert, &settings.tls_key) {
            (Some(cert), Some(key)) => Some(tls_acceptor(cert, key)?),
            (None, None) => None,
            _ => anyhow::bail!("TLS needs both a certificate and a key (tls_cert and tls_key)"),
        };
        Ok(Listener {
            header_read_timeout: Duration::from_secs(settings.header_read_timeout_secs.max(1)),
            max_connections: connection_cap(settings.max_connections),
            tls,
        })
    }

    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() {
            "https"
        } else {
            "http"
        }
    }
}

/// The configured cap, never above what the file limit allows (0 = as many as it allows).
fn connection_cap(configured: usize) -> usize {
    let by_fd_limit = open_file_limit()
        .map(|n| n.saturating_sub(RESERVED_FDS).max(16) as usize)
        .unwrap_or(4096);
    match configured {
        0 => by_fd_limit,
        n => n.min(by_fd_limit),
    }
}

#[cfg(unix)]
fn open_file_limit() -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we pass and nothing else.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    (rc == 0 && limit.rlim_cur != libc::RLIM_INFINITY).then_some(limit.rlim_cur)
}

#[cfg(not(unix))]
fn open_file_limit() -> Option<u64> {
    None
}

fn tls_acceptor(cert: &Path, key: &Path) -> anyhow::Result<tokio_rustls::TlsAcceptor> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(cert)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .with_context(|| format!("cannot read the TLS certificate {}", cert.display()))?;
    anyhow::ensure!(
        !certs.is_empty(),
        "{} holds no PEM certificate",
        cert.display()
    );
    let key = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("cannot read the TLS private key {}", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS set-up")?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .context("the TLS certificate and key do not fit together")?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

/// Serves `router` on `listener` until `stop` turns true, then waits (bounded by the
/// caller) for requests in flight.
pub async fn serve(
    tcp: TcpListener,
    router: Router,
    listener: Listener,
    mut stop: watch::Receiver<bool>,
) -> io::Result<()> {
    let slots = Arc::new(Semaphore::new(listener.max_connections));
    let graceful = GracefulShutdown::new();
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(listener.header_read_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(listener.header_read_timeout))
        .keep_alive_timeout(listener.header_read_timeout);
    let builder = Arc::new(builder);
    let mut last_accept_error = None::<tokio::time::Instant>;
    let stopped = async move {
        let _ = stop.wait_for(|s| *s).await;
    };
    tokio::pin!(stopped);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = tcp.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // EMFILE and friends: say so at most once a second, and give sockets
                    // time to close rather than spinning.
                    if last_accept_error.is_none_or(|t| t.elapsed() > Duration::from_secs(1)) {
                        tracing::warn!(error = %e, "cannot accept a connection");
                        last_accept_error = Some(tokio::time::Instant::now());
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut stopped => break,
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tokio::spawn(refuse_busy(stream, listener.max_connections));
            continue;
        };
        let _ = stream.set_nodelay(true);
        let svc = router.clone().map_request(
            move |mut req: axum::extract::Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(ConnectInfo(peer));
                req
            },
        );
        let svc = TowerToHyperService::new(svc);
        let builder = builder.clone();
        let watcher = graceful.watcher();
        let tls = listener.tls.clone();
        let handshake_timeout = listener.header_read_timeout;
        tokio::spawn(async move {
            let _slot = slot;
            match tls {
                None => {
                    let conn = builder
                        .serve_connection_with_upgrades(TokioIo::new(JsonErrors::new(stream)), svc);
                    let _ = watcher.watch(conn.into_owned()).await;
                }
                Some(acceptor) => {
                    let Ok(Ok(stream)) =
                        tokio::time::timeout(handshake_timeout, acceptor.accept(stream)).await
                    else {
                        tracing::debug!(%peer, "TLS handshake failed or timed out");
                        return;
                    };
                    let conn = builder
                        .serve_connection_with_upgrades(TokioIo::new(JsonErrors::new(stream)), svc);
                    let _ = watcher.watch(conn.into_owned()).await;
                }
            }
        });
    }
    drop(tcp);
    graceful.shutdown().await;
    Ok(())
}

/// Beyond the cap: one JSON 503 and close, so the client learns why.
async fn refuse_busy(mut stream: TcpStream, cap: usize) {
    tracing::warn!(cap, "connection refused: too many open connections");
    let body = serde_json::json!({
        "error": "unavailable",
        "message": format!("the gateway is at its limit of {cap} connections; retry shortly"),
    })
    .to_string();
    let response = json_response("503 Service Unavailable", &body, &["retry-after: 1"]);
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        let _ = stream.write_all(&response).await;
        let _ = stream.shutdown().await;
    })
    .await;
}

fn json_response(status_line: &str, body: &str, extra: &[&str]) -> Vec<u8> {
    let mut head = format!(
        "HTTP/1.1 {status_line}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
        body.len()
    );
    for h in extra {
        head.push_str(h);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    let mut out = head.into_bytes();
    out.extend_from_slice(body.as_bytes());
    out
}

/// hyper answers requests it cannot parse (400, 414, 431...) itself, with an empty body,
/// before any handler or middleware runs. Every error response the router produces is
/// JSON (see `api::json_errors`), so an error head with neither a content type nor a body
/// can only be hyper's: this writer swaps it for the documented JSON shape.
struct JsonErrors<S> {
    inner: S,
    /// A replacement being written, how much of it is out, and the length to report back.
    pending: Option<(Vec<u8>, usize, usize)>,
}

impl<S> JsonErrors<S> {
    fn new(inner: S) -> Self {
        JsonErrors {
            inner,
            pending: None,
        }
    }
}

/// The JSON replacement for a bodiless error head written by hyper, if `buf` is one.
fn replace_bare_error(buf: &[u8]) -> Option<Vec<u8>> {
    let rest = buf.strip_prefix(b"HTTP/1.1 ")?;
    if !matches!(rest.first(), Some(b'4' | b'5')) {
        return None;
    }
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    if end + 4 != buf.len() {
        return None;
    }
    let head = std::str::from_utf8(&buf[..end]).ok()?.to_ascii_lowercase();
    if head.contains("content-type:") || !head.contains("content-length: 0") {
        return None;
    }
    let status_line = head.lines().next()?.strip_prefix("http/1.1 ")?;
    let code: u16 = status_line.get(..3)?.parse().ok()?;
    let (error, message) = match code {
        414 => ("too_large", "the request URI is too long"),
        431 => ("too_large", "the request headers are too large"),
        408 => ("timeout", "the request was not received in time"),
        c if c >= 500 => ("internal", "the gateway could not read the request"),
        _ => ("invalid", "the request is not valid HTTP"),
    };
    let reason = std::str::from_utf8(&buf[9..end])
        .ok()?
        .lines()
        .next()?
        .to_string();
    let body = serde_json::json!({ "error": error, "message": message }).to_string();
    Some(json_response(&reason, &body, &[]))
}

impl<S: AsyncRead + Unpin> AsyncRead for JsonErrors<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for JsonErrors<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.pending.is_none() {
            match replace_bare_error(buf) {
                Some(replacement) => self.pending = Some((replacement, 0, buf.len())),
                None => return Pin::new(&mut self.inner).poll_write(cx, buf),
            }
        }
        let this = &mut *self;
        let Some((bytes, written, report)) = this.pending.as_mut() else {
            return Poll::Ready(Ok(0));
        };
        while *written < bytes.len() {
            match Pin::new(&mut this.inner).poll_write(cx, &bytes[*written..]) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => *written += n,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        let report = *report;
        this.pending = None;
        Poll::Ready(Ok(report))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    // Heads arrive whole in one buffer only when hyper flattens its writes.
    fn is_write_vectored(&self) -> bool {
        false
    }
}

/// The local address's URL for logs and tests.
pub fn url(scheme: &str, addr: SocketAddr) -> String {
    format!("{scheme}://{addr}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hypers_bare_errors_become_json() {
        let bare =
            b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\ndate: x\r\n\r\n";
        let out = String::from_utf8(replace_bare_error(bare).expect("replaced")).expect("utf8");
        assert!(
            out.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"),
            "{out}"
        );
        assert!(out.contains("content-type: application/json"));
        assert!(
            out.ends_with(r#"{"error":"too_large","message":"the request headers are too large"}"#)
        );
        // Our own responses (a JSON error, a success) pass untouched.
        let ours = b"HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\ncontent-length: 40\r\n\r\n";
        assert!(replace_bare_error(ours).is_none());
        assert!(replace_bare_error(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").is_none());
        assert!(replace_bare_error(b"\x81\x05hello").is_none());
    }

    #[test]
    fn the_cap_stays_below_the_file_limit() {
        let auto = connection_cap(0);
        assert!(auto >= 16);
        assert!(connection_cap(10) <= 10);
        assert!(connection_cap(usize::MAX) == auto);
    }
}
