//! Round 2 of the console: ended calls linger, alerts are kept and lead to their call, the
//! needs-attention sort, summaries shown, the `:` command line, exports.

use crossterm::event::KeyCode;

use super::{code, event, fixtures, key, request, select, status, typed};
use crate::console::app::{Screen, SortKey, StatusKind};
use crate::console::update::{update, Effect, Msg, Reply, Request};
use crate::core::model::{Alert, CallState};
use crate::core::protocol::{ActionResponse, StreamEvent};

fn end(app: &mut crate::console::app::App, id: &str, seq: u64) {
    let mut call = app.live.calls[id].call.clone();
    call.state = CallState::Ended;
    call.outcome = Some("completed".into());
    event(app, seq, StreamEvent::CallEnded { call });
}

#[test]
fn needs_attention_first_by_default() {
    let app = fixtures::app(120, 30);
    assert_eq!(app.live.sort, SortKey::Attention);
    // c2: an alert; c3: negative and taken over; then the rest, longest running first.
    assert_eq!(app.live.order[..2], ["c2", "c3"]);
    assert_eq!(app.live.order.last().map(String::as_str), Some("c5"));
}

#[test]
fn an_ended_call_lingers_readable_then_leaves() {
    let mut app = fixtures::app(120, 30);
    select(&mut app, "c1");
    end(&mut app, "c1", 11);
    let v = app.live.get("c1").expect("still in the table");
    assert_eq!(v.call.state, CallState::Ended);
    assert!(!v.transcript.entries.is_empty(), "its transcript stays");
    assert_eq!(
        app.live.selected_id(),
        Some("c1"),
        "the reader keeps the call"
    );
    assert_eq!(app.counts().live, 4, "not counted as live");
    assert_eq!(
        app.live.order.last().map(String::as_str),
        Some("c1"),
        "ended last"
    );
    // Actions are refused on it.
    key(&mut app, 'p');
    assert_eq!(status(&app).0, StatusKind::Error);
    update(
        &mut app,
        Msg::Tick(fixtures::t0() + chrono::Duration::seconds(29)),
    );
    assert!(app.live.get("c1").is_some());
    update(
        &mut app,
        Msg::Tick(fixtures::t0() + chrono::Duration::seconds(31)),
    );
    assert!(app.live.get("c1").is_none());
    assert!(app.live.selected_id().is_some());
}

#[test]
fn no_linger_when_configured_off() {
    let mut app = fixtures::app(120, 30);
    app.set_linger_secs(0);
    end(&mut app, "c1", 11);
    assert!(app.live.get("c1").is_none());
}

#[test]
fn alerts_are_kept_after_the_call_ends_and_lead_to_its_history() {
    let mut app = fixtures::app(120, 30);
    assert_eq!(app.alerts().items().len(), 1, "from the snapshot");
    let mut call = app.live.calls["c1"].call.clone();
    call.alerts.push(Alert {
        kind: "ai_silent".into(),
        message: "the AI has been silent for 12 s".into(),
        at: fixtures::t0(),
    });
    event(
        &mut app,
        11,
        StreamEvent::CallUpdated { call: call.clone() },
    );
    // The same alert again (another update) is not listed twice.
    event(&mut app, 12, StreamEvent::CallUpdated { call });
    assert_eq!(app.alerts().items().len(), 2);
    assert_eq!(
        app.alerts().items()[0].message,
        "the AI has been silent for 12 s"
    );

    // Live: Enter jumps to the call on the Calls screen.
    key(&mut app, '5');
    assert_eq!(app.screen, Screen::Alerts);
    code(&mut app, KeyCode::Enter);
    assert_eq!(app.screen, Screen::Calls);
    assert_eq!(app.live.selected_id(), Some("c1"));

    // Ended and gone from the table: still listed; Enter opens its history entry.
    app.set_linger_secs(0);
    end(&mut app, "c1", 13);
    assert!(app.live.get("c1").is_none());
    key(&mut app, '5');
    assert_eq!(app.alerts().items().len(), 2);
    let fx = code(&mut app, KeyCode::Enter);
    assert_eq!(app.screen, Screen::History);
    assert_eq!(
        app.history.detail.as_ref().map(|d| d.call.id.as_str()),
        Some("c1")
    );
    assert!(
        fx.iter().any(|e| matches!(e, Effect::Request { request: Request::Open { call_id }, .. } if call_id == "c1")),
        "{fx:?}"
    );
}

