//! Lean websocket clients: thousands of them share the machine with the server under test,
//! so each has a small read buffer and looks at a frame with a few substring scans instead
//! of parsing its JSON. Bytes are counted on the TCP stream (what a network would carry).

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::header::AUTHORIZATION;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

// The console's own Socket.IO packet decoder (Engine.IO v4 / Socket.IO v5).
#[allow(dead_code, unused_imports)]
#[path = "../../src/client/socketio/wire.rs"]
mod wire;

/// A TCP stream that counts the bytes read from it.
pub struct Counted {
    inner: TcpStream,
    read: Arc<AtomicU64>,
}

impl AsyncRead for Counted {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let r = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = &r {
            let n = (buf.filled().len() - before) as u64;
            this.read.fetch_add(n, Ordering::Relaxed);
        }
        r
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

pub type Ws = WebSocketStream<Counted>;

/// Opens a websocket with small buffers; the counter sees every byte received.
pub async fn connect(url: &str, token: Option<&str>) -> anyhow::Result<(Ws, Arc<AtomicU64>)> {
    let mut req = url.into_client_request()?;
    if let Some(t) = token {
        req.headers_mut().insert(
            AUTHORIZATION,
            HeaderValue::from_str(&format!("Bearer {t}"))?,
        );
    }
    let host = req.uri().host().context("no host")?.to_string();
    let port = req.uri().port_u16().context("no port")?;
    let tcp = TcpStream::connect((host.as_str(), port)).await?;
    tcp.set_nodelay(true)?;
    let counter = Arc::new(AtomicU64::new(0));
    let config = WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0);
    let stream = Counted {
        inner: tcp,
        read: counter.clone(),
    };
    let (ws, _) = tokio_tungstenite::client_async_with_config(req, stream, Some(config)).await?;
    Ok((ws, counter))
}

/// The numbers after `key` in `text` (`"seq":42` -> 42).
pub fn number_after(text: &str, key: &str) -> Option<u64> {
    let at = text.find(key)? + key.len();
    let digits = text[at..]
        .trim_start()
        .split(|c: char| !c.is_ascii_digit())
        .next()?;
    digits.parse().ok()
}

/// What the fan-out clients share with the sender: when each numbered line was sent.
pub struct Clock {
    pub base: Instant,
    /// Microseconds since `base` + 1 per line index (0: not sent yet).
    pub sent_at: Vec<AtomicU64>,
    /// Lines received over all clients.
    pub received: AtomicU64,
}

impl Clock {
    pub fn new(lines: usize) -> Clock {
        Clock {
            base: Instant::now(),
            sent_at: (0..lines).map(|_| AtomicU64::new(0)).collect(),
            received: AtomicU64::new(0),
        }
    }

    pub fn mark_sent(&self, i: usize) {
        let us = self.base.elapsed().as_micros() as u64 + 1;
        self.sent_at[i].store(us, Ordering::Relaxed);
    }

    /// Send -> now of line `i`, in microseconds.
    fn latency_us(&self, i: usize) -> Option<u32> {
        let sent = self.sent_at.get(i)?.load(Ordering::Relaxed);
        (sent > 0).then(|| (self.base.elapsed().as_micros() as u64 + 1).saturating_sub(sent) as u32)
    }
}

/// The text of fan-out line `i`: the marker the clients look for, then some words.
pub fn fan_text(i: usize) -> String {
    format!("{FAN_MARK}{i} could you tell me when the refund for my last invoice arrives")
}
const FAN_MARK: &str = "fanline ";

#[derive(Debug, Default)]
pub struct ClientStats {
    pub latencies_us: Vec<u32>,
    pub received: u64,
    /// Missing stream seqs between two received events (callwatch; Socket.IO has no seq, and
    /// concurrent POSTs may reach Node out of order: only what never arrives counts there).
    pub gaps: u64,
    /// `resync` frames (callwatch: the client fell behind).
    pub resyncs: u64,
    pub bytes: u64,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Copy)]
pub enum Proto {
    /// callwatch's `/api/stream`.
    Stream,
    /// Socket.IO (Engine.IO v4 over websocket), joined to the fan-out call's room.
    SocketIo,
}

/// A connected client that has its initial state (callwatch: the snapshot; Socket.IO: the
/// room join acknowledged), with the last stream seq it knows.
pub struct Ready {
    ws: Ws,
    bytes: Arc<AtomicU64>,
    seq: u64,
    proto: Proto,
}

