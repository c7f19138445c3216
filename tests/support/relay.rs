//! Shared by the stream tests: a TCP relay whose open connections can be cut (a network
//! failure), and a signed `POST /api/ingest` as a voice stack sends it.
// Each test binary uses part of it.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use callwatch::gateway::ingest::signature_header;
use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// A TCP relay to the gateway whose open connections `cut` drops (new ones still pass).
pub struct Relay {
    pub url: String,
    conns: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Relay {
    pub async fn start(target: std::net::SocketAddr) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let conns: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let list = conns.clone();
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let conn = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                list.lock().unwrap().push(conn);
            }
        });
        Relay { url, conns }
    }

    /// Drops every open connection, as a network failure would.
    pub fn cut(&self) {
        for c in self.conns.lock().unwrap().drain(..) {
            c.abort();
        }
    }
}

/// `body`, signed with `secret`, delivered to `url`'s ingest as `integration`.
pub async fn post_signed(
    http: &reqwest::Client,
    url: &str,
    integration: &str,
    secret: &str,
    body: &Value,
) -> reqwest::Response {
    let raw = serde_json::to_vec(body).unwrap();
    let t = chrono::Utc::now().timestamp();
    http.post(format!("{url}/api/ingest"))
        .header("Callwatch-Integration", integration)
        .header("Callwatch-Signature", signature_header(secret, t, &raw))
        .header("content-type", "application/json")
        .body(raw)
        .send()
        .await
        .unwrap()
}
