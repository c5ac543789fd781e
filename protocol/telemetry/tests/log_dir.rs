//! Logging into LOG_DIR, in a process of its own (the subscriber is global): every line, the
//! last included once `finish` returns, in today's dated file behind the service's link; a file
//! an older version left under the link's name is kept.

use goassist_telemetry::logging::{self, LogTo};
use serde_json::Value;

#[test]
fn lines_reach_todays_file_behind_the_link_and_finish_writes_out_the_last() {
    let dir = std::env::temp_dir().join(format!("goassist-telemetry-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    // One growing file, as an older version wrote it: kept, not replaced by the link.
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("goassist-test.log"), "{\"older\":true}\n").unwrap();
    logging::init(LogTo {
        service: "goassist-test",
        default_filter: "info",
        stderr: true,
        dir: Some(&dir),
    })
    .expect("logging starts");
    for i in 0..1000 {
        tracing::info!(i, "line");
    }
    tracing::debug!("below the filter");
    tracing::warn!("the last line");
    logging::finish();

    let text = std::fs::read_to_string(dir.join("goassist-test.log")).expect("the link");
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(
        lines.len(),
        1001,
        "every line at info and above, once, in order"
    );
    for (i, line) in lines[..1000].iter().enumerate() {
        assert_eq!(line["fields"]["i"], i, "{line}");
    }
    assert_eq!(lines[1000]["fields"]["message"], "the last line");
    assert_eq!(lines[1000]["level"], "WARN");
    assert_eq!(
        std::fs::read_to_string(dir.join("goassist-test.before-rotation.log")).unwrap(),
        "{\"older\":true}\n",
        "the older file is kept under another name"
    );
    let dated: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|name| name != "goassist-test.log" && !name.contains("before-rotation"))
        .collect();
    assert_eq!(dated.len(), 1, "{dated:?}");
    assert!(
        dated[0].starts_with("goassist-test.20") && dated[0].ends_with(".log"),
        "{dated:?}"
    );
    assert_eq!(logging::dropped_lines(), 0);
    let _ = std::fs::remove_dir_all(&dir);
}
