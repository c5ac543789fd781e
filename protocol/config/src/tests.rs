//! The reader's behaviour on a small table that uses every kind of entry.

use std::collections::HashMap;

use crate::{Check, Severity, Table, Validated, Var, cli, deploy_docs, kinds};

/// What the sample binary's builder makes of the values.
#[derive(Debug)]
struct Sample {
    port: u16,
    sessions: usize,
    token: Option<crate::Secret>,
    turn_user: Option<String>,
    model: Option<String>,
    engine: u8,
    range: (u16, u16),
}

fn table() -> Table {
    Table::new("sample")
        .group(
            "server",
            [
                Var::new("PORT", kinds::int::<u16>(1024, 65535))
                    .default("8081")
                    .lenient()
                    .doc("port of the API"),
                Var::new("SESSIONS", kinds::int::<usize>(1, 100))
                    .required()
                    .doc("sessions at once"),
                Var::new("TOKEN", kinds::secret(16)).doc("admin token"),
            ],
        )
        .group(
            "turn",
            [
                Var::new("TURN", kinds::text()).doc("TURN server"),
                Var::new("TURN_USER", kinds::text())
                    .required_when_set("TURN")
                    .doc("TURN user"),
            ],
        )
        .group(
            "model",
            [
                Var::new("REMOTE", kinds::text()).doc("remote model server"),
                Var::new("MODEL", kinds::text())
                    .required_unless_set("REMOTE")
                    .error_text("model not found")
                    .doc("local model"),
                Var::new("ENABLED", kinds::boolean())
                    .default("true")
                    .lenient()
                    .doc("animation on"),
                Var::new("ENGINE", kinds::one_of(&[("a", 1u8), ("b", 2)]))
                    .default("a")
                    .fail_while("ENABLED=true", |v| v.get::<bool>("ENABLED"))
                    .doc("animation engine"),
            ],
        )
        .group(
            "range",
            [
                Var::new("MIN", kinds::int::<u16>(1, 100))
                    .default("10")
                    .lenient()
                    .doc("range start"),
                Var::new("MAX", kinds::int::<u16>(1, 100))
                    .default("20")
                    .lenient()
                    .doc("range end"),
            ],
        )
        .rule(range_is_not_empty)
}

fn range_is_not_empty(check: &mut Check<'_>) {
    let v = check.values();
    if let (Some(min), Some(max)) = (v.opt::<u16>("MIN"), v.opt::<u16>("MAX"))
        && min > max
    {
        check.warn(
            "MIN",
            format!("MIN={min} is above MAX={max}; using default 10"),
        );
        check.use_default("MIN");
    }
}

fn read(pairs: &[(&str, &str)]) -> Validated<Sample> {
    let env: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    table().validate(
        |name| env.get(name).cloned(),
        |v| Sample {
            port: v.get("PORT"),
            sessions: v.get("SESSIONS"),
            token: v.opt("TOKEN"),
            turn_user: v.opt("TURN_USER"),
            model: v.opt("MODEL"),
            engine: v.get("ENGINE"),
            range: (v.get("MIN"), v.get("MAX")),
        },
    )
}

fn messages(v: &Validated<Sample>, severity: Severity) -> Vec<&str> {
    v.problems
        .iter()
        .filter(|p| p.severity == severity)
        .map(|p| p.message.as_str())
        .collect()
}

#[test]
fn defaults_fill_what_is_unset_and_values_are_trimmed() {
    let v = read(&[("SESSIONS", " 4 "), ("MODEL", "m.gguf"), ("TURN", "")]);
    assert!(v.problems.is_empty(), "{:?}", v.problems);
    let c = v.config.unwrap();
    assert_eq!((c.port, c.sessions, c.engine), (8081, 4, 1));
    assert_eq!(c.model.as_deref(), Some("m.gguf"));
    assert_eq!(c.turn_user, None, "empty TURN counts as unset");
    assert_eq!(c.range, (10, 20));
}

