//! Start-up with an unreachable PostgreSQL: the real binary exits non-zero with a message
//! naming the URL without its password and what to check, and never panics.

use std::process::Command;

#[test]
fn an_unreachable_postgres_is_a_clear_error_without_the_password() {
    let dir = tempfile::tempdir().unwrap();
    // Port 1 on loopback: nothing listens there, the connection is refused at once.
    let url = "postgres://cw:s3cret-pw@127.0.0.1:1/callwatch";
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        "[[gateway.tokens]]\nname = \"sam\"\ntoken = \"tok_sam_supervisor\"\norg = \"acme\"\nrole = \"supervisor\"\n",
    )
    .unwrap();
    for args in [
        vec!["migrate", "--store", url],
        vec!["serve", "--store", url, "--listen", "127.0.0.1:0"],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_callwatch"))
            .args(["--config", config.to_str().unwrap()])
            .arg("--log-file")
            .arg(dir.path().join("cw.log"))
            .args(&args)
            .env("HOME", dir.path())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} must fail: {stderr}");
        assert!(
            stderr.contains("cannot reach PostgreSQL at postgres://cw:***@127.0.0.1:1/callwatch"),
            "{args:?}: {stderr}"
        );
        assert!(
            stderr.contains("Check that the server is running"),
            "{stderr}"
        );
        assert!(
            !stderr.contains("s3cret-pw"),
            "the password leaked: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}
