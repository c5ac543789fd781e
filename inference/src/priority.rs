//! Scheduling priority of the server's own threads. The audio path (tokio's workers: the packet
//! clock, WebRTC I/O, the session cores) keeps the process's priority; the model engines run
//! below it and the animation below those, so that on oversubscribed cores the voice keeps its
//! timing and the visuals are what waits (runbook §3, "visuals go first").
//!
//! On Linux the nice value belongs to each thread, and a new thread starts with the nice value of
//! the thread that creates it. An engine loaded on a lowered thread therefore keeps the threads
//! its runtime starts (ONNX Runtime's intra-op pool, the engine pool's serving thread) lowered
//! too. Lowering is relative (a server started under `nice` keeps the same order) and one-way:
//! raising a thread back would need privileges, so a thread that must return to the audio
//! path's priority is never lowered; loads run on threads of their own ([`on_lowered_thread`]).

use std::future::Future;

/// Nice increment of the animation threads, relative to the process.
pub const FACE_THREAD_NICE: i32 = 10;

/// Lowers the calling thread's priority by `by` (0 leaves it, the result is capped at 19). Best
/// effort: a failure is logged and ignored (lowering never needs privileges).
#[allow(unsafe_code)] // one libc call, see SAFETY
pub fn lower_current_thread(by: i32) {
    #[cfg(target_os = "linux")]
    if by > 0 {
        // SAFETY: `getpriority`/`setpriority` take plain integers and only read them; `who = 0`
        // names the calling thread under Linux/NPTL (the nice value is a per-thread attribute
        // there).
        let current = unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) };
        let lowered = (current + by).min(19);
        let rc = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, lowered) };
        if rc != 0 {
            tracing::debug!(
                error = %std::io::Error::last_os_error(),
                "could not lower a thread's priority"
            );
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = by;
}

/// Runs `work` on a new thread named `name`, lowered by `nice`, and resolves to its result: the
/// threads `work` starts inherit the lower priority. An error when the thread cannot start or
/// `work` panics.
pub fn on_lowered_thread<T: Send + 'static>(
    name: &str,
    nice: i32,
    work: impl FnOnce() -> T + Send + 'static,
) -> impl Future<Output = Result<T, String>> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let spawned = std::thread::Builder::new()
        .name(name.to_string())
        .spawn(move || {
            lower_current_thread(nice);
            let _ = tx.send(work());
        });
    async move {
        spawned.map_err(|e| format!("cannot start a thread: {e}"))?;
        rx.await.map_err(|_| "the thread panicked".to_string())
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[allow(unsafe_code)]
    fn nice_of_this_thread() -> i32 {
        // SAFETY: a plain integer call, as above.
        unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) }
    }

    #[test]
    fn lowers_only_the_calling_thread() {
        let before = nice_of_this_thread();
        let inside = std::thread::spawn(|| {
            lower_current_thread(FACE_THREAD_NICE);
            nice_of_this_thread()
        })
        .join()
        .unwrap();
        assert_eq!(inside, (before + FACE_THREAD_NICE).min(19));
        assert_eq!(
            nice_of_this_thread(),
            before,
            "the caller's own priority is untouched"
        );
    }

    #[tokio::test]
    async fn threads_started_by_lowered_work_inherit_its_priority() {
        let before = nice_of_this_thread();
        let (own, child) = on_lowered_thread("test-lowered", 3, || {
            let child = std::thread::spawn(nice_of_this_thread).join().unwrap();
            (nice_of_this_thread(), child)
        })
        .await
        .unwrap();
        assert_eq!(own, (before + 3).min(19));
        assert_eq!(
            child, own,
            "a thread started there keeps the lower priority"
        );
        assert_eq!(nice_of_this_thread(), before);
    }

    #[tokio::test]
    async fn a_panic_is_an_error_not_a_hang() {
        let result = on_lowered_thread("test-panics", 0, || -> u8 { panic!("on purpose") }).await;
        assert!(result.unwrap_err().contains("panicked"));
    }
}