#[test]
fn a_bell_rings_only_for_configured_kinds() {
    let mut app = fixtures::app(120, 30);
    let mut call = app.live.calls["c1"].call.clone();
    call.alerts.push(Alert {
        kind: "ai_silent".into(),
        message: "silent".into(),
        at: fixtures::t0(),
    });
    let fx = update(
        &mut app,
        Msg::Stream(crate::client::StreamMsg::Event {
            seq: 11,
            event: Box::new(StreamEvent::CallUpdated { call: call.clone() }),
        }),
    );
    assert!(!fx.contains(&Effect::Bell), "off by default");
    app.set_bell(vec!["ai_silent".into()]);
    call.alerts.push(Alert {
        kind: "ai_silent".into(),
        message: "silent again".into(),
        at: fixtures::t0() + chrono::Duration::seconds(1),
    });
    let fx = update(
        &mut app,
        Msg::Stream(crate::client::StreamMsg::Event {
            seq: 12,
            event: Box::new(StreamEvent::CallUpdated { call }),
        }),
    );
    assert!(fx.contains(&Effect::Bell));
}

#[test]
fn a_summary_is_shown_when_it_arrives_and_history_can_ask_for_one() {
    let mut app = fixtures::app(120, 30);
    select(&mut app, "c1");
    let (id, req) = request(&key(&mut app, 'S'));
    assert_eq!(
        req,
        Request::Summarize {
            call_id: "c1".into()
        }
    );
    let mut call = app.live.calls["c1"].call.clone();
    call.summary = Some("Caller disputes a doubled bill.".into());
    update(
        &mut app,
        Msg::Done {
            id,
            result: Ok(Reply::Action(Box::new(ActionResponse {
                action: "summary".into(),
                call,
                audit_id: 7,
            }))),
        },
    );
    assert_eq!(
        app.live.calls["c1"].call.summary.as_deref(),
        Some("Caller disputes a doubled bill.")
    );
    assert!(app.live.detail_open(), "the detail panel shows it");
    assert!(status(&app).1.contains("Caller disputes a doubled bill."));

    // History: S on an ended call asks for a summary too.
    let fx = key(&mut app, '4');
    let (hid, _) = request(&fx);
    let mut ended = app.live.calls["c4"].call.clone();
    ended.state = CallState::Ended;
    update(
        &mut app,
        Msg::Done {
            id: hid,
            result: Ok(Reply::History {
                calls: vec![ended],
                next_cursor: None,
            }),
        },
    );
    let (_, req) = request(&key(&mut app, 'S'));
    assert_eq!(
        req,
        Request::Summarize {
            call_id: "c4".into()
        }
    );
}

#[test]
fn command_line_switches_screens_filters_and_completes() {
    let mut app = fixtures::app(120, 30);
    key(&mut app, ':');
    typed(&mut app, "ca");
    code(&mut app, KeyCode::Tab);
    assert_eq!(app.input().map(|i| i.text.as_str()), Some("calls "));
    typed(&mut app, "prov");
    code(&mut app, KeyCode::Tab);
    assert_eq!(
        app.input().map(|i| i.text.as_str()),
        Some("calls provider=")
    );
    typed(&mut app, "v");
    code(&mut app, KeyCode::Tab);
    assert_eq!(
        app.input().map(|i| i.text.as_str()),
        Some("calls provider=vapi ")
    );
    code(&mut app, KeyCode::Enter);
    assert_eq!(app.screen, Screen::Calls);
    assert_eq!(app.live.order, ["c1", "c5"]);

    key(&mut app, ':');
    typed(&mut app, "calls colour=red");
    code(&mut app, KeyCode::Enter);
    assert!(status(&app).1.contains("unknown filter \"colour\""));
    assert_eq!(
        app.live.order,
        ["c1", "c5"],
        "a bad command changes nothing"
    );

    key(&mut app, ':');
    typed(&mut app, "al");
    code(&mut app, KeyCode::Enter);
    assert_eq!(app.screen, Screen::Alerts);

    key(&mut app, ':');
    typed(&mut app, "nonsense");
    code(&mut app, KeyCode::Enter);
    assert!(status(&app).1.contains("unknown command"));

    key(&mut app, ':');
    typed(&mut app, "sort dur");
    code(&mut app, KeyCode::Enter);
    assert_eq!(app.live.sort, SortKey::Duration);
}

#[test]
fn slash_matches_the_labels_on_screen() {
    let mut app = fixtures::app(120, 30);
    key(&mut app, '/');
    typed(&mut app, "human");
    assert_eq!(app.live.order, ["c3"]);
    code(&mut app, KeyCode::Esc);
    key(&mut app, '/');
    typed(&mut app, "NEG");
    code(&mut app, KeyCode::Enter);
    assert_eq!(app.live.order, ["c2", "c3"]);
}

