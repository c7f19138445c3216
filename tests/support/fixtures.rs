// Deterministic sample data for the console's tests, snapshots and benchmark. Uses only the
// crate's public API. Included by `#[path]` from the benchmark and by `include!` from the unit
// tests (hence plain comments: an included file cannot carry inner doc comments).

use callwatch::client::StreamMsg;
use callwatch::console::app::App;
use callwatch::console::keys::Keymap;
use callwatch::console::theme::Theme;
use callwatch::console::update::{update, Msg};
use callwatch::core::model::{
    Alert, Analytics, Call, CallState, Direction, Lead, MinuteCount, QueueItem, QueueState, Role,
    Sentiment, Speaker, Takeover, TranscriptEntry,
};
use callwatch::core::protocol::{CallWithTranscript, Snapshot};
use chrono::{DateTime, Duration, TimeZone, Utc};

/// The fixed "now" of every fixture.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, 12, 0, 0)
        .single()
        .unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
}

pub struct CallSpec<'a> {
    pub id: &'a str,
    pub name: Option<&'a str>,
    pub number: &'a str,
    pub state: CallState,
    pub secs: i64,
    pub campaign: Option<&'a str>,
    pub provider: &'a str,
    pub intent: Option<&'a str>,
    pub sentiment: Sentiment,
}

pub fn call(s: CallSpec) -> Call {
    let now = t0();
    Call {
        id: s.id.to_string(),
        org: "acme".into(),
        integration: "simulator".into(),
        provider: s.provider.to_string(),
        provider_call_id: format!("p-{}", s.id),
        direction: if s.campaign.is_some() {
            Direction::Outbound
        } else {
            Direction::Inbound
        },
        from: s.number.to_string(),
        to: s.number.to_string(),
        lead: Lead {
            id: None,
            name: s.name.map(str::to_string),
        },
        campaign: s.campaign.map(str::to_string),
        assistant: Some("Riley".into()),
        state: s.state,
        created_at: now - Duration::seconds(s.secs + 5),
        started_at: Some(now - Duration::seconds(s.secs)),
        ended_at: None,
        duration_secs: None,
        intent: s.intent.map(str::to_string),
        sentiment: s.sentiment,
        outcome: None,
        cost: None,
        recording_url: None,
        summary: None,
        takeover: None,
        alerts: vec![],
        queue_item_id: None,
        capabilities: None,
        compliance: None,
        updated_at: now,
    }
}

pub fn entry(
    call_id: &str,
    pos: u32,
    speaker: Speaker,
    text: &str,
    is_final: bool,
) -> TranscriptEntry {
    TranscriptEntry {
        id: format!("{call_id}-u{pos}"),
        call_id: call_id.to_string(),
        position: pos,
        speaker,
        text: text.to_string(),
        is_final,
        at: t0() - Duration::seconds(120 - i64::from(pos) * 7),
    }
}

pub fn calls() -> Vec<Call> {
    use CallState::*;
    use Sentiment::*;
    let spec = |id, name, number, state, secs, campaign, provider, intent, sentiment| CallSpec {
        id,
        name,
        number,
        state,
        secs,
        campaign,
        provider,
        intent,
        sentiment,
    };
    let mut v = vec![
        call(spec(
            "c1",
            Some("Maria Lopez"),
            "+14155550101",
            InProgress,
            312,
            None,
            "Vapi",
            Some("billing"),
            Neutral,
        )),
        call(spec(
            "c2",
            Some("Tom Becker"),
            "+14155550102",
            AiPaused,
            95,
            Some("renewals"),
            "Retell",
            Some("cancel"),
            Negative,
        )),
        call(spec(
            "c3",
            None,
            "+442071234567",
            TakenOver,
            611,
            None,
            "Twilio",
            Some("complaint"),
            Negative,
        )),
        call(spec(
            "c4",
            Some("Aiko Tanaka"),
            "+81312345678",
            InProgress,
            48,
            Some("renewals"),
            "Bland",
            Some("upgrade"),
            Positive,
        )),
        call(spec(
            "c5",
            Some("Sam Okafor"),
            "+14155550105",
            Ringing,
            3,
            Some("winback"),
            "Vapi",
            None,
            Unknown,
        )),
    ];
    v[2].takeover = Some(Takeover {
        by: "dana".into(),
        reason: "caller asked for a manager".into(),
        notes: None,
        at: t0() - Duration::seconds(200),
        phone: None,
    });
    v[1].alerts.push(Alert {
        kind: "negative_sentiment".into(),
        message: "caller is upset".into(),
        at: t0() - Duration::seconds(30),
    });
    v
}

