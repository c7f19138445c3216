//! The event loop and terminal life: raw mode and the alternate screen (restored on quit, on
//! panic, on SIGTERM and SIGHUP, even when the terminal is already gone),
//! redraws only when something changed, at most `max_fps` per second, each frame wrapped in
//! synchronized output so SSH users never see half a frame.

use std::io::Write;
use std::time::Duration;

use chrono::Utc;
use crossterm::event::{
    DisableBracketedPaste, DisableMouseCapture, EnableBracketedPaste, EnableMouseCapture, Event,
    EventStream, KeyEventKind,
};
use crossterm::terminal::{BeginSynchronizedUpdate, EndSynchronizedUpdate};
use futures::StreamExt;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::app::App;
use super::config::ConsoleConfig;
use super::latency::Latency;
use super::update::{update, Effect, Msg, Reply, Request};
use crate::client::{
    socketio, spawn_stream, Backend, ClientError, RestClient, StreamConfig, StreamMsg,
};
use crate::core::protocol::ActionResponse;

/// Opens the terminal and runs the console against the configured gateway.
pub async fn run(config: ConsoleConfig) -> anyhow::Result<()> {
    for w in &config.warnings {
        tracing::warn!("config: {w}");
    }
    let client = RestClient::new(&config.url, &config.token)?;
    let (stream_tx, stream_rx) = mpsc::channel::<StreamMsg>(1024);
    let stream = match config.backend {
        Backend::Gateway => {
            // Transcript entries only of the calls on screen (see `App::subscriptions`), and
            // call and analytics changes as deltas (applied in `update`).
            let stream_config = StreamConfig {
                subscriptions: true,
                deltas: true,
                ..StreamConfig::new(&config.url, &config.token)
            };
            spawn_stream(stream_config, stream_tx)
        }
        Backend::SocketIo => socketio::spawn_seed_stream(
            socketio::SeedConfig::new(&config.url, &config.token),
            stream_tx,
        ),
    };
    tracing::info!(gateway = %config.url, backend = ?config.backend, "console starting");

    let mut app = App::new(
        Utc::now(),
        config.theme.clone(),
        config.keymap.clone(),
        &config.url,
        config.mask_numbers,
        config.warnings.clone(),
    );
    app.set_linger_secs(i64::from(config.linger_secs));
    app.set_bell(config.alert_bell.clone());
    app.set_title_flash(config.alert_title.clone());
    app.session.backend = config.backend;
    let mut terminal = init_terminal(config.mouse)
        .map_err(|e| anyhow::anyhow!("callwatch needs an interactive terminal: {e}"))?;
    let io = Io { client, stream };
    let mut latency = config.latency_report.as_ref().map(|_| Latency::default());
    let result = event_loop(
        &mut terminal,
        &mut app,
        &config,
        &io,
        stream_rx,
        latency.as_mut(),
    )
    .await;
    restore_terminal(config.mouse);
    if let (Some(path), Some(latency)) = (&config.latency_report, &latency) {
        if let Err(e) = std::fs::write(path, latency.report() + "\n") {
            tracing::warn!(error = %e, path = %path.display(), "cannot write the latency report");
        }
    }
    drop(io);
    tracing::info!("console stopped");
    result
}

async fn event_loop(
    terminal: &mut ratatui::DefaultTerminal,
    app: &mut App,
    config: &ConsoleConfig,
    io: &Io,
    mut stream_rx: mpsc::Receiver<StreamMsg>,
    mut latency: Option<&mut Latency>,
) -> anyhow::Result<()> {
    let (done_tx, mut done_rx) = mpsc::channel::<Msg>(256);
    let mut events = EventStream::new();
    let mut clock = tokio::time::interval(Duration::from_secs(1));
    clock.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let frame = Duration::from_secs_f64(1.0 / f64::from(config.max_fps.max(1)));
    let mut last_draw = Instant::now() - frame;

    #[cfg(unix)]
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    #[cfg(unix)]
    let mut sighup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;

    if let Ok(size) = terminal.size() {
        run_effects(app, Msg::Resize(size.width, size.height), io, &done_tx);
    }

    // Every way out (a quit key, a signal, the terminal gone) is a `Msg` that `update` answers
    // with `Effect::Quit`; `run_effects` reports it and the loop ends here.
    let mut quit = false;
    while !quit {
        if app.is_dirty() && Instant::now() >= last_draw + frame {
            let msg = match draw(terminal, app) {
                Ok(()) => Msg::Drawn,
                Err(e) => {
                    // The terminal is gone (an SSH drop): nobody to show an error to.
                    tracing::warn!(error = %e, "cannot draw; leaving");
                    Msg::Quit
                }
            };
            last_draw = Instant::now();
            if let Some(l) = latency.as_deref_mut() {
                l.flushed(last_draw.into_std());
            }
            if run_effects(app, msg, io, &done_tx) {
                break;
            }
        }
        let next_frame = last_draw + frame;
        let dirty = app.is_dirty();
        #[cfg(unix)]
        let signal = async {
            tokio::select! {
                _ = sigterm.recv() => "SIGTERM",
                _ = sighup.recv() => "SIGHUP",
            }
        };
        #[cfg(not(unix))]
        let signal = std::future::pending::<&str>();
        quit = tokio::select! {
            ev = events.next() => match ev {
                Some(Ok(ev)) => match event_msg(ev) {
                    Some(msg) => run_effects(app, msg, io, &done_tx),
                    None => false,
                },
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "cannot read the terminal; leaving");
                    run_effects(app, Msg::Quit, io, &done_tx)
                }
                None => run_effects(app, Msg::Quit, io, &done_tx),
            },
            Some(m) = stream_rx.recv() => {
                let mut quit = stream_msg(app, m, io, &done_tx, latency.as_deref_mut());
                // Drain everything already waiting: one frame for a burst of events.
                while !quit {
                    let Ok(m) = stream_rx.try_recv() else { break };
                    quit = stream_msg(app, m, io, &done_tx, latency.as_deref_mut());
                }
                quit
            }
            Some(m) = done_rx.recv() => run_effects(app, m, io, &done_tx),
            _ = clock.tick() => run_effects(app, Msg::Tick(Utc::now()), io, &done_tx),
            _ = tokio::time::sleep_until(next_frame), if dirty => false,
            name = signal => {
                tracing::info!("{name}: leaving");
                run_effects(app, Msg::Quit, io, &done_tx)
            }
        };
    }
    Ok(())
}

