//! How a simulated call obeys supervisors' actions: pause, resume, take over, say,
//! instruct, end, and what it does while paused or held by a human.

use super::*;

impl CallTask {
    /// Ends the AI's current utterance where it stands (pause, take over, end).
    pub(super) async fn cut_current(&mut self, any_speaker: bool) -> Result<(), Stop> {
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
    pub(super) async fn recover_from_stall(&mut self) -> Result<(), Stop> {
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

    pub(super) async fn handle(&mut self, cmd: Command) -> Result<(), Stop> {
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
            Action::HandBack if !taken => Err(ProviderError::Upstream(
                "nobody has taken this call over".into(),
            )),
            // The human loop sees the mode change and lets the AI close the call.
            Action::HandBack => {
                self.mode = Mode::Ai;
                self.caller_queue.clear();
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
                    // No transcript line of its own: the gateway records who took over
                    // (for every provider), and a second line would say it twice.
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
            // The caller is put through elsewhere: the call ends for the AI as transferred.
            Action::Transfer { to, name, .. } => {
                self.cut_current(true).await?;
                let _ = reply.send(Ok(()));
                self.rx.close();
                let place = name.unwrap_or_else(|| to.clone());
                self.outcome = outcome::TRANSFERRED.into();
                self.outcome_overridden = true;
                self.summary = Some(format!(
                    "{}: transferred to {place} by supervisor {by}.",
                    self.sc.title
                ));
                self.finish().await?;
                return Err(Stop::Ended);
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

    /// Holds the AI's next line while it is paused; the caller wonders where it went.
    pub(super) async fn wait_while_paused(&mut self) -> Result<(), Stop> {
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
    pub(super) async fn human_loop(&mut self) -> Result<(), Stop> {
        loop {
            if self.mode == Mode::Ai {
                return self.after_hand_back().await;
            }
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

    /// Handed back: the AI picks up where the human left off and closes the call.
    async fn after_hand_back(&mut self) -> Result<(), Stop> {
        let gap = range(&mut self.aux, (0.6, 1.4));
        self.wait(gap, false).await?;
        self.speak(
            Speaker::Ai,
            "Thanks for your patience, I'm back with you. Is there anything else I can help with?"
                .into(),
            None,
        )
        .await?;
        let gap = range(&mut self.aux, (0.8, 2.0));
        self.wait(gap, false).await?;
        self.speak(
            Speaker::Caller,
            "No, that's everything. Thanks!".into(),
            None,
        )
        .await?;
        self.speak(Speaker::Ai, "You're welcome. Goodbye!".into(), None)
            .await?;
        self.outcome = outcome::COMPLETED.into();
        self.summary = Some(self.takeover_summary("handed back to the AI, which closed the call"));
        self.finish().await
    }

    pub(super) fn takeover_summary(&self, what: &str) -> String {
        match &self.takeover {
            Some((by, reason)) => {
                format!("{}: taken over by {by} ({reason}); {what}.", self.sc.title)
            }
            None => format!("{}: {what}.", self.sc.title),
        }
    }
}
