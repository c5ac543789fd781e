//! The deploy snippet and the docs list every configuration variable the binary reads.

use goassist_pixelstream_proxy::config::VARIABLES;

#[test]
fn deploy_snippet_and_docs_list_every_variable() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let snippet = std::fs::read_to_string(root.join("deploy/pixelstream-proxy.config.md"))
        .expect("deploy/pixelstream-proxy.config.md exists");
    for (name, _, _) in VARIABLES {
        assert!(
            snippet.contains(name),
            "{name} missing from the deploy snippet"
        );
    }
    for port in ["8080", "8888", "9466"] {
        assert!(
            snippet.contains(port),
            "port {port} missing from the deploy snippet"
        );
    }
}
