//! Untrusted text (caller names, transcripts, provider strings) must never reach a terminal
//! with control sequences in it: an ESC could move the cursor, set the title, or write the
//! clipboard (OSC 52); bidi overrides could make text read differently from what it is.
//! The console cleans every string once, where it enters from the network.

use std::borrow::Cow;

/// Characters that are dropped: C0/C1 controls (except tab, which becomes a space), DEL,
/// bidi embeddings/overrides/isolates, and zero-width characters that can hide text.
fn is_forbidden(c: char) -> bool {
    matches!(c,
        '\u{0000}'..='\u{0008}'
        | '\u{000A}'..='\u{001F}'
        | '\u{007F}'..='\u{009F}'
        // bidi: LRM, RLM, ALM, embeddings/overrides, isolates
        | '\u{200E}' | '\u{200F}' | '\u{061C}'
        | '\u{202A}'..='\u{202E}'
        | '\u{2066}'..='\u{2069}'
        // zero-width space/joiners, word joiner, invisible operators, BOM
        | '\u{200B}'..='\u{200D}'
        | '\u{2060}'..='\u{2064}'
        | '\u{FEFF}'
        // interlinear annotation, object replacement helpers
        | '\u{FFF9}'..='\u{FFFB}'
    )
}

/// Returns `text` with forbidden characters removed and tabs/newlines turned into spaces.
/// Borrowed when the text was already clean (the common case, no allocation).
pub fn clean(text: &str) -> Cow<'_, str> {
    if !text.chars().any(|c| is_forbidden(c) || c == '\t') {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\t' | '\n' | '\r' => out.push(' '),
            c if is_forbidden(c) => {}
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// In-place variant for owned strings.
pub fn clean_in_place(text: &mut String) {
    if let Cow::Owned(cleaned) = clean(text) {
        *text = cleaned;
    }
}

/// Whether `text` contains nothing [`clean`] would change.
pub fn is_clean(text: &str) -> bool {
    matches!(clean(text), Cow::Borrowed(_))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_borrowed() {
        assert!(matches!(
            clean("Hello, I'd like a viewing"),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn escape_sequences_lose_their_escape() {
        let hostile = "hi\u{1b}]52;c;ZXZpbA==\u{7}there\u{1b}[2J";
        let cleaned = clean(hostile);
        assert!(!cleaned.contains('\u{1b}'));
        assert!(!cleaned.contains('\u{7}'));
        assert_eq!(cleaned, "hi]52;c;ZXZpbA==there[2J");
    }

    #[test]
    fn bidi_and_zero_width_are_removed() {
        let hostile = "pay \u{202E}gnp.exe\u{202C} now\u{200B}\u{2066}x\u{2069}";
        assert_eq!(clean(hostile), "pay gnp.exe nowx");
    }

    #[test]
    fn c1_controls_and_newlines() {
        assert_eq!(clean("a\u{9b}31mb\nc\r\td"), "a31mb c  d");
    }

    #[test]
    fn non_latin_text_survives() {
        let text = "مرحبا 你好 Grüße 👋";
        assert_eq!(clean(text), text);
    }
}
