//! Memory per idle connection: the server's RSS before and after 1,000 idle websocket
//! clients, divided by 1,000 (callwatch's `/api/stream`, and Socket.IO on the Node peer).

use std::time::Duration;

use futures::future::join_all;
use tokio::sync::watch;

use crate::procs::{Gateway, NodePeer, VIEWER};
use crate::report::Table;
use crate::ws::{open_socketio, open_stream, Ready};
use crate::Settings;

const CLIENTS: usize = 1000;

/// RSS after the clients connected minus before, per client, in KB; the clients stay
/// connected until the measurement is taken.
async fn per_client_kb<F, Fut>(
    rss: impl Fn() -> u64,
    open: F,
    settle: Duration,
) -> anyhow::Result<f64>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Ready>>,
{
    tokio::time::sleep(settle).await;
    let before = rss();
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = Vec::with_capacity(CLIENTS);
    for _ in 0..CLIENTS / 100 {
        for r in join_all((0..100).map(|_| open())).await {
            tasks.push(tokio::spawn(r?.idle(stop_rx.clone())));
        }
    }
    tokio::time::sleep(settle).await;
    let after = rss();
    let _ = stop_tx.send(true);
    join_all(tasks).await;
    Ok((after.saturating_sub(before)) as f64 / CLIENTS as f64 / 1024.0)
}

pub async fn run(settings: &Settings, table: &mut Table) -> anyhow::Result<()> {
    let settle = settings.settle;
    let gw = Gateway::start(&settings.bin, None)?;
    let url = gw.ws_url("/api/stream");
    let cw = per_client_kb(|| gw.rss(), || open_stream(&url, VIEWER), settle).await?;
    table.at_most("memory per idle stream client (callwatch)", cw, 30.0, "KB");
    drop(gw);
    match NodePeer::start() {
        Ok(node) => {
            let base = node.url.clone();
            let kb = per_client_kb(|| node.rss(), || open_socketio(&base, "idle"), settle).await?;
            table.info(
                "memory per idle Socket.IO client (Node peer)",
                format!("{kb:.1} KB"),
            );
        }
        Err(e) => table.note(format!("Node memory comparison skipped: {e}")),
    }
    Ok(())
}
