//! Disclosure and consent phrases: does an utterance contain one of the configured phrases?
//! Case, punctuation and spacing are ignored so "This call is recorded." matches
//! "this call is recorded"; any language works (comparison is on lower-cased words).

/// Lower-cased words joined by single spaces, punctuation dropped.
fn words(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_alphanumeric() { c } else { ' ' })
        .flat_map(char::to_lowercase)
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// True when `text` contains any of `phrases` as whole words.
pub fn contains_any(text: &str, phrases: &[String]) -> bool {
    let hay = format!(" {} ", words(text));
    phrases.iter().any(|p| {
        let needle = words(p);
        !needle.is_empty() && hay.contains(&format!(" {needle} "))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_ignore_case_punctuation_and_spacing() {
        let p = vec![
            "I am an AI assistant".to_string(),
            "ich bin eine KI".to_string(),
        ];
        assert!(!contains_any("Hi!  I am an  A.I assistant... no", &p));
        assert!(contains_any("Hello, I am an AI-assistant from Acme", &p));
        assert!(contains_any("Hello, I am an AI assistant from Acme.", &p));
        assert!(contains_any("Guten Tag, ich bin eine KI von Acme", &p));
        assert!(!contains_any("I am an AI assistants", &p));
        assert!(!contains_any("anything", &[String::new()]));
    }
}
