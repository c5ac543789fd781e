//! deploy/config.yaml, the operator's single place, lists exactly the variables the proxy's
//! table reads (same defaults, required and secret flags) and the proxy's ports.

use goassist_pixelstream_proxy::config::table;

fn config_yaml() -> String {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    std::fs::read_to_string(root.join("deploy/config.yaml")).expect("deploy/config.yaml exists")
}

#[test]
fn deploy_config_yaml_lists_exactly_the_table() {
    let drift = goassist_config::deploy_docs::drift(&table(), &config_yaml(), "pixelstream_proxy");
    assert!(
        drift.is_empty(),
        "deploy/config.yaml `pixelstream_proxy:` and the table differ:\n{}",
        drift.join("\n")
    );
}

#[test]
fn deploy_config_yaml_lists_the_ports() {
    let yaml = config_yaml();
    for port in ["port: 8080", "port: 8888", "port: 9466"] {
        assert!(
            yaml.contains(port),
            "{port} missing from deploy/config.yaml"
        );
    }
}