pub async fn open_stream(url: &str, token: &str) -> anyhow::Result<Ready> {
    let (mut ws, bytes) = connect(url, Some(token)).await?;
    let mut seq = 0;
    loop {
        let text = next_text(&mut ws).await?;
        if text.contains("\"type\":\"welcome\"") {
            seq = number_after(&text, "\"seq\":").unwrap_or(0);
        } else if text.contains("\"type\":\"snapshot\"") {
            return Ok(Ready {
                ws,
                bytes,
                seq,
                proto: Proto::Stream,
            });
        }
    }
}

pub async fn open_socketio(base: &str, room: &str) -> anyhow::Result<Ready> {
    let url = format!(
        "{}/socket.io/?EIO=4&transport=websocket",
        base.replacen("http", "ws", 1)
    );
    let (mut ws, bytes) = connect(&url, None).await?;
    loop {
        let text = next_text(&mut ws).await?;
        match wire::parse(&text) {
            wire::Packet::Open { .. } => ws.send(Message::text("40")).await?,
            wire::Packet::Connected { .. } => {
                let join = serde_json::json!(["call:join", room]);
                ws.send(Message::text(format!("421{join}"))).await?;
            }
            wire::Packet::Ping => ws.send(Message::text("3")).await?,
            wire::Packet::ConnectError(e) => bail!("Socket.IO refused: {e}"),
            _ if text.starts_with("431") => {
                return Ok(Ready {
                    ws,
                    bytes,
                    seq: 0,
                    proto: Proto::SocketIo,
                })
            }
            _ => {}
        }
    }
}

async fn next_text(ws: &mut Ws) -> anyhow::Result<String> {
    let deadline = Duration::from_secs(30);
    loop {
        match tokio::time::timeout(deadline, ws.next()).await {
            Err(_) => bail!("no frame for {deadline:?}"),
            Ok(None) => bail!("the server closed the connection"),
            Ok(Some(Err(e))) => bail!("websocket: {e}"),
            Ok(Some(Ok(Message::Text(t)))) => return Ok(t.as_str().to_string()),
            Ok(Some(Ok(Message::Close(_)))) => bail!("the server closed the connection"),
            Ok(Some(Ok(_))) => {}
        }
    }
}

impl Ready {
    /// Reads until `stop`: records each fan-out line's latency, gaps and resyncs.
    pub async fn run(mut self, clock: Arc<Clock>, mut stop: watch::Receiver<bool>) -> ClientStats {
        let mut stats = ClientStats::default();
        let start_bytes = self.bytes.load(Ordering::Relaxed);
        loop {
            let msg = tokio::select! {
                _ = stop.changed() => break,
                msg = self.ws.next() => msg,
            };
            let text = match msg {
                Some(Ok(Message::Text(t))) => t,
                Some(Ok(Message::Close(_))) | None => {
                    stats.error = Some("closed by the server".into());
                    break;
                }
                Some(Err(e)) => {
                    stats.error = Some(e.to_string());
                    break;
                }
                Some(Ok(_)) => continue,
            };
            let text = text.as_str();
            match self.proto {
                Proto::Stream => {
                    if !text.starts_with("{\"type\":\"event\"") {
                        if text.contains("\"type\":\"resync\"") {
                            stats.resyncs += 1;
                        } else if text.contains("\"type\":\"snapshot\"") {
                            // After a resync the stream goes on from the snapshot's seq (its
                            // first seq field); what it replaced is counted as resyncs.
                            if let Some(seq) = number_after(text, "\"seq\":") {
                                self.seq = seq;
                            }
                        }
                        // Lines inside a snapshot are not deliveries.
                        continue;
                    }
                    if let Some(seq) = number_after(text, "\"seq\":") {
                        if seq > self.seq + 1 {
                            stats.gaps += seq - self.seq - 1;
                        }
                        self.seq = self.seq.max(seq);
                    }
                }
                Proto::SocketIo => {
                    if text == "2" {
                        let _ = self.ws.send(Message::text("3")).await;
                        continue;
                    }
                }
            }
            let Some(i) = number_after(text, FAN_MARK) else {
                continue;
            };
            if let Some(us) = clock.latency_us(i as usize) {
                stats.latencies_us.push(us);
                stats.received += 1;
                clock.received.fetch_add(1, Ordering::Relaxed);
            }
        }
        stats.bytes = self.bytes.load(Ordering::Relaxed) - start_bytes;
        stats
    }

    /// Keeps the connection open and answers pings until `stop` (memory phase).
    pub async fn idle(mut self, mut stop: watch::Receiver<bool>) {
        loop {
            let msg = tokio::select! {
                _ = stop.changed() => break,
                msg = self.ws.next() => msg,
            };
            match msg {
                Some(Ok(Message::Text(t))) if t.as_str() == "2" => {
                    let _ = self.ws.send(Message::text("3")).await;
                }
                Some(Ok(_)) => {}
                _ => break,
            }
        }
    }
}
