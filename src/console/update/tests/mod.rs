//! Unit tests of the pure update logic.

mod deltas;
mod dialogs;
mod handoff;
mod round2;
mod subscriptions;

use crate::console::update::CallAction;
use std::time::Duration;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::*;
use crate::console::app::{Conn, Dialog};
use crate::console::fixtures::{self, t0};
use crate::core::model::{CallState, Role, Speaker};
use crate::core::protocol::{ResyncReason, StreamEvent};

fn key(app: &mut App, c: char) -> Vec<Effect> {
    update(
        app,
        Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)),
    )
}

fn code(app: &mut App, code: KeyCode) -> Vec<Effect> {
    update(app, Msg::Key(KeyEvent::new(code, KeyModifiers::NONE)))
}

fn typed(app: &mut App, s: &str) {
    for c in s.chars() {
        key(app, c);
    }
}

fn select(app: &mut App, id: &str) {
    key(app, 'g');
    for _ in 0..app.live.order.len() {
        if app.live.selected.as_deref() == Some(id) {
            return;
        }
        key(app, 'j');
    }
    panic!("call {id} not in the table");
}

fn request(fx: &[Effect]) -> (u64, Request) {
    match fx {
        [Effect::Request { id, request }] => (*id, request.clone()),
        other => panic!("expected one request, got {other:?}"),
    }
}

fn status(app: &App) -> (StatusKind, String) {
    let s = app.status.as_ref().expect("a status line");
    (s.kind, s.text.clone())
}

fn event(app: &mut App, seq: u64, event: StreamEvent) {
    update(
        app,
        Msg::Stream(StreamMsg::Event {
            seq,
            event: Box::new(event),
        }),
    );
}

#[test]
fn pause_is_sent_only_when_the_ai_is_talking() {
    let mut app = fixtures::app(120, 30);
    select(&mut app, "c1"); // in progress
    let (id, req) = request(&key(&mut app, 'p'));
    assert_eq!(
        req,
        Request::Act {
            call_id: "c1".into(),
            action: CallAction::PauseAi
        }
    );
    assert_eq!(status(&app).0, StatusKind::Pending);
    assert!(app.requests.pending.contains_key(&id));

    select(&mut app, "c2"); // already paused
    assert!(key(&mut app, 'p').is_empty());
    assert_eq!(
        status(&app),
        (
            StatusKind::Error,
            "cannot pause AI: the AI is already paused".into()
        )
    );
    let (_, req) = request(&key(&mut app, 'r'));
    assert_eq!(
        req,
        Request::Act {
            call_id: "c2".into(),
            action: CallAction::ResumeAi
        }
    );

    select(&mut app, "c3"); // taken over
    assert!(key(&mut app, 'i').is_empty());
    assert!(
        status(&app)
            .1
            .contains("a human has taken over; the AI is not on the call"),
        "{:?}",
        app.status
    );
    assert!(key(&mut app, 'r').is_empty());
    assert!(key(&mut app, 't').is_empty());
    assert!(status(&app).1.contains("already taken over by dana"));
    assert!(app.dialog().is_none());
}

#[test]
fn roles_limit_actions() {
    let mut app = fixtures::app_with_role(120, 30, Role::Viewer);
    select(&mut app, "c1");
    assert!(key(&mut app, 't').is_empty());
    assert!(
        status(&app)
            .1
            .contains("the viewer role may not take over calls"),
        "{:?}",
        app.status
    );
    let mut app = fixtures::app_with_role(120, 30, Role::Agent);
    select(&mut app, "c1");
    key(&mut app, 't');
    assert!(app.dialog().is_some(), "agents may take over");
    code(&mut app, KeyCode::Esc);
    assert!(key(&mut app, 'p').is_empty(), "agents may not pause");
}

