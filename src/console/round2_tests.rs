//! Console round 2: the call's compliance status in the detail panel and History, the
//! calls table and header at 140 columns, the role shown once, the add-to-queue form and
//! its refusal, the audit and webhook logs, analytics by range and grouping, `:history`
//! filters, the queue's WHEN order and the title flash. Whole frames via TestBackend.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::backend::TestBackend;
use ratatui::Terminal;

use super::app::{App, Modal, Screen};
use super::fixtures::{self, t0};
use super::update::{update, Effect, Msg, Reply, Request};
use crate::client::StreamMsg;
use crate::core::compliance::{Check, ComplianceStatus};
use crate::core::model::{Alert, AuditEntry, CallState, Role};
use crate::core::protocol::StreamEvent;

fn draw(app: &App) -> Terminal<TestBackend> {
    let mut terminal = Terminal::new(TestBackend::new(app.size.0, app.size.1)).unwrap();
    terminal.draw(|f| super::ui::render(f, app)).unwrap();
    terminal
}

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

/// Runs a `:` command; returns its effects.
fn command(app: &mut App, text: &str) -> Vec<Effect> {
    key(app, ':');
    typed(app, text);
    code(app, KeyCode::Enter)
}

fn request_of(fx: &[Effect]) -> (u64, Request) {
    match fx.first() {
        Some(Effect::Request { id, request }) => (*id, request.clone()),
        other => panic!("expected a request, got {other:?}"),
    }
}

fn status(disclosure: Check, consent: Check) -> ComplianceStatus {
    ComplianceStatus {
        disclosure: Some(disclosure),
        consent: Some(consent),
        checked_at: t0() - chrono::Duration::seconds(30),
    }
}

fn status_text(app: &App) -> String {
    app.status
        .as_ref()
        .map(|s| s.text.clone())
        .unwrap_or_default()
}

#[test]
fn compliance_status_in_the_detail_panel() {
    let mut app = fixtures::app(160, 40);
    while app.live.selected.as_deref() != Some("c1") {
        key(&mut app, 'j');
    }
    key(&mut app, 'v');
    let mut call = app.live.calls["c1"].call.clone();
    call.compliance = Some(status(Check::Missing, Check::Violation));
    call.alerts.push(Alert {
        kind: "compliance_consent".into(),
        message: "Violation: no recording-consent notice within the AI's first 2 turns (US-CA requires two-party consent)".into(),
        at: t0() - chrono::Duration::seconds(30),
    });
    update(
        &mut app,
        Msg::Stream(StreamMsg::Event {
            seq: 11,
            event: Box::new(StreamEvent::CallUpdated { call }),
        }),
    );
    let frame = draw(&app);
    insta::assert_snapshot!(frame.backend());
}

/// History with three ended calls: violation, all ok, not checked.
fn history_app() -> App {
    let mut app = fixtures::app(130, 24);
    let (id, _) = request_of(&key(&mut app, '4'));
    let ended = |id: &str, name: &str, st: Option<ComplianceStatus>| {
        let mut c = fixtures::calls().remove(0);
        c.id = id.into();
        c.lead.name = Some(name.into());
        c.state = CallState::Ended;
        c.duration_secs = Some(200.0);
        c.outcome = Some("completed".into());
        c.compliance = st;
        c
    };
    let calls = vec![
        ended(
            "h1",
            "Maria Lopez",
            Some(status(Check::Missing, Check::Violation)),
        ),
        ended("h2", "Jonas Berg", Some(status(Check::Ok, Check::Ok))),
        ended("h3", "Ada Quinn", None),
    ];
    update(
        &mut app,
        Msg::Done {
            id,
            result: Ok(Reply::History {
                calls,
                next_cursor: None,
            }),
        },
    );
    app
}

#[test]
fn compliance_status_in_the_history_list() {
    let app = history_app();
    insta::assert_snapshot!(draw(&app).backend());
}

#[test]
fn compliance_status_in_the_history_detail() {
    let mut app = history_app();
    let (id, _) = request_of(&code(&mut app, KeyCode::Enter));
    let call = app.history.results[0].clone();
    update(
        &mut app,
        Msg::Done {
            id,
            result: Ok(Reply::Detail {
                call: Box::new(call),
                transcript: fixtures::transcript("c1"),
            }),
        },
    );
    insta::assert_snapshot!(draw(&app).backend());
}

#[test]
fn calls_table_and_header_at_140_columns() {
    let app = fixtures::app(140, 16);
    insta::assert_snapshot!(draw(&app).backend());
}

#[test]
fn the_header_names_the_role_once_when_the_login_is_unknown() {
    let mut app = fixtures::app(140, 16);
    app.session.actor = Some("supervisor".into());
    let frame = draw(&app);
    let header: String = (0..140)
        .map(|x| frame.backend().buffer()[(x, 0)].symbol().to_string())
        .collect();
    assert!(header.contains("│ supervisor "), "{header}");
    assert!(!header.contains("supervisor (supervisor)"), "{header}");
}