pub fn transcript(call_id: &str) -> Vec<TranscriptEntry> {
    use Speaker::*;
    let lines: [(Speaker, &str, bool); 9] = [
        (Ai, "Thanks for calling Acme Energy, this is Riley. How can I help you today?", true),
        (Caller, "Hi, I got a bill that is twice what I normally pay and I'd like to understand why.", true),
        (Ai, "I'm sorry to hear that. Let me pull up your account. Can you confirm the postcode on the account?", true),
        (Caller, "It's 94107.", true),
        (Ai, "Thank you. I can see your last bill included an estimated reading for October.", true),
        (System, "lookup: account 4471 · estimated read 2026-10-31", true),
        (Caller, "So the refund for the overcharge, when would I get that?", true),
        (Ai, "If you send us a meter reading today, the refund appears on your next bill.", true),
        (Caller, "Okay and can I send the reading by", false),
    ];
    lines
        .iter()
        .enumerate()
        .map(|(i, (s, t, f))| entry(call_id, i as u32, *s, t, *f))
        .collect()
}

pub fn queue() -> Vec<QueueItem> {
    let item = |id: &str,
                name: &str,
                number: &str,
                state,
                scheduled: Option<i64>,
                attempts,
                created: i64,
                last: Option<&str>| QueueItem {
        id: id.into(),
        org: "acme".into(),
        lead: Lead {
            id: Some(format!("lead-{id}")),
            name: Some(name.into()),
        },
        phone_number: number.into(),
        campaign: Some("renewals".into()),
        script: None,
        agent_settings: serde_json::Value::Null,
        scheduled_at: scheduled.map(|s| t0() + Duration::seconds(s)),
        time_zone: None,
        state,
        attempts,
        call_id: None,
        last_result: last.map(str::to_string),
        created_at: t0() - Duration::seconds(created),
        updated_at: t0(),
    };
    vec![
        item(
            "q1",
            "Lena Fischer",
            "+4930123456",
            QueueState::Pending,
            None,
            0,
            252,
            None,
        ),
        item(
            "q2",
            "Omar Haddad",
            "+14155550199",
            QueueState::Pending,
            None,
            2,
            61,
            Some("no_answer"),
        ),
        item(
            "q3",
            "Priya Nair",
            "+14155550142",
            QueueState::Scheduled,
            Some(900),
            0,
            30,
            None,
        ),
    ]
}

pub fn analytics() -> Analytics {
    let mut a = Analytics {
        total_calls: 148,
        inbound_calls: 61,
        outbound_calls: 87,
        completed_calls: 112,
        missed_calls: 24,
        completion_rate: 112.0 / 136.0,
        total_duration_minutes: 611.5,
        total_cost: 93.27,
        takeovers: 9,
        ai_containment_rate: 0.92,
        avg_handle_seconds: 247.0,
        ..Analytics::default()
    };
    for (k, v) in [
        ("billing", 41),
        ("cancel", 17),
        ("upgrade", 22),
        ("complaint", 8),
        ("moving_home", 12),
    ] {
        a.intents.insert(k.into(), v);
    }
    for (k, v) in [
        ("completed", 112),
        ("voicemail", 11),
        ("no_answer", 9),
        ("appointment_booked", 30),
        ("busy", 4),
    ] {
        a.outcomes.insert(k.into(), v);
    }
    a.calls_per_minute = (0..60)
        .map(|i| MinuteCount {
            minute: t0() - Duration::minutes(60 - i),
            count: ((i * 7 + 3) % 11) as u64 + if i > 40 { 4 } else { 0 },
        })
        .collect();
    a
}

pub fn snapshot(seq: u64) -> Snapshot {
    Snapshot {
        epoch: "e1".into(),
        seq,
        org: "acme".into(),
        calls: calls()
            .into_iter()
            .map(|c| {
                let transcript = if c.state == CallState::Ringing {
                    vec![]
                } else {
                    transcript(&c.id)
                };
                CallWithTranscript {
                    call: c,
                    transcript,
                }
            })
            .collect(),
        queue: queue(),
        analytics: analytics(),
    }
}

/// An App of `w` x `h`, connected as a supervisor, holding the sample snapshot.
pub fn app(w: u16, h: u16) -> App {
    app_with_role(w, h, Role::Supervisor)
}

pub fn app_with_role(w: u16, h: u16, role: Role) -> App {
    let mut app = App::new(
        t0(),
        Theme::dark(),
        Keymap::default(),
        "http://127.0.0.1:7878",
        false,
        vec![],
    );
    update(&mut app, Msg::Resize(w, h));
    update(
        &mut app,
        Msg::Stream(StreamMsg::Connected {
            org: "acme".into(),
            actor: "sam".into(),
            role,
            resumed: false,
            reason: None,
        }),
    );
    update(
        &mut app,
        Msg::Stream(StreamMsg::Snapshot(Box::new(snapshot(10)))),
    );
    app
}
