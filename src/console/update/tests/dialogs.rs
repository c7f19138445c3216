//! A dialog never closes under the user's fingers: when its call ends or is taken over by
//! someone else it stays open, says why, refuses to submit, and keeps every key until Esc.

use crossterm::event::KeyCode;

use super::{code, event, fixtures, key, select, status, typed};
use crate::console::app::{App, Dialog, SortKey, StatusKind, TextKind};
use crate::console::update::{update, Effect, Msg};
use crate::core::model::{CallState, QueueState, Takeover};
use crate::core::protocol::StreamEvent;

/// What the screen behind a dialog shows: a key that reached it would change one of these.
fn behind(app: &App) -> (Option<String>, Vec<String>, SortKey, bool, usize) {
    (
        app.live.selected.clone(),
        app.live.order.clone(),
        app.live.sort,
        app.live.sort_desc,
        app.queue.selected,
    )
}

/// The fall-through of the defect: sort, move, take over, and a reflexive Enter.
fn type_the_leftovers(app: &mut App) -> Vec<Effect> {
    let mut fx = Vec::new();
    for c in ['o', 'k', 't', 'j', 'n', 'y'] {
        fx.extend(key(app, c));
    }
    fx.extend(code(app, KeyCode::Enter));
    fx
}

fn end_call(app: &mut App, id: &str, seq: u64) {
    let mut call = app.live.calls[id].call.clone();
    call.state = CallState::Ended;
    event(app, seq, StreamEvent::CallEnded { call });
}

fn take_over(app: &mut App, id: &str, by: &str, seq: u64) {
    let mut call = app.live.calls[id].call.clone();
    call.state = CallState::TakenOver;
    call.takeover = Some(Takeover {
        by: by.into(),
        reason: "escalation".into(),
        notes: None,
        at: fixtures::t0(),
        phone: None,
    });
    event(app, seq, StreamEvent::CallUpdated { call });
}

fn is_say_on(app: &App, id: &str) -> bool {
    matches!(
        app.dialog(),
        Some(Dialog::Text { kind: TextKind::Say, call_id, .. }) if call_id == id
    )
}

#[test]
fn say_stays_open_when_its_call_ends_and_keys_never_reach_the_screen() {
    let mut app = fixtures::app(120, 30);
    select(&mut app, "c1");
    key(&mut app, 's');
    typed(&mut app, "one moment");
    end_call(&mut app, "c1", 11);
    assert!(is_say_on(&app, "c1"), "the dialog stays bound to its call");
    assert_eq!(
        app.dialog().and_then(|d| d.blocked()),
        Some("this call has ended")
    );
    let before = behind(&app);

    let fx = type_the_leftovers(&mut app);
    assert!(fx.is_empty(), "nothing is sent: {fx:?}");
    assert_eq!(behind(&app), before, "selection, sort and queue untouched");
    assert!(is_say_on(&app, "c1"), "no other dialog opened");
    assert!(app.requests.pending.is_empty());
    assert_eq!(
        status(&app),
        (StatusKind::Error, "cannot say: this call has ended".into())
    );

    // Only Esc closes it; then keys work again.
    code(&mut app, KeyCode::Esc);
    assert!(app.dialog().is_none());
    key(&mut app, 'o');
    assert_eq!(
        app.live.sort,
        SortKey::Duration,
        "o cycles away from needs attention"
    );
}

#[test]
fn say_stays_open_when_someone_else_takes_the_call_over() {
    let mut app = fixtures::app(120, 30);
    select(&mut app, "c1");
    key(&mut app, 's');
    typed(&mut app, "hello");
    take_over(&mut app, "c1", "dana", 11);
    assert_eq!(
        app.dialog().and_then(|d| d.blocked()),
        Some("taken over by dana")
    );
    assert!(
        status(&app).1.contains("taken over by dana"),
        "{:?}",
        app.status
    );
    let before = behind(&app);

    let fx = type_the_leftovers(&mut app);
    assert!(fx.is_empty(), "nothing is sent: {fx:?}");
    assert_eq!(behind(&app), before);
    assert!(is_say_on(&app, "c1"));
    assert_eq!(
        status(&app),
        (StatusKind::Error, "cannot say: taken over by dana".into())
    );
}

