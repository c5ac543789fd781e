//! JSON log lines on stdout (or stderr), and daily files in `LOG_DIR` when it is set.
//!
//! Lines are written by their own threads (tracing-appender's non-blocking writers), never by
//! the thread that logs: a slow reader of the output (a full pipe, a busy journald, a disk
//! flush) must not stall the service; the inference server logs from its audio path. Under such
//! pressure a line is dropped rather than waited for, and counted ([`dropped_lines`]).
//!
//! In `LOG_DIR`, `SERVICE.YYYY-MM-DD.log` holds a day (UTC) of lines, the last
//! [`LOG_FILES_KEPT`] are kept, and `SERVICE.log` links to today's.

use std::io;
use std::path::Path;
use std::sync::{Mutex, OnceLock};

use tracing_appender::non_blocking::{ErrorCounter, NonBlocking, NonBlockingBuilder, WorkerGuard};
use tracing_appender::rolling::{RollingFileAppender, Rotation};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::writer::{BoxMakeWriter, MakeWriterExt};

/// Daily files kept in `LOG_DIR` per service; older ones are deleted as a new day starts.
pub const LOG_FILES_KEPT: usize = 7;

/// Lines waiting for a writer thread before new ones are dropped (tens of MB of JSON at the
/// most; a healthy writer keeps it near empty).
const BUFFERED_LINES: usize = 100_000;

/// Where a service's log lines go.
pub struct LogTo<'a> {
    /// The service's name (`goassist-inference`): the name of its files in `log_dir`.
    pub service: &'a str,
    /// The filter when `RUST_LOG` is unset, e.g. `"info"`.
    pub default_filter: &'a str,
    /// Stderr instead of stdout, for a command whose stdout is its output.
    pub stderr: bool,
    /// `LOG_DIR`: also write the lines to daily files there.
    pub dir: Option<&'a Path>,
}

/// The writer threads' guards: dropping them writes out what is buffered.
static GUARDS: Mutex<Vec<WorkerGuard>> = Mutex::new(Vec::new());
/// How many lines each writer dropped.
static DROPPED: OnceLock<Vec<ErrorCounter>> = OnceLock::new();

/// Installs the global subscriber (once per process). `RUST_LOG` overrides the default filter.
/// Call [`finish`] before the process exits, so the last lines are written.
pub fn init(to: LogTo<'_>) -> io::Result<()> {
    let file = to.dir.map(|dir| daily_files(dir, to.service)).transpose()?;
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(to.default_filter))
        .map_err(|e| io::Error::other(format!("log filter {:?}: {e}", to.default_filter)))?;
    let mut guards = Vec::new();
    let mut counters = Vec::new();
    let mut writer_thread = |name: &str, out: Box<dyn io::Write + Send>| -> NonBlocking {
        let (writer, guard) = NonBlockingBuilder::default()
            .lossy(true)
            .buffered_lines_limit(BUFFERED_LINES)
            .thread_name(name)
            .finish(out);
        guards.push(guard);
        counters.push(writer.error_counter());
        writer
    };
    let console: Box<dyn io::Write + Send> = if to.stderr {
        Box::new(io::stderr())
    } else {
        Box::new(io::stdout())
    };
    let console = writer_thread("log-console", console);
    // Each event is formatted whole and handed over as one line, so lines from different
    // threads never interleave; with LOG_DIR set every line goes to both writers.
    let writer = match file {
        Some(file) => BoxMakeWriter::new(console.and(writer_thread("log-file", Box::new(file)))),
        None => BoxMakeWriter::new(console),
    };
    let installed = tracing_subscriber::fmt()
        .json()
        .with_current_span(true)
        .with_span_list(false)
        .with_env_filter(filter)
        .with_writer(writer)
        .try_init()
        .map_err(|e| io::Error::other(e.to_string()));
    *GUARDS.lock().unwrap_or_else(|e| e.into_inner()) = guards;
    let _ = DROPPED.set(counters);
    installed
}

/// The appender of `SERVICE.YYYY-MM-DD.log` files in `dir`, with `SERVICE.log` linking to
/// today's.
fn daily_files(dir: &Path, service: &str) -> io::Result<RollingFileAppender> {
    let link = format!("{service}.log");
    keep_unrotated_file(dir, &link, service)?;
    RollingFileAppender::builder()
        .rotation(Rotation::DAILY)
        .filename_prefix(service)
        .filename_suffix("log")
        .max_log_files(LOG_FILES_KEPT)
        .latest_symlink(link)
        .build(dir)
        .map_err(|e| io::Error::other(format!("LOG_DIR {}: {e}", dir.display())))
}

/// A `SERVICE.log` that is a file, not the link, was written by a version that kept one growing
/// file: it is kept as `SERVICE.before-rotation.log` (pruned with the dated files in time), since
/// the link to today's file takes its name and would otherwise delete it.
fn keep_unrotated_file(dir: &Path, link: &str, service: &str) -> io::Result<()> {
    let path = dir.join(link);
    match std::fs::symlink_metadata(&path) {
        Ok(meta) if meta.file_type().is_file() => {
            std::fs::rename(&path, dir.join(format!("{service}.before-rotation.log")))
                .map_err(|e| io::Error::other(format!("LOG_DIR: keeping {}: {e}", path.display())))
        }
        _ => Ok(()),
    }
}

/// Writes out the lines still buffered (waiting at most about a second per writer) and stops
/// the writer threads. Lines logged afterwards are lost: call it last, also before
/// `std::process::exit`.
pub fn finish() {
    let guards = std::mem::take(&mut *GUARDS.lock().unwrap_or_else(|e| e.into_inner()));
    drop(guards);
}

/// Log lines dropped so far because a writer (the output's reader, the disk) fell behind.
pub fn dropped_lines() -> u64 {
    DROPPED.get().map_or(0, |counters| {
        counters.iter().map(|c| c.dropped_lines() as u64).sum()
    })
}
