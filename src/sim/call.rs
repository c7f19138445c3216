//! One simulated call: a tokio task that plays a scenario, speaks like speech-to-text, and
//! obeys supervisors' actions arriving on its command channel.
//!
//! Determinism: the script (branches, fills, words per partial, interruptions) draws from
//! `rng`, seeded per call; everything an action triggers draws from `aux`, so a call nobody
//! touches is a pure function of its seed, and an action leaves the rest of the script as it
//! would have been.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::{sleep_until, Instant};

use super::scenario::{fill, Scenario};
use super::speech::{caller_reply_to_human, instructed_line, HELLO_LINES, WORDS_PER_SEC};
use crate::core::action::Action;
use crate::core::ingest::{EventSink, IngestEnvelope, IngestEvent, SinkError};
use crate::core::model::{alert_kind, outcome, CallState, Direction, Lead, Sentiment, Speaker};
use crate::core::provider::ProviderError;

/// An action for the call task, answered once the call has carried it out.
pub(crate) struct Command {
    pub action: Action,
    /// The actor (token name) named in the transcript's system lines.
    pub by: String,
    pub reply: oneshot::Sender<Result<(), ProviderError>>,
}

/// Everything that decides one call before it starts.
#[derive(Debug, Clone)]
pub(crate) struct CallPlan {
    pub provider_call_id: String,
    pub scenario: Arc<Scenario>,
    pub seed: u64,
    /// Spoken lines played instantly, so the call is already mid-conversation.
    pub warm_lines: usize,
    pub lead: Option<Lead>,
    pub to: Option<String>,
    pub campaign: Option<String>,
    pub queue_item_id: Option<String>,
}

pub(crate) struct CallEnv {
    pub sink: Arc<dyn EventSink>,
    pub speed: f64,
    pub shutdown: watch::Receiver<bool>,
}

/// Why the call task stops early.
#[derive(Debug)]
pub(crate) enum Stop {
    /// `call.ended` has been sent.
    Ended,
    /// The simulator or the gateway went away; nothing more can be sent.
    Closed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Ai,
    Paused,
    TakenOver,
}

struct Utterance {
    id: String,
    speaker: Speaker,
    text: String,
}

struct StallState {
    since: f64,
    alert_after: f64,
    alerted: bool,
    recover: Option<usize>,
}

/// Simulated seconds a taken-over caller waits for the human before hanging up.
const HUMAN_IDLE_SECS: f64 = 240.0;
/// Simulated seconds a caller waits on a paused AI before hanging up.
const PAUSED_HANG_UP_SECS: f64 = 120.0;
/// Most steps one call may execute (guards against `goto` loops in a scenario).
const MAX_STEPS: usize = 400;

pub(crate) struct CallTask {
    env: CallEnv,
    plan: CallPlan,
    sc: Arc<Scenario>,
    rng: StdRng,
    aux: StdRng,
    rx: mpsc::Receiver<Command>,
    seq: u64,
    utterances: u64,
    vars: HashMap<String, String>,
    mode: Mode,
    current: Option<Utterance>,
    pending_instruction: Option<String>,
    caller_queue: VecDeque<(String, bool)>,
    stall: Option<StallState>,
    jump: Option<usize>,
    sentiment: Sentiment,
    negative_alert: bool,
    intent_sent: Option<String>,
    outcome: String,
    outcome_overridden: bool,
    summary: Option<String>,
    takeover: Option<(String, String)>,
    last_human: f64,
    fast: bool,
    offset: f64,
    clock: Instant,
    answered_at: Option<f64>,
    interrupting: bool,
    warm_buffer: Vec<(f64, IngestEnvelope)>,
}

fn range(rng: &mut StdRng, (a, b): (f64, f64)) -> f64 {
    if b > a {
        rng.random_range(a..b)
    } else {
        a
    }
}

fn phone(rng: &mut StdRng) -> String {
    const AREAS: &[u32] = &[212, 312, 415, 512, 617, 720, 206, 305];
    let area = AREAS[rng.random_range(0..AREAS.len())];
    format!("+1{area}555{:04}", rng.random_range(0..10_000u32))
}

/// The business's own number for a scenario (stable per campaign).
fn business_line(sc: &Scenario) -> String {
    let key = sc.campaign.as_deref().unwrap_or(&sc.provider);
    let n = key
        .bytes()
        .fold(0u32, |a, b| a.wrapping_mul(31).wrapping_add(b as u32))
        % 100;
    format!("+1415555{:04}", 100 + n)
}

