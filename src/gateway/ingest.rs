//! Signatures of `POST /api/ingest` (and of the action POSTs callwatch sends to a control
//! URL): `Callwatch-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`.
//! Stripe-style: the timestamp is signed too, so a captured request cannot be replayed
//! after the window; replays inside the window are caught by the event id.

use axum::http::HeaderMap;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::core::provider::WebhookError;

pub const SIGNATURE_HEADER: &str = "callwatch-signature";
pub const INTEGRATION_HEADER: &str = "callwatch-integration";
/// How far a signature's timestamp may be from the gateway's clock, either way.
pub const WINDOW_SECS: u64 = 300;

type HmacSha256 = Hmac<Sha256>;

fn mac(secret: &str, t: i64, body: &[u8]) -> Option<HmacSha256> {
    // HMAC accepts keys of any length, so this is always Some.
    let mut m = HmacSha256::new_from_slice(secret.as_bytes()).ok()?;
    m.update(t.to_string().as_bytes());
    m.update(b".");
    m.update(body);
    Some(m)
}

/// Hex HMAC-SHA256 of "<t>.<body>".
pub fn sign(secret: &str, t: i64, body: &[u8]) -> String {
    mac(secret, t, body)
        .map(|m| hex::encode(m.finalize().into_bytes()))
        .unwrap_or_default()
}

/// The full header value for `body` signed at `t`.
pub fn signature_header(secret: &str, t: i64, body: &[u8]) -> String {
    format!("t={t},v1={}", sign(secret, t, body))
}

fn malformed(why: &str) -> WebhookError {
    WebhookError::MissingSignature(format!("Callwatch-Signature is malformed: {why}"))
}

/// Parses `t=<unix seconds>,v1=<hex>[,v1=<hex>...]` strictly: exactly one `t`, at least one
/// `v1`, every part `name=value` with a known name. Lenient parsing let a duplicated `t=`
/// through (the last one won), so a proxy or attacker appending parts changed what was
/// checked.
pub fn parse_signature(value: &str) -> Result<(i64, Vec<Vec<u8>>), WebhookError> {
    let mut t: Option<i64> = None;
    let mut sigs: Vec<Vec<u8>> = Vec::new();
    for part in value.split(',') {
        let Some((name, v)) = part.trim().split_once('=') else {
            return Err(malformed("every part must be name=value"));
        };
        match name {
            "t" => {
                if t.is_some() {
                    return Err(malformed("t= appears more than once"));
                }
                let secs = v
                    .parse()
                    .map_err(|_| malformed("t= is not a unix timestamp"))?;
                t = Some(secs);
            }
            "v1" => {
                let bytes = hex::decode(v).map_err(|_| malformed("v1= is not hex"))?;
                if bytes.len() != 32 {
                    return Err(malformed("v1= is not a 64-digit HMAC-SHA256"));
                }
                sigs.push(bytes);
            }
            _ => return Err(malformed("only t= and v1= are allowed")),
        }
    }
    let t =
        t.ok_or_else(|| WebhookError::MissingSignature("no t= in Callwatch-Signature".into()))?;
    if sigs.is_empty() {
        return Err(WebhookError::MissingSignature(
            "no v1= in Callwatch-Signature".into(),
        ));
    }
    Ok((t, sigs))
}

/// Checks the signature header over the raw body. Several `v1=` values are allowed (secret
/// rotation); one must match.
pub fn verify(
    secret: &str,
    headers: &HeaderMap,
    body: &[u8],
    now: i64,
) -> Result<(), WebhookError> {
    let value = headers
        .get(SIGNATURE_HEADER)
        .ok_or_else(|| WebhookError::MissingSignature("no Callwatch-Signature header".into()))?
        .to_str()
        .map_err(|_| WebhookError::MissingSignature("Callwatch-Signature is not ASCII".into()))?;
    let (t, sigs) = parse_signature(value)?;
    if now.abs_diff(t) > WINDOW_SECS {
        return Err(WebhookError::Stale {
            window_secs: WINDOW_SECS,
        });
    }
    let expected = mac(secret, t, body).ok_or(WebhookError::BadSignature)?;
    // verify_slice compares in constant time.
    if sigs
        .iter()
        .any(|s| expected.clone().verify_slice(s).is_ok())
    {
        Ok(())
    } else {
        Err(WebhookError::BadSignature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(SIGNATURE_HEADER, v.parse().unwrap());
        h
    }

    #[test]
    fn known_vector() {
        // The worked example in docs/PROTOCOL.md (computed there with openssl).
        let body = r#"{"id":"evt_1001","type":"call.started","provider_call_id":"acme-77","direction":"inbound","from":"+15550001111","to":"+15559990000","state":"in_progress"}"#;
        assert_eq!(
            sign("whsec_local_acme", 1763683200, body.as_bytes()),
            "81b543a6928a371414e6e46f2070d2d4dd9b17e1ab261c41482e9ac06f75737b"
        );
    }

    #[test]
    fn verifies_and_rejects() {
        let body = b"{}";
        let now = 1_700_000_000;
        let ok = signature_header("s", now, body);
        assert!(verify("s", &headers(&ok), body, now + 10).is_ok());
        assert_eq!(
            verify("t", &headers(&ok), body, now),
            Err(WebhookError::BadSignature)
        );
        assert_eq!(
            verify("s", &headers(&ok), b"{ }", now),
            Err(WebhookError::BadSignature)
        );
        assert!(matches!(
            verify("s", &headers(&ok), body, now + 301),
            Err(WebhookError::Stale { .. })
        ));
        assert!(matches!(
            verify("s", &HeaderMap::new(), body, now),
            Err(WebhookError::MissingSignature(_))
        ));
        let rotated = format!("{ok},v1={}", "00".repeat(32));
        assert!(verify("s", &headers(&rotated), body, now).is_ok());
    }

    #[test]
    fn the_header_is_parsed_strictly() {
        let body = b"{}";
        let now = 1_700_000_000;
        let ok = signature_header("s", now, body);
        let sig = sign("s", now, body);
        let refused = [
            format!("t={now},t={now},v1={sig}"),
            format!("t={},{ok}", now + 1),
            format!("t={now}"),
            format!("v1={sig}"),
            format!("t={now},v1={sig},v1=zz"),
            format!("t={now},v1={sig},v1=00ff"),
            format!("t={now},v1={sig},v0=abc"),
            format!("t={now},v1={sig},"),
            format!("t={now};v1={sig}"),
            format!("t=soon,v1={sig}"),
        ];
        for v in refused {
            assert!(
                matches!(
                    verify("s", &headers(&v), body, now),
                    Err(WebhookError::MissingSignature(_))
                ),
                "{v} must be refused"
            );
        }
        assert!(verify("s", &headers(&format!(" t={now} , v1={sig} ")), body, now).is_ok());
    }
}