#[test]
fn every_problem_is_reported_at_once() {
    let v = read(&[("PORT", "80"), ("TURN", "turn:t.example"), ("ENGINE", "c")]);
    assert!(v.config.is_none());
    assert_eq!(
        messages(&v, Severity::Error),
        [
            "SESSIONS is required (valid: 1–100)",
            "TURN_USER is missing or empty; it is required when TURN is set (valid: any text)",
            "model not found: MODEL is required unless REMOTE is set (valid: any text)",
            "ENGINE='c' is invalid (valid: a or b); it is required while ENABLED=true",
        ]
    );
    assert_eq!(
        messages(&v, Severity::Warning),
        ["PORT='80' is invalid (valid: 1024–65535); using default 8081"]
    );
    assert_eq!(
        v.into_result().unwrap_err().variables(),
        ["SESSIONS", "TURN_USER", "MODEL", "ENGINE"]
    );
}

#[test]
fn a_variable_required_unless_another_is_set_is_not_read_then() {
    let v = read(&[("SESSIONS", "1"), ("REMOTE", "http://m"), ("MODEL", "")]);
    assert!(v.problems.is_empty(), "{:?}", v.problems);
    assert!(
        v.effective
            .contains(&("MODEL", "(not read: REMOTE is set)".to_string()))
    );
    assert_eq!(v.config.unwrap().model, None);
}

#[test]
fn fail_while_is_lenient_when_its_condition_does_not_hold() {
    let v = read(&[
        ("SESSIONS", "1"),
        ("MODEL", "m"),
        ("ENABLED", "FALSE"),
        ("ENGINE", "c"),
    ]);
    assert_eq!(
        messages(&v, Severity::Warning),
        ["ENGINE='c' is invalid (valid: a or b); using default a"]
    );
    assert_eq!(v.config.unwrap().engine, 1);
}

#[test]
fn secrets_never_appear_in_messages_check_config_or_debug() {
    let short = "tiny-secret";
    let v = read(&[("SESSIONS", "1"), ("MODEL", "m"), ("TOKEN", short)]);
    let errors = messages(&v, Severity::Error);
    assert_eq!(
        errors,
        ["TOKEN=<redacted> is invalid (valid: at least 16 bytes)"]
    );

    let long = "a-long-enough-secret-token";
    let v = read(&[("SESSIONS", "1"), ("MODEL", "m"), ("TOKEN", long)]);
    let shown = effective(&v);
    assert!(shown.contains("TOKEN=<redacted>\n"), "{shown}");
    assert!(!shown.contains(long));
    let c = v.config.unwrap();
    assert_eq!(c.token.as_ref().map(|t| t.expose()), Some(long));
    assert!(!format!("{c:?}").contains(long));
}

#[test]
fn rules_see_every_value_and_can_fall_back_to_a_default() {
    let v = read(&[("SESSIONS", "1"), ("MODEL", "m"), ("MIN", "50")]);
    assert_eq!(
        messages(&v, Severity::Warning),
        ["MIN=50 is above MAX=20; using default 10"]
    );
    assert!(v.effective.contains(&("MIN", "10".to_string())));
    assert_eq!(v.config.unwrap().range, (10, 20));
}

fn effective(v: &Validated<Sample>) -> String {
    crate::effective_text(&table(), v)
}

#[test]
fn check_config_lists_every_variable_under_its_group() {
    let v = read(&[("SESSIONS", "3"), ("MODEL", "m"), ("PORT", "bad")]);
    assert_eq!(
        effective(&v),
        "# sample: effective configuration (secrets <redacted>)\n\
         # server\nPORT=8081\nSESSIONS=3\nTOKEN=(unset)\n\
         # turn\nTURN=(unset)\nTURN_USER=(unset)\n\
         # model\nREMOTE=(unset)\nMODEL=m\nENABLED=true\nENGINE=a\n\
         # range\nMIN=10\nMAX=20\n"
    );
}

#[test]
fn help_lists_every_variable_with_default_validity_and_doc() {
    let help = crate::help_text(&table());
    for expected in [
        "server:\n  PORT=8081  [1024–65535; lenient]\n      port of the API\n",
        "  SESSIONS (required)  [1–100]\n",
        "  TOKEN (optional)  [at least 16 bytes; secret]\n",
        "  TURN_USER (required when TURN is set)  [any text]\n",
        "  MODEL (required unless REMOTE is set)  [any text]\n",
        "  ENGINE=a  [a or b; lenient unless ENABLED=true]\n",
    ] {
        assert!(
            help.contains(expected),
            "{expected:?} missing from:\n{help}"
        );
    }
}

