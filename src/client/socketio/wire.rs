//! Engine.IO v4 / Socket.IO v5 text packets, one per websocket frame: just what the client
//! needs (open, ping, close, CONNECT, CONNECT_ERROR, DISCONNECT, EVENT). Anything else is
//! `Other` and ignored; malformed input never panics.

use std::time::Duration;

use serde_json::{json, Value};

#[derive(Debug, PartialEq)]
pub enum Packet {
    Open {
        ping_interval: Duration,
        ping_timeout: Duration,
    },
    Close,
    Ping,
    /// Socket.IO CONNECT accepted; `pid` is set when the server offers state recovery.
    Connected {
        pid: Option<String>,
    },
    ConnectError(String),
    Disconnect,
    Event {
        name: String,
        args: Vec<Value>,
        /// The recovery offset the server appends to each event when recovery is on.
        offset: Option<String>,
    },
    Other,
}

pub fn parse(text: &str) -> Packet {
    let mut chars = text.chars();
    match chars.next() {
        Some('0') => {
            let open: Value = serde_json::from_str(chars.as_str()).unwrap_or(Value::Null);
            let ms = |k: &str, d: u64| Duration::from_millis(open[k].as_u64().unwrap_or(d));
            Packet::Open {
                ping_interval: ms("pingInterval", 25_000),
                ping_timeout: ms("pingTimeout", 20_000),
            }
        }
        Some('1') => Packet::Close,
        Some('2') => Packet::Ping,
        Some('4') => socket_packet(chars.as_str()),
        _ => Packet::Other,
    }
}

fn socket_packet(text: &str) -> Packet {
    let mut chars = text.chars();
    let kind = chars.next();
    let rest = chars.as_str();
    // Only the default namespace is used; another namespace's packets are not ours.
    if rest.starts_with('/') {
        return Packet::Other;
    }
    match kind {
        Some('0') => {
            let v: Value = serde_json::from_str(rest).unwrap_or(Value::Null);
            Packet::Connected {
                pid: v["pid"].as_str().map(String::from),
            }
        }
        Some('1') => Packet::Disconnect,
        Some('2') => {
            // An optional ack id precedes the array.
            let body = rest.trim_start_matches(|c: char| c.is_ascii_digit());
            let Ok(Value::Array(mut arr)) = serde_json::from_str::<Value>(body) else {
                return Packet::Other;
            };
            if arr.is_empty() {
                return Packet::Other;
            }
            let Value::String(name) = arr.remove(0) else {
                return Packet::Other;
            };
            let offset = if arr.len() >= 2 && arr.last().is_some_and(Value::is_string) {
                arr.pop().and_then(|v| v.as_str().map(String::from))
            } else {
                None
            };
            Packet::Event {
                name,
                args: arr,
                offset,
            }
        }
        Some('4') => {
            let v: Value = serde_json::from_str(rest).unwrap_or(Value::Null);
            let message = v["message"]
                .as_str()
                .or_else(|| v.as_str())
                .unwrap_or("the backend refused the connection");
            Packet::ConnectError(message.to_string())
        }
        _ => Packet::Other,
    }
}

/// The CONNECT payload: the token, plus the recovery position when we have one.
pub fn connect_auth(token: &str, pid: &Option<String>, offset: &Option<String>) -> String {
    let mut auth = json!({ "token": token });
    if let (Some(pid), Some(offset)) = (pid, offset) {
        auth["pid"] = json!(pid);
        auth["offset"] = json!(offset);
    }
    auth.to_string()
}

pub fn event(name: &str, arg: &str) -> String {
    format!("42{}", json!([name, arg]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packets_of_a_socketio_4_session() {
        assert_eq!(
            parse(
                r#"0{"sid":"a","upgrades":[],"pingInterval":300,"pingTimeout":200,"maxPayload":1000}"#
            ),
            Packet::Open {
                ping_interval: Duration::from_millis(300),
                ping_timeout: Duration::from_millis(200)
            }
        );
        assert_eq!(parse("2"), Packet::Ping);
        assert_eq!(
            parse(r#"40{"sid":"x","pid":"p1"}"#),
            Packet::Connected {
                pid: Some("p1".into())
            }
        );
        assert_eq!(
            parse(r#"44{"message":"invalid token"}"#),
            Packet::ConnectError("invalid token".into())
        );
        assert_eq!(
            parse(r#"42["call:updated",{"id":"c"},"off-7"]"#),
            Packet::Event {
                name: "call:updated".into(),
                args: vec![json!({"id":"c"})],
                offset: Some("off-7".into())
            }
        );
        assert!(matches!(parse(r#"4212["x",1]"#), Packet::Event { .. }));
        for junk in ["", "4", "42", "42{", "42[]", "42[1]", "9", "40/admin,{}"] {
            let _ = parse(junk);
        }
        assert_eq!(parse("42[1]"), Packet::Other);
        assert_eq!(event("call:join", "c\"1"), r#"42["call:join","c\"1"]"#);
        assert_eq!(
            connect_auth("t", &None, &Some("o".into())),
            r#"{"token":"t"}"#
        );
    }
}
