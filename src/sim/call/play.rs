//! How a simulated call plays its scenario: speech at speaking pace, analysis, the end.

use super::*;

impl CallTask {
    /// Speaks `text` at speaking pace: growing partials, then the final. `cut_at` cuts the
    /// utterance after that many words (the caller interrupts). Returns whether it was
    /// spoken in full.
    pub(super) async fn speak(
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

    pub(super) async fn send_intent(&mut self, intent: String) -> Result<(), Stop> {
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

    pub(super) async fn set_sentiment(&mut self, s: Sentiment) -> Result<(), Stop> {
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
    pub(super) async fn speak_instruction(&mut self) -> Result<(), Stop> {
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

    /// Sends the final analysis and `call.ended`.
    pub(super) async fn finish(&mut self) -> Result<(), Stop> {
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

    pub(super) fn fill_vars(&mut self) {
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

    pub(super) async fn play(&mut self) -> Result<(), Stop> {
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
