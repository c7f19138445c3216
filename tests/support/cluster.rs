//! The real PostgreSQL and NATS of the machine, for the scale-out tests: a fresh database
//! and a fresh JetStream stream per test, removed afterwards. When a service is down the
//! test is skipped with a clear message, unless `CI` is set: in CI it must run.
#![allow(dead_code)]

use std::time::Duration;

pub const PG_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
pub const NATS_URL: &str = "nats://127.0.0.1:4222";

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false")
}

fn reachable(addr: &str) -> bool {
    addr.parse()
        .ok()
        .and_then(|a| std::net::TcpStream::connect_timeout(&a, Duration::from_secs(2)).ok())
        .is_some()
}

/// True when PostgreSQL (127.0.0.1:5432) and NATS (127.0.0.1:4222) answer. False (after
/// saying why on stderr) when one is down and `CI` is unset; in CI a missing service fails
/// the test.
pub fn services_up(test: &str) -> bool {
    let mut missing = Vec::new();
    if !reachable("127.0.0.1:5432") {
        missing.push("PostgreSQL at 127.0.0.1:5432");
    }
    if !reachable("127.0.0.1:4222") {
        missing.push("NATS at 127.0.0.1:4222");
    }
    if missing.is_empty() {
        return true;
    }
    let what = missing.join(" and ");
    assert!(
        !in_ci(),
        "{test}: {what} unreachable, and CI is set: these tests must run in CI"
    );
    eprintln!("SKIPPED {test}: {what} unreachable (start them, or set CI=true to make this fail)");
    false
}

fn unique(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::new_v4().simple())
}

async fn admin() -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(PG_ADMIN_URL, tokio_postgres::NoTls)
        .await
        .expect("connect to PostgreSQL as postgres@127.0.0.1/test");
    tokio::spawn(conn);
    client
}

/// A database of its own, dropped (even with sessions still open) when this goes out of
/// scope, also when the test fails.
pub struct TestDb {
    pub name: String,
    pub url: String,
}

impl TestDb {
    pub async fn create() -> TestDb {
        let name = unique("cw_test");
        admin()
            .await
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create a test database");
        TestDb {
            url: format!("postgres://postgres@127.0.0.1:5432/{name}"),
            name,
        }
    }

    pub async fn drop_now(self) {
        drop_database(self.name.clone()).await;
    }
}

/// Runs cleanup on a thread of its own: the test's runtime may be the one unwinding.
fn on_own_runtime<F: std::future::Future<Output = ()> + Send + 'static>(f: F) {
    let _ = std::thread::spawn(move || {
        if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            rt.block_on(f);
        }
    })
    .join();
}

async fn drop_database(name: String) {
    let _ = admin()
        .await
        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await;
}

impl Drop for TestDb {
    fn drop(&mut self) {
        on_own_runtime(drop_database(self.name.clone()));
    }
}

/// A JetStream stream name and subject prefix of its own, deleted when this goes out of
/// scope (also when the test fails).
pub struct TestStream {
    pub stream: String,
    pub subject_prefix: String,
}

impl TestStream {
    pub fn new() -> TestStream {
        let id = uuid::Uuid::new_v4().simple().to_string();
        TestStream {
            stream: format!("CW_TEST_{id}"),
            subject_prefix: format!("cwtest.{id}"),
        }
    }

    pub async fn delete(&self) {
        delete_stream(self.stream.clone()).await;
    }
}

async fn delete_stream(stream: String) {
    if let Ok(client) = async_nats::connect(NATS_URL).await {
        let _ = async_nats::jetstream::new(client)
            .delete_stream(&stream)
            .await;
    }
}

impl Drop for TestStream {
    fn drop(&mut self) {
        on_own_runtime(delete_stream(self.stream.clone()));
    }
}