#[test]
fn the_add_to_queue_form_sends_and_shows_a_refusal() {
    let mut app = fixtures::app(110, 24);
    key(&mut app, '2');
    key(&mut app, 'a');
    assert!(app.form().is_some(), "a opens the form on Queue");
    // Keys typed into the form never reach the screen behind it ('x' would cancel).
    typed(&mut app, "+14155550177");
    code(&mut app, KeyCode::Tab);
    typed(&mut app, "Ruth Added x");
    code(&mut app, KeyCode::Tab);
    typed(&mut app, "renewals");
    code(&mut app, KeyCode::Tab);
    typed(&mut app, "+2h");
    assert!(app.dialog().is_none());
    let (id, request) = request_of(&code(&mut app, KeyCode::Enter));
    let Request::AddToQueue(req) = request else {
        panic!("{request:?}");
    };
    assert_eq!(req.phone_number, "+14155550177");
    assert_eq!(req.lead_name.as_deref(), Some("Ruth Added x"));
    assert_eq!(req.campaign_id.as_deref(), Some("renewals"));
    assert_eq!(req.scheduled_at, Some(t0() + chrono::Duration::hours(2)));
    update(
        &mut app,
        Msg::Done {
            id,
            result: Err("409 conflict: +14155550177 is on the do-not-call list (manual)".into()),
        },
    );
    assert!(app.form().is_some(), "a refusal keeps the form open");
    insta::assert_snapshot!(draw(&app).backend());
    // Esc closes it; nothing was added.
    code(&mut app, KeyCode::Esc);
    assert!(app.form().is_none());
    assert_eq!(app.queue.waiting().len(), 3);
}

#[test]
fn the_add_to_queue_form_closes_on_success_and_is_refused_to_viewers() {
    let mut app = fixtures::app(110, 24);
    key(&mut app, '2');
    key(&mut app, 'a');
    let fx = code(&mut app, KeyCode::Enter);
    assert!(fx.is_empty(), "no number, no request");
    assert_eq!(
        app.form().and_then(|f| f.error.clone()).as_deref(),
        Some("the number is required")
    );
    typed(&mut app, "+14155550188");
    let (id, _) = request_of(&code(&mut app, KeyCode::Enter));
    let mut item = fixtures::queue().remove(0);
    item.id = "q-new".into();
    item.lead.name = Some("Ruth Added".into());
    update(
        &mut app,
        Msg::Done {
            id,
            result: Ok(Reply::QueueItem(Some(Box::new(item)))),
        },
    );
    assert!(app.form().is_none());
    assert_eq!(status_text(&app), "added Ruth Added to the queue");
    assert!(app.queue.waiting().iter().any(|q| q.id == "q-new"));

    let mut viewer = fixtures::app_with_role(110, 24, Role::Viewer);
    key(&mut viewer, '2');
    key(&mut viewer, 'a');
    assert!(viewer.form().is_none());
    assert_eq!(
        status_text(&viewer),
        "cannot add to the queue: the viewer role may not add calls to the queue"
    );
}

#[test]
fn the_audit_log_screen() {
    let mut app = fixtures::app(120, 16);
    let (id, request) = request_of(&command(&mut app, "audit"));
    assert_eq!(request, Request::AuditLog);
    assert_eq!(app.screen, Screen::Audit);
    let entry = |id: i64, actor: &str, action: &str, reason: &str, ok: bool| AuditEntry {
        id,
        org: "acme".into(),
        call_id: Some(format!("c{id}")),
        queue_item_id: None,
        actor: actor.into(),
        role: Role::Supervisor,
        action: action.into(),
        reason: Some(reason.into()),
        detail: serde_json::Value::Null,
        ok,
        error: (!ok).then(|| "the voice stack answered 502".into()),
        at: t0() - chrono::Duration::seconds(id * 60),
    };
    update(
        &mut app,
        Msg::Done {
            id,
            result: Ok(Reply::AuditLog(vec![
                entry(1, "sam", "takeover", "caller asked for a manager", true),
                entry(
                    2,
                    "compliance",
                    "compliance_flagged",
                    "Warning: the AI did not say it is an AI within its first 2 turns",
                    true,
                ),
                entry(3, "dana", "end", "", false),
            ])),
        },
    );
    insta::assert_snapshot!(draw(&app).backend());
}

