//! Moving between screens: History loads its first page the first time it is shown.

use super::{history, Effect};
use crate::console::app::{App, Screen};

pub(super) fn switch(app: &mut App, screen: Screen, fx: &mut Vec<Effect>) {
    app.screen = screen;
    if screen == Screen::History && !app.history.loaded && !app.history.loading {
        history::search(app, fx);
    }
}
