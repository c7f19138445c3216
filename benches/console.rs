//! Console benchmark: per-frame render time with 1,000 active calls and a 100,000-line
//! transcript, and the ingest rate of transcript events through `update()`.
//! Run with `cargo bench --bench console`; prints medians.

use std::time::{Duration, Instant};

use callwatch::client::StreamMsg;
use callwatch::console::app::App;
use callwatch::console::update::{update, Msg};
use callwatch::core::model::{CallState, Sentiment, Speaker};
use callwatch::core::protocol::{CallWithTranscript, StreamEvent};
use ratatui::backend::TestBackend;
use ratatui::Terminal;

#[path = "../tests/support/fixtures.rs"]
mod fixtures;
use fixtures::CallSpec;

const CALLS: usize = 1_000;
const LINES: usize = 100_000;
const W: u16 = 200;
const H: u16 = 60;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn build_app() -> App {
    let mut snap = fixtures::snapshot(1);
    snap.calls.clear();
    let words = [
        "I", "would", "like", "to", "know", "why", "my", "bill", "doubled", "this", "month", "and",
        "whether", "the", "refund", "arrives", "before", "Friday",
    ];
    for i in 0..CALLS {
        let id = format!("call-{i:04}");
        let number = format!("+1415555{i:04}");
        let name = format!("Caller {i}");
        let state = match i % 10 {
            0 => CallState::AiPaused,
            1 => CallState::TakenOver,
            2 => CallState::Ringing,
            _ => CallState::InProgress,
        };
        let call = fixtures::call(CallSpec {
            id: &id,
            name: Some(&name),
            number: &number,
            state,
            secs: (i * 7 % 900) as i64 + 1,
            campaign: Some("renewals"),
            provider: "Vapi",
            intent: Some("billing"),
            sentiment: Sentiment::Neutral,
        });
        // The longest call (selected first) carries the 100,000-line transcript.
        let transcript = if i == 0 {
            (0..LINES)
                .map(|n| {
                    let len = 6 + n % 30;
                    let text: Vec<&str> = (0..len).map(|k| words[(n + k) % words.len()]).collect();
                    let speaker = if n % 2 == 0 {
                        Speaker::Caller
                    } else {
                        Speaker::Ai
                    };
                    fixtures::entry(&id, n as u32, speaker, &text.join(" "), true)
                })
                .collect()
        } else {
            Vec::new()
        };
        snap.calls.push(CallWithTranscript { call, transcript });
    }
    // Make call-0000 the longest so it is selected.
    if let Some(c) = snap.calls.first_mut() {
        c.call.started_at = Some(fixtures::t0() - chrono::Duration::hours(2));
    }
    let mut app = fixtures::app(W, H);
    update(&mut app, Msg::Stream(StreamMsg::Snapshot(Box::new(snap))));
    // Sorted by duration (the default is needs-attention), the longest call selected.
    press(&mut app, 'o');
    press(&mut app, 'g');
    app
}

fn press(app: &mut App, c: char) {
    update(
        app,
        Msg::Key(crossterm::event::KeyEvent::new(
            crossterm::event::KeyCode::Char(c),
            crossterm::event::KeyModifiers::NONE,
        )),
    );
}

/// Median frame while every shown transcript gets a new line per frame.
fn following_frames(
    app: &mut App,
    terminal: &mut Terminal<TestBackend>,
    ids: &[String],
) -> Duration {
    let mut frames = Vec::new();
    for round in 0..300u32 {
        for id in ids {
            let pos = app
                .call(id)
                .map_or(0, |v| v.transcript.entries.len() as u32);
            let entry = fixtures::entry(
                id,
                pos,
                Speaker::Ai,
                "a new line arrives while the supervisor watches",
                true,
            );
            update(
                app,
                Msg::Stream(StreamMsg::Event {
                    seq: u64::from(round),
                    event: Box::new(StreamEvent::TranscriptAppended { entry }),
                }),
            );
        }
        let t = Instant::now();
        terminal
            .draw(|f| callwatch::console::ui::render(f, app))
            .expect("draw");
        frames.push(t.elapsed());
    }
    median(frames)
}