#[test]
fn export_writes_the_selected_transcript() {
    let mut app = fixtures::app(120, 30);
    select(&mut app, "c1");
    key(&mut app, ':');
    typed(&mut app, "export txt");
    let fx = code(&mut app, KeyCode::Enter);
    let Some(Effect::Export { path, contents, .. }) = fx.first() else {
        panic!("an export effect: {fx:?}");
    };
    assert_eq!(path.to_str(), Some("callwatch-c1.txt"));
    assert!(contents.contains("Maria Lopez"));
    assert!(contents.contains("twice what I normally pay"));

    key(&mut app, ':');
    typed(&mut app, "export csv");
    let fx = code(&mut app, KeyCode::Enter);
    assert!(fx.is_empty());
    assert_eq!(status(&app).0, StatusKind::Error);
}

#[test]
fn wall_tiles_follow_their_calls_and_keys_act_on_the_focused_one() {
    let mut app = fixtures::app(160, 40);
    select(&mut app, "c1");
    key(&mut app, 'w');
    key(&mut app, 'w');
    assert_eq!(app.live.wall_size, 4);
    assert_eq!(
        app.live.wall[0], "c1",
        "the selected call takes the first tile"
    );
    let tiles = app.live.wall.clone();
    // A re-sort does not move tiles.
    key(&mut app, 'o');
    assert_eq!(app.live.wall, tiles);
    // Focus moves between tiles; call keys act on the focused tile's call.
    key(&mut app, 'j');
    let focused = app.live.wall[1].clone();
    assert_eq!(app.live.selected_id(), Some(focused.as_str()));
    key(&mut app, 's');
    assert_eq!(
        app.dialog().and_then(|d| d.call_id()),
        Some(focused.as_str())
    );
    code(&mut app, KeyCode::Esc);
    // A call that leaves the table frees its tile for the next call.
    app.set_linger_secs(0);
    end(&mut app, "c1", 11);
    assert!(!app.live.wall.iter().any(|w| w == "c1"));
    assert_eq!(app.live.wall.len(), 4);
    key(&mut app, 'w');
    key(&mut app, 'w');
    assert_eq!(app.live.wall_size, 0);
    assert!(app.live.wall.is_empty());
}

#[test]
fn presence_follows_the_selection_and_names_the_others() {
    let mut app = fixtures::app(120, 30);
    select(&mut app, "c1");
    assert_eq!(app.shown_call(), Some("c1"));
    key(&mut app, '2');
    assert_eq!(app.shown_call(), None, "the Queue shows no call");
    key(&mut app, '1');
    update(
        &mut app,
        Msg::Stream(crate::client::StreamMsg::Presence {
            watchers: vec![
                crate::core::protocol::Watcher {
                    actor: "dana".into(),
                    call_id: "c1".into(),
                },
                crate::core::protocol::Watcher {
                    actor: "sam".into(),
                    call_id: "c1".into(),
                },
            ],
        }),
    );
    assert_eq!(app.also_watching("c1"), ["dana"], "not myself");
}

#[test]
fn acting_right_after_someone_else_asks_first_naming_them() {
    let mut app = fixtures::app(120, 30);
    select(&mut app, "c1");
    event(
        &mut app,
        11,
        StreamEvent::ActionAudited {
            audit: crate::core::model::AuditEntry {
                id: 9,
                org: "acme".into(),
                call_id: Some("c1".into()),
                queue_item_id: None,
                actor: "dana".into(),
                role: crate::core::model::Role::Supervisor,
                action: "instruct".into(),
                reason: None,
                detail: serde_json::Value::Null,
                ok: true,
                error: None,
                at: fixtures::t0(),
            },
        },
    );
    let fx = key(&mut app, 'p');
    assert!(fx.is_empty(), "nothing sent before the answer: {fx:?}");
    let Some(crate::console::app::Dialog::ConfirmRecent { news, .. }) = app.dialog() else {
        panic!("a confirmation");
    };
    assert!(news.contains("dana did instruct"), "{news}");
    assert!(key(&mut app, 'n').is_empty());
    assert!(app.dialog().is_none());
    key(&mut app, 'p');
    let (_, req) = request(&key(&mut app, 'y'));
    assert_eq!(
        req,
        Request::Act {
            call_id: "c1".into(),
            action: crate::console::update::CallAction::PauseAi
        }
    );
    // Later than RECENT_SECS: no question.
    update(
        &mut app,
        Msg::Tick(fixtures::t0() + chrono::Duration::seconds(11)),
    );
    let mut call = app.live.calls["c1"].call.clone();
    call.state = CallState::InProgress;
    event(&mut app, 12, StreamEvent::CallUpdated { call });
    let fx = key(&mut app, 'p');
    assert_eq!(fx.len(), 1, "{fx:?}");
}
