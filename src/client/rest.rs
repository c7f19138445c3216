//! REST client: one method per endpoint of the gateway (docs/PROTOCOL.md).

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};

use reqwest::{Method, RequestBuilder, StatusCode};
use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::error::ClientError;
use crate::core::action::Action;
use crate::core::model::{Analytics, AuditEntry, Call, QueueItem, TranscriptEntry};
use crate::core::protocol::{
    ActionResponse, ApiError, CallList, DestinationList, Health, InitiateRequest, QueueList,
    TakeoverRequest, TextRequest, Transcript, TransferRequest,
};

/// Bodies larger than this are not read into memory (a misconfigured URL could point at
/// something huge).
const MAX_ERROR_BODY: usize = 64 * 1024;

#[derive(Clone)]
pub struct RestClient {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl std::fmt::Debug for RestClient {
    // The token never appears in Debug output (and so never in logs).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RestClient")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

/// Lists are `{"calls": [...]}` / `{"items": [...]}`, but a bare array is accepted too.
#[derive(Deserialize)]
#[serde(untagged)]
enum CallsBody {
    List(CallList),
    Bare(Vec<Call>),
}

#[derive(Deserialize)]
#[serde(untagged)]
enum QueueBody {
    List(QueueList),
    Bare(Vec<QueueItem>),
}

#[derive(Deserialize)]
#[serde(untagged)]
enum CallBody {
    Wrapped { call: Call },
    Bare(Call),
}

#[derive(Deserialize)]
#[serde(untagged)]
enum QueueItemBody {
    Wrapped { item: QueueItem },
    Bare(QueueItem),
    Other(serde::de::IgnoredAny),
}

/// One delivery of the webhook log (`GET /api/webhook-log`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct WebhookEntry {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub integration: String,
    pub provider: String,
    #[serde(default)]
    pub event: Option<String>,
    #[serde(default)]
    pub payload: String,
    pub ok: bool,
    #[serde(default)]
    pub error: Option<String>,
}

/// Query of the history endpoint.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HistoryQuery {
    pub status: Option<String>,
    pub q: Option<String>,
    pub limit: Option<u32>,
    pub cursor: Option<String>,
    /// Field filters sent as they are (`direction=inbound`); the gateway answers 422 for a
    /// key or value it does not know.
    pub filters: Vec<(String, String)>,
}

impl HistoryQuery {
    /// A search as typed: `key=value` words become filters (`state=` / `status=` the
    /// status), the other words the search text.
    pub fn search(text: &str) -> HistoryQuery {
        let mut out = HistoryQuery::default();
        let mut words = Vec::new();
        for w in text.split_whitespace() {
            match w.split_once('=') {
                Some(("state" | "status", v)) => out.status = Some(v.to_string()),
                Some((k, v)) if !k.is_empty() => out.filters.push((k.to_string(), v.to_string())),
                _ => words.push(w),
            }
        }
        if !words.is_empty() {
            out.q = Some(words.join(" "));
        }
        out
    }
}