#[test]
fn take_over_dialog_needs_a_reason_and_sends_notes() {
    let mut app = fixtures::app(120, 30);
    select(&mut app, "c1");
    key(&mut app, 't');
    assert!(
        code(&mut app, KeyCode::Enter).is_empty(),
        "empty reason refused"
    );
    match app.dialog() {
        Some(Dialog::TakeOver { error, .. }) => {
            assert_eq!(error.as_deref(), Some("a reason is required"))
        }
        _ => panic!("dialog must stay open"),
    }
    typed(&mut app, "caller wants a human");
    code(&mut app, KeyCode::Tab);
    typed(&mut app, "VIP");
    let (id, req) = request(&code(&mut app, KeyCode::Enter));
    assert_eq!(
        req,
        Request::Act {
            call_id: "c1".into(),
            action: CallAction::TakeOver {
                reason: "caller wants a human".into(),
                notes: Some("VIP".into()),
                mode: None,
                phone: None,
            }
        }
    );
    assert!(app.dialog().is_none());
    assert_eq!(
        status(&app),
        (
            StatusKind::Pending,
            "taking over the call with Maria Lopez…".into()
        )
    );

    // The gateway's answer updates the call at once.
    let mut call = app.live.calls["c1"].call.clone();
    call.state = CallState::TakenOver;
    let resp = ActionResponse {
        action: "takeover".into(),
        call,
        audit_id: 7,
    };
    update(
        &mut app,
        Msg::Done {
            id,
            result: Ok(Reply::Action(Box::new(resp))),
        },
    );
    assert_eq!(app.live.calls["c1"].call.state, CallState::TakenOver);
    assert_eq!(
        status(&app),
        (
            StatusKind::Ok,
            "done: taking over the call with Maria Lopez".into()
        )
    );
    assert!(app.requests.pending.is_empty());
}

#[test]
fn notes_are_optional_and_esc_cancels() {
    let mut app = fixtures::app(120, 30);
    select(&mut app, "c1");
    key(&mut app, 't');
    typed(&mut app, "x");
    assert!(code(&mut app, KeyCode::Esc).is_empty());
    assert!(app.dialog().is_none());
    key(&mut app, 't');
    typed(&mut app, "  escalation ");
    let (_, req) = request(&code(&mut app, KeyCode::Enter));
    assert_eq!(
        req,
        Request::Act {
            call_id: "c1".into(),
            action: CallAction::TakeOver {
                reason: "escalation".into(),
                notes: None,
                mode: None,
                phone: None,
            }
        }
    );
}

#[test]
fn gateway_errors_are_shown_with_their_message() {
    let mut app = fixtures::app(120, 30);
    select(&mut app, "c1");
    let (id, _) = request(&key(&mut app, 'p'));
    let msg = "the AI is not talking, so it cannot be paused\u{1b}[2J".to_string();
    update(
        &mut app,
        Msg::Done {
            id,
            result: Err(msg),
        },
    );
    assert_eq!(
        status(&app),
        (StatusKind::Error, "pausing the AI on the call with Maria Lopez failed: the AI is not talking, so it cannot be paused[2J".into())
    );
}

#[test]
fn say_instruct_and_end() {
    let mut app = fixtures::app(120, 30);
    select(&mut app, "c1");
    key(&mut app, 's');
    assert!(
        code(&mut app, KeyCode::Enter).is_empty(),
        "empty text refused"
    );
    typed(&mut app, "hello");
    assert_eq!(
        request(&code(&mut app, KeyCode::Enter)).1,
        Request::Act {
            call_id: "c1".into(),
            action: CallAction::Say {
                text: "hello".into()
            }
        }
    );
    key(&mut app, 'i');
    typed(&mut app, "be brief");
    assert_eq!(
        request(&code(&mut app, KeyCode::Enter)).1,
        Request::Act {
            call_id: "c1".into(),
            action: CallAction::Instruct {
                text: "be brief".into()
            }
        }
    );
    key(&mut app, 'e');
    assert!(key(&mut app, 'n').is_empty());
    assert!(app.dialog().is_none());
    key(&mut app, 'e');
    assert_eq!(
        request(&key(&mut app, 'y')).1,
        Request::Act {
            call_id: "c1".into(),
            action: CallAction::End
        }
    );
}

#[test]
fn a_call_that_ends_under_an_open_dialog_keeps_it_open() {
    let mut app = fixtures::app(120, 30);
    select(&mut app, "c1");
    key(&mut app, 't');
    let mut call = app.live.calls["c1"].call.clone();
    call.state = CallState::Ended;
    event(&mut app, 11, StreamEvent::CallEnded { call });
    assert_eq!(
        app.dialog().and_then(|d| d.blocked()),
        Some("this call has ended"),
        "the dialog stays, saying why it cannot be sent"
    );
    assert!(status(&app).1.contains("ended"));
    // The ended call lingers (dimmed, its transcript readable), then leaves the table.
    assert_eq!(app.live.calls["c1"].call.state, CallState::Ended);
    update(&mut app, Msg::Tick(t0() + chrono::Duration::seconds(31)));
    assert!(!app.live.calls.contains_key("c1"));
    assert!(app.live.selected.is_some(), "a neighbour is selected");
}