impl CallTask {
    pub fn new(env: CallEnv, plan: CallPlan, rx: mpsc::Receiver<Command>) -> CallTask {
        let sc = plan.scenario.clone();
        let rng = StdRng::seed_from_u64(plan.seed);
        let aux = StdRng::seed_from_u64(plan.seed ^ 0x5eed_a0c5_0000_0001);
        CallTask {
            env,
            outcome: sc.outcome.clone(),
            sc,
            plan,
            rng,
            aux,
            rx,
            seq: 0,
            utterances: 0,
            vars: HashMap::new(),
            mode: Mode::Ai,
            current: None,
            pending_instruction: None,
            caller_queue: VecDeque::new(),
            stall: None,
            jump: None,
            sentiment: Sentiment::Unknown,
            negative_alert: false,
            intent_sent: None,
            outcome_overridden: false,
            summary: None,
            takeover: None,
            last_human: 0.0,
            fast: false,
            offset: 0.0,
            clock: Instant::now(),
            answered_at: None,
            interrupting: false,
            warm_buffer: Vec::new(),
        }
    }

    pub async fn run(mut self) {
        if let Err(Stop::Closed) = self.play().await {
            tracing::debug!(call = %self.plan.provider_call_id, "simulated call stopped");
        }
        // Anything still waiting for an answer learns the call is gone.
        self.rx.close();
        while let Ok(cmd) = self.rx.try_recv() {
            let _ = cmd.reply.send(Err(self.gone()));
        }
    }

    fn gone(&self) -> ProviderError {
        ProviderError::Gone(format!(
            "simulated call {} has ended",
            self.plan.provider_call_id
        ))
    }

    /// Simulated seconds since the call task started (plus fast-forwarded time).
    fn now(&self) -> f64 {
        self.offset + self.clock.elapsed().as_secs_f64() * self.env.speed
    }

    fn real(&self, sim_secs: f64) -> Duration {
        Duration::from_secs_f64((sim_secs.max(0.0) / self.env.speed).min(86_400.0))
    }

    async fn emit(&mut self, event: IngestEvent) -> Result<(), Stop> {
        self.seq += 1;
        let envelope = IngestEnvelope {
            id: format!("{}-e{}", self.plan.provider_call_id, self.seq),
            occurred_at: Some(Utc::now()),
            event,
        };
        if self.fast {
            let at = self.now();
            self.warm_buffer.push((at, envelope));
            return Ok(());
        }
        self.submit(envelope).await
    }

    /// Ends fast-forwarding: the conversation so far is delivered with timestamps spread
    /// over the past, as if the call had been going on for that long.
    async fn end_fast(&mut self) -> Result<(), Stop> {
        if !self.fast {
            return Ok(());
        }
        self.fast = false;
        let real_ms = |sim: f64, speed: f64| (sim / speed * 1000.0) as i64;
        let base =
            Utc::now() - chrono::Duration::milliseconds(real_ms(self.offset, self.env.speed));
        for (at, mut envelope) in std::mem::take(&mut self.warm_buffer) {
            envelope.occurred_at =
                Some(base + chrono::Duration::milliseconds(real_ms(at, self.env.speed)));
            self.submit(envelope).await?;
        }
        Ok(())
    }

    async fn submit(&mut self, envelope: IngestEnvelope) -> Result<(), Stop> {
        match self.env.sink.submit(envelope).await {
            Ok(()) => Ok(()),
            Err(SinkError::Closed(_)) => Err(Stop::Closed),
            Err(SinkError::Refused(why)) => {
                tracing::debug!(call = %self.plan.provider_call_id, %why, "simulator event refused");
                Ok(())
            }
        }
    }

    fn next_utterance_id(&mut self) -> String {
        self.utterances += 1;
        format!("{}-u{}", self.plan.provider_call_id, self.utterances)
    }

    async fn emit_final(&mut self, id: String, speaker: Speaker, text: String) -> Result<(), Stop> {
        let provider_call_id = self.plan.provider_call_id.clone();
        self.emit(IngestEvent::TranscriptFinal {
            provider_call_id,
            utterance_id: id,
            speaker,
            text,
        })
        .await
    }

    async fn say_line(&mut self, speaker: Speaker, text: String) -> Result<(), Stop> {
        let id = self.next_utterance_id();
        self.emit_final(id, speaker, text).await
    }

