//! Language helpers for the simulated parties: how the AI turns a supervisor's instruction
//! into its next utterance, and what a caller answers to a human.

use rand::Rng;

/// Words per second of simulated speech.
pub const WORDS_PER_SEC: f64 = 2.5;

/// Longest instruction text the AI will repeat (the rest is dropped).
const MAX_INSTRUCTION_CHARS: usize = 240;

/// Second person for the caller: an instruction says "them", the AI says "you".
fn to_second_person(s: &str) -> String {
    s.split(' ')
        .map(|w| {
            let (core, tail) = split_punct(w);
            let swapped = match core.to_ascii_lowercase().as_str() {
                "them" | "him" | "her" => Some("you"),
                "they" | "he" | "she" => Some("you"),
                "their" | "his" => Some("your"),
                "theirs" | "hers" => Some("yours"),
                "they're" => Some("you're"),
                "they've" => Some("you've"),
                "they'll" => Some("you'll"),
                "themselves" | "himself" | "herself" => Some("yourself"),
                _ => None,
            };
            match swapped {
                Some(x) => format!("{x}{tail}"),
                None => w.to_string(),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn split_punct(w: &str) -> (&str, &str) {
    let end = w
        .char_indices()
        .rev()
        .find(|(_, c)| c.is_alphanumeric() || *c == '\'')
        .map(|(i, c)| i + c.len_utf8())
        .unwrap_or(0);
    (&w[..end], &w[end..])
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    if s.len() >= prefix.len()
        && s.is_char_boundary(prefix.len())
        && s[..prefix.len()].eq_ignore_ascii_case(prefix)
    {
        Some(s[prefix.len()..].trim_start())
    } else {
        None
    }
}

fn sentence(s: &str, end: char) -> String {
    let s = s.trim().trim_end_matches(['.', '!', '?', ';', ',']);
    let mut out = String::with_capacity(s.len() + 1);
    let mut chars = s.chars();
    if let Some(c) = chars.next() {
        out.extend(c.to_uppercase());
        out.push_str(chars.as_str());
    }
    out.push(end);
    out
}

/// The AI's next utterance after a supervisor's instruction: the instruction, carried out.
/// "offer them a 5% discount" -> "Of course — I can also offer you a 5% discount."
pub fn instructed_line(instruction: &str) -> String {
    let mut text: String = instruction
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_INSTRUCTION_CHARS)
        .collect();
    text = text.trim().to_string();
    if text.is_empty() {
        return "Of course — let me help with that.".into();
    }
    let t = text.as_str();
    let lower = t.to_ascii_lowercase();
    const TELL: &[&str] = &[
        "tell the caller that ",
        "tell the caller ",
        "tell them that ",
        "tell them ",
        "tell him ",
        "tell her ",
        "let them know that ",
        "let them know ",
        "let the caller know that ",
        "let the caller know ",
        "say that ",
        "say ",
        "explain that ",
        "inform them that ",
    ];
    for p in TELL {
        if let Some(rest) = strip_prefix_ci(t, p) {
            return format!(
                "Just so you know — {}",
                lowercase_first(&sentence(&to_second_person(rest), '.'))
            );
        }
    }
    if let Some(rest) = strip_prefix_ci(t, "offer ") {
        let rest = strip_prefix_ci(rest, "them ")
            .or_else(|| strip_prefix_ci(rest, "the caller "))
            .unwrap_or(rest);
        return format!(
            "Of course — I can also offer you {}",
            lowercase_first(&sentence(&to_second_person(rest), '.'))
        );
    }
    for p in [
        "ask them about ",
        "ask about ",
        "ask them for ",
        "ask for ",
        "ask the caller about ",
        "ask the caller for ",
    ] {
        if let Some(rest) = strip_prefix_ci(t, p) {
            let verb = if p.ends_with("for ") { "for" } else { "about" };
            return format!(
                "Before we go on — could I ask {verb} {}",
                lowercase_first(&sentence(&to_second_person(rest), '?'))
            );
        }
    }
    for p in ["ask them ", "ask the caller ", "ask "] {
        if let Some(rest) = strip_prefix_ci(t, p) {
            return format!(
                "Before we go on — {}",
                sentence(&to_second_person(rest), '?')
            );
        }
    }
    for p in ["mention that ", "mention "] {
        if let Some(rest) = strip_prefix_ci(t, p) {
            return format!(
                "I should also mention {}",
                lowercase_first(&sentence(&to_second_person(rest), '.'))
            );
        }
    }
    if lower.starts_with("apologi") {
        return "I'm really sorry about that — I apologise for the trouble.".into();
    }
    if lower.starts_with("confirm ") {
        let rest = &t["confirm ".len()..];
        return format!(
            "Let me confirm {}",
            lowercase_first(&sentence(&to_second_person(rest), '.'))
        );
    }
    if lower.contains("transfer") || lower.contains("escalat") {
        return "Of course — I'm going to get a colleague to help you with this.".into();
    }
    const NEGATIVE: &[&str] = &["don't ", "do not ", "never ", "avoid ", "stop "];
    if NEGATIVE.iter().any(|p| lower.starts_with(p)) {
        return "Actually, let's put that to one side for now and focus on what you need.".into();
    }
    if lower.starts_with("be more empathetic")
        || lower.starts_with("be kind")
        || lower.starts_with("be nicer")
        || lower.starts_with("calm them")
        || lower.starts_with("reassure")
    {
        return "I'm sorry — I really do want to get this sorted out for you.".into();
    }
    if lower.starts_with("keep it short")
        || lower.starts_with("be brief")
        || lower.starts_with("wrap up")
        || lower.starts_with("wrap it up")
    {
        return "I'll keep this short so I don't hold you up.".into();
    }
    if lower.starts_with("slow down") || lower.contains("speak slower") {
        return "Of course — let me slow down a little.".into();
    }
    format!(
        "Of course — {}",
        lowercase_first(&sentence(&to_second_person(t), '.'))
    )
}

fn lowercase_first(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        // Keep "I", acronyms and names ("Saturday") as written.
        Some(c) if c.is_uppercase() => {
            let next = chars.clone().next();
            let first_word: String = s.split(' ').next().unwrap_or("").to_string();
            if first_word == "I"
                || first_word.starts_with("I'")
                || next.map(|n| n.is_uppercase()).unwrap_or(false)
            {
                s.to_string()
            } else {
                let mut out: String = c.to_lowercase().collect();
                out.push_str(chars.as_str());
                out
            }
        }
        _ => s.to_string(),
    }
}

/// What a caller answers to a human supervisor.
pub fn caller_reply_to_human(text: &str, rng: &mut impl Rng) -> (String, bool) {
    let lower = text.to_lowercase();
    let pick = |rng: &mut dyn rand::RngCore, xs: &[&str]| -> String {
        xs[rng.random_range(0..xs.len())].to_string()
    };
    if ["bye", "goodbye", "have a good", "take care"]
        .iter()
        .any(|w| lower.contains(w))
    {
        return (
            pick(
                rng,
                &[
                    "Thanks, bye.",
                    "Okay, thank you. Bye!",
                    "Great, thanks for your help. Bye.",
                ],
            ),
            true,
        );
    }
    if lower.contains('?') {
        return (
            pick(
                rng,
                &[
                    "Yes, that works for me.",
                    "Hmm, let me think. Yes, I think so.",
                    "Sure, go ahead.",
                    "Yes, that's right.",
                    "I'm not sure, can you explain a bit more?",
                ],
            ),
            false,
        );
    }
    if lower.contains("sorry") || lower.contains("apolog") {
        return (
            pick(
                rng,
                &["Okay. Thanks for saying that.", "Alright, I appreciate it."],
            ),
            false,
        );
    }
    (
        pick(
            rng,
            &[
                "Okay, thank you.",
                "Oh, great, thanks.",
                "Right, got it.",
                "Okay. What happens next?",
                "Thanks, that's helpful.",
            ],
        ),
        false,
    )
}

/// What a caller says when the AI has gone quiet.
pub const HELLO_LINES: &[&str] = &[
    "Hello? Are you still there?",
    "Hello?",
    "Hello? Is anyone there?",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instructions_become_the_ais_words() {
        assert_eq!(
            instructed_line("offer them a 5% discount"),
            "Of course — I can also offer you a 5% discount."
        );
        assert_eq!(
            instructed_line("tell them the office opens at 9"),
            "Just so you know — the office opens at 9."
        );
        assert_eq!(
            instructed_line("ask for their email address"),
            "Before we go on — could I ask for your email address?"
        );
        assert_eq!(
            instructed_line("mention the open house on Saturday"),
            "I should also mention the open house on Saturday."
        );
        assert_eq!(
            instructed_line("Use a warmer tone"),
            "Of course — use a warmer tone."
        );
        assert_eq!(
            instructed_line("Don't mention the price"),
            "Actually, let's put that to one side for now and focus on what you need."
        );
        assert_eq!(
            instructed_line("keep it short"),
            "I'll keep this short so I don't hold you up."
        );
        assert!(instructed_line("\u{1b}[2J").starts_with("Of course"));
    }
}
