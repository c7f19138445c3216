//! `[gateway.bus]`: how instances tell each other what they committed
//! (docs/CONFIGURATION.md, docs/DEPLOYMENT.md).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BusKind {
    /// One gateway: its events go straight from its commits to its clients.
    #[default]
    None,
    /// Several gateways sharing a PostgreSQL store, events carried by NATS JetStream.
    Nats,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BusSettings {
    pub kind: BusKind,
    /// `nats://host:4222` (credentials in the URL are accepted and never logged).
    /// `--nats URL` wins and implies `kind = "nats"`.
    pub url: Option<String>,
    /// The JetStream stream holding the events; created if missing.
    pub stream: String,
    /// Subjects are `<subject_prefix>.<org>`; must not overlap another stream's subjects.
    pub subject_prefix: String,
    /// How long NATS keeps events (the PostgreSQL log is the record; this only covers
    /// instances catching up after a short outage).
    pub max_age_secs: u64,
    /// Gateways behind the load balancer. Rate limits are counted per instance, so each
    /// instance allows `1/instances` of every configured rate (docs/DEPLOYMENT.md).
    pub instances: u32,
}

impl Default for BusSettings {
    fn default() -> Self {
        BusSettings {
            kind: BusKind::None,
            url: None,
            stream: "CALLWATCH_EVENTS".into(),
            subject_prefix: "callwatch.events".into(),
            max_age_secs: 3600,
            instances: 1,
        }
    }
}

impl BusSettings {
    /// The NATS URL when the bus is on.
    pub fn nats_url(&self) -> Option<&str> {
        match self.kind {
            BusKind::Nats => self.url.as_deref(),
            BusKind::None => None,
        }
    }

    /// A configured rate, divided among the instances (at least 1).
    pub fn per_instance(&self, rate: u32) -> u32 {
        let n = self.instances.max(1);
        rate.div_ceil(n).max(1)
    }

    /// Each instance's share of the configured rates (see `instances`).
    pub fn divide_rates(&self, limits: &mut crate::gateway::config::Limits) {
        limits.actions_per_minute = self.per_instance(limits.actions_per_minute);
        limits.ingest_per_minute_per_address =
            self.per_instance(limits.ingest_per_minute_per_address);
        limits.ingest_per_minute_per_integration =
            self.per_instance(limits.ingest_per_minute_per_integration);
    }

    pub fn validate(&self) -> anyhow::Result<()> {
        if self.kind == BusKind::Nats {
            anyhow::ensure!(
                self.url.as_deref().is_some_and(|u| !u.trim().is_empty()),
                "[gateway.bus] kind = \"nats\" needs url = \"nats://host:4222\" (or --nats URL)"
            );
            anyhow::ensure!(
                !self.stream.is_empty()
                    && self
                        .stream
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'),
                "[gateway.bus] stream must be letters, digits, '_' or '-' (got {:?})",
                self.stream
            );
            anyhow::ensure!(
                !self.subject_prefix.is_empty()
                    && !self
                        .subject_prefix
                        .contains(|c: char| c.is_whitespace() || c == '*' || c == '>'),
                "[gateway.bus] subject_prefix must be a plain NATS subject such as \"callwatch.events\""
            );
        }
        Ok(())
    }
}

/// `url` with any password replaced, for messages and logs.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    // Several comma-separated servers may be given; redact each.
    let servers: Vec<String> = rest
        .split(',')
        .map(|server| match server.rsplit_once('@') {
            Some((userinfo, host)) => match userinfo.split_once(':') {
                Some((user, _password)) => format!("{user}:***@{host}"),
                // A bare token: it is the secret.
                None => format!("***@{host}"),
            },
            None => server.to_string(),
        })
        .collect();
    format!("{scheme}://{}", servers.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_shown() {
        assert_eq!(
            redact_url("nats://app:s3cret@nats.internal:4222"),
            "nats://app:***@nats.internal:4222"
        );
        assert_eq!(redact_url("nats://tok@h:4222"), "nats://***@h:4222");
        assert_eq!(redact_url("nats://127.0.0.1:4222"), "nats://127.0.0.1:4222");
        assert_eq!(
            redact_url("nats://a:b@h1:4222,c:d@h2:4222"),
            "nats://a:***@h1:4222,c:***@h2:4222"
        );
    }

    #[test]
    fn rates_are_divided_among_instances() {
        let mut s = BusSettings::default();
        assert_eq!(s.per_instance(60), 60);
        s.instances = 3;
        assert_eq!(s.per_instance(60), 20);
        assert_eq!(s.per_instance(2), 1);
    }

    #[test]
    fn nats_needs_a_url() {
        let s = BusSettings {
            kind: BusKind::Nats,
            ..BusSettings::default()
        };
        assert!(s.validate().is_err());
    }
}