#[test]
fn take_over_dialog_refuses_a_call_someone_else_took() {
    let mut app = fixtures::app(120, 30);
    select(&mut app, "c1");
    key(&mut app, 't');
    typed(&mut app, "caller asked");
    take_over(&mut app, "c1", "dana", 11);
    let before = behind(&app);
    let fx = type_the_leftovers(&mut app);
    assert!(fx.is_empty(), "no take-over request: {fx:?}");
    assert_eq!(behind(&app), before);
    match app.dialog() {
        Some(Dialog::TakeOver { call_id, .. }) => assert_eq!(call_id, "c1"),
        _ => panic!("the take-over dialog stays open on its own call"),
    }
}

#[test]
fn end_confirmation_ignores_y_n_and_enter_once_the_call_ended() {
    let mut app = fixtures::app(120, 30);
    select(&mut app, "c1");
    key(&mut app, 'e');
    end_call(&mut app, "c1", 11);
    let before = behind(&app);
    let fx = type_the_leftovers(&mut app);
    assert!(fx.is_empty(), "{fx:?}");
    assert_eq!(behind(&app), before);
    assert!(
        matches!(app.dialog(), Some(Dialog::ConfirmEnd { call_id, .. }) if call_id == "c1"),
        "'n' does not close a blocked confirmation; only Esc does"
    );
    code(&mut app, KeyCode::Esc);
    assert!(app.dialog().is_none());
}

#[test]
fn queue_cancel_confirmation_is_refused_once_the_item_stops_waiting() {
    let mut app = fixtures::app(120, 30);
    key(&mut app, '2');
    key(&mut app, 'x');
    let mut item = app.queue.items[0].clone();
    item.state = QueueState::Dialing;
    event(&mut app, 11, StreamEvent::QueueUpdated { item });
    assert_eq!(
        app.dialog().and_then(|d| d.blocked()),
        Some("this queued call is no longer waiting")
    );
    let before = behind(&app);
    let fx = type_the_leftovers(&mut app);
    assert!(fx.is_empty(), "{fx:?}");
    assert_eq!(behind(&app), before);
    assert!(matches!(app.dialog(), Some(Dialog::ConfirmCancel { .. })));
}

#[test]
fn unrelated_changes_do_not_block_a_dialog() {
    let mut app = fixtures::app(120, 30);
    // c3 was already taken over by dana: saying something on it is deliberate.
    select(&mut app, "c3");
    key(&mut app, 's');
    typed(&mut app, "hi");
    let mut call = app.live.calls["c3"].call.clone();
    call.intent = Some("billing".into());
    event(&mut app, 11, StreamEvent::CallUpdated { call });
    end_call(&mut app, "c1", 12);
    assert_eq!(app.dialog().and_then(|d| d.blocked()), None);
    let fx = code(&mut app, KeyCode::Enter);
    assert_eq!(fx.len(), 1, "the say is sent: {fx:?}");
    assert!(app.dialog().is_none());
}

#[test]
fn help_and_inputs_stay_open_under_stream_events_and_keep_their_keys() {
    let mut app = fixtures::app(120, 30);
    select(&mut app, "c1");
    key(&mut app, '?');
    end_call(&mut app, "c1", 11);
    assert!(app.help_open(), "help is not closed by an event");
    let before = behind(&app);
    // The first key closes the help and does nothing else.
    assert!(key(&mut app, 't').is_empty());
    assert!(!app.help_open());
    assert!(
        app.dialog().is_none(),
        "the key did not act behind the help"
    );
    assert_eq!(behind(&app), before);

    key(&mut app, '/');
    typed(&mut app, "zz");
    end_call(&mut app, "c2", 12);
    assert!(app.input().is_some(), "an input is not closed by an event");
    update(&mut app, Msg::Paste("q".into()));
    assert_eq!(app.input().map(|i| i.text.as_str()), Some("zzq"));
}
