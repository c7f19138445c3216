//! Whole-frame snapshots (TestBackend) of every screen, the help, the dialogs, error and
//! disconnected states, plus the hostile-text test. The clock is fixed (fixtures::t0).

use std::time::Duration;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::backend::TestBackend;
use ratatui::Terminal;

use super::app::App;
use super::fixtures::{self, t0};
use super::update::{update, Msg, Reply};
use crate::client::StreamMsg;
use crate::core::model::{CallState, Speaker};
use crate::core::protocol::{ActionResponse, StreamEvent};

fn draw(app: &App) -> Terminal<TestBackend> {
    let mut terminal = Terminal::new(TestBackend::new(app.size.0, app.size.1)).unwrap();
    terminal.draw(|f| super::ui::render(f, app)).unwrap();
    terminal
}

fn key(app: &mut App, c: char) -> Vec<super::update::Effect> {
    update(
        app,
        Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)),
    )
}

fn code(app: &mut App, code: KeyCode) -> Vec<super::update::Effect> {
    update(app, Msg::Key(KeyEvent::new(code, KeyModifiers::NONE)))
}

fn typed(app: &mut App, s: &str) {
    for c in s.chars() {
        key(app, c);
    }
}

fn select(app: &mut App, id: &str) {
    while app.live.selected.as_deref() != Some(id) {
        key(app, 'j');
    }
}

#[test]
fn calls_screen_wide() {
    let mut app = fixtures::app(130, 30);
    select(&mut app, "c1");
    insta::assert_snapshot!(draw(&app).backend());
}

#[test]
fn calls_screen_narrow_taken_over_call() {
    let app = fixtures::app(90, 30);
    insta::assert_snapshot!(draw(&app).backend());
}

#[test]
fn calls_screen_timestamps_search_and_scrolled() {
    let mut app = fixtures::app(130, 24);
    select(&mut app, "c1");
    key(&mut app, 'T');
    update(
        &mut app,
        Msg::Key(KeyEvent::new(KeyCode::Char('f'), KeyModifiers::CONTROL)),
    );
    typed(&mut app, "refund");
    code(&mut app, KeyCode::Enter);
    insta::assert_snapshot!(draw(&app).backend());
}

#[test]
fn calls_screen_filtered_and_masked() {
    let mut app = fixtures::app(130, 20);
    key(&mut app, '/');
    typed(&mut app, "renew");
    code(&mut app, KeyCode::Enter);
    key(&mut app, 'm');
    insta::assert_snapshot!(draw(&app).backend());
}

#[test]
fn queue_screen() {
    let mut app = fixtures::app(110, 20);
    key(&mut app, '2');
    key(&mut app, 'j');
    insta::assert_snapshot!(draw(&app).backend());
}

#[test]
fn analytics_screen() {
    let mut app = fixtures::app(110, 34);
    key(&mut app, '3');
    insta::assert_snapshot!(draw(&app).backend());
}

fn ended_call() -> crate::core::model::Call {
    let mut c = fixtures::calls().remove(0);
    c.state = CallState::Ended;
    c.ended_at = Some(t0() - chrono::Duration::seconds(60));
    c.duration_secs = Some(312.0);
    c.outcome = Some("completed".into());
    c.cost = Some(0.42);
    c.recording_url = Some("https://rec.example/c1.mp3".into());
    c.summary = Some("Caller disputed a doubled bill caused by an estimated reading; will send a meter reading today.".into());
    c
}

fn history_app() -> App {
    let mut app = fixtures::app(120, 24);
    let fx = key(&mut app, '4');
    let Some(super::update::Effect::Request { id, .. }) = fx.first().cloned() else {
        panic!("switching to History must load it: {fx:?}");
    };
    let mut other = ended_call();
    other.id = "c9".into();
    other.lead.name = Some("Jonas Berg".into());
    other.outcome = Some("voicemail".into());
    other.cost = Some(0.05);
    other.duration_secs = Some(31.0);
    update(
        &mut app,
        Msg::Done {
            id,
            result: Ok(Reply::History {
                calls: vec![ended_call(), other],
                next_cursor: None,
            }),
        },
    );
    app
}

#[test]
fn history_list() {
    let app = history_app();
    insta::assert_snapshot!(draw(&app).backend());
}