    /// Waits `secs` simulated seconds while obeying commands. With `wake`, returns `true` as
    /// soon as a command was handled.
    async fn wait(&mut self, secs: f64, wake: bool) -> Result<bool, Stop> {
        if self.fast {
            self.offset += secs.max(0.0);
            return Ok(false);
        }
        let deadline = Instant::now() + self.real(secs);
        loop {
            if *self.env.shutdown.borrow() {
                return Err(Stop::Closed);
            }
            let alert_at = match &self.stall {
                Some(s) if !s.alerted => {
                    Some(Instant::now() + self.real(s.since + s.alert_after - self.now()))
                }
                _ => None,
            };
            tokio::select! {
                biased;
                changed = self.env.shutdown.changed() => {
                    if changed.is_err() || *self.env.shutdown.borrow() {
                        return Err(Stop::Closed);
                    }
                }
                cmd = self.rx.recv() => match cmd {
                    None => return Err(Stop::Closed),
                    Some(cmd) => {
                        self.handle(cmd).await?;
                        if wake {
                            return Ok(true);
                        }
                    }
                },
                _ = sleep_until(alert_at.unwrap_or(deadline)), if alert_at.is_some() => {
                    self.raise_silent_alert().await?;
                }
                _ = sleep_until(deadline) => return Ok(false),
            }
        }
    }

    async fn raise_silent_alert(&mut self) -> Result<(), Stop> {
        let secs = match self.stall.as_mut() {
            Some(s) if !s.alerted => {
                s.alerted = true;
                s.alert_after
            }
            _ => return Ok(()),
        };
        let provider_call_id = self.plan.provider_call_id.clone();
        self.emit(IngestEvent::CallAlert {
            provider_call_id,
            kind: alert_kind::AI_SILENT.into(),
            message: format!("The AI has not responded for {secs:.0} s"),
        })
        .await
    }

    /// Ends the AI's current utterance where it stands (pause, take over, end).
    async fn cut_current(&mut self, any_speaker: bool) -> Result<(), Stop> {
        let cut = matches!(&self.current, Some(u) if any_speaker || u.speaker == Speaker::Ai);
        if !cut {
            return Ok(());
        }
        if let Some(u) = self.current.take() {
            if !u.text.is_empty() {
                self.emit_final(u.id, u.speaker, format!("{}—", u.text))
                    .await?;
            }
        }
        Ok(())
    }

    /// The AI is back after a stall: clear the alert and continue at `recover`.
    async fn recover_from_stall(&mut self) -> Result<(), Stop> {
        if let Some(s) = self.stall.take() {
            self.jump = s.recover;
            if s.alerted {
                let provider_call_id = self.plan.provider_call_id.clone();
                self.emit(IngestEvent::CallAlertCleared {
                    provider_call_id,
                    kind: alert_kind::AI_SILENT.into(),
                })
                .await?;
            }
        }
        Ok(())
    }

    async fn handle(&mut self, cmd: Command) -> Result<(), Stop> {
        let Command { action, by, reply } = cmd;
        let taken = self.mode == Mode::TakenOver;
        let refused = |what: &str| {
            Err(ProviderError::Upstream(format!(
                "cannot {what}: a human has taken over this call"
            )))
        };
        let result = match action {
            Action::PauseAi if taken => refused("pause the AI"),
            Action::PauseAi => {
                self.mode = Mode::Paused;
                self.cut_current(false).await?;
                Ok(())
            }
            Action::ResumeAi if taken => refused("resume the AI"),
            Action::ResumeAi => {
                self.mode = Mode::Ai;
                self.recover_from_stall().await?;
                Ok(())
            }
            Action::TakeOver { reason, .. } => {
                if !taken {
                    self.mode = Mode::TakenOver;
                    self.cut_current(false).await?;
                    if let Some(s) = self.stall.take() {
                        if s.alerted {
                            let provider_call_id = self.plan.provider_call_id.clone();
                            self.emit(IngestEvent::CallAlertCleared {
                                provider_call_id,
                                kind: alert_kind::AI_SILENT.into(),
                            })
                            .await?;
                        }
                    }
                    self.pending_instruction = None;
                    self.last_human = self.now();
                    self.say_line(
                        Speaker::System,
                        format!("Supervisor {by} took over: {reason}"),
                    )
                    .await?;
                    self.takeover = Some((by, reason));
                }
                Ok(())
            }
            Action::Say { text } => {
                let text = text.trim().to_string();
                if text.is_empty() {
                    Err(ProviderError::Upstream("nothing to say".into()))
                } else {
                    self.say_line(Speaker::Human, text.clone()).await?;
                    self.last_human = self.now();
                    if self.mode != Mode::Ai {
                        let reply = caller_reply_to_human(&text, &mut self.aux);
                        self.caller_queue.push_back(reply);
                    }
                    Ok(())
                }
            }
            Action::Instruct { .. } if taken => refused("instruct the AI"),
            Action::Instruct { text } => {
                let text = text.trim().to_string();
                if text.is_empty() {
                    Err(ProviderError::Upstream("the instruction is empty".into()))
                } else {
                    self.say_line(Speaker::System, format!("Instruction to AI: {text}"))
                        .await?;
                    self.pending_instruction = Some(text);
                    self.recover_from_stall().await?;
                    Ok(())
                }
            }
            Action::End => {
                self.cut_current(true).await?;
                let _ = reply.send(Ok(()));
                self.rx.close();
                self.outcome = outcome::ENDED_BY_SUPERVISOR.into();
                self.summary = Some(format!("{}: ended by supervisor {by}.", self.sc.title));
                self.finish().await?;
                return Err(Stop::Ended);
            }
        };
        let _ = reply.send(result);
        Ok(())
    }

