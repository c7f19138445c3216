//! One ConversationRelay websocket: Twilio's side of the conversation comes in (setup,
//! prompt, interrupt, dtmf, error), the model's reply and the supervisors' actions go out.
//! A single task owns the session, so an action and the model's tokens are ordered exactly
//! as they reach the socket.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ws::{Message as Frame, WebSocket};
use futures::stream::SplitSink;
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::model::{self, Chunk, Message};
use super::registry::{Command, Sessions};
use super::QUEUE_ITEM_PARAM;
use crate::core::action::Action;
use crate::core::ingest::{EventSink, IngestEnvelope, IngestEvent};
use crate::core::model::{outcome, CallState, Direction, Speaker};
use crate::gateway::config::relay::RelaySettings;

/// The outcome of a call whose websocket dropped without Twilio closing it.
pub const DROPPED: &str = "relay_dropped";
/// Alert kinds raised by a relay session.
pub const MODEL_ALERT: &str = "model_unavailable";
pub const RELAY_ALERT: &str = "relay_error";
/// The mark a cut AI turn carries in the transcript.
pub const INTERRUPTED_MARK: &str = "[interrupted]";

/// How long Twilio may take to send `setup` after connecting.
const SETUP_WAIT: Duration = Duration::from_secs(10);
/// Most messages of the conversation kept for the model besides the system ones: a long
/// call neither grows without bound nor sends the model an ever larger request.
const MAX_HISTORY: usize = 200;
/// Partial transcript lines of the AI's turn, at most this often (each is a commit).
const PARTIAL_EVERY: Duration = Duration::from_millis(150);