#[test]
fn history_detail() {
    let mut app = history_app();
    let fx = code(&mut app, KeyCode::Enter);
    let Some(super::update::Effect::Request { id, .. }) = fx.first().cloned() else {
        panic!("enter must open the call: {fx:?}");
    };
    update(
        &mut app,
        Msg::Done {
            id,
            result: Ok(Reply::Detail {
                call: Box::new(ended_call()),
                transcript: fixtures::transcript("c1"),
            }),
        },
    );
    insta::assert_snapshot!(draw(&app).backend());
}

#[test]
fn help_from_the_live_keymap() {
    let mut app = fixtures::app(120, 30);
    key(&mut app, '?');
    insta::assert_snapshot!(draw(&app).backend());
}

#[test]
fn dialog_take_over_typing() {
    let mut app = fixtures::app(120, 30);
    select(&mut app, "c1");
    key(&mut app, 't');
    typed(&mut app, "caller asked for a human");
    code(&mut app, KeyCode::Tab);
    typed(&mut app, "VIP account");
    insta::assert_snapshot!(draw(&app).backend());
}

#[test]
fn dialog_take_over_refuses_empty_reason() {
    let mut app = fixtures::app(120, 30);
    select(&mut app, "c1");
    key(&mut app, 't');
    let fx = code(&mut app, KeyCode::Enter);
    assert!(fx.is_empty());
    insta::assert_snapshot!(draw(&app).backend());
}

#[test]
fn dialog_say() {
    let mut app = fixtures::app(120, 30);
    select(&mut app, "c1");
    key(&mut app, 's');
    typed(&mut app, "One moment please, I'm checking that for you.");
    insta::assert_snapshot!(draw(&app).backend());
}

#[test]
fn dialog_instruct() {
    let mut app = fixtures::app(120, 30);
    select(&mut app, "c1");
    key(&mut app, 'i');
    typed(&mut app, "Offer the paperless discount");
    insta::assert_snapshot!(draw(&app).backend());
}

#[test]
fn dialog_say_after_its_call_ended() {
    let mut app = fixtures::app(120, 30);
    select(&mut app, "c1");
    key(&mut app, 's');
    typed(&mut app, "One moment please");
    let mut call = fixtures::calls().remove(0);
    call.state = CallState::Ended;
    update(
        &mut app,
        Msg::Stream(StreamMsg::Event {
            seq: 11,
            event: Box::new(StreamEvent::CallEnded { call }),
        }),
    );
    code(&mut app, KeyCode::Enter);
    insta::assert_snapshot!(draw(&app).backend());
}

#[test]
fn dialog_end_confirm() {
    let mut app = fixtures::app(120, 30);
    select(&mut app, "c1");
    key(&mut app, 'e');
    insta::assert_snapshot!(draw(&app).backend());
}

#[test]
fn error_from_the_gateway_and_refused_key() {
    let mut app = fixtures::app(120, 24);
    select(&mut app, "c1");
    let fx = key(&mut app, 'p');
    let Some(super::update::Effect::Request { id, .. }) = fx.first().cloned() else {
        panic!("pause must be requested: {fx:?}");
    };
    update(
        &mut app,
        Msg::Done {
            id,
            result: Err("the provider did not answer (upstream_failed)".into()),
        },
    );
    let before = draw(&app);
    insta::assert_snapshot!("error_from_the_gateway", before.backend());
    // Resume on a call whose AI is not paused: refused locally, with the reason.
    let fx = key(&mut app, 'r');
    assert!(fx.is_empty());
    insta::assert_snapshot!("refused_key", draw(&app).backend());
}

#[test]
fn disconnected_at_start() {
    let mut app = App::new(
        t0(),
        super::theme::Theme::dark(),
        super::keys::Keymap::default(),
        "http://127.0.0.1:7878",
        false,
        vec!["key r is bound to both pause_ai and resume_ai; it does pause_ai".into()],
    );
    update(&mut app, Msg::Resize(100, 20));
    update(&mut app, Msg::Stream(StreamMsg::Connecting { attempt: 0 }));
    update(
        &mut app,
        Msg::Stream(StreamMsg::Disconnected {
            error: "cannot reach the gateway: Connection refused (os error 111)".into(),
            retry_in: Duration::from_millis(2500),
        }),
    );
    insta::assert_snapshot!(draw(&app).backend());
}

