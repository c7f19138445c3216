//! `[gateway.integrations.relay]`: the voice, greeting and language Twilio uses, the model
//! endpoint that writes the AI's replies, and what the caller hears when it cannot.

use serde::{Deserialize, Serialize};

/// Voice, greeting and language for calls on a number (ours: the `To` of an inbound call,
/// the `From` of an outbound one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RelayProfile {
    /// The number these settings apply to; empty on the default profile.
    pub number: String,
    /// Spoken by Twilio as soon as the caller connects; it carries the AI disclosure.
    pub welcome_greeting: String,
    pub tts_provider: String,
    /// ElevenLabs voice: `VOICE_ID-MODEL-SPEED_STABILITY_SIMILARITY` as Twilio documents.
    pub voice: String,
    pub transcription_provider: String,
    pub language: String,
    /// The campaign's system prompt for the model.
    pub prompt: String,
}

impl Default for RelayProfile {
    fn default() -> Self {
        RelayProfile {
            number: String::new(),
            welcome_greeting:
                "Hello, you are speaking with an automated AI assistant. How can I help?".into(),
            tts_provider: "ElevenLabs".into(),
            voice: "UgBBYS2sOqTuMpoF3BR0-flash_v2_5-1.0_0.8_0.8".into(),
            transcription_provider: "Deepgram".into(),
            language: "en-US".into(),
            prompt: "You are a helpful, concise phone assistant. Answer in one or two short spoken sentences.".into(),
        }
    }
}

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RelaySettings {
    /// OpenAI-compatible base URL; `POST {model_base_url}/chat/completions` is called.
    pub model_base_url: String,
    pub model: String,
    /// Bearer key for the model endpoint; never logged or returned.
    pub model_api_key: Option<String>,
    /// No first token within this long counts as the model failing.
    pub model_timeout_secs: u64,
    /// What the caller hears when the model is slow or down.
    pub apology: String,
    /// Spoken once when a supervisor pauses the AI; nothing when empty.
    pub holding_line: String,
    /// `[gateway.integrations.relay.default]`: the profile of numbers not listed below.
    #[serde(rename = "default")]
    pub default_profile: RelayProfile,
    /// Per-number profiles (`[[gateway.integrations.relay.numbers]]`; unset keys take the
    /// built-in defaults, not those of `default`).
    pub numbers: Vec<RelayProfile>,
}

impl Default for RelaySettings {
    fn default() -> Self {
        RelaySettings {
            model_base_url: "https://api.openai.com/v1".into(),
            model: "gpt-4o-mini".into(),
            model_api_key: None,
            model_timeout_secs: 8,
            apology: "Sorry, I am having trouble right now. Please hold on a moment.".into(),
            holding_line: String::new(),
            default_profile: RelayProfile::default(),
            numbers: Vec::new(),
        }
    }
}

// Hand-written: the model key never reaches a log line.
impl std::fmt::Debug for RelaySettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelaySettings")
            .field("model_base_url", &self.model_base_url)
            .field("model", &self.model)
            .field("numbers", &self.numbers.len())
            .finish_non_exhaustive()
    }
}

impl RelaySettings {
    /// The profile for one of our numbers, or the default one.
    pub fn profile_for(&self, number: &str) -> RelayProfile {
        self.numbers
            .iter()
            .find(|p| !number.is_empty() && p.number == number)
            .cloned()
            .unwrap_or_else(|| self.default_profile.clone())
    }

    pub fn validate(&self, name: &str) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.model_base_url.starts_with("http://")
                || self.model_base_url.starts_with("https://"),
            "integration {name:?}: relay.model_base_url must be an http(s) URL"
        );
        anyhow::ensure!(
            !self.model.trim().is_empty(),
            "integration {name:?}: relay.model is empty"
        );
        anyhow::ensure!(
            self.model_timeout_secs >= 1,
            "integration {name:?}: relay.model_timeout_secs must be at least 1"
        );
        for p in &self.numbers {
            anyhow::ensure!(
                !p.number.trim().is_empty(),
                "integration {name:?}: a relay.numbers entry has no number"
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::gateway::config::GatewayConfig;

    const RELAY: &str = r#"
[gateway]
public_url = "https://cw.example.com"

[[gateway.tokens]]
name = "dana"
token = "tok_dana_12345"
org = "acme"
role = "supervisor"
phone = "+15550001111"

[[gateway.integrations]]
name = "relay"
kind = "conversation_relay"
org = "acme"
secret = "twilio-token"

[gateway.integrations.relay]
model_base_url = "http://127.0.0.1:9/v1"
model = "m"
model_api_key = "sk-secret-key"

[gateway.integrations.relay.default]
language = "en-GB"

[[gateway.integrations.relay.numbers]]
number = "+15550009999"
language = "es-ES"
"#;

    #[test]
    fn relay_settings_parse_and_profiles_follow_the_number() {
        let config = GatewayConfig::from_toml(RELAY).expect("parses");
        assert_eq!(config.tokens[0].phone.as_deref(), Some("+15550001111"));
        let relay = config.integrations[0].relay.clone().expect("relay table");
        assert_eq!(relay.profile_for("+15550009999").language, "es-ES");
        assert_eq!(relay.profile_for("+15550000000").language, "en-GB");
        assert_eq!(relay.profile_for("").language, "en-GB");
        assert!(!format!("{relay:?}").contains("sk-secret"));
    }

    #[test]
    fn relay_settings_are_checked() {
        let without_public = RELAY.replace("public_url = \"https://cw.example.com\"", "");
        let err = GatewayConfig::from_toml(&without_public).unwrap_err();
        assert!(err.to_string().contains("public_url"), "{err}");
        let bad_url = RELAY.replace("http://127.0.0.1:9/v1", "ftp://x");
        let err = GatewayConfig::from_toml(&bad_url).unwrap_err();
        assert!(err.to_string().contains("model_base_url"), "{err}");
        let unknown = RELAY.replace("model = \"m\"", "model = \"m\"\nmodle = 1");
        assert!(GatewayConfig::from_toml(&unknown).is_err());
    }
}
