//! The OpenAI-compatible chat-completions client: `POST {base}/chat/completions` with
//! `stream: true`; the answer is server-sent events whose `data:` lines carry
//! `choices[0].delta.content`, ending with `data: [DONE]`.

use std::time::Duration;

use serde::Serialize;
use tokio::sync::mpsc;

use crate::gateway::config::relay::RelaySettings;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Message {
    pub role: &'static str,
    pub content: String,
}

impl Message {
    pub fn new(role: &'static str, content: impl Into<String>) -> Self {
        Message {
            role,
            content: content.into(),
        }
    }
}

/// What a reply turn reports to its session.
#[derive(Debug)]
pub enum Chunk {
    Token(String),
    Done,
    /// The endpoint failed, refused, or was silent too long; the words say which (without
    /// the key).
    Failed(String),
}

/// Streams one reply into `out` as `(turn, chunk)`. Returns when the reply ends, fails, or
/// the session stops listening.
pub async fn stream_reply(
    http: reqwest::Client,
    settings: &RelaySettings,
    messages: Vec<Message>,
    turn: u64,
    out: mpsc::UnboundedSender<(u64, Chunk)>,
) {
    let chunk = match run(http, settings, messages, turn, &out).await {
        Ok(()) => Chunk::Done,
        Err(e) => Chunk::Failed(e),
    };
    let _ = out.send((turn, chunk));
}

async fn run(
    http: reqwest::Client,
    settings: &RelaySettings,
    messages: Vec<Message>,
    turn: u64,
    out: &mpsc::UnboundedSender<(u64, Chunk)>,
) -> Result<(), String> {
    let wait = Duration::from_secs(settings.model_timeout_secs);
    let url = format!(
        "{}/chat/completions",
        settings.model_base_url.trim_end_matches('/')
    );
    let body = serde_json::json!({
        "model": settings.model,
        "stream": true,
        "messages": messages,
    });
    let mut request = http.post(&url).json(&body);
    if let Some(key) = &settings.model_api_key {
        request = request.bearer_auth(key);
    }
    let mut response = tokio::time::timeout(wait, request.send())
        .await
        .map_err(|_| {
            format!(
                "the model endpoint did not answer within {} s",
                wait.as_secs()
            )
        })?
        .map_err(|e| {
            format!(
                "the model endpoint could not be reached: {}",
                e.without_url()
            )
        })?;
    if !response.status().is_success() {
        return Err(format!(
            "the model endpoint answered {}",
            response.status().as_u16()
        ));
    }
    let mut buffer: Vec<u8> = Vec::new();
    let mut got_any = false;
    loop {
        // Until the first token the configured wait applies; after it, a stalled stream
        // gets the same bound per chunk.
        let next = tokio::time::timeout(wait, response.chunk())
            .await
            .map_err(|_| format!("the model endpoint sent nothing for {} s", wait.as_secs()))?
            .map_err(|e| format!("the model stream broke: {}", e.without_url()))?;
        let Some(bytes) = next else {
            return if got_any {
                Ok(())
            } else {
                Err("the model endpoint closed the stream without a reply".into())
            };
        };
        buffer.extend_from_slice(&bytes);
        while let Some(end) = buffer.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buffer.drain(..=end).collect();
            let line = String::from_utf8_lossy(&line);
            let line = line.trim();
            let Some(data) = line.strip_prefix("data:") else {
                continue;
            };
            let data = data.trim();
            if data == "[DONE]" {
                return if got_any {
                    Ok(())
                } else {
                    Err("the model endpoint finished without a reply".into())
                };
            }
            let Ok(value) = serde_json::from_str::<serde_json::Value>(data) else {
                return Err("the model endpoint sent a line that is not JSON".into());
            };
            if let Some(message) = value.pointer("/error/message").and_then(|m| m.as_str()) {
                return Err(format!("the model endpoint reported: {message}"));
            }
            if let Some(token) = value
                .pointer("/choices/0/delta/content")
                .and_then(|c| c.as_str())
                .filter(|t| !t.is_empty())
            {
                got_any = true;
                if out.send((turn, Chunk::Token(token.to_string()))).is_err() {
                    return Ok(());
                }
            }
        }
    }
}