#[test]
fn disconnected_with_data_keeps_the_screen() {
    let mut app = fixtures::app(120, 20);
    update(
        &mut app,
        Msg::Stream(StreamMsg::Disconnected {
            error: "no heartbeat from the gateway for 45s".into(),
            retry_in: Duration::from_secs(4),
        }),
    );
    update(&mut app, Msg::Tick(t0() + chrono::Duration::seconds(1)));
    insta::assert_snapshot!(draw(&app).backend());
}

#[test]
fn auth_failed() {
    let mut app = App::new(
        t0(),
        super::theme::Theme::dark(),
        super::keys::Keymap::default(),
        "https://gw.example",
        false,
        vec![],
    );
    update(&mut app, Msg::Resize(90, 16));
    update(
        &mut app,
        Msg::Stream(StreamMsg::AuthFailed {
            message: "unknown token".into(),
        }),
    );
    insta::assert_snapshot!(draw(&app).backend());
}

#[test]
fn too_small_terminal() {
    let app = fixtures::app(50, 10);
    insta::assert_snapshot!(draw(&app).backend());
}

/// Nothing but clean text reaches the buffer, whatever callers and providers send.
#[test]
fn hostile_text_never_reaches_the_terminal() {
    let hostile = [
        "\u{1b}]52;c;ZXZpbCBjbGlwYm9hcmQ=\u{7}clipboard",
        "\u{1b}[2J\u{1b}[Hcleared\u{1b}[31mred",
        "pay \u{202E}gnp.exe\u{202C} now \u{2066}x\u{2069}",
        "\u{9b}31mC1 csi\u{0}nul\u{7f}del\u{200b}zw",
        "\u{1b}P+q544e\u{1b}\\ dcs \u{1b}_apc\u{1b}\\",
    ];
    let long = format!("{}\u{1b}[5m{}", "A".repeat(50_000), "B ".repeat(20_000));
    let mut app = fixtures::app(120, 30);
    select(&mut app, "c1");
    let mut c = fixtures::calls().remove(0);
    c.lead.name = Some(hostile[0].into());
    c.campaign = Some(hostile[2].into());
    c.intent = Some(hostile[3].into());
    c.provider = hostile[4].into();
    c.from = format!("+1415\u{1b}[8m{}", hostile[1]);
    c.alerts.push(crate::core::model::Alert {
        kind: hostile[1].into(),
        message: hostile[0].into(),
        at: t0(),
    });
    update(
        &mut app,
        Msg::Stream(StreamMsg::Event {
            seq: 11,
            event: Box::new(StreamEvent::CallUpdated { call: c.clone() }),
        }),
    );
    for (i, h) in hostile.iter().chain([long.as_str()].iter()).enumerate() {
        let entry = fixtures::entry("c1", 9 + i as u32, Speaker::Caller, h, true);
        update(
            &mut app,
            Msg::Stream(StreamMsg::Event {
                seq: 12 + i as u64,
                event: Box::new(StreamEvent::TranscriptAppended { entry }),
            }),
        );
    }
    // Errors from the gateway and org/actor names are untrusted too.
    update(
        &mut app,
        Msg::Stream(StreamMsg::ServerError {
            message: hostile[1].into(),
        }),
    );
    let mut screens = vec![draw(&app)];
    key(&mut app, 'K'); // scroll up into the long line
    screens.push(draw(&app));
    key(&mut app, 't');
    update(&mut app, Msg::Paste(hostile[0].into()));
    screens.push(draw(&app));
    code(&mut app, KeyCode::Esc);
    let fx = key(&mut app, 'p');
    if let Some(super::update::Effect::Request { id, .. }) = fx.first().cloned() {
        let mut answer = c.clone();
        answer.state = CallState::AiPaused;
        update(
            &mut app,
            Msg::Done {
                id,
                result: Ok(Reply::Action(Box::new(ActionResponse {
                    action: "pause_ai".into(),
                    call: answer,
                    audit_id: 1,
                }))),
            },
        );
    }
    screens.push(draw(&app));
    let mut saw_visible_text = false;
    for t in &screens {
        for cell in t.backend().buffer().content() {
            let s = cell.symbol();
            assert!(
                crate::core::sanitize::is_clean(s),
                "a control/bidi character reached the buffer: {s:?}"
            );
            assert!(!s.contains('\u{1b}'));
            saw_visible_text |= s == "]";
        }
    }
    assert!(
        saw_visible_text,
        "the cleaned text is still shown (minus the controls)"
    );
}