impl RestClient {
    /// `base_url` is the gateway's http(s) base, e.g. `http://127.0.0.1:7878`.
    pub fn new(base_url: &str, token: &str) -> Result<Self, ClientError> {
        let base = normalise_base(base_url)?;
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(20))
            .user_agent(concat!("callwatch/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ClientError::InvalidUrl {
                url: base_url.to_string(),
                detail: e.to_string(),
            })?;
        Ok(RestClient {
            http,
            base,
            token: token.to_string(),
        })
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }

    pub(super) fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.http
            .request(method, format!("{}{}", self.base, path))
            .bearer_auth(&self.token)
    }

    pub(super) async fn send<T: DeserializeOwned>(
        &self,
        req: RequestBuilder,
    ) -> Result<T, ClientError> {
        let resp = req.send().await.map_err(|e| self.transport_error(e))?;
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(|e| self.transport_error(e))?;
        if status.is_success() {
            let body: &[u8] = if bytes.is_empty() { b"null" } else { &bytes };
            return serde_json::from_slice(body).map_err(|e| ClientError::Protocol {
                status: status.as_u16(),
                detail: format!("cannot decode the answer: {e}"),
            });
        }
        Err(decode_error(status, &bytes))
    }

    fn transport_error(&self, e: reqwest::Error) -> ClientError {
        // reqwest's Display includes the URL; keep the chain short and readable.
        let mut detail = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            detail = s.to_string();
            source = s.source();
        }
        if e.is_timeout() {
            detail = "the request timed out".into();
        }
        ClientError::Unreachable {
            url: self.base.clone(),
            detail,
        }
    }

    pub(super) fn call_path(id: &str, tail: &str) -> String {
        format!("/api/calls/{}{}", encode_segment(id), tail)
    }

    // ---- reading ----

    pub async fn health(&self) -> Result<Health, ClientError> {
        self.send(self.request(Method::GET, "/healthz")).await
    }

    pub async fn active_calls(&self) -> Result<Vec<Call>, ClientError> {
        let body: CallsBody = self
            .send(self.request(Method::GET, "/api/calls/active"))
            .await?;
        Ok(match body {
            CallsBody::List(l) => l.calls,
            CallsBody::Bare(v) => v,
        })
    }

    pub async fn call(&self, id: &str) -> Result<Call, ClientError> {
        let body: CallBody = self
            .send(self.request(Method::GET, &Self::call_path(id, "")))
            .await?;
        Ok(match body {
            CallBody::Wrapped { call } | CallBody::Bare(call) => call,
        })
    }

    /// History of calls (`status`, `q` search names, numbers and transcript text).
    pub async fn calls(&self, query: &HistoryQuery) -> Result<CallList, ClientError> {
        self.calls_since(query, None).await
    }

    /// [`Self::calls`] limited to calls created at or after `from`.
    pub async fn calls_since(
        &self,
        query: &HistoryQuery,
        from: Option<DateTime<Utc>>,
    ) -> Result<CallList, ClientError> {
        let mut params: Vec<(&str, String)> = Vec::new();
        if let Some(from) = from {
            params.push(("from", from.to_rfc3339_opts(SecondsFormat::Millis, true)));
        }
        if let Some(s) = &query.status {
            params.push(("status", s.clone()));
        }
        if let Some(q) = query.q.as_ref().filter(|q| !q.is_empty()) {
            params.push(("q", q.clone()));
        }
        if let Some(l) = query.limit {
            params.push(("limit", l.to_string()));
        }
        if let Some(c) = &query.cursor {
            params.push(("cursor", c.clone()));
        }
        for (k, v) in &query.filters {
            params.push((k.as_str(), v.clone()));
        }
        let body: CallsBody = self
            .send(self.request(Method::GET, "/api/calls").query(&params))
            .await?;
        Ok(match body {
            CallsBody::List(l) => l,
            CallsBody::Bare(calls) => CallList {
                calls,
                next_cursor: None,
            },
        })
    }

    pub async fn transcript(&self, id: &str) -> Result<Vec<TranscriptEntry>, ClientError> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Body {
            T(Transcript),
            Bare(Vec<TranscriptEntry>),
        }
        let body: Body = self
            .send(self.request(Method::GET, &Self::call_path(id, "/transcript")))
            .await?;
        Ok(match body {
            Body::T(t) => t.entries,
            Body::Bare(v) => v,
        })
    }

    pub async fn queue(&self) -> Result<Vec<QueueItem>, ClientError> {
        let body: QueueBody = self
            .send(self.request(Method::GET, "/api/calls/queue"))
            .await?;
        Ok(match body {
            QueueBody::List(l) => l.items,
            QueueBody::Bare(v) => v,
        })
    }

    pub async fn analytics(&self) -> Result<Analytics, ClientError> {
        self.send(self.request(Method::GET, "/api/calls/analytics"))
            .await
    }

    /// Analytics over `range` (`today`, `7d`, `30d`; default the last 24 h), grouped by
    /// `group_by` (`campaign`, `provider`, `number`) when given.
    pub async fn analytics_for(
        &self,
        range: Option<&str>,
        group_by: Option<&str>,
    ) -> Result<Analytics, ClientError> {
        let mut params: Vec<(&str, &str)> = Vec::new();
        if let Some(r) = range {
            params.push(("range", r));
        }
        if let Some(g) = group_by {
            params.push(("group_by", g));
        }
        self.send(
            self.request(Method::GET, "/api/calls/analytics")
                .query(&params),
        )
        .await
    }

    /// The webhook log (admins only), newest first.
    pub async fn webhook_log(&self, limit: u32) -> Result<Vec<WebhookEntry>, ClientError> {
        #[derive(Deserialize)]
        struct Body {
            entries: Vec<WebhookEntry>,
        }
        let body: Body = self
            .send(
                self.request(Method::GET, "/api/webhook-log")
                    .query(&[("limit", limit.to_string())]),
            )
            .await?;
        Ok(body.entries)
    }

    /// The audit log, newest first; `call_id` narrows it to one call.
    pub async fn audit(
        &self,
        call_id: Option<&str>,
        limit: u32,
    ) -> Result<Vec<AuditEntry>, ClientError> {
        #[derive(Deserialize)]
        struct Body {
            entries: Vec<AuditEntry>,
        }
        let mut params: Vec<(&str, String)> = vec![("limit", limit.to_string())];
        if let Some(id) = call_id {
            params.push(("call_id", id.to_string()));
        }
        let body: Body = self
            .send(self.request(Method::GET, "/api/audit").query(&params))
            .await?;
        Ok(body.entries)
    }

    // ---- call actions ----

    /// Carries out a supervisor action: the one mapping from the rule book's actions to the
    /// gateway's paths and bodies (docs/PROTOCOL.md).
    pub async fn act(&self, id: &str, action: &Action) -> Result<ActionResponse, ClientError> {
        let (method, suffix) = match action {
            Action::TakeOver { .. } => (Method::POST, "/takeover"),
            Action::PauseAi => (Method::POST, "/pause-ai"),
            Action::ResumeAi => (Method::DELETE, "/pause-ai"),
            Action::Say { .. } => (Method::POST, "/say"),
            Action::Instruct { .. } => (Method::POST, "/instruct"),
            Action::End => (Method::POST, "/end"),
            Action::Transfer { .. } => (Method::POST, "/transfer"),
            Action::HandBack => (Method::POST, "/handback"),
        };
        let request = self.request(method, &Self::call_path(id, suffix));
        let request = match action {
            Action::TakeOver {
                reason,
                notes,
                mode,
                ..
            } => request.json(&TakeoverRequest {
                reason: reason.clone(),
                notes: notes.clone(),
                mode: *mode,
            }),
            // A named destination goes by name: the gateway's config says where it is.
            Action::Transfer {
                to,
                name,
                mode,
                summary,
            } => request.json(&TransferRequest {
                to: name.is_none().then(|| to.clone()),
                destination: name.clone(),
                mode: *mode,
                summary: summary.clone(),
            }),
            Action::Say { text } | Action::Instruct { text } => {
                request.json(&TextRequest { text: text.clone() })
            }
            Action::PauseAi | Action::ResumeAi | Action::End | Action::HandBack => request,
        };
        self.send(request).await
    }

    /// The org's named transfer destinations and the caller's own phone.
    pub async fn destinations(&self) -> Result<DestinationList, ClientError> {
        self.send(self.request(Method::GET, "/api/destinations"))
            .await
    }

    pub async fn summary(&self, id: &str) -> Result<ActionResponse, ClientError> {
        self.send(self.request(Method::POST, &Self::call_path(id, "/summary")))
            .await
    }

    // ---- queue actions ----

    /// Queues an outbound call.
    pub async fn initiate(&self, request: &InitiateRequest) -> Result<QueueItem, ClientError> {
        self.send(
            self.request(Method::POST, "/api/calls/initiate")
                .json(request),
        )
        .await
    }

    /// Cancels a queue item. Returns the item when the gateway sends it back.
    pub async fn cancel_queue_item(&self, id: &str) -> Result<Option<QueueItem>, ClientError> {
        let path = format!("/api/calls/queue/{}", encode_segment(id));
        let body: QueueItemBody = self.send(self.request(Method::DELETE, &path)).await?;
        Ok(queue_item(body))
    }

    /// Puts `number` on the org's do-not-call list (`POST /api/compliance/dnc`).
    pub async fn add_dnc(
        &self,
        number: &str,
        source: &str,
        reason: &str,
    ) -> Result<(), ClientError> {
        let body = serde_json::json!({ "number": number, "source": source, "reason": reason });
        let _: serde_json::Value = self
            .send(
                self.request(Method::POST, "/api/compliance/dnc")
                    .json(&body),
            )
            .await?;
        Ok(())
    }

    pub async fn dial_now(&self, id: &str) -> Result<Option<QueueItem>, ClientError> {
        let path = format!("/api/calls/queue/{}/dial-now", encode_segment(id));
        let body: QueueItemBody = self.send(self.request(Method::POST, &path)).await?;
        Ok(queue_item(body))
    }
}