    /// Speaks `text` at speaking pace: growing partials, then the final. `cut_at` cuts the
    /// utterance after that many words (the caller interrupts). Returns whether it was
    /// spoken in full.
    async fn speak(
        &mut self,
        speaker: Speaker,
        text: String,
        cut_at: Option<usize>,
    ) -> Result<bool, Stop> {
        let id = self.next_utterance_id();
        let words: Vec<&str> = text.split_whitespace().collect();
        let limit = cut_at.unwrap_or(words.len()).min(words.len());
        // Chunk sizes come from the script RNG even when fast-forwarding, so a warm call
        // continues exactly as a cold one would.
        let mut chunks = Vec::new();
        let mut n = 0;
        while n < limit {
            let c = self.rng.random_range(1..=3usize).min(limit - n);
            chunks.push(c);
            n += c;
        }
        let final_text = if limit < words.len() {
            format!("{}—", words[..limit].join(" "))
        } else {
            text.clone()
        };
        if self.fast {
            self.offset += limit as f64 / WORDS_PER_SEC + 0.3;
            self.emit_final(id, speaker, final_text).await?;
            return Ok(limit == words.len());
        }
        self.current = Some(Utterance {
            id: id.clone(),
            speaker,
            text: String::new(),
        });
        let mut said = 0;
        for c in chunks {
            self.wait(c as f64 / WORDS_PER_SEC, false).await?;
            if self.current.is_none() {
                return Ok(false);
            }
            said += c;
            let partial = words[..said].join(" ");
            if let Some(u) = self.current.as_mut() {
                u.text = partial.clone();
            }
            let provider_call_id = self.plan.provider_call_id.clone();
            self.emit(IngestEvent::TranscriptPartial {
                provider_call_id,
                utterance_id: id.clone(),
                speaker,
                text: partial,
            })
            .await?;
        }
        // STT settles shortly after the last word.
        self.wait(0.3, false).await?;
        if self.current.take().is_none() {
            return Ok(false);
        }
        self.emit_final(id, speaker, final_text).await?;
        Ok(limit == words.len())
    }

    async fn send_intent(&mut self, intent: String) -> Result<(), Stop> {
        if self.intent_sent.as_deref() == Some(intent.as_str()) {
            return Ok(());
        }
        self.intent_sent = Some(intent.clone());
        let provider_call_id = self.plan.provider_call_id.clone();
        self.emit(IngestEvent::CallAnalysis {
            provider_call_id,
            intent: Some(intent),
            sentiment: None,
            summary: None,
        })
        .await
    }

