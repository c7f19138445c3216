//! ConversationRelay latency benchmark: the gateway's own overhead from a caller's final
//! `prompt` frame to the first `text` token it sends back to Twilio, with a local stand-in
//! chat-completions endpoint that streams its answer at once. 20 calls of 50 turns each
//! (1,000 turns) over a real websocket to a real gateway (SQLite file, every transcript
//! line committed); prints p50/p99/max (goal: p99 <= 5 ms).
//! Run with `cargo bench --bench relay_latency`.

use std::time::{Duration, Instant};

use callwatch::core::model::Role;
use callwatch::gateway::config::{IntegrationConfig, IntegrationKind};
use callwatch::gateway::providers::relay::RelaySettings;
use callwatch::gateway::providers::twilio;
use callwatch::gateway::{start, GatewayConfig, GatewayOptions};
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

const TOKEN: &str = "twilio_bench_token";
const PUBLIC: &str = "https://callwatch.example.com";
const CALLS: usize = 20;
const TURNS: usize = 50;

/// Answers every request at once with a short streamed reply.
async fn model() -> anyhow::Result<String> {
    let app = axum::Router::new().route(
        "/v1/chat/completions",
        axum::routing::post(|| async {
            let mut body = String::new();
            for t in ["Sure", ", that", " works."] {
                body.push_str(&format!(
                    "data: {}\n\n",
                    json!({"choices": [{"delta": {"content": t}}]})
                ));
            }
            body.push_str("data: [DONE]\n\n");
            (
                [(axum::http::header::CONTENT_TYPE, "text/event-stream")],
                body,
            )
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/v1", listener.local_addr()?);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(url)
}

async fn next_text(
    ws: &mut tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
) -> anyhow::Result<Value> {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await?
            .ok_or_else(|| anyhow::anyhow!("the socket closed"))??;
        if let Message::Text(t) = frame {
            return Ok(serde_json::from_str(t.as_str())?);
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let model_url = model().await?;
    let dir = tempfile::tempdir()?;
    let mut relay =
        IntegrationConfig::new("relay", IntegrationKind::ConversationRelay, "acme", TOKEN);
    relay.relay = Some(RelaySettings {
        model_base_url: model_url,
        model: "bench".into(),
        ..RelaySettings::default()
    });
    let mut config = GatewayConfig::default()
        .with_token("sam", "tok_bench_supervisor", "acme", Role::Supervisor)
        .with_integration(relay);
    config.public_url = Some(PUBLIC.into());
    let gw = start(GatewayOptions::new(config, dir.path().join("cw.db"))).await?;
    let socket = format!(
        "{}/webhooks/relay/relay",
        gw.url().replace("http://", "ws://")
    );
    let signature = twilio::signature(
        TOKEN,
        "wss://callwatch.example.com/webhooks/relay/relay",
        &[],
    );

    let mut samples = Vec::with_capacity(CALLS * TURNS);
    for call in 0..CALLS {
        let mut req = socket.clone().into_client_request()?;
        req.headers_mut()
            .insert("x-twilio-signature", signature.parse()?);
        // As Twilio's media edge would: no Nagle delay on the client's small frames.
        let (mut ws, _) = tokio_tungstenite::connect_async_with_config(req, None, true).await?;
        let setup = json!({
            "type": "setup", "sessionId": format!("VXbench{call}"), "callSid": format!("CAbench{call}"),
            "from": "+15557770000", "to": "+15558880000", "direction": "inbound",
            "callStatus": "RINGING", "customParameters": {}
        });
        ws.send(Message::Text(setup.to_string().into())).await?;
        for turn in 0..TURNS {
            let prompt = json!({
                "type": "prompt", "voicePrompt": format!("question number {turn}"),
                "lang": "en-US", "last": true
            })
            .to_string();
            let started = Instant::now();
            ws.send(Message::Text(prompt.into())).await?;
            let first = next_text(&mut ws).await?;
            samples.push(started.elapsed());
            anyhow::ensure!(first["type"] == "text", "unexpected {first}");
            // Drain the rest of the turn.
            let mut last = first;
            while last["last"] != true {
                last = next_text(&mut ws).await?;
            }
        }
        ws.close(None).await?;
    }
    gw.shutdown().await;

    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)];
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "relay prompt -> first text token over {} turns: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms (goal: p99 <= 5 ms)",
        samples.len(),
        ms(at(0.50)),
        ms(at(0.99)),
        ms(samples[samples.len() - 1])
    );
    Ok(())
}