fn queue_item(body: QueueItemBody) -> Option<QueueItem> {
    match body {
        QueueItemBody::Wrapped { item } | QueueItemBody::Bare(item) => Some(item),
        QueueItemBody::Other(_) => None,
    }
}

fn decode_error(status: StatusCode, bytes: &[u8]) -> ClientError {
    let bytes = &bytes[..bytes.len().min(MAX_ERROR_BODY)];
    match serde_json::from_slice::<ApiError>(bytes) {
        Ok(api) => ClientError::from_api(status.as_u16(), api),
        Err(_) => {
            let text = String::from_utf8_lossy(bytes);
            let text: String = text.chars().take(200).collect();
            let detail = if text.trim().is_empty() {
                status
                    .canonical_reason()
                    .unwrap_or("no explanation")
                    .to_string()
            } else {
                text.trim().to_string()
            };
            ClientError::Protocol {
                status: status.as_u16(),
                detail,
            }
        }
    }
}

/// Checks the URL's scheme and strips the trailing slash.
pub(crate) fn normalise_base(url: &str) -> Result<String, ClientError> {
    let trimmed = url.trim().trim_end_matches('/');
    let ok = trimmed.starts_with("http://") || trimmed.starts_with("https://");
    if !ok || trimmed.len() < "https://".len() {
        return Err(ClientError::InvalidUrl {
            url: url.to_string(),
            detail: "it must start with http:// or https://".into(),
        });
    }
    Ok(trimmed.to_string())
}