    async fn set_sentiment(&mut self, s: Sentiment) -> Result<(), Stop> {
        if s == self.sentiment {
            return Ok(());
        }
        self.sentiment = s;
        let provider_call_id = self.plan.provider_call_id.clone();
        self.emit(IngestEvent::CallAnalysis {
            provider_call_id: provider_call_id.clone(),
            intent: None,
            sentiment: Some(s),
            summary: None,
        })
        .await?;
        if s == Sentiment::Negative && !self.negative_alert {
            self.negative_alert = true;
            self.emit(IngestEvent::CallAlert {
                provider_call_id,
                kind: alert_kind::NEGATIVE_SENTIMENT.into(),
                message: "Caller sentiment turned negative".into(),
            })
            .await?;
        } else if s != Sentiment::Negative && self.negative_alert {
            self.negative_alert = false;
            self.emit(IngestEvent::CallAlertCleared {
                provider_call_id,
                kind: alert_kind::NEGATIVE_SENTIMENT.into(),
            })
            .await?;
        }
        Ok(())
    }

    /// Speaks what a supervisor's instruction asked for, as the AI's next turn.
    async fn speak_instruction(&mut self) -> Result<(), Stop> {
        while self.mode == Mode::Ai && self.stall.is_none() && self.pending_instruction.is_some() {
            let gap = range(&mut self.aux, (0.3, 0.8));
            self.wait(gap, false).await?;
            if self.mode != Mode::Ai || self.stall.is_some() {
                return Ok(());
            }
            let Some(instruction) = self.pending_instruction.take() else {
                return Ok(());
            };
            self.speak(Speaker::Ai, instructed_line(&instruction), None)
                .await?;
        }
        Ok(())
    }

    /// Holds the AI's next line while it is paused; the caller wonders where it went.
    async fn wait_while_paused(&mut self) -> Result<(), Stop> {
        let mut hellos = 0usize;
        let paused_since = self.now();
        let mut next_hello = self.now() + range(&mut self.aux, (5.0, 8.0));
        while self.mode == Mode::Paused {
            if let Some((reply, _)) = self.caller_queue.pop_front() {
                let gap = range(&mut self.aux, (0.8, 2.0));
                self.wait(gap, false).await?;
                self.speak(Speaker::Caller, reply, None).await?;
                next_hello = self.now() + range(&mut self.aux, (8.0, 12.0));
                continue;
            }
            let woke = self.wait(next_hello - self.now(), true).await?;
            if !woke && self.mode == Mode::Paused {
                // A supervisor talking to the caller keeps them on the line.
                let quiet_since = paused_since.max(self.last_human);
                if self.now() - quiet_since >= PAUSED_HANG_UP_SECS {
                    self.speak(Speaker::Caller, "I'll try calling back later.".into(), None)
                        .await?;
                    self.outcome = "caller_hung_up".into();
                    self.outcome_overridden = true;
                    self.summary = Some(format!(
                        "{}: the AI was paused and the caller hung up after {:.0} s of silence.",
                        self.sc.title, PAUSED_HANG_UP_SECS
                    ));
                    self.finish().await?;
                    return Err(Stop::Ended);
                }
                if hellos < HELLO_LINES.len() {
                    self.speak(Speaker::Caller, HELLO_LINES[hellos].to_string(), None)
                        .await?;
                    hellos += 1;
                    next_hello =
                        self.now() + 10.0 * hellos as f64 + range(&mut self.aux, (2.0, 6.0));
                } else {
                    next_hello = quiet_since + PAUSED_HANG_UP_SECS;
                }
            }
        }
        Ok(())
    }

    /// After a take over: the caller talks with the human until someone hangs up.
    async fn human_loop(&mut self) -> Result<(), Stop> {
        loop {
            if let Some((reply, bye)) = self.caller_queue.pop_front() {
                let gap = range(&mut self.aux, (0.8, 2.0));
                self.wait(gap, false).await?;
                self.speak(Speaker::Caller, reply, None).await?;
                if bye {
                    self.outcome = outcome::COMPLETED.into();
                    self.summary =
                        Some(self.takeover_summary("the caller was helped and said goodbye"));
                    return self.finish().await;
                }
                continue;
            }
            let left = self.last_human + HUMAN_IDLE_SECS - self.now();
            if left <= 0.0 {
                self.speak(
                    Speaker::Caller,
                    "Hello? Is anyone there? I'll call back later.".into(),
                    None,
                )
                .await?;
                self.outcome = "caller_hung_up".into();
                self.summary = Some(self.takeover_summary("nobody spoke and the caller hung up"));
                return self.finish().await;
            }
            self.wait(left, true).await?;
        }
    }

    fn takeover_summary(&self, what: &str) -> String {
        match &self.takeover {
            Some((by, reason)) => {
                format!("{}: taken over by {by} ({reason}); {what}.", self.sc.title)
            }
            None => format!("{}: {what}.", self.sc.title),
        }
    }

