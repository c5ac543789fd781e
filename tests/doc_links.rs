//! Every relative link in the repository's Markdown resolves to a file in the repository: the
//! docs a user reads never point at design notes or paths outside it.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The Markdown files git tracks (a build's or a package manager's copies are not ours).
fn tracked_markdown(root: &Path) -> Vec<PathBuf> {
    let out = Command::new("git")
        .args(["ls-files", "-z", "--", "*.md"])
        .current_dir(root)
        .output()
        .expect("git runs");
    assert!(out.status.success(), "git ls-files failed");
    out.stdout
        .split(|b| *b == 0)
        .filter(|name| !name.is_empty())
        .map(|name| root.join(String::from_utf8_lossy(name).as_ref()))
        .collect()
}

/// The targets of `[text](target)` links, without their `#fragment`.
fn link_targets(markdown: &str) -> Vec<String> {
    let mut targets = Vec::new();
    let mut rest = markdown;
    while let Some(at) = rest.find("](") {
        rest = &rest[at + 2..];
        let Some(end) = rest.find(')') else { break };
        let target = rest[..end].split('#').next().unwrap_or_default().trim();
        if !target.is_empty() && !target.contains(' ') {
            targets.push(target.to_string());
        }
    }
    targets
}

fn is_external(target: &str) -> bool {
    target.contains("://") || target.starts_with("mailto:")
}

#[test]
fn every_relative_link_in_the_docs_resolves_inside_the_repository() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .canonicalize()
        .expect("workspace root exists");
    let files = tracked_markdown(&root);
    assert!(
        files.iter().any(|f| f.ends_with("docs/architecture.md")),
        "docs/architecture.md is tracked"
    );
    let mut broken = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("readable Markdown");
        for target in link_targets(&text) {
            if is_external(&target) {
                continue;
            }
            let resolved = file.parent().expect("a folder").join(&target);
            let inside = resolved
                .canonicalize()
                .map(|p| p.starts_with(&root))
                .unwrap_or(false);
            if !inside {
                let name = file.strip_prefix(&root).unwrap_or(file);
                broken.push(format!("{}: {target}", name.display()));
            }
        }
    }
    assert!(
        broken.is_empty(),
        "links that do not resolve inside the repository:\n{}",
        broken.join("\n")
    );
}

#[test]
fn the_link_scanner_finds_links_and_drops_fragments() {
    let targets = link_targets("see [a](docs/a.md#part), [web](https://x.org) and [b](../b.md).");
    assert_eq!(targets, ["docs/a.md", "https://x.org", "../b.md"]);
}
