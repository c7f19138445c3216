//! Transfer, take over with a voice and hand back: refused up front where the provider
//! cannot, and otherwise sent exactly as the dialog showed.

use crossterm::event::KeyCode;

use super::{code, event, fixtures, key, request, select, status, typed};
use crate::console::app::{App, StatusKind};
use crate::console::update::{update, CallAction, Effect, Msg, Reply, Request};
use crate::core::action::{Capability, TakeoverMode, TransferMode};
use crate::core::model::Role;
use crate::core::protocol::{Destination, DestinationList, StreamEvent};

fn with_caps(app: &mut App, id: &str, provider: &str, caps: &[Capability], seq: u64) {
    let mut call = app.live.calls[id].call.clone();
    call.provider = provider.into();
    call.capabilities = Some(caps.iter().copied().collect());
    event(app, seq, StreamEvent::CallUpdated { call });
}

/// Answers the destinations request among `fx`.
fn answer_destinations(app: &mut App, fx: &[Effect], my_phone: Option<&str>) {
    let id = fx
        .iter()
        .find_map(|e| match e {
            Effect::Request {
                id,
                request: Request::Destinations,
            } => Some(*id),
            _ => None,
        })
        .expect("the dialog asks for the destinations");
    let list = DestinationList {
        destinations: vec![
            Destination {
                name: "Sales desk".into(),
                to: "+15550002222".into(),
            },
            Destination {
                name: "Billing".into(),
                to: "sip:billing@pbx.example.com".into(),
            },
        ],
        my_phone: my_phone.map(String::from),
    };
    update(
        app,
        Msg::Done {
            id,
            result: Ok(Reply::Destinations(list)),
        },
    );
}

#[test]
fn transfer_is_refused_before_any_dialog_on_a_provider_that_cannot() {
    let mut app = fixtures::app(120, 30);
    with_caps(
        &mut app,
        "c1",
        "Retell",
        &[Capability::Instruct, Capability::End],
        11,
    );
    select(&mut app, "c1");
    assert!(key(&mut app, 'X').is_empty(), "nothing is asked of anyone");
    assert!(app.dialog().is_none());
    assert_eq!(
        status(&app),
        (
            StatusKind::Error,
            "cannot transfer call: Retell cannot transfer the call".into()
        )
    );
    // An agent may not transfer at all.
    let mut app = fixtures::app_with_role(120, 30, Role::Agent);
    select(&mut app, "c1");
    assert!(key(&mut app, 'X').is_empty());
    assert!(app.dialog().is_none());
}

#[test]
fn transfer_dialog_sends_the_picked_destination_or_a_typed_address() {
    let mut app = fixtures::app(120, 30);
    with_caps(
        &mut app,
        "c1",
        "Vapi",
        &[Capability::Transfer, Capability::WarmTransfer],
        11,
    );
    select(&mut app, "c1");
    let fx = key(&mut app, 'X');
    answer_destinations(&mut app, &fx, None);
    code(&mut app, KeyCode::Down);
    let (_, req) = request(&code(&mut app, KeyCode::Enter));
    assert_eq!(
        req,
        Request::Act {
            call_id: "c1".into(),
            action: CallAction::Transfer {
                to: "sip:billing@pbx.example.com".into(),
                name: Some("Billing".into()),
                mode: TransferMode::Cold,
                summary: None,
            }
        }
    );
    assert!(app.dialog().is_none());

    // Typing starts the typed address; a bad one is refused in the dialog; tab is warm.
    let fx = key(&mut app, 'X');
    assert!(fx.is_empty(), "the destinations are known now: {fx:?}");
    typed(&mut app, "555");
    assert!(code(&mut app, KeyCode::Enter).is_empty());
    assert!(app.dialog().is_some(), "stays open with the reason");
    code(&mut app, KeyCode::Backspace);
    code(&mut app, KeyCode::Backspace);
    code(&mut app, KeyCode::Backspace);
    typed(&mut app, "+15550009999");
    code(&mut app, KeyCode::Tab);
    let (_, req) = request(&code(&mut app, KeyCode::Enter));
    assert_eq!(
        req,
        Request::Act {
            call_id: "c1".into(),
            action: CallAction::Transfer {
                to: "+15550009999".into(),
                name: None,
                mode: TransferMode::Warm,
                summary: None,
            }
        }
    );
}