    /// Sends the final analysis and `call.ended`.
    async fn finish(&mut self) -> Result<(), Stop> {
        self.end_fast().await?;
        self.rx.close();
        while let Ok(cmd) = self.rx.try_recv() {
            let _ = cmd.reply.send(Err(self.gone()));
        }
        let duration = self.answered_at.map(|a| (self.now() - a).max(0.0));
        let cost =
            duration.map(|d| ((d / 60.0) * self.sc.cost_per_minute * 10_000.0).round() / 10_000.0);
        let summary = self
            .summary
            .clone()
            .or_else(|| self.sc.summary.as_ref().map(|s| fill(s, &self.vars)));
        let provider_call_id = self.plan.provider_call_id.clone();
        if self.answered_at.is_some() {
            let sentiment = if self.outcome_overridden
                || self.takeover.is_some()
                || self.outcome == outcome::ENDED_BY_SUPERVISOR
            {
                self.sentiment
            } else {
                self.sc.sentiment
            };
            self.emit(IngestEvent::CallAnalysis {
                provider_call_id: provider_call_id.clone(),
                intent: Some(self.sc.intent.clone()).filter(|_| self.intent_sent.is_none()),
                sentiment: Some(sentiment),
                summary: summary.clone(),
            })
            .await?;
        }
        let recording_url = self
            .answered_at
            .map(|_| format!("sim://recordings/{provider_call_id}.wav"));
        self.emit(IngestEvent::CallEnded {
            provider_call_id,
            outcome: self.outcome.clone(),
            cost: Some(cost.unwrap_or(0.0)),
            duration_secs: Some(duration.map(|d| (d * 10.0).round() / 10.0).unwrap_or(0.0)),
            summary,
            recording_url,
        })
        .await
    }

    fn fill_vars(&mut self) {
        let sc = self.sc.clone();
        for (k, values) in &sc.vars {
            let v = values[self.rng.random_range(0..values.len())].clone();
            self.vars.insert(k.clone(), v);
        }
        if let Some(name) = self.plan.lead.as_ref().and_then(|l| l.name.clone()) {
            self.vars.insert("lead".into(), name);
        }
        if let Some(a) = &sc.assistant {
            self.vars.insert("assistant".into(), a.clone());
        }
        let campaign = self.plan.campaign.clone().or_else(|| sc.campaign.clone());
        if let Some(c) = campaign {
            self.vars.insert("campaign".into(), c);
        }
    }