/// NO_COLOR / mono: not a single coloured cell; dark and light: only the 16 named colours.
#[test]
fn themes_mono_has_no_colour_and_builtins_stay_within_16_colours() {
    use ratatui::style::Color;
    for (theme, mono) in [
        (super::theme::Theme::mono(), true),
        (super::theme::Theme::dark(), false),
        (super::theme::Theme::light(), false),
    ] {
        let mut app = fixtures::app(120, 30);
        app.theme = theme;
        select(&mut app, "c2");
        let mut frames = vec![draw(&app)];
        key(&mut app, '3');
        frames.push(draw(&app));
        for t in frames {
            for cell in t.backend().buffer().content() {
                for c in [cell.fg, cell.bg] {
                    if mono {
                        assert_eq!(c, Color::Reset, "mono drew a colour");
                    } else {
                        assert!(
                            !matches!(c, Color::Rgb(..) | Color::Indexed(_)),
                            "a built-in theme used {c:?}"
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn detail_view_beside_the_transcript() {
    let mut app = fixtures::app(160, 44);
    select(&mut app, "c3");
    let fx = key(&mut app, 'v');
    assert!(
        fx.iter().any(|e| matches!(
            e,
            super::update::Effect::Request {
                request: super::update::Request::Audit { .. },
                ..
            }
        )),
        "opening the panel fetches the call's audit trail: {fx:?}"
    );
    let mut call = app.live.calls["c3"].call.clone();
    call.cost = Some(0.37);
    call.summary = Some("Caller wants a manager about a complaint.".into());
    call.alerts.push(crate::core::model::Alert {
        kind: "ai_silent".into(),
        message: "the AI has been silent for 12 s".into(),
        at: t0() - chrono::Duration::seconds(5),
    });
    update(
        &mut app,
        Msg::Stream(StreamMsg::Event {
            seq: 11,
            event: Box::new(StreamEvent::CallUpdated { call }),
        }),
    );
    update(
        &mut app,
        Msg::Stream(StreamMsg::Event {
            seq: 12,
            event: Box::new(StreamEvent::ActionAudited {
                audit: crate::core::model::AuditEntry {
                    id: 3,
                    org: "acme".into(),
                    call_id: Some("c3".into()),
                    queue_item_id: None,
                    actor: "dana".into(),
                    role: crate::core::model::Role::Supervisor,
                    action: "takeover".into(),
                    reason: Some("caller asked for a manager".into()),
                    detail: serde_json::Value::Null,
                    ok: true,
                    error: None,
                    at: t0() - chrono::Duration::seconds(200),
                },
            }),
        }),
    );
    insta::assert_snapshot!(draw(&app).backend());
}

#[test]
fn alert_list() {
    let mut app = fixtures::app(120, 20);
    let mut call = app.live.calls["c1"].call.clone();
    call.alerts.push(crate::core::model::Alert {
        kind: "ai_silent".into(),
        message: "the AI has been silent for 12 s".into(),
        at: t0() - chrono::Duration::seconds(2),
    });
    call.state = CallState::Ended;
    call.outcome = Some("completed".into());
    update(
        &mut app,
        Msg::Stream(StreamMsg::Event {
            seq: 11,
            event: Box::new(StreamEvent::CallEnded { call }),
        }),
    );
    key(&mut app, '5');
    insta::assert_snapshot!(draw(&app).backend());
}

#[test]
fn command_line_with_completion() {
    let mut app = fixtures::app(120, 20);
    key(&mut app, ':');
    typed(&mut app, "calls provider=");
    insta::assert_snapshot!(draw(&app).backend());
}

#[test]
fn header_at_80_columns() {
    let app = fixtures::app(80, 16);
    insta::assert_snapshot!(draw(&app).backend());
}

#[test]
fn header_at_100_columns() {
    let app = fixtures::app(100, 16);
    insta::assert_snapshot!(draw(&app).backend());
}

#[test]
fn header_at_200_columns() {
    let app = fixtures::app(200, 16);
    insta::assert_snapshot!(draw(&app).backend());
}

/// Every call carries the sample transcript so each tile has words.
fn wall_app(tiles: usize) -> App {
    let mut app = fixtures::app(160, 40);
    for id in ["c2", "c3", "c4", "c5"] {
        for mut e in fixtures::transcript(id) {
            e.id = format!("{id}-{}", e.position);
            update(
                &mut app,
                Msg::Stream(StreamMsg::Event {
                    seq: 0,
                    event: Box::new(StreamEvent::TranscriptAppended { entry: e }),
                }),
            );
        }
    }
    for _ in 0..(tiles / 2) {
        key(&mut app, 'w');
    }
    assert_eq!(app.live.wall_size, tiles);
    app
}

#[test]
fn wall_of_2() {
    let app = wall_app(2);
    insta::assert_snapshot!(draw(&app).backend());
}

#[test]
fn wall_of_4() {
    let mut app = wall_app(4);
    key(&mut app, 'j'); // the focus moves to the second tile
    insta::assert_snapshot!(draw(&app).backend());
}

#[test]
fn wall_of_6() {
    let app = wall_app(6);
    insta::assert_snapshot!(draw(&app).backend());
}

/// Calls from several providers side by side; a key the selected call's provider cannot
/// carry out is refused on the status line with the gateway's sentence, no dialog.
#[test]
fn calls_from_three_providers_and_a_key_their_stack_cannot_do() {
    use crate::core::action::Capability;
    // Wide enough for the provider column (the first to go on narrower terminals).
    let mut app = fixtures::app(180, 30);
    let mut call = fixtures::calls().remove(0);
    call.provider = "Retell".into();
    call.capabilities = Some([Capability::Instruct, Capability::End, Capability::Dial].into());
    update(
        &mut app,
        Msg::Stream(StreamMsg::Event {
            seq: 11,
            event: Box::new(StreamEvent::CallUpdated { call }),
        }),
    );
    select(&mut app, "c1");
    key(&mut app, 'p');
    assert!(app.dialog().is_none());
    insta::assert_snapshot!(draw(&app).backend());
}

/// A Vapi call that can do everything, and the org's destinations with our own phone.
fn voice_app() -> App {
    use crate::core::action::Capability;
    use crate::core::protocol::{Destination, DestinationList};
    let mut app = fixtures::app(120, 30);
    let mut call = fixtures::calls().remove(0);
    call.capabilities = Some(Capability::ALL.into_iter().collect());
    update(
        &mut app,
        Msg::Stream(StreamMsg::Event {
            seq: 11,
            event: Box::new(StreamEvent::CallUpdated { call }),
        }),
    );
    app.session.destinations = Some(DestinationList {
        destinations: vec![
            Destination {
                name: "Sales desk".into(),
                to: "+12125550150".into(),
            },
            Destination {
                name: "Billing (PBX)".into(),
                to: "sip:billing@pbx.example.com".into(),
            },
        ],
        my_phone: Some("+15550001111".into()),
    });
    select(&mut app, "c1");
    app
}

#[test]
fn dialog_transfer_lists_destinations_and_warm() {
    let mut app = voice_app();
    key(&mut app, 'X');
    code(&mut app, KeyCode::Down);
    code(&mut app, KeyCode::Tab);
    insta::assert_snapshot!(draw(&app).backend());
}

#[test]
fn dialog_take_over_offers_text_or_my_phone() {
    let mut app = voice_app();
    key(&mut app, 't');
    typed(&mut app, "caller asked for a human");
    code(&mut app, KeyCode::Tab);
    code(&mut app, KeyCode::Tab);
    code(&mut app, KeyCode::Right);
    insta::assert_snapshot!(draw(&app).backend());
}

#[test]
fn dialog_take_over_says_text_only_before_confirming() {
    use crate::core::action::Capability;
    let mut app = voice_app();
    let mut call = app.live.calls["c1"].call.clone();
    call.provider = "Retell".into();
    call.capabilities = Some([Capability::TakeOver, Capability::End].into());
    update(
        &mut app,
        Msg::Stream(StreamMsg::Event {
            seq: 12,
            event: Box::new(StreamEvent::CallUpdated { call }),
        }),
    );
    key(&mut app, 't');
    typed(&mut app, "caller asked for a human");
    insta::assert_snapshot!(draw(&app).backend());
}