#[test]
fn a_pasted_address_is_the_one_sent() {
    let mut app = fixtures::app(120, 30);
    select(&mut app, "c1");
    let fx = key(&mut app, 'X');
    answer_destinations(&mut app, &fx, None);
    update(&mut app, Msg::Paste("sip:desk@pbx.example.com".into()));
    let (_, req) = request(&code(&mut app, KeyCode::Enter));
    assert!(
        matches!(&req, Request::Act { action: CallAction::Transfer { to, name: None, .. }, .. } if to == "sip:desk@pbx.example.com"),
        "{req:?}"
    );
}

#[test]
fn warm_is_refused_in_the_dialog_where_the_provider_transfers_cold_only() {
    let mut app = fixtures::app(120, 30);
    with_caps(&mut app, "c1", "Twilio", &[Capability::Transfer], 11);
    select(&mut app, "c1");
    let fx = key(&mut app, 'X');
    answer_destinations(&mut app, &fx, None);
    code(&mut app, KeyCode::Tab);
    match app.dialog() {
        Some(crate::console::app::Dialog::Transfer { warm, error, .. }) => {
            assert!(!warm);
            assert_eq!(error.as_deref(), Some("Twilio transfers cold only"));
        }
        _ => panic!("the transfer dialog stays open"),
    }
}

#[test]
fn take_over_sends_the_voice_the_dialog_showed() {
    let both = [
        Capability::TakeOver,
        Capability::PhoneTakeOver,
        Capability::HandBack,
    ];
    // Both offered: the default is type to talk; tab to the choice, → picks the phone.
    let mut app = fixtures::app(120, 30);
    with_caps(&mut app, "c1", "Vapi", &both, 11);
    select(&mut app, "c1");
    let fx = key(&mut app, 't');
    answer_destinations(&mut app, &fx, Some("+15550001111"));
    typed(&mut app, "VIP");
    code(&mut app, KeyCode::Tab);
    code(&mut app, KeyCode::Tab);
    code(&mut app, KeyCode::Right);
    let (_, req) = request(&code(&mut app, KeyCode::Enter));
    assert_eq!(
        req,
        Request::Act {
            call_id: "c1".into(),
            action: CallAction::TakeOver {
                reason: "VIP".into(),
                notes: None,
                mode: Some(TakeoverMode::Phone),
                phone: None,
            }
        }
    );
    assert_eq!(
        status(&app),
        (
            StatusKind::Pending,
            "putting the call with Maria Lopez through to your phone…".into()
        )
    );

    // A provider that cannot bridge: text, whatever the phone.
    let mut app = fixtures::app(120, 30);
    with_caps(&mut app, "c1", "Retell", &[Capability::TakeOver], 11);
    select(&mut app, "c1");
    let fx = key(&mut app, 't');
    answer_destinations(&mut app, &fx, Some("+15550001111"));
    typed(&mut app, "VIP");
    let (_, req) = request(&code(&mut app, KeyCode::Enter));
    assert!(matches!(
        req,
        Request::Act {
            action: CallAction::TakeOver {
                mode: Some(TakeoverMode::Text),
                ..
            },
            ..
        }
    ));

    // Phone only and no phone of ours: the dialog says why and sends nothing.
    let mut app = fixtures::app(120, 30);
    with_caps(&mut app, "c1", "Twilio", &[Capability::PhoneTakeOver], 11);
    select(&mut app, "c1");
    let fx = key(&mut app, 't');
    answer_destinations(&mut app, &fx, None);
    typed(&mut app, "VIP");
    assert!(code(&mut app, KeyCode::Enter).is_empty());
    match app.dialog() {
        Some(crate::console::app::Dialog::TakeOver { error, .. }) => assert!(
            error
                .as_deref()
                .is_some_and(|e| e.starts_with("Twilio can only take over")),
            "{error:?}"
        ),
        _ => panic!("the take over dialog stays open"),
    }
}

#[test]
fn hand_back_is_the_takers_or_a_supervisors() {
    // c3 is taken over by dana. Sam, a supervisor, may hand it back.
    let mut app = fixtures::app(120, 30);
    select(&mut app, "c3");
    let (_, req) = request(&key(&mut app, 'b'));
    assert_eq!(
        req,
        Request::Act {
            call_id: "c3".into(),
            action: CallAction::HandBack
        }
    );
    // An agent who is not dana may not.
    let mut app = fixtures::app_with_role(120, 30, Role::Agent);
    select(&mut app, "c3");
    assert!(key(&mut app, 'b').is_empty());
    assert_eq!(
        status(&app),
        (
            StatusKind::Error,
            "cannot hand back to AI: only dana, who took the call over, or a supervisor may hand it back to the AI".into()
        )
    );
    // Nothing to hand back on a call nobody holds.
    select(&mut app, "c1");
    assert!(key(&mut app, 'b').is_empty());
}