/// Percent-encodes a path segment (ids are uuids, but never trust that).
fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode as S;
    use axum::response::IntoResponse;
    use axum::routing::{delete, get, post};
    use axum::{Json, Router};

    async fn serve(router: Router) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        format!("http://{addr}/")
    }

    fn api_error(code: &str, message: &str) -> Json<ApiError> {
        Json(ApiError {
            error: code.into(),
            message: message.into(),
            field: None,
        })
    }

    #[tokio::test]
    async fn api_errors_carry_the_gateway_message() {
        let router = Router::new()
            .route(
                "/api/calls/{id}/pause-ai",
                delete(|| async {
                    (
                        S::CONFLICT,
                        api_error("conflict", "the AI is not paused, so it cannot be resumed"),
                    )
                }),
            )
            .route(
                "/api/calls/{id}/end",
                post(|| async { (S::BAD_GATEWAY, "<html>proxy</html>") }),
            )
            .route(
                "/api/calls/active",
                get(|headers: axum::http::HeaderMap| async move {
                    let auth = headers
                        .get("authorization")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("");
                    if auth != "Bearer secret" {
                        return (S::UNAUTHORIZED, api_error("unauthorized", "bad token"))
                            .into_response();
                    }
                    Json(CallList {
                        calls: vec![],
                        next_cursor: None,
                    })
                    .into_response()
                }),
            );
        let base = serve(router).await;
        let client = RestClient::new(&base, "secret").unwrap();
        let err = client.act("abc", &Action::ResumeAi).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "the AI is not paused, so it cannot be resumed"
        );
        assert_eq!(err.status(), Some(409));
        let err = client.act("abc", &Action::End).await.unwrap_err();
        assert!(
            matches!(err, ClientError::Protocol { status: 502, .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains("proxy"));

        assert!(client.active_calls().await.unwrap().is_empty());
        let wrong = RestClient::new(&base, "nope").unwrap();
        let err = wrong.active_calls().await.unwrap_err();
        assert!(err.is_auth());
        assert_eq!(err.to_string(), "bad token");
    }

    #[tokio::test]
    async fn unreachable_gateway_is_a_clear_error() {
        // Bind then drop: the port is very likely closed afterwards.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let client = RestClient::new(&format!("http://{addr}"), "t").unwrap();
        let err = client.health().await.unwrap_err();
        assert!(matches!(err, ClientError::Unreachable { .. }), "{err:?}");
        assert!(err
            .to_string()
            .starts_with("cannot reach the gateway at http://127.0.0.1:"));
    }

    #[tokio::test]
    async fn takeover_sends_reason_and_notes_and_ids_are_encoded() {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(String, serde_json::Value)>();
        let router = Router::new().route(
            "/api/calls/{id}/takeover",
            post(
                move |axum::extract::Path(id): axum::extract::Path<String>,
                      Json(body): Json<serde_json::Value>| {
                    let tx = tx.clone();
                    async move {
                        let _ = tx.send((id, body));
                        (S::NOT_FOUND, api_error("not_found", "no call with that id"))
                    }
                },
            ),
        );
        let base = serve(router).await;
        let client = RestClient::new(&base, "t").unwrap();
        let err = client
            .act(
                "a/b c",
                &Action::TakeOver {
                    reason: "caller asked for a human".into(),
                    notes: None,
                    mode: None,
                    phone: None,
                },
            )
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), "no call with that id");
        let (id, body) = rx.recv().await.unwrap();
        assert_eq!(id, "a/b c");
        assert_eq!(body["reason"], "caller asked for a human");
        assert!(body["notes"].is_null());
    }

    #[test]
    fn base_url_must_be_http() {
        assert!(normalise_base("ftp://x").is_err());
        assert!(normalise_base("http://").is_err());
        assert_eq!(normalise_base("http://h:1/").unwrap(), "http://h:1");
    }
}