/// One message from the stream; with a latency report, an event that leaves something to
/// draw is timed until its frame is flushed.
fn stream_msg(
    app: &mut App,
    m: StreamMsg,
    io: &Io,
    done: &mpsc::Sender<Msg>,
    latency: Option<&mut Latency>,
) -> bool {
    let arrived = Instant::now();
    let timed = matches!(
        m,
        StreamMsg::Event { .. } | StreamMsg::Delta { .. } | StreamMsg::Subscribed { .. }
    );
    let quit = run_effects(app, Msg::Stream(m), io, done);
    if let Some(l) = latency.filter(|_| timed && app.is_dirty()) {
        l.received(arrived.into_std());
    }
    quit
}

/// Raw mode, alternate screen, bracketed paste (and mouse when asked), plus a panic hook that
/// undoes them. Done here rather than with `ratatui::init` because its restore reports
/// failures with `eprintln!`, which panics (and then aborts, skipping every cleanup) when an
/// SSH drop has already closed the terminal.
fn init_terminal(mouse: bool) -> std::io::Result<ratatui::DefaultTerminal> {
    crossterm::terminal::enable_raw_mode()?;
    let entered = crossterm::execute!(
        std::io::stdout(),
        crossterm::terminal::EnterAlternateScreen,
        EnableBracketedPaste
    )
    .and_then(|()| {
        if mouse {
            crossterm::execute!(std::io::stdout(), EnableMouseCapture)
        } else {
            Ok(())
        }
    });
    if let Err(e) = entered {
        restore_terminal(mouse);
        return Err(e);
    }
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore_terminal(mouse);
        previous(info);
    }));
    ratatui::Terminal::new(ratatui::backend::CrosstermBackend::new(std::io::stdout()))
}

/// Best effort and silent: the terminal may already be gone.
fn restore_terminal(mouse: bool) {
    let mut out = std::io::stdout();
    if mouse {
        let _ = crossterm::execute!(out, DisableMouseCapture);
    }
    let _ = crossterm::execute!(
        out,
        DisableBracketedPaste,
        crossterm::terminal::LeaveAlternateScreen,
        crossterm::cursor::Show
    );
    let _ = crossterm::terminal::disable_raw_mode();
}

fn draw(terminal: &mut ratatui::DefaultTerminal, app: &App) -> anyhow::Result<()> {
    let mut out = std::io::stdout();
    let _ = crossterm::queue!(out, BeginSynchronizedUpdate);
    terminal.draw(|f| super::ui::render(f, app))?;
    let _ = crossterm::queue!(out, EndSynchronizedUpdate);
    let _ = out.flush();
    Ok(())
}

fn event_msg(ev: Event) -> Option<Msg> {
    match ev {
        Event::Key(k) if k.kind != KeyEventKind::Release => Some(Msg::Key(k)),
        Event::Paste(s) => Some(Msg::Paste(s)),
        Event::Mouse(m) => Some(Msg::Mouse(m)),
        Event::Resize(w, h) => Some(Msg::Resize(w, h)),
        _ => None,
    }
}

/// Runs `msg` through `update` and performs its effects. True when one of them is `Quit`.
/// What effects reach: the gateway's REST API and the stream task.
struct Io {
    client: RestClient,
    stream: crate::client::StreamHandle,
}