#[test]
fn filter_live_and_esc_restores() {
    let mut app = fixtures::app(120, 30);
    key(&mut app, '/');
    typed(&mut app, "RENEW");
    assert_eq!(
        app.live.order,
        ["c2", "c4"],
        "filters while typing, case-insensitive"
    );
    code(&mut app, KeyCode::Esc);
    assert_eq!(app.live.order.len(), 5);
    key(&mut app, '/');
    typed(&mut app, "vapi");
    code(&mut app, KeyCode::Enter);
    assert_eq!(app.live.order, ["c1", "c5"]);
    assert!(app.live.order.contains(app.live.selected.as_ref().unwrap()));
    code(&mut app, KeyCode::Esc); // clears the filter
    assert_eq!(app.live.order.len(), 5);
}

#[test]
fn sort_cycles_and_reverses() {
    let mut app = fixtures::app(120, 30);
    assert_eq!(
        app.live.sort,
        SortKey::Attention,
        "needs attention by default"
    );
    key(&mut app, 'o');
    assert_eq!(
        app.live.order,
        ["c3", "c1", "c2", "c4", "c5"],
        "longest first"
    );
    key(&mut app, 'o');
    assert_eq!(app.live.sort, SortKey::State);
    assert_eq!(app.live.order[0], "c3", "human-owned calls first");
    key(&mut app, 'O');
    assert_eq!(app.live.order[4], "c3");
}

#[test]
fn follow_stops_when_scrolling_up_and_resumes() {
    let mut app = fixtures::app(120, 16);
    select(&mut app, "c1");
    assert!(app.live.view.follow);
    key(&mut app, 'K');
    assert!(!app.live.view.follow);
    let top = app.live.view.top;
    for i in 0..5 {
        let entry = fixtures::entry(
            "c1",
            9 + i,
            Speaker::Ai,
            "more words arrive while reading",
            true,
        );
        event(
            &mut app,
            11 + u64::from(i),
            StreamEvent::TranscriptAppended { entry },
        );
    }
    assert_eq!(
        app.live.view.top, top,
        "new lines do not move what the user reads"
    );
    key(&mut app, 'f');
    assert!(app.live.view.follow);
    for _ in 0..50 {
        key(&mut app, 'J');
    }
    assert!(app.live.view.follow, "scrolling to the end follows again");
}

#[test]
fn transcript_search_jumps_between_matches() {
    let mut app = fixtures::app(120, 30);
    select(&mut app, "c1");
    update(
        &mut app,
        Msg::Key(KeyEvent::new(KeyCode::Char('f'), KeyModifiers::CONTROL)),
    );
    typed(&mut app, "refund");
    code(&mut app, KeyCode::Enter);
    assert_eq!(app.live.view.search, "refund");
    let first = app.live.view.current_match.expect("a match");
    assert!(!app.live.view.follow);
    key(&mut app, 'n');
    let second = app.live.view.current_match.unwrap();
    assert!(second > first);
    key(&mut app, 'n');
    assert_eq!(app.live.view.current_match, Some(first), "wraps around");
    assert!(status(&app).1.contains("wrapped"));
}

#[test]
fn stream_revisions_and_resync_never_duplicate_lines() {
    let mut app = fixtures::app(120, 30);
    let n = app.live.calls["c1"].transcript.entries.len();
    let mut partial = fixtures::entry("c1", n as u32, Speaker::Caller, "I want", false);
    event(
        &mut app,
        11,
        StreamEvent::TranscriptAppended {
            entry: partial.clone(),
        },
    );
    partial.text = "I want to cancel".into();
    partial.is_final = true;
    event(
        &mut app,
        12,
        StreamEvent::TranscriptRevised {
            entry: partial.clone(),
        },
    );
    let entries = &app.live.calls["c1"].transcript.entries;
    assert_eq!(entries.len(), n + 1);
    assert_eq!(entries[n].text, "I want to cancel");
    assert!(entries[n].is_final);

    select(&mut app, "c4");
    update(
        &mut app,
        Msg::Stream(StreamMsg::Resync {
            reason: ResyncReason::Lagged,
        }),
    );
    assert!(
        app.live.calls.contains_key("c1"),
        "state is kept until the snapshot arrives (no flicker)"
    );
    update(
        &mut app,
        Msg::Stream(StreamMsg::Snapshot(Box::new(fixtures::snapshot(40)))),
    );
    assert_eq!(
        app.live.calls["c1"].transcript.entries.len(),
        n,
        "rebuilt from the snapshot"
    );
    assert_eq!(
        app.live.selected.as_deref(),
        Some("c4"),
        "selection survives a resync"
    );
    assert!(matches!(
        app.session.conn,
        Conn::Connected {
            resynced_at: Some(_)
        }
    ));
}

