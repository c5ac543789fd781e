//! GPU telemetry: the devices' memory as `goassist_vram_bytes{gpu}` and
//! `goassist_vram_total_bytes{gpu}`, refreshed every [`REFRESH`].
//!
//! The probe ([`goassist_gpu::CudaProbe`] in the server) runs on a blocking thread; what a
//! report does to the metrics and the log is [`Telemetry::observe`], tested with fake probes.
//! A host without a GPU logs "no GPU (reason)" once and exports neither metric.

use std::sync::Arc;
use std::time::Duration;

use goassist_gpu::{GpuProbe, GpuReport};
use tokio_util::sync::CancellationToken;

use crate::metrics::Metrics;

/// How often memory in use is read again (a quarter of the VRAM alert's 1 min `for:`).
pub const REFRESH: Duration = Duration::from_secs(15);

/// Whether to keep probing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Probe again after [`REFRESH`].
    Again,
    /// Stop: the first probe found no GPU, and none will appear in this process.
    Stop,
}

/// What the telemetry loop remembers between reports: enough to log a change once.
#[derive(Debug, Default)]
pub struct Telemetry {
    seen: Option<bool>,
}

impl Telemetry {
    /// Records one report into the metrics and logs what changed.
    pub fn observe(&mut self, metrics: &Metrics, report: &GpuReport) -> Next {
        let first = self.seen.is_none();
        match report {
            GpuReport::NoGpu(reason) if first => {
                tracing::info!(%reason, "no GPU: goassist_vram_bytes is not exported");
                self.seen = Some(false);
                return Next::Stop;
            }
            GpuReport::NoGpu(reason) => {
                if self.seen == Some(true) {
                    tracing::warn!(%reason, "the GPU probe failed; VRAM metrics keep their last values");
                }
                self.seen = Some(false);
            }
            GpuReport::Devices(devices) => {
                if self.seen != Some(true) {
                    tracing::info!(gpus = devices.len(), "{}", report.summary());
                }
                self.seen = Some(true);
                for d in devices {
                    let gpu = d.index.to_string();
                    metrics
                        .vram_total_bytes
                        .with_label_values(&[gpu.as_str()])
                        .set(saturating_i64(d.vram_total));
                    if let Some(used) = d.vram_used {
                        metrics
                            .vram_bytes
                            .with_label_values(&[gpu.as_str()])
                            .set(saturating_i64(used));
                    }
                }
            }
        }
        Next::Again
    }
}

fn saturating_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Probes now and every [`REFRESH`] until shutdown (or at once, if there is no GPU).
pub fn start(metrics: Metrics, probe: Arc<dyn GpuProbe>, shutdown: CancellationToken) {
    tokio::spawn(async move {
        let mut telemetry = Telemetry::default();
        let mut tick = tokio::time::interval(REFRESH);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                () = shutdown.cancelled() => return,
            }
            let p = probe.clone();
            let Ok(report) = tokio::task::spawn_blocking(move || p.report()).await else {
                return;
            };
            if telemetry.observe(&metrics, &report) == Next::Stop {
                return;
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use goassist_gpu::Device;

    use super::*;

    /// A stand-in for the CUDA probe: hands out the given reports in order, then repeats
    /// the last.
    struct FakeProbe(Mutex<Vec<GpuReport>>);

    impl FakeProbe {
        fn new(mut reports: Vec<GpuReport>) -> Self {
            reports.reverse();
            Self(Mutex::new(reports))
        }
    }

    impl GpuProbe for FakeProbe {
        fn report(&self) -> GpuReport {
            let mut left = self.0.lock().unwrap();
            if left.len() > 1 {
                left.pop().unwrap()
            } else {
                left[0].clone()
            }
        }
    }

    fn two_gpus(used0: u64, used1: u64) -> GpuReport {
        GpuReport::Devices(vec![
            Device {
                index: 0,
                name: "NVIDIA L40S".into(),
                vram_total: 48 << 30,
                vram_used: Some(used0),
            },
            Device {
                index: 1,
                name: "NVIDIA L4".into(),
                vram_total: 24 << 30,
                vram_used: Some(used1),
            },
        ])
    }

    fn vram_lines(metrics: &Metrics) -> Vec<String> {
        metrics
            .render()
            .lines()
            .filter(|l| l.starts_with("goassist_vram"))
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn each_gpu_gets_its_own_series_and_refreshes_replace_the_values() {
        let metrics = Metrics::new();
        let probe = FakeProbe::new(vec![
            two_gpus(1 << 30, 2 << 30),
            two_gpus(20 << 30, 3 << 30),
        ]);
        let mut telemetry = Telemetry::default();
        assert_eq!(telemetry.observe(&metrics, &probe.report()), Next::Again);
        assert_eq!(
            vram_lines(&metrics),
            [
                "goassist_vram_bytes{gpu=\"0\"} 1073741824",
                "goassist_vram_bytes{gpu=\"1\"} 2147483648",
                "goassist_vram_total_bytes{gpu=\"0\"} 51539607552",
                "goassist_vram_total_bytes{gpu=\"1\"} 25769803776",
            ]
        );
        assert_eq!(telemetry.observe(&metrics, &probe.report()), Next::Again);
        assert_eq!(
            vram_lines(&metrics)[..2],
            [
                "goassist_vram_bytes{gpu=\"0\"} 21474836480",
                "goassist_vram_bytes{gpu=\"1\"} 3221225472",
            ]
        );
    }

    #[test]
    fn no_gpu_at_start_exports_nothing_and_stops_probing() {
        let metrics = Metrics::new();
        let probe = FakeProbe::new(vec![GpuReport::NoGpu("no NVIDIA driver".into())]);
        let mut telemetry = Telemetry::default();
        assert_eq!(telemetry.observe(&metrics, &probe.report()), Next::Stop);
        assert!(
            vram_lines(&metrics).is_empty(),
            "{:?}",
            vram_lines(&metrics)
        );
    }

    #[test]
    fn a_failed_refresh_keeps_the_last_values_and_probing_goes_on() {
        let metrics = Metrics::new();
        let probe = FakeProbe::new(vec![
            two_gpus(5 << 30, 1 << 30),
            GpuReport::NoGpu("GPU 0: CUDA_ERROR_UNKNOWN".into()),
            two_gpus(6 << 30, 1 << 30),
        ]);
        let mut telemetry = Telemetry::default();
        for _ in 0..3 {
            assert_eq!(telemetry.observe(&metrics, &probe.report()), Next::Again);
        }
        assert_eq!(
            vram_lines(&metrics)[0],
            "goassist_vram_bytes{gpu=\"0\"} 6442450944"
        );
    }
}
