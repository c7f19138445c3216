use super::*;

const GOOD: &str = r#"
title = "t"
direction = "inbound"
provider = "Retell"
cost_per_minute = 0.08
intent = "x"
outcome = "done"

[vars]
who = ["Ann", "Bo"]

[[steps]]
ai = "Hi {who}"
goto = [{ to = "b" }]

[[steps]]
label = "b"
caller = ["Hello", "Hey"]
"#;

#[test]
fn parses_a_minimal_scenario() {
    let s = parse_scenario("x/mini.toml", GOOD).unwrap();
    assert_eq!(s.name, "mini");
    assert_eq!(s.steps.len(), 2);
    assert_eq!(s.steps[0].goto, vec![(1, 1.0)]);
    assert_eq!(s.steps[1].line.as_ref().unwrap().texts.len(), 2);
}

#[test]
fn unknown_goto_target_names_its_line() {
    let bad = GOOD.replace("to = \"b\"", "to = \"nowhere\"");
    let e = parse_scenario("bad.toml", &bad).unwrap_err();
    assert_eq!(e.line, Some(14), "{e}");
    assert!(e.message.contains("nowhere"), "{e}");
    assert!(e.to_string().starts_with("bad.toml:14:"), "{e}");
}

#[test]
fn syntax_error_names_its_line() {
    let bad = GOOD.replace("intent = \"x\"", "intent = \"x");
    let e = parse_scenario("bad.toml", &bad).unwrap_err();
    assert_eq!(e.line, Some(6), "{e}");
}

#[test]
fn unknown_field_and_placeholder_are_reported() {
    let bad = GOOD.replace("caller = [", "callr = [");
    let e = parse_scenario("bad.toml", &bad).unwrap_err();
    assert!(e.message.contains("callr"), "{e}");
    assert!(e.line.is_some(), "{e}");
    let bad = GOOD.replace("Hi {who}", "Hi {whom}");
    let e = parse_scenario("bad.toml", &bad).unwrap_err();
    assert_eq!(e.line, Some(13), "{e}");
    assert!(e.message.contains("whom"), "{e}");
}

#[test]
fn wrong_speech_type_says_what_is_expected() {
    let bad = GOOD.replace("ai = \"Hi {who}\"", "ai = 5");
    let e = parse_scenario("bad.toml", &bad).unwrap_err();
    assert_eq!(e.line, Some(13), "{e}");
    assert!(e.message.contains("a string or a list of strings"), "{e}");
}

#[test]
fn semantic_checks() {
    let bad = GOOD.replace("cost_per_minute = 0.08", "cost_per_minute = -1.0");
    let e = parse_scenario("bad.toml", &bad).unwrap_err();
    assert_eq!(e.line, Some(5), "{e}");
    let bad = GOOD.replace(
        "caller = [\"Hello\", \"Hey\"]",
        "caller = \"a\"\nai = \"b\"",
    );
    assert!(parse_scenario("bad.toml", &bad).is_err());
}

#[test]
fn fill_and_placeholders() {
    let vars: HashMap<String, String> = [("a".to_string(), "X".to_string())].into();
    assert_eq!(fill("{a} and {{b}} {c}", &vars), "X and {b} {c}");
    assert_eq!(placeholders("{a} {{x}} {b_2}").unwrap(), vec!["a", "b_2"]);
    assert!(placeholders("{a").is_err());
    assert!(placeholders("a}").is_err());
}

#[test]
fn builtin_scenarios_load() {
    let set = load_builtin().unwrap();
    assert!(set.scenarios.len() >= 11);
}