pub struct SessionDeps {
    pub display: String,
    pub settings: Arc<RelaySettings>,
    pub http: reqwest::Client,
    pub sessions: Arc<Sessions>,
    pub sink: Arc<dyn EventSink>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Mode {
    Ai,
    Paused,
    Human,
}

struct Turn {
    id: u64,
    utterance: String,
    text: String,
    task: JoinHandle<()>,
    last_partial: Option<Instant>,
}

struct Session {
    deps: SessionDeps,
    out: SplitSink<WebSocket, Frame>,
    reports: mpsc::UnboundedSender<IngestEnvelope>,
    call_sid: String,
    session_id: String,
    seq: u64,
    history: Vec<Message>,
    mode: Mode,
    turn: Option<Turn>,
    turns: mpsc::UnboundedSender<(u64, Chunk)>,
    next_turn: u64,
    /// The caller's utterance being transcribed.
    caller_utterance: Option<String>,
    /// The caller said something the AI has not answered (while paused or taken over).
    unanswered: bool,
    /// The AI's last finished turn: its utterance id and place in the history.
    last_ai: Option<(String, usize)>,
    model_alert: bool,
    /// callwatch sent `end`: the socket closing is expected.
    ended_by_us: bool,
}

/// Runs a session until its websocket closes.
pub async fn run(socket: WebSocket, deps: SessionDeps) {
    let (out, mut incoming) = socket.split();
    let setup = match wait_for_setup(&mut incoming).await {
        Ok(s) => s,
        Err(why) => {
            tracing::warn!(error = %why, "relay websocket closed before setup");
            return;
        }
    };
    let text = |k: &str| {
        setup
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let call_sid = text("callSid");
    let session_id = match text("sessionId") {
        s if s.is_empty() => uuid::Uuid::new_v4().to_string(),
        s => s,
    };
    let outbound = text("direction").starts_with("outbound");
    let (from, to) = (text("from"), text("to"));
    let queue_item = setup
        .pointer(&format!("/customParameters/{QUEUE_ITEM_PARAM}"))
        .and_then(Value::as_str)
        .map(String::from);
    let ours = if outbound { &from } else { &to };
    let profile = deps.settings.profile_for(ours);

    let (reports, rx) = mpsc::unbounded_channel();
    tokio::spawn(report_in_order(deps.sink.clone(), rx));
    let (cmd_tx, mut commands) = mpsc::channel::<Command>(16);
    let key = deps.sessions.insert(&call_sid, cmd_tx);
    let (turns, mut chunks) = mpsc::unbounded_channel();
    let context = format!(
        "{}\nThis is an {} phone call. The caller's number is {}.",
        profile.prompt,
        if outbound { "outbound" } else { "inbound" },
        if outbound { &to } else { &from },
    );
    let mut s = Session {
        deps,
        out,
        reports,
        call_sid: call_sid.clone(),
        session_id,
        seq: 0,
        history: vec![Message::new("system", context)],
        mode: Mode::Ai,
        turn: None,
        turns,
        next_turn: 0,
        caller_utterance: None,
        unanswered: false,
        last_ai: None,
        model_alert: false,
        ended_by_us: false,
    };
    s.report_raw(
        format!("{call_sid}:started"),
        IngestEvent::CallStarted {
            provider_call_id: call_sid.clone(),
            direction: if outbound {
                Direction::Outbound
            } else {
                Direction::Inbound
            },
            from,
            to,
            provider: Some(s.deps.display.clone()),
            lead: None,
            campaign: None,
            assistant: None,
            queue_item_id: queue_item,
            state: Some(CallState::InProgress),
        },
    );
    s.report(IngestEvent::CallStatus {
        provider_call_id: call_sid.clone(),
        status: CallState::InProgress,
    });
    if !profile.welcome_greeting.is_empty() {
        // Twilio speaks the greeting itself; it is the AI's first line.
        let id = s.utterance("a");
        s.final_line(&id, Speaker::Ai, &profile.welcome_greeting);
        s.history
            .push(Message::new("assistant", profile.welcome_greeting.clone()));
    }

    let clean = loop {
        tokio::select! {
            frame = incoming.next() => match frame {
                Some(Ok(Frame::Text(t))) => s.on_twilio(t.as_str()).await,
                Some(Ok(Frame::Close(_))) => break true,
                Some(Ok(_)) => {}
                None | Some(Err(_)) => break false,
            },
            Some(cmd) = commands.recv() => {
                let result = s.on_command(cmd.action, &cmd.by).await;
                let _ = cmd.reply.send(result);
            }
            Some((turn, chunk)) = chunks.recv() => s.on_chunk(turn, chunk).await,
        }
    };
    s.deps.sessions.remove(&call_sid, key);
    if let Some(turn) = s.turn.take() {
        turn.task.abort();
    }
    if !s.ended_by_us {
        let (result, summary) = if clean {
            (outcome::COMPLETED, None)
        } else {
            (
                DROPPED,
                Some("The ConversationRelay websocket dropped; the call ended.".to_string()),
            )
        };
        tracing::info!(call = %call_sid, outcome = result, "relay session closed");
        s.report(IngestEvent::CallEnded {
            provider_call_id: call_sid,
            outcome: result.into(),
            cost: None,
            duration_secs: None,
            summary,
            recording_url: None,
        });
    }
}

async fn wait_for_setup(
    incoming: &mut futures::stream::SplitStream<WebSocket>,
) -> Result<Value, String> {
    let deadline = tokio::time::Instant::now() + SETUP_WAIT;
    loop {
        let frame = tokio::time::timeout_at(deadline, incoming.next())
            .await
            .map_err(|_| "no setup message within 10 s".to_string())?;
        match frame {
            Some(Ok(Frame::Text(t))) => {
                let v: Value = serde_json::from_str(t.as_str())
                    .map_err(|e| format!("a message that is not JSON: {e}"))?;
                if v.get("type").and_then(Value::as_str) == Some("setup") {
                    if v.get("callSid")
                        .and_then(Value::as_str)
                        .is_none_or(str::is_empty)
                    {
                        return Err("setup without callSid".into());
                    }
                    return Ok(v);
                }
            }
            Some(Ok(Frame::Close(_))) | None | Some(Err(_)) => {
                return Err("the socket closed".into())
            }
            Some(Ok(_)) => {}
        }
    }
}

/// Applies the session's events one after another, off the conversation's path.
async fn report_in_order(
    sink: Arc<dyn EventSink>,
    mut rx: mpsc::UnboundedReceiver<IngestEnvelope>,
) {
    while let Some(event) = rx.recv().await {
        if let Err(e) = sink.submit(event).await {
            tracing::warn!(error = %e, "a relay event was not applied");
        }
    }
}

impl Session {
    fn report_raw(&mut self, id: String, event: IngestEvent) {
        let _ = self.reports.send(IngestEnvelope {
            id,
            occurred_at: None,
            event,
        });
    }

    fn report(&mut self, event: IngestEvent) {
        self.seq += 1;
        let id = format!("{}:{}", self.session_id, self.seq);
        self.report_raw(id, event);
    }

    fn utterance(&mut self, prefix: &str) -> String {
        self.seq += 1;
        format!("{}:{prefix}{}", self.session_id, self.seq)
    }

    fn final_line(&mut self, utterance: &str, speaker: Speaker, text: &str) {
        self.report(IngestEvent::TranscriptFinal {
            provider_call_id: self.call_sid.clone(),
            utterance_id: utterance.to_string(),
            speaker,
            text: text.to_string(),
        });
    }

    fn alert(&mut self, kind: &str, message: String) {
        self.report(IngestEvent::CallAlert {
            provider_call_id: self.call_sid.clone(),
            kind: kind.into(),
            message,
        });
    }

    async fn send(&mut self, v: Value) {
        // A failed write means the socket is closing; the reader sees it and ends the call.
        let _ = self.out.send(Frame::Text(v.to_string().into())).await;
    }

    async fn speak(&mut self, text: &str) {
        self.send(json!({"type": "text", "token": text, "last": true}))
            .await;
    }

    async fn on_twilio(&mut self, text: &str) {
        let Ok(v) = serde_json::from_str::<Value>(text) else {
            tracing::warn!(call = %self.call_sid, "relay message that is not JSON ignored");
            return;
        };
        let field = |k: &str| {
            v.get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        match v.get("type").and_then(Value::as_str).unwrap_or_default() {
            "prompt" => {
                let words = field("voicePrompt");
                let last = v.get("last").and_then(Value::as_bool).unwrap_or(true);
                self.on_prompt(words, last).await;
            }
            "interrupt" => self.on_interrupt(&field("utteranceUntilInterrupt")),
            "dtmf" => {
                let digit = field("digit");
                let id = self.utterance("d");
                self.final_line(&id, Speaker::Caller, &format!("[pressed {digit}]"));
                self.history.push(Message::new(
                    "user",
                    format!("(the caller pressed {digit} on the keypad)"),
                ));
            }
            "error" => {
                let description = field("description");
                tracing::warn!(call = %self.call_sid, %description, "ConversationRelay reported an error");
                self.alert(
                    RELAY_ALERT,
                    format!("Twilio ConversationRelay: {description}"),
                );
            }
            "setup" => {}
            other => {
                tracing::warn!(call = %self.call_sid, kind = other, "unknown relay message ignored")
            }
        }
    }

    async fn on_prompt(&mut self, words: String, last: bool) {
        let id = match &self.caller_utterance {
            Some(id) => id.clone(),
            None => {
                let id = self.utterance("c");
                self.caller_utterance = Some(id.clone());
                id
            }
        };
        if !last {
            self.report(IngestEvent::TranscriptPartial {
                provider_call_id: self.call_sid.clone(),
                utterance_id: id,
                speaker: Speaker::Caller,
                text: words,
            });
            return;
        }
        self.caller_utterance = None;
        self.final_line(&id, Speaker::Caller, &words);
        self.history.push(Message::new("user", words));
        if self.mode == Mode::Ai {
            self.cut_turn(None).await;
            self.start_turn();
        } else {
            // Kept in the history: answered when the AI is resumed or handed back.
            self.unanswered = true;
        }
    }

    fn on_interrupt(&mut self, spoken: &str) {
        let cut = match self.turn.take() {
            Some(turn) => {
                turn.task.abort();
                self.history.push(Message::new("assistant", spoken));
                Some(turn.utterance)
            }
            None => self.last_ai.take().map(|(utterance, at)| {
                if let Some(m) = self.history.get_mut(at) {
                    m.content = spoken.to_string();
                }
                utterance
            }),
        };
        if let Some(utterance) = cut {
            let text = format!("{} {INTERRUPTED_MARK}", spoken.trim());
            self.final_line(&utterance, Speaker::Ai, text.trim());
        }
    }

    /// Drops the oldest exchanges beyond [`MAX_HISTORY`]; the prompt and supervisors'
    /// instructions (system messages) stay.
    fn trim_history(&mut self) {
        let others = self.history.iter().filter(|m| m.role != "system").count();
        if others <= MAX_HISTORY {
            return;
        }
        let mut drop = others - MAX_HISTORY;
        self.history.retain(|m| {
            if drop > 0 && m.role != "system" {
                drop -= 1;
                false
            } else {
                true
            }
        });
        // Indices into the history moved.
        self.last_ai = None;
    }

    fn start_turn(&mut self) {
        self.trim_history();
        self.next_turn += 1;
        let id = self.next_turn;
        let utterance = self.utterance("a");
        let (http, settings, messages, out) = (
            self.deps.http.clone(),
            self.deps.settings.clone(),
            self.history.clone(),
            self.turns.clone(),
        );
        let task = tokio::spawn(async move {
            model::stream_reply(http, &settings, messages, id, out).await;
        });
        self.unanswered = false;
        self.turn = Some(Turn {
            id,
            utterance,
            text: String::new(),
            task,
            last_partial: None,
        });
    }

    /// Stops the AI's turn in progress; what it already said stays in the transcript,
    /// marked with `mark`.
    async fn cut_turn(&mut self, mark: Option<&str>) {
        let Some(turn) = self.turn.take() else {
            return;
        };
        turn.task.abort();
        if turn.text.is_empty() {
            return;
        }
        // Close Twilio's talk cycle so the next text starts a new one.
        self.send(json!({"type": "text", "token": "", "last": true}))
            .await;
        self.history
            .push(Message::new("assistant", turn.text.clone()));
        let text = match mark {
            Some(m) => format!("{} {m}", turn.text.trim()),
            None => turn.text.trim().to_string(),
        };
        self.final_line(&turn.utterance, Speaker::Ai, &text);
    }

    async fn on_chunk(&mut self, id: u64, chunk: Chunk) {
        if self.turn.as_ref().is_none_or(|t| t.id != id) {
            return; // a turn already cut
        }
        match chunk {
            Chunk::Token(token) => {
                self.send(json!({"type": "text", "token": token, "last": false}))
                    .await;
                let Some(turn) = self.turn.as_mut() else {
                    return;
                };
                turn.text.push_str(&token);
                if turn
                    .last_partial
                    .is_none_or(|at| at.elapsed() >= PARTIAL_EVERY)
                {
                    turn.last_partial = Some(Instant::now());
                    let event = IngestEvent::TranscriptPartial {
                        provider_call_id: self.call_sid.clone(),
                        utterance_id: turn.utterance.clone(),
                        speaker: Speaker::Ai,
                        text: turn.text.clone(),
                    };
                    self.report(event);
                }
            }
            Chunk::Done => {
                let Some(turn) = self.turn.take() else {
                    return;
                };
                self.send(json!({"type": "text", "token": "", "last": true}))
                    .await;
                self.history
                    .push(Message::new("assistant", turn.text.clone()));
                self.last_ai = Some((turn.utterance.clone(), self.history.len() - 1));
                self.final_line(&turn.utterance, Speaker::Ai, turn.text.trim());
                if self.model_alert {
                    self.model_alert = false;
                    self.report(IngestEvent::CallAlertCleared {
                        provider_call_id: self.call_sid.clone(),
                        kind: MODEL_ALERT.into(),
                    });
                }
            }
            Chunk::Failed(why) => {
                let Some(turn) = self.turn.take() else {
                    return;
                };
                tracing::warn!(call = %self.call_sid, error = %why, "the model failed a turn");
                let apology = self.deps.settings.apology.clone();
                let spoken = format!("{} {apology}", turn.text.trim());
                self.speak(&apology).await;
                self.history.push(Message::new("assistant", spoken.trim()));
                self.final_line(&turn.utterance, Speaker::Ai, spoken.trim());
                self.model_alert = true;
                self.alert(
                    MODEL_ALERT,
                    format!("The AI's model endpoint failed: {why}"),
                );
            }
        }
    }

    /// Ends the session with `handoffData`; Twilio's `<Connect action>` request then gets
    /// TwiML dialling `to`.
    async fn hand_off(&mut self, to: &str, data: Value) {
        self.deps.sessions.set_handoff(&self.call_sid, to);
        self.ended_by_us = true;
        self.send(json!({"type": "end", "handoffData": data.to_string()}))
            .await;
    }

    async fn on_command(
        &mut self,
        action: Action,
        by: &str,
    ) -> Result<(), crate::core::provider::ProviderError> {
        match action {
            Action::PauseAi => {
                self.cut_turn(Some("[paused]")).await;
                self.mode = Mode::Paused;
                let line = self.deps.settings.holding_line.clone();
                if !line.is_empty() {
                    self.speak(&line).await;
                    self.history.push(Message::new("assistant", line.clone()));
                    let id = self.utterance("a");
                    self.final_line(&id, Speaker::Ai, &line);
                }
            }
            // Hand back after type-to-talk is a resume: the AI answers what the caller said
            // while the human held the call.
            Action::ResumeAi | Action::HandBack => {
                self.mode = Mode::Ai;
                if self.unanswered && self.turn.is_none() {
                    self.start_turn();
                }
            }
            Action::Instruct { text } => {
                self.history.push(Message::new(
                    "system",
                    format!("Instruction from the supervisor for the rest of the call: {text}"),
                ));
            }
            Action::Say { text } => {
                self.cut_turn(Some("[cut by a supervisor]")).await;
                self.speak(&text).await;
                self.history.push(Message::new("assistant", text.clone()));
                let id = self.utterance("h");
                self.final_line(&id, Speaker::Human, &text);
            }
            Action::TakeOver { reason, phone, .. } => {
                self.cut_turn(Some("[taken over]")).await;
                self.mode = Mode::Human;
                // The gateway filled in the taker's phone from its config: hand off to it.
                if let Some(phone) = phone {
                    let data = json!({
                        "reasonCode": "live-agent-handoff",
                        "reason": reason,
                        "by": by,
                    });
                    self.hand_off(&phone, data).await;
                }
            }
            // Cold only: the session ends and Twilio's `<Connect action>` request is answered
            // with the dial.
            Action::Transfer { to, name, .. } => {
                self.cut_turn(Some("[transferred]")).await;
                let data = json!({
                    "reasonCode": "transfer",
                    "to": to,
                    "destination": name,
                    "by": by,
                });
                self.hand_off(&to, data).await;
            }
            Action::End => {
                self.cut_turn(None).await;
                self.ended_by_us = true;
                let data = json!({"reasonCode": "ended-by-supervisor", "by": by});
                self.send(json!({"type": "end", "handoffData": data.to_string()}))
                    .await;
            }
        }
        Ok(())
    }
}
