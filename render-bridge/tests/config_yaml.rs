//! deploy/config.yaml, the operator's single place, lists exactly the variables the bridge's
//! table reads, with the same defaults, required and secret flags.

use goassist_render_bridge::config::table;

#[test]
fn deploy_config_yaml_lists_exactly_the_table() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let yaml = std::fs::read_to_string(root.join("deploy/config.yaml"))
        .expect("deploy/config.yaml exists");
    let drift = goassist_config::deploy_docs::drift(&table(), &yaml, "render_bridge");
    assert!(
        drift.is_empty(),
        "deploy/config.yaml `render_bridge:` and the table differ:\n{}",
        drift.join("\n")
    );
    for port in [
        "port: 11111",
        "port: 11112",
        "port: 11113",
        "port: 39539",
        "port: 9465",
    ] {
        assert!(
            yaml.contains(port),
            "{port} missing from deploy/config.yaml"
        );
    }
}
