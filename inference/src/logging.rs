//! Structured JSON logs to stdout, and to `LOG_DIR/goassist-inference.log` when configured.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

use crate::config::LogLevel;

/// Installs the global subscriber. `RUST_LOG` refines the level for debugging.
pub fn init(level: LogLevel, log_dir: Option<&Path>) -> io::Result<()> {
    let file = match log_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir)?;
            Some(Arc::new(Mutex::new(
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(dir.join("goassist-inference.log"))?,
            )))
        }
        None => None,
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        // Dependencies (str0m, ort) are chatty at info; keep them at warn unless asked.
        EnvFilter::new(format!(
            "warn,goassist_inference={0},goassist_engines={0}",
            level.as_filter()
        ))
    });
    tracing_subscriber::fmt()
        .json()
        .with_current_span(true)
        .with_span_list(false)
        .with_env_filter(filter)
        .with_writer(Tee { file })
        .try_init()
        .map_err(|e| io::Error::other(e.to_string()))
}

/// Writes every log line to stdout and, when configured, to the log file.
#[derive(Clone)]
struct Tee {
    file: Option<Arc<Mutex<File>>>,
}

impl<'a> MakeWriter<'a> for Tee {
    type Writer = TeeWriter;
    fn make_writer(&'a self) -> Self::Writer {
        TeeWriter {
            file: self.file.clone(),
            line: Vec::new(),
        }
    }
}

/// Buffers one event and writes it whole on drop, so lines from threads never interleave.
struct TeeWriter {
    file: Option<Arc<Mutex<File>>>,
    line: Vec<u8>,
}

impl Write for TeeWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.line.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for TeeWriter {
    fn drop(&mut self) {
        let _ = io::stdout().lock().write_all(&self.line);
        if let Some(file) = &self.file {
            let _ = file
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .write_all(&self.line);
        }
    }
}
