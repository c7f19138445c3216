//! Whole-frame snapshots of what compliance shows: blocked and rescheduled queue items with
//! their reasons, and a call's compliance alert with its message.

use chrono::Duration;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::backend::TestBackend;
use ratatui::Terminal;

use super::app::App;
use super::fixtures::{self, t0};
use super::update::{update, Msg};
use crate::client::StreamMsg;
use crate::core::model::{Alert, QueueState};
use crate::core::protocol::StreamEvent;

fn draw(app: &App) -> Terminal<TestBackend> {
    let mut terminal = Terminal::new(TestBackend::new(app.size.0, app.size.1)).unwrap();
    terminal.draw(|f| super::ui::render(f, app)).unwrap();
    terminal
}

fn key(app: &mut App, c: char) {
    update(
        app,
        Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)),
    );
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
fn queue_shows_blocked_and_rescheduled_items_with_their_reason() {
    let mut app = fixtures::app(130, 16);
    let mut items = fixtures::queue();
    let mut blocked = items.remove(0);
    blocked.state = QueueState::Failed;
    blocked.last_result = Some("blocked: DNC (caller_request)".into());
    let mut moved = items.remove(0);
    moved.state = QueueState::Scheduled;
    moved.scheduled_at = Some(t0() + Duration::hours(9));
    moved.last_result = Some(
        "rescheduled: outside calling hours (08:00-21:00 Mon,Tue,Wed,Thu,Fri America/Los_Angeles)"
            .into(),
    );
    event(&mut app, 11, StreamEvent::QueueUpdated { item: blocked });
    event(&mut app, 12, StreamEvent::QueueUpdated { item: moved });
    key(&mut app, '2');
    let frame = draw(&app);
    let text = format!("{:?}", frame.backend());
    assert!(text.contains("blocked: DNC (caller_request)"), "{text}");
    assert!(
        text.contains("rescheduled: outside calling hours"),
        "{text}"
    );
    insta::assert_snapshot!(frame.backend());
}

#[test]
fn a_compliance_alert_shows_its_message() {
    let mut app = fixtures::app(120, 16);
    let mut call = fixtures::calls().remove(0);
    call.alerts.push(Alert {
        kind: "compliance_consent".into(),
        message: "Violation: no recording-consent notice within the AI's first 2 turns (US-CA requires two-party consent)".into(),
        at: t0(),
    });
    let id = call.id.clone();
    event(&mut app, 11, StreamEvent::CallUpdated { call });
    key(&mut app, 'g');
    for _ in 0..app.live.len() {
        if app.live.selected.as_deref() == Some(id.as_str()) {
            break;
        }
        key(&mut app, 'j');
    }
    assert_eq!(app.live.selected.as_deref(), Some(id.as_str()));
    let frame = draw(&app);
    let text = format!("{:?}", frame.backend());
    assert!(
        text.contains("⚠ Violation: no recording-consent notice"),
        "{text}"
    );
    insta::assert_snapshot!(frame.backend());
}

#[test]
fn one_key_puts_the_caller_on_the_dnc_list_for_supervisors_only() {
    use super::update::{Effect, Request};
    use crate::core::model::Role;
    let press = |app: &mut App| {
        update(
            app,
            Msg::Key(KeyEvent::new(KeyCode::Char('D'), KeyModifiers::SHIFT)),
        )
    };
    let mut app = fixtures::app(120, 24);
    let call = app
        .live
        .selected_call()
        .expect("a selected call")
        .call
        .clone();
    let fx = press(&mut app);
    match fx.as_slice() {
        [Effect::Request {
            request: Request::AddToDnc { number, call_id },
            ..
        }] => {
            assert_eq!(number, super::app::customer_number(&call));
            assert_eq!(call_id, &call.id);
        }
        other => panic!("expected one DNC request, got {other:?}"),
    }
    let mut agent = fixtures::app_with_role(120, 24, Role::Agent);
    assert!(
        press(&mut agent).is_empty(),
        "an agent may not change the list"
    );
}