#[derive(clap::Parser, Debug)]
#[command(name = "sample", version)]
struct Args {
    /// Validate and print the configuration.
    #[arg(long)]
    check_config: bool,
}

#[test]
fn help_and_version_are_not_errors_and_usage_errors_are() {
    let help = cli::parse_args_from::<Args, _, _>(&table(), ["sample", "--help"]).unwrap_err();
    assert!(!help.use_stderr(), "help goes to stdout, exit 0");
    let text = help.render().to_string();
    assert!(
        text.contains("--check-config") && text.contains("TURN_USER"),
        "{text}"
    );
    let version =
        cli::parse_args_from::<Args, _, _>(&table(), ["sample", "--version"]).unwrap_err();
    assert!(!version.use_stderr());
    let bad = cli::parse_args_from::<Args, _, _>(&table(), ["sample", "--frobnicate"]).unwrap_err();
    assert!(bad.use_stderr(), "usage error, exit 64");
    let ok = cli::parse_args_from::<Args, _, _>(&table(), ["sample", "--check-config"]).unwrap();
    assert!(ok.check_config);
}

const MATCHING_YAML: &str = r#"
ports: {api: 8081}
sample:
  PORT: {default: 8081, valid: "1024-65535", on_error: default}
  SESSIONS: {required: true, on_error: "fail startup"}
  TOKEN: {default: unset, secret: true}
  TURN: {default: unset}
  TURN_USER: {required: "when TURN is set"}
  REMOTE: {}
  MODEL: {required: "yes, unless REMOTE is set", on_error: "fail: model not found"}
  ENABLED: {default: true}
  ENGINE: {default: a, on_error: "fail while ENABLED=true, else default"}
  MIN: {default: 10}
  MAX: {default: "20"}
"#;

#[test]
fn deploy_docs_that_match_the_table_have_no_drift() {
    assert_eq!(
        deploy_docs::drift(&table(), MATCHING_YAML, "sample"),
        Vec::<String>::new()
    );
}

#[test]
fn deploy_docs_drift_names_every_difference() {
    let yaml = MATCHING_YAML
        .replace("default: 8081", "default: 8080")
        .replace("SESSIONS: {required: true,", "SESSIONS: {")
        .replace("TOKEN: {default: unset, secret: true}", "TOKEN: {}")
        .replace("  MAX: {default: \"20\"}\n", "  MAXIMUM: {default: 20}\n")
        .replace(
            "ENABLED: {default: true}",
            "ENABLED: {default: true, on_error: fail}",
        );
    let drift = deploy_docs::drift(&table(), &yaml, "sample");
    let expected = [
        "PORT: default is \"8081\" in the table, \"8080\" in deploy/config.yaml",
        "SESSIONS: the table says `required: true`",
        "TOKEN: secret in the table",
        "ENABLED: an invalid value warns and uses the default",
        "MAX: read by sample, missing from deploy/config.yaml `sample:`",
        "MAXIMUM: in deploy/config.yaml `sample:` but not read by sample",
    ];
    assert_eq!(drift.len(), expected.len(), "{drift:#?}");
    for (line, want) in drift.iter().zip(expected) {
        assert!(
            line.starts_with(want),
            "{line:?} should start with {want:?}"
        );
    }
    assert_eq!(
        deploy_docs::drift(&table(), "other: {}", "sample"),
        ["deploy/config.yaml has no `sample:` mapping"]
    );
}

#[test]
#[should_panic(expected = "PORT does not hold a u32")]
fn reading_a_value_as_the_wrong_type_is_a_table_bug() {
    let lookup = |name: &str| matches!(name, "SESSIONS" | "MODEL").then(|| "1".to_string());
    table().validate(lookup, |v| v.get::<u32>("PORT"));
}

#[test]
#[should_panic(expected = "PORT is listed twice")]
fn a_name_listed_twice_is_a_table_bug() {
    let port = || Var::new("PORT", kinds::text());
    let _ = Table::new("t").group("a", [port()]).group("b", [port()]);
}

#[test]
#[should_panic(expected = "the default of PORT")]
fn an_invalid_default_is_a_table_bug() {
    let t = Table::new("t").group(
        "a",
        [Var::new("PORT", kinds::int::<u16>(1, 10)).default("11")],
    );
    t.validate(|_| None, |_| ());
}