#[test]
fn connection_states() {
    let mut app = fixtures::app(120, 30);
    update(
        &mut app,
        Msg::Stream(StreamMsg::Disconnected {
            error: "boom".into(),
            retry_in: Duration::from_secs(5),
        }),
    );
    assert_eq!(
        app.session.conn,
        Conn::Reconnecting {
            at: t0() + chrono::Duration::seconds(5),
            error: "boom".into()
        }
    );
    assert_eq!(
        app.live.calls.len(),
        5,
        "data stays on screen while reconnecting"
    );
    update(&mut app, Msg::Stream(StreamMsg::Connecting { attempt: 1 }));
    update(
        &mut app,
        Msg::Stream(StreamMsg::Connected {
            org: "acme".into(),
            actor: "sam".into(),
            role: Role::Supervisor,
            resumed: true,
            reason: None,
        }),
    );
    assert_eq!(app.session.conn, Conn::Connected { resynced_at: None });
    update(
        &mut app,
        Msg::Stream(StreamMsg::AuthFailed {
            message: "revoked".into(),
        }),
    );
    update(&mut app, Msg::Stream(StreamMsg::Connecting { attempt: 0 }));
    assert_eq!(app.session.conn, Conn::AuthFailed("revoked".into()));
}

#[test]
fn queue_dial_now_and_cancel_with_confirmation() {
    let mut app = fixtures::app(120, 30);
    key(&mut app, 'p');
    key(&mut app, '2');
    key(&mut app, 'j');
    assert_eq!(
        request(&key(&mut app, 'd')).1,
        Request::DialNow {
            item_id: "q2".into()
        }
    );
    key(&mut app, 'x');
    assert!(matches!(app.dialog(), Some(Dialog::ConfirmCancel { .. })));
    let (id, req) = request(&code(&mut app, KeyCode::Enter));
    assert_eq!(
        req,
        Request::CancelQueued {
            item_id: "q2".into()
        }
    );
    let mut item = app.queue.items[1].clone();
    item.state = crate::core::model::QueueState::Cancelled;
    update(
        &mut app,
        Msg::Done {
            id,
            result: Ok(Reply::QueueItem(Some(Box::new(item)))),
        },
    );
    assert_eq!(app.waiting_queue().len(), 2);
    assert_eq!(app.queue.selected, 1);
}

#[test]
fn history_search_open_and_stale_answers() {
    let mut app = fixtures::app(120, 30);
    let (first, req) = request(&key(&mut app, '4'));
    assert_eq!(
        req,
        Request::History {
            q: String::new(),
            cursor: None
        }
    );
    key(&mut app, '/');
    typed(&mut app, "lopez");
    let (second, req) = request(&code(&mut app, KeyCode::Enter));
    assert_eq!(
        req,
        Request::History {
            q: "lopez".into(),
            cursor: None
        }
    );
    // The first answer arrives late: dropped.
    update(
        &mut app,
        Msg::Done {
            id: first,
            result: Ok(Reply::History {
                calls: vec![fixtures::calls()[1].clone()],
                next_cursor: None,
            }),
        },
    );
    assert!(app.history.results.is_empty());
    let mut ended = fixtures::calls()[0].clone();
    ended.state = CallState::Ended;
    update(
        &mut app,
        Msg::Done {
            id: second,
            result: Ok(Reply::History {
                calls: vec![ended.clone()],
                next_cursor: None,
            }),
        },
    );
    assert_eq!(app.history.results.len(), 1);
    let (open, req) = request(&code(&mut app, KeyCode::Enter));
    assert_eq!(
        req,
        Request::Open {
            call_id: "c1".into()
        }
    );
    update(
        &mut app,
        Msg::Done {
            id: open,
            result: Err("no call with that id".into()),
        },
    );
    assert_eq!(
        app.history.detail.as_ref().and_then(|d| d.error.as_deref()),
        Some("no call with that id")
    );
    code(&mut app, KeyCode::Esc);
    assert!(app.history.detail.is_none());
}