    async fn play(&mut self) -> Result<(), Stop> {
        self.fill_vars();
        let sc = self.sc.clone();
        let warm = self.plan.warm_lines > 0 && sc.answered;
        let other = phone(&mut self.rng);
        let (from, to) = match sc.direction {
            Direction::Inbound => (other, business_line(&sc)),
            Direction::Outbound => (business_line(&sc), self.plan.to.clone().unwrap_or(other)),
        };
        let mut lead = self.plan.lead.clone().unwrap_or_default();
        if lead.name.is_none() {
            let key = match sc.direction {
                Direction::Inbound => "caller",
                Direction::Outbound => "lead",
            };
            lead.name = self.vars.get(key).cloned();
        }
        let provider_call_id = self.plan.provider_call_id.clone();
        self.fast = warm;
        self.emit(IngestEvent::CallStarted {
            provider_call_id: provider_call_id.clone(),
            direction: sc.direction,
            from,
            to,
            provider: Some(sc.provider.clone()),
            lead: Some(lead),
            campaign: self.plan.campaign.clone().or_else(|| sc.campaign.clone()),
            assistant: sc.assistant.clone(),
            queue_item_id: self.plan.queue_item_id.clone(),
            state: Some(if warm {
                CallState::InProgress
            } else {
                CallState::Ringing
            }),
        })
        .await?;
        let ring = range(&mut self.rng, sc.ring_secs);
        if !warm {
            self.wait(ring, false).await?;
        }
        if !sc.answered {
            return self.finish().await;
        }
        self.answered_at = Some(self.now());
        // A supervisor who took the call over while it rang owns it now.
        if !warm && self.mode == Mode::Ai {
            self.emit(IngestEvent::CallStatus {
                provider_call_id,
                status: CallState::InProgress,
            })
            .await?;
        }
        let mut spoken = 0usize;
        let mut idx = 0usize;
        let mut executed = 0usize;
        loop {
            if self.fast && spoken >= self.plan.warm_lines {
                self.end_fast().await?;
            }
            if self.mode == Mode::TakenOver {
                return self.human_loop().await;
            }
            self.speak_instruction().await?;
            if let Some(j) = self.jump.take() {
                idx = j;
            }
            if self.mode == Mode::TakenOver {
                continue;
            }
            let Some(step) = sc.steps.get(idx) else { break };
            executed += 1;
            if executed > MAX_STEPS {
                break;
            }
            if let Some(line) = &step.line {
                let roll: f64 = self.rng.random();
                let pick = self.rng.random_range(0..line.texts.len());
                let text = fill(&line.texts[pick], &self.vars);
                // Default gaps: the AI answers after its model's latency, people a bit faster.
                let default_gap = if line.speaker == Speaker::Ai {
                    (0.7, 1.8)
                } else {
                    (0.4, 1.4)
                };
                let pause = range(&mut self.rng, step.pause.unwrap_or(default_gap));
                let pause = if self.interrupting {
                    pause.min(0.2)
                } else {
                    pause
                };
                if roll < step.chance {
                    spoken += 1;
                    match line.speaker {
                        Speaker::Ai => {
                            let words = text.split_whitespace().count();
                            let p = step.interrupt.unwrap_or(sc.interrupt_chance);
                            let cut_roll: f64 = self.rng.random();
                            let cut_pos = self
                                .rng
                                .random_range((words * 2 / 5).max(1)..=(words * 4 / 5).max(1));
                            let next_is_caller = step.goto.is_empty()
                                && !step.end
                                && matches!(sc.steps.get(idx + 1).and_then(|s| s.line.as_ref()), Some(l) if l.speaker == Speaker::Caller);
                            let cut =
                                (cut_roll < p && next_is_caller && words >= 6).then_some(cut_pos);
                            self.wait(pause, false).await?;
                            self.wait_while_paused().await?;
                            if self.mode == Mode::TakenOver {
                                continue;
                            }
                            if self.pending_instruction.is_some() {
                                self.speak_instruction().await?;
                            }
                            if self.jump.is_some() || self.mode != Mode::Ai {
                                continue;
                            }
                            if self.stall.is_some() {
                                self.interrupting = false;
                            } else {
                                let full = self.speak(Speaker::Ai, text, cut).await?;
                                self.interrupting = !full && cut.is_some();
                            }
                        }
                        Speaker::Caller => {
                            self.wait(pause, false).await?;
                            self.speak(Speaker::Caller, text, None).await?;
                            self.interrupting = false;
                            // The provider's analysis names the intent once the caller has
                            // said something (a step's own `intent` wins).
                            if self.intent_sent.is_none() && step.intent.is_none() {
                                self.send_intent(sc.intent.clone()).await?;
                            }
                        }
                        Speaker::System | Speaker::Human => {
                            self.wait(pause, false).await?;
                            self.say_line(line.speaker, text).await?;
                        }
                    }
                }
            }
            if let Some(intent) = &step.intent {
                self.send_intent(intent.clone()).await?;
            }
            if let Some(s) = step.sentiment {
                self.set_sentiment(s).await?;
            }
            if let Some(o) = &step.outcome {
                self.outcome = o.clone();
                self.outcome_overridden = true;
            }
            if let Some(s) = &step.summary {
                self.summary = Some(fill(s, &self.vars));
            }
            if let Some(st) = &step.stall {
                if self.mode != Mode::TakenOver {
                    self.stall = Some(StallState {
                        since: self.now(),
                        alert_after: st.alert_after,
                        alerted: false,
                        recover: st.recover,
                    });
                }
            }
            if step.end {
                break;
            }
            idx = if step.goto.is_empty() {
                idx + 1
            } else {
                let total: f64 = step.goto.iter().map(|(_, w)| w).sum();
                let mut x = self.rng.random_range(0.0..total);
                let mut chosen = step.goto[step.goto.len() - 1].0;
                for (target, w) in &step.goto {
                    if x < *w {
                        chosen = *target;
                        break;
                    }
                    x -= w;
                }
                chosen
            };
            if let Some(j) = self.jump.take() {
                idx = j;
            }
        }
        self.end_fast().await?;
        if self.mode == Mode::TakenOver {
            return self.human_loop().await;
        }
        self.speak_instruction().await?;
        if self.mode == Mode::TakenOver {
            return self.human_loop().await;
        }
        self.finish().await
    }
}