#[test]
fn the_webhook_log_is_for_admins_only() {
    let mut app = fixtures::app(120, 16);
    let fx = command(&mut app, "webhooks");
    assert!(fx.is_empty(), "no request for a supervisor: {fx:?}");
    assert_eq!(app.screen, Screen::Calls);
    assert_eq!(
        status_text(&app),
        "cannot show the webhook log: the supervisor role may not read the webhook log"
    );
    let mut admin = fixtures::app_with_role(120, 16, Role::Admin);
    let (id, request) = request_of(&command(&mut admin, "webhooks"));
    assert_eq!(request, Request::WebhookLog);
    update(
        &mut admin,
        Msg::Done {
            id,
            result: Ok(Reply::WebhookLog(vec![
                crate::client::WebhookEntry {
                    id: 2,
                    at: t0() - chrono::Duration::seconds(5),
                    integration: "vapi-main".into(),
                    provider: "Vapi".into(),
                    event: None,
                    payload: "{}".into(),
                    ok: false,
                    error: Some("signature mismatch".into()),
                },
                crate::client::WebhookEntry {
                    id: 1,
                    at: t0() - chrono::Duration::seconds(65),
                    integration: "vapi-main".into(),
                    provider: "Vapi".into(),
                    event: Some("call.started".into()),
                    payload: "{\"type\":\"call.started\"}".into(),
                    ok: true,
                    error: None,
                },
            ])),
        },
    );
    assert_eq!(admin.screen, Screen::Webhooks);
    insta::assert_snapshot!(draw(&admin).backend());
}

#[test]
fn analytics_for_seven_days_by_campaign() {
    let mut app = fixtures::app(110, 34);
    let (id, request) = request_of(&command(&mut app, "analytics 7d campaign"));
    assert_eq!(
        request,
        Request::Analytics {
            range: Some("7d".into()),
            group_by: Some("campaign".into()),
        }
    );
    let mut a = fixtures::analytics();
    let mut renewals = fixtures::analytics();
    renewals.total_calls = 30;
    renewals.groups.clear();
    let mut winback = fixtures::analytics();
    winback.total_calls = 12;
    winback.groups.clear();
    a.groups.insert("renewals".into(), renewals);
    a.groups.insert("winback".into(), winback);
    update(
        &mut app,
        Msg::Done {
            id,
            result: Ok(Reply::Analytics(Box::new(a))),
        },
    );
    insta::assert_snapshot!(draw(&app).backend());
    // Back to the stream's figures; a bad word is refused with what is accepted.
    assert!(command(&mut app, "analytics live").is_empty());
    assert!(app.analytics_view.is_live());
    assert!(command(&mut app, "analytics fortnight").is_empty());
    assert!(
        status_text(&app).contains("not \"fortnight\""),
        "{}",
        status_text(&app)
    );
}

#[test]
fn history_command_sends_field_filters_to_the_gateway() {
    let mut app = fixtures::app(110, 24);
    let (_, request) = request_of(&command(
        &mut app,
        "history direction=inbound intent=make_offer",
    ));
    assert_eq!(
        request,
        Request::History {
            q: "direction=inbound intent=make_offer".into(),
            cursor: None,
        }
    );
    assert_eq!(app.screen, Screen::History);
    // Tab completes history filter keys.
    key(&mut app, ':');
    typed(&mut app, "history dir");
    code(&mut app, KeyCode::Tab);
    match &app.modal {
        Some(Modal::Input(i)) => assert_eq!(i.text, "history direction="),
        _ => panic!("the command line stays open"),
    }
}

#[test]
fn the_queue_is_sorted_by_when() {
    let mut app = fixtures::app(110, 20);
    // Whatever order the gateway lists them in.
    app.queue.items.reverse();
    let order: Vec<&str> = app.queue.waiting().iter().map(|q| q.id.as_str()).collect();
    // Waiting longest first (q1 252 s, q2 61 s), then the one scheduled in 15 min.
    assert_eq!(order, ["q1", "q2", "q3"]);
}

#[test]
fn an_alert_of_a_configured_kind_flashes_the_title_then_puts_it_back() {
    let mut app = fixtures::app(110, 20);
    app.set_title_flash(vec!["ai_silent".into()]);
    let mut call = app.live.calls["c1"].call.clone();
    call.alerts.push(Alert {
        kind: "ai_silent".into(),
        message: "the AI has been silent for 12 s".into(),
        at: t0(),
    });
    let fx = update(
        &mut app,
        Msg::Stream(StreamMsg::Event {
            seq: 11,
            event: Box::new(StreamEvent::CallUpdated { call }),
        }),
    );
    assert!(
        fx.iter()
            .any(|e| matches!(e, Effect::Title(Some(t)) if t.contains("ai_silent"))),
        "{fx:?}"
    );
    let fx = update(&mut app, Msg::Tick(t0() + chrono::Duration::seconds(2)));
    assert!(!fx.iter().any(|e| matches!(e, Effect::Title(_))), "{fx:?}");
    let fx = update(&mut app, Msg::Tick(t0() + chrono::Duration::seconds(6)));
    assert!(fx.contains(&Effect::Title(None)), "{fx:?}");
    // Off by default: another kind flashes nothing.
    let mut other = fixtures::app(110, 20);
    let mut call = other.live.calls["c1"].call.clone();
    call.alerts.push(Alert {
        kind: "ai_silent".into(),
        message: "x".into(),
        at: t0(),
    });
    let fx = update(
        &mut other,
        Msg::Stream(StreamMsg::Event {
            seq: 11,
            event: Box::new(StreamEvent::CallUpdated { call }),
        }),
    );
    assert!(!fx.iter().any(|e| matches!(e, Effect::Title(_))), "{fx:?}");
}