fn main() {
    let mut app = build_app();
    assert_eq!(app.live().len(), CALLS);
    assert_eq!(app.live().selected_id(), Some("call-0000"));
    let mut terminal = Terminal::new(TestBackend::new(W, H)).expect("terminal");

    // First frame wraps the whole transcript once (then it is cached per width).
    let t = Instant::now();
    terminal
        .draw(|f| callwatch::console::ui::render(f, &app))
        .expect("draw");
    let first = t.elapsed();

    // Steady state: each frame follows a new transcript line (the common live case).
    let mut frames = Vec::new();
    for pos in (LINES as u32)..(LINES as u32 + 300) {
        let entry = fixtures::entry(
            "call-0000",
            pos,
            Speaker::Ai,
            "a new line arrives while the supervisor watches",
            true,
        );
        update(
            &mut app,
            Msg::Stream(StreamMsg::Event {
                seq: 0,
                event: Box::new(StreamEvent::TranscriptAppended { entry }),
            }),
        );
        let t = Instant::now();
        terminal
            .draw(|f| callwatch::console::ui::render(f, &app))
            .expect("draw");
        frames.push(t.elapsed());
    }
    let live = median(frames);

    // Scrolled up in the middle of the transcript with the clock ticking.
    for _ in 0..2000 {
        update(
            &mut app,
            Msg::Key(crossterm::event::KeyEvent::new(
                crossterm::event::KeyCode::Char('K'),
                crossterm::event::KeyModifiers::SHIFT,
            )),
        );
    }
    let mut frames = Vec::new();
    for s in 0..300 {
        update(
            &mut app,
            Msg::Tick(fixtures::t0() + chrono::Duration::seconds(s)),
        );
        let t = Instant::now();
        terminal
            .draw(|f| callwatch::console::ui::render(f, &app))
            .expect("draw");
        frames.push(t.elapsed());
    }
    let scrolled = median(frames);

    // Ingest: transcript events through update() (appends to a non-selected call, then the
    // selected one, then revisions of partials), no rendering.
    let mut rates = Vec::new();
    for round in 0..5 {
        let n = 200_000u32;
        let target = if round % 2 == 0 {
            "call-0001"
        } else {
            "call-0000"
        };
        let start = app
            .call(target)
            .map_or(0, |v| v.transcript.entries.len() as u32);
        let events: Vec<Msg> = (0..n)
            .map(|k| {
                let entry = fixtures::entry(
                    target,
                    start + k / 2,
                    Speaker::Caller,
                    "partial words become a final sentence",
                    k % 2 == 1,
                );
                let event = if k % 2 == 0 {
                    StreamEvent::TranscriptAppended { entry }
                } else {
                    StreamEvent::TranscriptRevised { entry }
                };
                Msg::Stream(StreamMsg::Event {
                    seq: 0,
                    event: Box::new(event),
                })
            })
            .collect();
        let t = Instant::now();
        for m in events {
            update(&mut app, m);
        }
        rates.push(Duration::from_secs_f64(
            t.elapsed().as_secs_f64() / f64::from(n),
        ));
    }
    let per_event = median(rates);

    // Call updates: most keep their row (sentiment, alerts...); some move it (full re-sort of
    // the 1,000-row table, here: state changes while sorted by state).
    let call_updates = |app: &mut App, moving: bool| {
        let mut rates = Vec::new();
        for _ in 0..5 {
            let n = 2_000usize;
            let calls: Vec<_> = (0..n)
                .map(|k| {
                    let id = format!("call-{:04}", 3 + k % (CALLS - 3));
                    let mut c = app.call(&id).expect("a benchmark call").call.clone();
                    if moving {
                        c.state = if k % 2 == 0 {
                            CallState::AiPaused
                        } else {
                            CallState::InProgress
                        };
                    } else {
                        c.sentiment = if k % 2 == 0 {
                            Sentiment::Positive
                        } else {
                            Sentiment::Neutral
                        };
                    }
                    c
                })
                .collect();
            let t = Instant::now();
            for call in calls {
                update(
                    app,
                    Msg::Stream(StreamMsg::Event {
                        seq: 0,
                        event: Box::new(StreamEvent::CallUpdated { call }),
                    }),
                );
            }
            rates.push(Duration::from_secs_f64(
                t.elapsed().as_secs_f64() / n as f64,
            ));
        }
        median(rates)
    };
    let in_place = call_updates(&mut app, false);
    press(&mut app, 'o');
    let moving = call_updates(&mut app, true);

    // The wall of 6 against the single transcript, in the same state: the selected call
    // (the 100,000+-line transcript) and five more with a few hundred lines each.
    press(&mut app, 'f');
    let selected = app
        .live()
        .selected_id()
        .map(String::from)
        .expect("a selection");
    let single = following_frames(&mut app, &mut terminal, std::slice::from_ref(&selected));
    for _ in 0..3 {
        press(&mut app, 'w');
    }
    let tiles: Vec<String> = app.live().wall().to_vec();
    assert_eq!(tiles.len(), 6);
    assert_eq!(tiles[0], selected);
    for id in &tiles[1..] {
        for n in 0..300u32 {
            let entry = fixtures::entry(id, n, Speaker::Caller, "earlier words on this call", true);
            update(
                &mut app,
                Msg::Stream(StreamMsg::Event {
                    seq: 0,
                    event: Box::new(StreamEvent::TranscriptAppended { entry }),
                }),
            );
        }
    }
    let wall = following_frames(&mut app, &mut terminal, &tiles);

    println!("console benchmark ({CALLS} active calls, {LINES}-line transcript, {W}x{H} terminal)");
    println!(
        "  first frame (wraps the whole transcript once): {:>10.3} ms",
        first.as_secs_f64() * 1e3
    );
    println!(
        "  median frame, following live:                  {:>10.3} ms",
        live.as_secs_f64() * 1e3
    );
    println!(
        "  median frame, scrolled mid-transcript:         {:>10.3} ms",
        scrolled.as_secs_f64() * 1e3
    );
    println!(
        "  median frame, single transcript (same state):  {:>10.3} ms",
        single.as_secs_f64() * 1e3
    );
    println!(
        "  median frame, wall of 6 following:             {:>10.3} ms ({:.2}x the single)",
        wall.as_secs_f64() * 1e3,
        wall.as_secs_f64() / single.as_secs_f64()
    );
    println!(
        "  ingest through update(): median {:.0} ns/event = {:.0} events/s",
        per_event.as_nanos(),
        1.0 / per_event.as_secs_f64()
    );
    println!(
        "  call updates keeping their row: median {:.1} µs; moving it (re-sort of {CALLS} rows): median {:.1} µs",
        in_place.as_secs_f64() * 1e6,
        moving.as_secs_f64() * 1e6
    );
}
