//! Face threads run at a lower scheduling priority than the rest of the server: when the
//! machine is oversubscribed, animation is what waits, never the audio path ("visuals go
//! first"). On Linux the nice value is per thread, so this affects only the calling thread.

/// Nice increment applied to face worker and engine threads.
pub const FACE_THREAD_NICE: i32 = 10;

/// Lowers the calling thread's priority by [`FACE_THREAD_NICE`]. Best effort: failures are
/// logged and ignored (lowering priority never needs privileges).
#[allow(unsafe_code)] // one libc call, see SAFETY
pub fn lower_current_thread() {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: `getpriority`/`setpriority` take plain integers and only read them; `who = 0`
        // names the calling thread under Linux/NPTL (the nice value is a per-thread attribute
        // there). Relative to the thread's own value: a server started under `nice` still has
        // its face threads below its audio path.
        let current = unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) };
        let lowered = (current + FACE_THREAD_NICE).min(19);
        let rc = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, lowered) };
        if rc != 0 {
            tracing::debug!(
                error = %std::io::Error::last_os_error(),
                "could not lower the face thread's priority"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    #[cfg(target_os = "linux")]
    #[allow(unsafe_code)]
    fn lowers_only_the_calling_thread() {
        // SAFETY: plain integer calls, as above.
        let before = unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) };
        let inside = std::thread::spawn(|| {
            super::lower_current_thread();
            // SAFETY: as above.
            unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) }
        })
        .join()
        .unwrap();
        // SAFETY: as above.
        let after = unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) };
        assert_eq!(inside, (before + super::FACE_THREAD_NICE).min(19));
        assert_eq!(after, before, "the caller's own priority is untouched");
    }
}
