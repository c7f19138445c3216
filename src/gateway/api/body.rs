//! Request bodies: raw bytes under the configured size limit, parsed into 400 (not JSON) or
//! 422 (wrong shape, naming the field) answers.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use crate::gateway::api::error::{ApiFailure, ApiResult};
use crate::gateway::engine::Gateway;

/// The raw request body (limited by `DefaultBodyLimit`; too large -> 413 JSON).
pub struct RawBody(pub Bytes);

impl FromRequest<Arc<Gateway>> for RawBody {
    type Rejection = ApiFailure;

    async fn from_request(req: Request, gw: &Arc<Gateway>) -> Result<Self, Self::Rejection> {
        match Bytes::from_request(req, gw).await {
            Ok(b) => Ok(RawBody(b)),
            Err(rej) if rej.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Err(ApiFailure::too_large(gw.config.limits.max_body_bytes))
            }
            Err(rej) => Err(ApiFailure::bad_request(format!(
                "the request body could not be read: {}",
                rej.body_text()
            ))),
        }
    }
}

/// Parses a JSON object body (every action body is one).
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> ApiResult<T> {
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(ApiFailure::bad_request("the request needs a JSON body"));
    }
    // Syntax errors first: they are 400, shape errors 422.
    if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
        return Err(ApiFailure::bad_request(format!(
            "the body is not valid JSON: {e}"
        )));
    }
    // serde reads a struct from a JSON array too (`["why", "notes"]` as a takeover), so a
    // body that is not an object would be acted on with its fields taken by position.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(ApiFailure::invalid(
            "body",
            "the body must be a JSON object, such as {\"text\": \"...\"}",
        ));
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        let field = if path == "." || path.is_empty() {
            // "missing field `reason` at line 1 column 2"
            inner
                .split('`')
                .nth(1)
                .filter(|_| inner.starts_with("missing field"))
                .unwrap_or("body")
                .to_string()
        } else {
            path
        };
        let msg = inner
            .split(" at line ")
            .next()
            .unwrap_or(&inner)
            .to_string();
        ApiFailure::invalid(&field, format!("{field}: {msg}"))
    })
}

/// Parses a body that may be absent.
pub fn parse_optional<T: DeserializeOwned>(bytes: &[u8]) -> ApiResult<Option<T>> {
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Ok(None);
    }
    parse(bytes).map(Some)
}

#[cfg(test)]
mod tests {
    use super::parse;
    use axum::http::StatusCode;

    #[derive(Debug, serde::Deserialize)]
    struct Text {
        #[allow(dead_code)]
        text: String,
    }

    #[test]
    fn only_objects_are_accepted() {
        for (body, status) in [
            (&br#"["hello"]"#[..], StatusCode::UNPROCESSABLE_ENTITY),
            (br#" "hello""#, StatusCode::UNPROCESSABLE_ENTITY),
            (b"42", StatusCode::UNPROCESSABLE_ENTITY),
            (b"null", StatusCode::UNPROCESSABLE_ENTITY),
            (b"[", StatusCode::BAD_REQUEST),
            (b"", StatusCode::BAD_REQUEST),
            (br#"{"text": 1}"#, StatusCode::UNPROCESSABLE_ENTITY),
        ] {
            let got = parse::<Text>(body).map(|_| ()).map_err(|f| f.status);
            assert_eq!(got, Err(status), "{}", String::from_utf8_lossy(body));
        }
        assert!(parse::<Text>(br#" {"text": "hi"}"#).is_ok());
    }
}
