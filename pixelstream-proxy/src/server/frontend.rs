//! The pages: the esbuild bundles of Epic's stock player (`/`) and of the Profile C talk page
//! (`/talk/`), loaded into memory at start-up (a few files, served with the right content
//! type; nothing is read from disk per request, so a request path can never escape the
//! directory).

use std::collections::HashMap;
use std::path::Path;

use axum::body::Bytes;

/// Where the bundle comes from, for error messages.
pub const SETUP_SCRIPT: &str = "scripts/setup_pixelstream_frontend.sh";

/// In-memory static files keyed by URL path (`/index.html`, `/player.js`, `/talk/talk.js`).
#[derive(Debug, Clone, Default)]
pub struct Frontend {
    files: HashMap<String, (&'static str, Bytes)>,
}

impl Frontend {
    /// No page (signalling-only deployments and tests): `/` answers 404.
    pub fn empty() -> Self {
        Self::default()
    }

    /// Loads every file under `dir` (two levels deep). Fails when `index.html` is missing,
    /// naming the setup script that builds it.
    pub fn load(dir: &Path) -> anyhow::Result<Self> {
        let mut frontend = Self::default();
        frontend.load_dir(dir, "", 0)?;
        if !frontend.files.contains_key("/index.html") {
            anyhow::bail!(
                "player page not found: {}/index.html is missing; build it with {SETUP_SCRIPT} \
                 (or point PS_FRONTEND_DIR at the bundle)",
                dir.display()
            );
        }
        Ok(frontend)
    }

    /// Adds one file (tests build pages in memory).
    pub fn insert(&mut self, url_path: &str, body: impl Into<Bytes>) {
        self.files
            .insert(url_path.to_owned(), (content_type(url_path), body.into()));
    }

    /// The file at `url_path` and its content type. A folder's path (`/`, `/talk/`, `/talk`)
    /// means its `index.html`.
    pub fn get(&self, url_path: &str) -> Option<(&'static str, Bytes)> {
        let file = |path: &str| self.files.get(path).map(|(t, b)| (*t, b.clone()));
        if url_path.ends_with('/') {
            return file(&format!("{url_path}index.html"));
        }
        file(url_path).or_else(|| file(&format!("{url_path}/index.html")))
    }

    fn load_dir(&mut self, dir: &Path, prefix: &str, depth: u32) -> anyhow::Result<()> {
        let entries = std::fs::read_dir(dir).map_err(|e| {
            anyhow::anyhow!(
                "cannot read player page directory {}: {e}; build it with {SETUP_SCRIPT}",
                dir.display()
            )
        })?;
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let kind = entry.file_type()?;
            let url_path = format!("{prefix}/{name}");
            if kind.is_dir() && depth < 2 {
                self.load_dir(&entry.path(), &url_path, depth + 1)?;
            } else if kind.is_file() {
                self.insert(&url_path, std::fs::read(entry.path())?);
            }
        }
        Ok(())
    }
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json" | "map") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("woff2") => "font/woff2",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pages() -> Frontend {
        let mut f = Frontend::empty();
        f.insert("/index.html", "player");
        f.insert("/player.js", "p()");
        f.insert("/talk/index.html", "talk");
        f.insert("/talk/talk.js", "t()");
        f
    }

    fn body(f: &Frontend, path: &str) -> Option<(&'static str, String)> {
        f.get(path)
            .map(|(t, b)| (t, String::from_utf8_lossy(&b).into_owned()))
    }

    #[test]
    fn a_folder_path_serves_its_index() {
        let f = pages();
        let html = "text/html; charset=utf-8";
        assert_eq!(body(&f, "/"), Some((html, "player".into())));
        assert_eq!(body(&f, "/talk/"), Some((html, "talk".into())));
        assert_eq!(body(&f, "/talk"), Some((html, "talk".into())));
        assert_eq!(
            body(&f, "/talk/talk.js"),
            Some(("text/javascript; charset=utf-8", "t()".into()))
        );
    }

    #[test]
    fn anything_else_is_not_found() {
        let f = pages();
        for path in [
            "/talk/missing.js",
            "/missing/",
            "/index.html/",
            "/../index.html",
        ] {
            assert_eq!(body(&f, path), None, "{path}");
        }
    }
}
