//! The NATS JetStream side of the bus: connect (with errors that say what to check),
//! make sure the stream exists, publish committed events, consume everyone's.

use std::time::Duration;

use anyhow::Context;
use async_nats::jetstream::{self, consumer, stream};
use futures::{Stream, StreamExt};
use serde::{Deserialize, Serialize};

use crate::core::protocol::StreamEvent;
use crate::gateway::bus::config::{redact_url, BusSettings};

/// What travels between instances: the events one commit logged for one org, with the
/// seqs the shared log gave them and the instance that committed them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BusMessage {
    /// The publishing instance (random per process), so it can skip its own events.
    pub origin: String,
    pub org: String,
    pub events: Vec<WireEvent>,
}

/// One logged event on the wire (`store::LoggedEvent`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WireEvent {
    pub seq: u64,
    pub event: StreamEvent,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub utterance: Option<String>,
}

#[derive(Clone)]
pub struct NatsBus {
    js: jetstream::Context,
    stream: String,
    subject_prefix: String,
}

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

impl NatsBus {
    /// Connects and creates the stream if it is missing. Fails (never panics) with the URL
    /// without its password and what to check.
    pub async fn connect(settings: &BusSettings) -> anyhow::Result<NatsBus> {
        let url = settings
            .url
            .as_deref()
            .context("[gateway.bus] has no url (set url = \"nats://host:4222\" or pass --nats)")?;
        let shown = redact_url(url);
        let client = async_nats::ConnectOptions::new()
            .connection_timeout(CONNECT_TIMEOUT)
            .name("callwatch gateway")
            .connect(url)
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "cannot connect to NATS at {shown}: {e}. Check that nats-server is running \
                     there with JetStream enabled (nats-server -js), that the address and port \
                     are right, and that this host may reach it"
                )
            })?;
        let js = jetstream::new(client);
        let subjects = vec![format!("{}.>", settings.subject_prefix)];
        let config = stream::Config {
            name: settings.stream.clone(),
            subjects,
            max_age: Duration::from_secs(settings.max_age_secs.max(60)),
            storage: stream::StorageType::File,
            // The same (org, seq) published twice (a retried publish) is kept once.
            duplicate_window: Duration::from_secs(120),
            ..Default::default()
        };
        js.get_or_create_stream(config).await.map_err(|e| {
            anyhow::anyhow!(
                "connected to NATS at {shown} but cannot use the JetStream stream {:?}: {e}. \
                 Check that JetStream is enabled (nats-server -js) and that no other stream \
                 already takes the subjects {}.>",
                settings.stream,
                settings.subject_prefix
            )
        })?;
        Ok(NatsBus {
            js,
            stream: settings.stream.clone(),
            subject_prefix: settings.subject_prefix.clone(),
        })
    }

    fn subject(&self, org: &str) -> String {
        format!("{}.{}", self.subject_prefix, subject_token(org))
    }

    /// Publishes one event and waits for JetStream to have stored it.
    pub async fn publish(&self, msg: &BusMessage) -> anyhow::Result<()> {
        let payload = serde_json::to_vec(msg)?;
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(
            "Nats-Msg-Id",
            format!(
                "{}:{}:{}",
                msg.origin,
                msg.org,
                msg.events.first().map_or(0, |e| e.seq)
            )
            .as_str(),
        );
        let ack = self
            .js
            .publish_with_headers(self.subject(&msg.org), headers, payload.into())
            .await
            .context("cannot publish to NATS")?;
        ack.await.context("NATS did not store the event")?;
        Ok(())
    }

    /// Every event published from now on, by any instance, in the stream's order. The
    /// consumer is ephemeral and ordered: NATS recreates it on a missed message, and it
    /// goes away with this process. A message that cannot be read is logged and skipped
    /// (the receiving side fills any hole from the log).
    pub async fn subscribe(&self) -> anyhow::Result<impl Stream<Item = BusMessage> + use<>> {
        let stream = self
            .js
            .get_stream(&self.stream)
            .await
            .with_context(|| format!("the JetStream stream {:?} is missing", self.stream))?;
        let consumer = stream
            .create_consumer(consumer::pull::OrderedConfig {
                deliver_policy: consumer::DeliverPolicy::New,
                filter_subject: format!("{}.>", self.subject_prefix),
                ..Default::default()
            })
            .await
            .context("cannot create a JetStream consumer")?;
        let messages = consumer
            .messages()
            .await
            .context("cannot read from the JetStream consumer")?;
        Ok(messages.filter_map(|m| async move {
            match m {
                Ok(m) => match serde_json::from_slice::<BusMessage>(&m.payload) {
                    Ok(msg) => Some(msg),
                    Err(e) => {
                        tracing::warn!(error = %e, subject = %m.subject, "unreadable bus message skipped");
                        None
                    }
                },
                Err(e) => {
                    tracing::warn!(error = %e, "bus consumer error");
                    None
                }
            }
        }))
    }

    /// Deletes the stream (tests clean up after themselves).
    pub async fn delete_stream(&self) -> anyhow::Result<()> {
        self.js
            .delete_stream(&self.stream)
            .await
            .context("cannot delete the JetStream stream")?;
        Ok(())
    }
}

/// An org id as one subject token: NATS subjects split on '.', and '*', '>' and spaces
/// are special. The message itself carries the real org.
fn subject_token(org: &str) -> String {
    org.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn org_ids_become_one_subject_token() {
        assert_eq!(subject_token("acme"), "acme");
        assert_eq!(subject_token("a.b c>*"), "a_b_c__");
    }
}
