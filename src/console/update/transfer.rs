//! The transfer dialog: the org's named destinations, then a row to type a number or SIP
//! URI; cold, or warm where the provider can. Also asks the gateway for the destinations
//! (and our own phone, for the take over dialog) the first time either dialog opens.

use crossterm::event::{KeyCode, KeyEvent};

use super::dialog_parts::{focus_area, still_allowed};
use super::{start, CallAction, Effect, Request};
use crate::console::app::handoff;
use crate::console::app::{App, Dialog};
use crate::console::keys::Action;
use crate::core::action::{valid_destination, TransferMode};

/// Asks for `GET /api/destinations` unless known or already asked.
pub(super) fn ask_destinations(app: &mut App, fx: &mut Vec<Effect>) {
    if app.session.destinations.is_some() || app.session.destinations_request.is_some() {
        return;
    }
    let id = app.requests.id();
    app.session.destinations_request = Some(id);
    fx.push(Effect::Request {
        id,
        request: Request::Destinations,
    });
}

/// A key in the transfer dialog; `true` when the dialog is done (submitted).
pub(super) fn key(
    app: &mut App,
    dialog: &mut Dialog,
    ev: KeyEvent,
    submit: bool,
    fx: &mut Vec<Effect>,
) -> bool {
    let Dialog::Transfer {
        call_id,
        who,
        selected,
        typed,
        warm,
        error,
        ..
    } = dialog
    else {
        return false;
    };
    let named = handoff::destinations(app).to_vec();
    let typed_row = named.len();
    *selected = (*selected).min(typed_row);
    let warm_ok = app
        .live
        .calls
        .get(call_id.as_str())
        .map_or(Ok(()), |v| handoff::warm_allowed(&v.call));
    if submit {
        let (to, name) = match named.get(*selected) {
            Some(d) => (d.to.clone(), Some(d.name.clone())),
            None => (typed.lines().join("").trim().to_string(), None),
        };
        if name.is_none() && !valid_destination(&to) {
            *error = Some("type a number such as +15550001111 or a sip: URI".into());
            return false;
        }
        if *warm {
            if let Err(why) = &warm_ok {
                *error = Some(why.clone());
                return false;
            }
        }
        let (id, who) = (call_id.clone(), who.clone());
        if let Err(e) = still_allowed(app, Action::Transfer, &id) {
            *error = Some(e);
            return false;
        }
        let place = name.clone().unwrap_or_else(|| to.clone());
        let mode = if *warm {
            TransferMode::Warm
        } else {
            TransferMode::Cold
        };
        start(
            app,
            format!("transferring the call with {who} to {place}"),
            Request::Act {
                call_id: id,
                action: CallAction::Transfer {
                    to,
                    name,
                    mode,
                    summary: None,
                },
            },
            fx,
        );
        return true;
    }
    match ev.code {
        KeyCode::Up => *selected = selected.saturating_sub(1),
        KeyCode::Down => *selected = (*selected + 1).min(typed_row),
        KeyCode::Tab | KeyCode::BackTab => match warm_ok {
            Ok(()) => *warm = !*warm,
            Err(why) => *error = Some(why),
        },
        _ if *selected == typed_row => {
            typed.input(ev);
            *error = None;
        }
        // Typing on a named row starts the typed address.
        KeyCode::Char(_) => {
            *selected = typed_row;
            typed.input(ev);
            *error = None;
        }
        _ => {}
    }
    focus_area(typed, *selected == typed_row);
    false
}
