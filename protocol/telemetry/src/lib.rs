//! What the three GoAssist services (inference, render-bridge, pixelstream-proxy) report the
//! same way, so the runbook's log and metric conventions hold for each of them:
//!
//! - [`logging`]: JSON lines on stdout (or stderr), and daily files in `LOG_DIR`, written by
//!   their own threads so a slow reader never stalls the service;
//! - [`register_process_and_build_info`]: `process_*` and `goassist_build_info`.

pub mod logging;

use prometheus::process_collector::ProcessCollector;
use prometheus::{IntGaugeVec, Opts, Registry};

/// Registers the process collector (`process_*`: start time, CPU, memory, fds, threads) and
/// `goassist_build_info{service, version, revision} 1` in `registry`. The revision is the
/// `GOASSIST_GIT_REVISION` set when the binary was built (the Dockerfiles pass it), else
/// `unknown`; the version is the workspace's.
pub fn register_process_and_build_info(
    registry: &Registry,
    service: &str,
) -> prometheus::Result<()> {
    registry.register(Box::new(ProcessCollector::for_self()))?;
    let build_info = IntGaugeVec::new(
        Opts::new(
            "goassist_build_info",
            "Always 1; the labels name the running build",
        ),
        &["service", "version", "revision"],
    )?;
    build_info
        .with_label_values(&[
            service,
            env!("CARGO_PKG_VERSION"),
            option_env!("GOASSIST_GIT_REVISION").unwrap_or("unknown"),
        ])
        .set(1);
    registry.register(Box::new(build_info))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_info_names_the_service_and_process_metrics_come_with_it() {
        let registry = Registry::new();
        register_process_and_build_info(&registry, "goassist-test").unwrap();
        let families = registry.gather();
        let build = families
            .iter()
            .find(|f| f.name() == "goassist_build_info")
            .expect("build info");
        let labels: Vec<_> = build.get_metric()[0]
            .get_label()
            .iter()
            .map(|l| (l.name().to_string(), l.value().to_string()))
            .collect();
        assert!(labels.contains(&("service".into(), "goassist-test".into())));
        assert!(labels.contains(&("version".into(), env!("CARGO_PKG_VERSION").into())));
        assert!(
            families
                .iter()
                .any(|f| f.name() == "process_start_time_seconds")
        );
        // A second registration in the same registry is a coding error, reported.
        assert!(register_process_and_build_info(&registry, "goassist-test").is_err());
    }
}
