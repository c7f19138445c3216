//! The TwiML callwatch answers Twilio with.

use crate::gateway::config::relay::RelayProfile;

pub use crate::gateway::providers::common::{dial_twiml as dial, xml_escape as escape};

/// `<Connect action><ConversationRelay .../></Connect>` for a call.
pub fn connect(
    socket_url: &str,
    action_url: Option<&str>,
    profile: &RelayProfile,
    params: &[(&str, &str)],
) -> String {
    let action = action_url
        .map(|a| format!(" action=\"{}\"", escape(a)))
        .unwrap_or_default();
    let mut inner = String::new();
    for (name, value) in params {
        inner.push_str(&format!(
            "<Parameter name=\"{}\" value=\"{}\"/>",
            escape(name),
            escape(value)
        ));
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Connect{action}>\
<ConversationRelay url=\"{}\" welcomeGreeting=\"{}\" ttsProvider=\"{}\" voice=\"{}\" \
transcriptionProvider=\"{}\" language=\"{}\" interruptible=\"any\">{inner}</ConversationRelay>\
</Connect></Response>",
        escape(socket_url),
        escape(&profile.welcome_greeting),
        escape(&profile.tts_provider),
        escape(&profile.voice),
        escape(&profile.transcription_provider),
        escape(&profile.language),
    )
}

/// The `<Connect action>` answer when the session ended without a hand-off.
pub fn hangup() -> String {
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Hangup/></Response>".into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_are_escaped() {
        let p = RelayProfile {
            welcome_greeting: "Hi & \"welcome\" <AI>".into(),
            ..RelayProfile::default()
        };
        let x = connect("wss://g/x", Some("https://g/a?b=1&c=2"), &p, &[("q", "1")]);
        assert!(x.contains("welcomeGreeting=\"Hi &amp; &quot;welcome&quot; &lt;AI&gt;\""));
        assert!(x.contains("action=\"https://g/a?b=1&amp;c=2\""));
        assert!(x.contains("<Parameter name=\"q\" value=\"1\"/>"));
        assert!(dial("sip:desk@pbx.example.com")
            .contains("<Dial><Sip>sip:desk@pbx.example.com</Sip></Dial>"));
        assert_eq!(dial("+1 <x>"), "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Dial>+1 &lt;x&gt;</Dial></Response>");
    }
}