fn run_effects(app: &mut App, msg: Msg, io: &Io, done: &mpsc::Sender<Msg>) -> bool {
    let mut quit = false;
    for effect in update(app, msg) {
        match effect {
            Effect::Quit => quit = true,
            Effect::Resync { seq } => io.stream.resync(seq),
            Effect::Bell => {
                // BEL to the terminal; a failed write only loses the ring.
                let mut out = std::io::stdout();
                let _ = out.write_all(b"\x07").and_then(|()| out.flush());
            }
            Effect::Title(text) => {
                // The terminal's title (OSC 0); a failed write only loses the flash.
                let text = text.unwrap_or_else(|| "callwatch".into());
                let _ = crossterm::execute!(std::io::stdout(), crossterm::terminal::SetTitle(text));
            }
            Effect::Export { id, path, contents } => {
                let done = done.clone();
                tokio::spawn(async move {
                    let result = tokio::fs::write(&path, contents)
                        .await
                        .map(|()| Reply::Written {
                            path: path.display().to_string(),
                        })
                        .map_err(|e| format!("cannot write {}: {e}", path.display()));
                    let _ = done.send(Msg::Done { id, result }).await;
                });
            }
            Effect::Request { id, request } => {
                let client = io.client.clone();
                let done = done.clone();
                let backend = app.session.backend;
                tokio::spawn(async move {
                    let result = match backend {
                        Backend::Gateway => execute(&client, request).await,
                        Backend::SocketIo => execute_seed(&client, request).await,
                    };
                    let result = result.map_err(|e| e.to_string());
                    let _ = done.send(Msg::Done { id, result }).await;
                });
            }
        }
    }
    // Presence: the gateway learns which call is on screen (the handle sends only changes).
    io.stream.watch(app.shown_call());
    io.stream.subscribe(app.subscriptions());
    quit
}

/// Performs one request against the gateway.
pub async fn execute(client: &RestClient, request: Request) -> Result<Reply, ClientError> {
    let action = |r: ActionResponse| Reply::Action(Box::new(r));
    Ok(match request {
        Request::Act {
            call_id,
            action: act,
        } => action(client.act(&call_id, &act).await?),
        Request::Summarize { call_id } => action(client.summary(&call_id).await?),
        Request::AddToDnc { number, call_id } => {
            let reason = format!("asked on call {call_id}");
            client.add_dnc(&number, "caller_request", &reason).await?;
            Reply::Dnc
        }
        Request::DialNow { item_id } => {
            Reply::QueueItem(client.dial_now(&item_id).await?.map(Box::new))
        }
        Request::CancelQueued { item_id } => {
            Reply::QueueItem(client.cancel_queue_item(&item_id).await?.map(Box::new))
        }
        Request::History { q, cursor } => {
            // `key=value` words are field filters (`:history direction=inbound`).
            let search = crate::client::HistoryQuery::search(&q);
            let list = client
                .calls(&crate::client::HistoryQuery {
                    status: search.status.or(Some("ended".into())),
                    limit: Some(100),
                    cursor,
                    ..search
                })
                .await?;
            Reply::History {
                calls: list.calls,
                next_cursor: list.next_cursor,
            }
        }
        Request::Audit { call_id } => {
            let entries = client.audit(Some(&call_id), 50).await?;
            Reply::Audit { call_id, entries }
        }
        Request::Destinations => Reply::Destinations(client.destinations().await?),
        Request::Open { call_id } => {
            let (call, transcript) =
                tokio::join!(client.call(&call_id), client.transcript(&call_id));
            Reply::Detail {
                call: Box::new(call?),
                transcript: transcript?,
            }
        }
        Request::AddToQueue(item) => {
            Reply::QueueItem(Some(Box::new(client.initiate(&item).await?)))
        }
        Request::AuditLog => Reply::AuditLog(client.audit(None, 200).await?),
        Request::WebhookLog => Reply::WebhookLog(client.webhook_log(200).await?),
        Request::Analytics { range, group_by } => Reply::Analytics(Box::new(
            client
                .analytics_for(range.as_deref(), group_by.as_deref())
                .await?,
        )),
    })
}

/// Performs one request against a seed backend: only what it has endpoints for (the keys for
/// the rest are refused before a request is made; screens that read still get a clear error).
pub async fn execute_seed(client: &RestClient, request: Request) -> Result<Reply, ClientError> {
    match request {
        Request::Act { call_id, action } => Ok(Reply::Action(Box::new(
            client
                .seed_act(socketio::SEED_ORG, &call_id, &action)
                .await?,
        ))),
        Request::Summarize { .. } => Err(socketio::seed_unsupported("write call summaries")),
        Request::DialNow { .. } | Request::CancelQueued { .. } => {
            Err(socketio::seed_unsupported("dial or cancel queued calls"))
        }
        Request::History { .. } | Request::Open { .. } => {
            Err(socketio::seed_unsupported("list ended calls"))
        }
        Request::AddToDnc { .. } => Err(socketio::seed_unsupported("keep a do-not-call list")),
        Request::Audit { .. } => Err(socketio::seed_unsupported("read the audit log")),
        Request::Destinations => Err(socketio::seed_unsupported("list transfer destinations")),
        Request::AuditLog => Err(socketio::seed_unsupported("read the audit log")),
        Request::AddToQueue(_) => Err(socketio::seed_unsupported("add calls to the queue")),
        Request::WebhookLog => Err(socketio::seed_unsupported("read the webhook log")),
        Request::Analytics { .. } => Err(socketio::seed_unsupported(
            "compute analytics for a range or grouping",
        )),
    }
}
