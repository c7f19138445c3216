//! Phone numbers to E.164 before any comparison: "(415) 555-0100", "+1 415 555 0100" and
//! "tel:+14155550100;ext=7" are the same DNC entry. Parsing is the phonenumber crate's
//! (libphonenumber metadata), never hand-written.

use phonenumber::country;
use phonenumber::Mode;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NumberError {
    #[error("{0:?} is not a phone number")]
    NotANumber(String),
    #[error("{0:?} has no country code and no default region is configured")]
    NoRegion(String),
    #[error("{0:?} is not a known region code (use an ISO code such as \"US\" or \"DE\")")]
    BadRegion(String),
}

/// The ISO region code (e.g. "US") as the crate's id.
pub fn region_id(code: &str) -> Result<country::Id, NumberError> {
    code.trim()
        .to_ascii_uppercase()
        .parse::<country::Id>()
        .map_err(|_| NumberError::BadRegion(code.to_string()))
}

/// `raw` in E.164 ("+4930123456"). Numbers without a country code are read as numbers of
/// `default_region` (an ISO code, e.g. "US"); an extension is dropped (the line is what a
/// do-not-call request covers).
pub fn normalise(raw: &str, default_region: Option<&str>) -> Result<String, NumberError> {
    let text = raw.trim();
    let digits = text.chars().filter(char::is_ascii_digit).count();
    if digits < 3 {
        return Err(NumberError::NotANumber(raw.to_string()));
    }
    let region = match default_region {
        Some(r) if !r.trim().is_empty() => Some(region_id(r)?),
        _ => None,
    };
    let international =
        text.starts_with('+') || text.starts_with("tel:+") || text.starts_with("00");
    if region.is_none() && !international {
        return Err(NumberError::NoRegion(raw.to_string()));
    }
    // "00" is the international prefix almost everywhere; the crate wants it as "+".
    let text = match text.strip_prefix("00") {
        Some(rest) if region.is_none() => format!("+{rest}"),
        _ => text.to_string(),
    };
    let parsed =
        phonenumber::parse(region, &text).map_err(|_| NumberError::NotANumber(raw.to_string()))?;
    let national = parsed.national().value();
    // Too short to dial anywhere: junk that happened to contain digits.
    if national < 10_000 {
        return Err(NumberError::NotANumber(raw.to_string()));
    }
    Ok(parsed.format().mode(Mode::E164).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn national_formats_use_the_default_region() {
        for raw in [
            "(415) 555-0100",
            "415.555.0100",
            "1-415-555-0100",
            "4155550100",
        ] {
            assert_eq!(
                normalise(raw, Some("US")).as_deref(),
                Ok("+14155550100"),
                "{raw}"
            );
        }
        assert_eq!(
            normalise("030 1234567", Some("DE")).as_deref(),
            Ok("+49301234567")
        );
        assert_eq!(
            normalise("020 7946 0958", Some("gb")).as_deref(),
            Ok("+442079460958")
        );
    }

    #[test]
    fn international_formats_ignore_the_default_region() {
        assert_eq!(
            normalise("+49 30 1234567", Some("US")).as_deref(),
            Ok("+49301234567")
        );
        assert_eq!(
            normalise("+1 (415) 555-0100", None).as_deref(),
            Ok("+14155550100")
        );
        assert_eq!(
            normalise("0049 30 1234567", None).as_deref(),
            Ok("+49301234567")
        );
        assert_eq!(
            normalise("tel:+1-415-555-0100", None).as_deref(),
            Ok("+14155550100")
        );
    }

    #[test]
    fn extensions_are_dropped() {
        assert_eq!(
            normalise("+1 415 555 0100 ext. 42", None).as_deref(),
            Ok("+14155550100")
        );
        assert_eq!(
            normalise("(415) 555-0100 x7", Some("US")).as_deref(),
            Ok("+14155550100")
        );
    }

    #[test]
    fn junk_is_refused() {
        for raw in ["", "call me", "+", "12", "+1 2", "not a number 5"] {
            assert!(normalise(raw, Some("US")).is_err(), "{raw:?}");
        }
        assert!(matches!(
            normalise("4155550100", None),
            Err(NumberError::NoRegion(_))
        ));
        assert!(matches!(
            normalise("4155550100", Some("XX")),
            Err(NumberError::BadRegion(_))
        ));
    }
}
