//! The scale-out building blocks against the real services of the machine: the NATS bus
//! (round trip, unreachable server) and the PostgreSQL lease (one holder, takeover when the
//! holder's session dies). Skipped with a message when the services are down and CI is
//! unset.

#[path = "support/cluster.rs"]
mod cluster;

use std::time::{Duration, Instant};

use callwatch::core::model::Analytics;
use callwatch::core::protocol::StreamEvent;
use callwatch::gateway::bus::{BusKind, BusMessage, BusSettings, NatsBus, WireEvent};
use callwatch::gateway::lease::Lease;
use cluster::{services_up, TestDb, TestStream, NATS_URL};
use futures::StreamExt;
use tokio::sync::watch;

fn settings(s: &TestStream) -> BusSettings {
    BusSettings {
        kind: BusKind::Nats,
        url: Some(NATS_URL.into()),
        stream: s.stream.clone(),
        subject_prefix: s.subject_prefix.clone(),
        ..BusSettings::default()
    }
}

fn message(origin: &str, org: &str, seq: u64) -> BusMessage {
    BusMessage {
        origin: origin.into(),
        org: org.into(),
        events: vec![WireEvent {
            seq,
            event: StreamEvent::AnalyticsUpdated {
                analytics: Analytics::default(),
            },
            utterance: None,
        }],
    }
}

#[tokio::test]
async fn what_one_instance_publishes_every_instance_receives_in_order() {
    if !services_up("bus round trip") {
        return;
    }
    let ts = TestStream::new();
    let a = NatsBus::connect(&settings(&ts)).await.unwrap();
    let b = NatsBus::connect(&settings(&ts)).await.unwrap();
    let mut on_a = Box::pin(a.subscribe().await.unwrap());
    let mut on_b = Box::pin(b.subscribe().await.unwrap());
    for seq in 1..=20 {
        let from = if seq % 2 == 0 { &a } else { &b };
        // Orgs with characters NATS subjects cannot carry still arrive under their own name.
        from.publish(&message("x", "acme.eu west", seq))
            .await
            .unwrap();
    }
    for rx in [&mut on_a, &mut on_b] {
        let mut seqs = Vec::new();
        while seqs.len() < 20 {
            let m = tokio::time::timeout(Duration::from_secs(10), rx.next())
                .await
                .expect("a published event never arrived")
                .unwrap();
            assert_eq!(m.org, "acme.eu west");
            seqs.push(m.events[0].seq);
        }
        assert_eq!(seqs, (1..=20).collect::<Vec<_>>());
    }
    a.delete_stream().await.unwrap();
    ts.delete().await;
}

#[tokio::test]
async fn an_unreachable_nats_is_a_clear_error_without_the_password() {
    let s = BusSettings {
        kind: BusKind::Nats,
        // Port 9 (discard) is closed on the test machines.
        url: Some("nats://app:hunter2@127.0.0.1:9".into()),
        ..BusSettings::default()
    };
    let err = format!("{:#}", NatsBus::connect(&s).await.err().unwrap());
    assert!(err.contains("nats://app:***@127.0.0.1:9"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
    assert!(err.contains("nats-server"), "{err}");
}

async fn until(what: &str, limit: Duration, mut ok: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ok() {
        assert!(start.elapsed() < limit, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn one_holder_at_a_time_and_a_survivor_takes_over() {
    if !services_up("lease takeover") {
        return;
    }
    let db = TestDb::create().await;
    let scope = "lease-test".to_string();
    let (stop_a, rx_a) = watch::channel(false);
    let (lease_a, task_a) = Lease::spawn(db.url.clone(), scope.clone(), "scheduler", rx_a);
    until(
        "the first instance holds the lease",
        Duration::from_secs(15),
        || lease_a.is_held(),
    )
    .await;
    let (_stop_b, rx_b) = watch::channel(false);
    let (lease_b, _task_b) = Lease::spawn(db.url.clone(), scope.clone(), "scheduler", rx_b);
    let (_stop_c, rx_c) = watch::channel(false);
    let (lease_c, _task_c) = Lease::spawn(db.url.clone(), scope, "scheduler", rx_c);
    // Both have tried (their sessions exist) and neither got it while A holds it.
    for _ in 0..3 {
        tokio::time::sleep(cw_try_every()).await;
        assert!(lease_a.is_held());
        assert!(!lease_b.is_held() && !lease_c.is_held());
    }
    // A dies without a word (its task and session vanish): one of B and C takes over.
    task_a.abort();
    drop(stop_a);
    until(
        "a survivor holds the lease",
        Duration::from_secs(15),
        || lease_b.is_held() || lease_c.is_held(),
    )
    .await;
    assert!(!(lease_b.is_held() && lease_c.is_held()));
    db.drop_now().await;
}

fn cw_try_every() -> Duration {
    callwatch::gateway::lease::TRY_EVERY + Duration::from_millis(200)
}

#[tokio::test]
async fn the_bus_without_a_shared_store_is_refused_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = callwatch::gateway::GatewayConfig::default().with_token(
        "sam",
        "tok_scaleout_x",
        "acme",
        callwatch::core::model::Role::Supervisor,
    );
    config.bus.kind = BusKind::Nats;
    config.bus.url = Some(NATS_URL.into());
    let options = callwatch::gateway::GatewayOptions::new(config, dir.path().join("cw.db"));
    let err = format!(
        "{:#}",
        callwatch::gateway::start(options).await.err().unwrap()
    );
    assert!(err.contains("needs a store all instances share"), "{err}");
}
