//! deploy/config.yaml, the operator's single place, lists exactly the variables the inference
//! server's table reads, with the same defaults, required and secret flags.

use goassist_inference::config::table;

#[test]
fn deploy_config_yaml_lists_exactly_the_table() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let yaml = std::fs::read_to_string(root.join("deploy/config.yaml"))
        .expect("deploy/config.yaml exists");
    let drift = goassist_config::deploy_docs::drift(&table(), &yaml, "inference");
    assert!(
        drift.is_empty(),
        "deploy/config.yaml `inference:` and the table differ:\n{}",
        drift.join("\n")
    );
}
