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

use crate::core::action::Action;
use crate::core::ingest::{EventSink, IngestEnvelope, IngestEvent, SinkError};
use crate::core::model::{alert_kind, outcome, CallState, Direction, Lead, Sentiment, Speaker};
use crate::core::provider::ProviderError;
use crate::sim::scenario::{fill, Scenario};
use crate::sim::speech::{caller_reply_to_human, instructed_line, HELLO_LINES, WORDS_PER_SEC};

mod actions;
mod play;

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
}
