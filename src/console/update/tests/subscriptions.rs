//! The subscription set: which calls' transcripts the console asks the gateway for.

use super::*;
use crate::core::protocol::Transcript as CallTranscript;

fn subs(app: &App) -> Vec<&str> {
    app.subscriptions().iter().map(String::as_str).collect()
}

fn answer(
    app: &mut App,
    calls: &[&str],
    call_id: &str,
    entries: Vec<crate::core::model::TranscriptEntry>,
) {
    update(
        app,
        Msg::Stream(StreamMsg::Subscribed {
            calls: calls.iter().map(|c| c.to_string()).collect(),
            transcripts: vec![CallTranscript {
                call_id: call_id.into(),
                entries,
            }],
        }),
    );
}

#[test]
fn the_set_follows_the_selection_and_the_wall() {
    let mut app = fixtures::app(120, 30);
    select(&mut app, "c1");
    assert_eq!(subs(&app), ["c1"]);
    select(&mut app, "c2");
    assert_eq!(subs(&app), ["c2"]);
    key(&mut app, 'w'); // a wall of 2: the selected call and the next in the table
    let on_wall: Vec<String> = app.live.wall().to_vec();
    assert_eq!(on_wall.len(), 2);
    let mut want: Vec<&str> = on_wall.iter().map(String::as_str).collect();
    want.sort();
    assert_eq!(subs(&app), want);
    key(&mut app, 'w');
    key(&mut app, 'w');
    key(&mut app, 'w'); // off again
    assert_eq!(subs(&app), ["c2"]);
}

#[test]
fn a_call_the_gateway_no_longer_sends_drops_its_transcript_until_it_comes_back() {
    let mut app = fixtures::app(120, 30);
    select(&mut app, "c1");
    select(&mut app, "c2");
    // Until the gateway confirms, c1's lines still flow: its transcript stays.
    assert!(!app.call("c1").unwrap().transcript.entries.is_empty());
    answer(&mut app, &["c2"], "c2", fixtures::transcript("c2"));
    // Now no lines come for c1: a kept copy would go stale, so it goes.
    assert!(app.call("c1").unwrap().transcript.entries.is_empty());
    assert_eq!(
        app.call("c2").unwrap().transcript.entries,
        fixtures::transcript("c2")
    );

    select(&mut app, "c1");
    answer(&mut app, &["c1"], "c1", fixtures::transcript("c1"));
    assert_eq!(
        app.call("c1").unwrap().transcript.entries,
        fixtures::transcript("c1")
    );
    assert!(app.call("c2").unwrap().transcript.entries.is_empty());
}

#[test]
fn a_call_left_and_brought_back_before_the_gateway_heard_keeps_its_lines() {
    let mut app = fixtures::app(120, 30);
    select(&mut app, "c1");
    answer(&mut app, &["c1"], "c1", fixtures::transcript("c1"));
    select(&mut app, "c2");
    select(&mut app, "c1");
    assert_eq!(subs(&app), ["c1"]);
    // The stream task sends nothing (the set is what the gateway has): no answer comes,
    // and c1's transcript, which never stopped flowing, is still there.
    assert_eq!(
        app.call("c1").unwrap().transcript.entries,
        fixtures::transcript("c1")
    );
}

#[test]
fn another_calls_line_does_not_cancel_a_pending_frame() {
    let mut app = fixtures::app(120, 30);
    select(&mut app, "c1");
    update(&mut app, Msg::Drawn);
    assert!(!app.is_dirty());
    let line = fixtures::entry("c2", 20, Speaker::Caller, "not on screen", true);
    event(
        &mut app,
        11,
        StreamEvent::TranscriptAppended { entry: line },
    );
    assert!(!app.is_dirty(), "nothing visible changed");
    let line = fixtures::entry("c1", 20, Speaker::Caller, "on screen", true);
    event(
        &mut app,
        12,
        StreamEvent::TranscriptAppended { entry: line },
    );
    let line = fixtures::entry("c2", 21, Speaker::Caller, "not on screen", true);
    event(
        &mut app,
        13,
        StreamEvent::TranscriptAppended { entry: line },
    );
    assert!(app.is_dirty(), "c1's line still needs its frame");
}