#[test]
fn keys_that_mean_nothing_do_not_redraw() {
    let mut app = fixtures::app(120, 30);
    app.dirty = false;
    update(
        &mut app,
        Msg::Key(KeyEvent::new(KeyCode::F(12), KeyModifiers::NONE)),
    );
    assert!(!app.dirty);
    let entry = fixtures::entry("c4", 9, Speaker::Ai, "not the selected call", true);
    event(&mut app, 11, StreamEvent::TranscriptAppended { entry });
    assert!(
        !app.dirty,
        "a line in another call's transcript needs no frame"
    );
    update(&mut app, Msg::Tick(t0() + chrono::Duration::seconds(1)));
    assert!(app.dirty, "durations tick");
}

#[test]
fn quit_and_help() {
    let mut app = fixtures::app(120, 30);
    key(&mut app, '?');
    assert!(app.help_open());
    key(&mut app, '?');
    assert!(!app.help_open());
    assert_eq!(key(&mut app, 'q'), [Effect::Quit]);
    let mut app = fixtures::app(120, 30);
    key(&mut app, 't');
    let fx = update(
        &mut app,
        Msg::Key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)),
    );
    assert_eq!(fx, [Effect::Quit], "ctrl+c quits even from a dialog");
}

#[test]
fn history_loads_the_next_page_at_the_end() {
    let mut app = fixtures::app(120, 30);
    let (id, _) = request(&key(&mut app, '4'));
    let ended = |i: usize| {
        let mut c = fixtures::calls()[i % 5].clone();
        c.id = format!("h{i}");
        c.state = CallState::Ended;
        c
    };
    let page1: Vec<_> = (0..3).map(ended).collect();
    update(
        &mut app,
        Msg::Done {
            id,
            result: Ok(Reply::History {
                calls: page1,
                next_cursor: Some("p2".into()),
            }),
        },
    );
    assert!(key(&mut app, 'j').is_empty());
    let (id, req) = request(&key(&mut app, 'j'));
    assert_eq!(
        req,
        Request::History {
            q: String::new(),
            cursor: Some("p2".into())
        }
    );
    assert!(key(&mut app, 'j').is_empty(), "one page request at a time");
    let page2: Vec<_> = (2..5).map(ended).collect(); // h2 again: not listed twice
    update(
        &mut app,
        Msg::Done {
            id,
            result: Ok(Reply::History {
                calls: page2,
                next_cursor: None,
            }),
        },
    );
    let ids: Vec<_> = app.history.results.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, ["h0", "h1", "h2", "h3", "h4"]);
    assert_eq!(app.history.selected, 2, "the selection stays put");
    key(&mut app, 'G');
    assert!(key(&mut app, 'j').is_empty(), "no more pages");
}

#[test]
fn every_way_out_is_one_effect_and_drawing_is_a_message() {
    let mut app = fixtures::app(120, 30);
    // Signals and a vanished terminal arrive as Msg::Quit: the same exit as the quit key.
    assert_eq!(update(&mut app, Msg::Quit), [Effect::Quit]);
    assert_eq!(key(&mut app, 'q'), [Effect::Quit]);
    assert!(app.is_dirty());
    assert!(update(&mut app, Msg::Drawn).is_empty());
    assert!(!app.is_dirty(), "a drawn frame leaves nothing to redraw");
}

#[test]
fn keys_the_calls_provider_cannot_carry_out_are_refused_before_any_dialog() {
    use crate::core::action::Capability;
    let mut app = fixtures::app(120, 30);
    let mut call = fixtures::calls().remove(0);
    assert_eq!(call.id, "c1");
    call.provider = "Retell".into();
    call.capabilities = Some([Capability::Instruct, Capability::End].into());
    event(&mut app, 11, StreamEvent::CallUpdated { call });
    select(&mut app, "c1");
    assert!(key(&mut app, 'p').is_empty());
    assert!(
        status(&app).1.ends_with("Retell cannot pause the AI"),
        "{:?}",
        app.status
    );
    assert!(key(&mut app, 't').is_empty());
    assert!(
        status(&app).1.ends_with("Retell cannot take over the call"),
        "{:?}",
        app.status
    );
    assert!(app.dialog().is_none());
    // What it can do still opens its dialog.
    key(&mut app, 'i');
    assert!(app.dialog().is_some(), "instruct is supported");
}
