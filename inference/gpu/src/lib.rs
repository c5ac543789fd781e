//! What the GPU holds and what it can stream.
//!
//! Everything here is probed at run time: the CUDA driver (`libcuda.so.1`) through cudarc with
//! dynamic loading, and NVENC (`libnvidia-encode.so.1`, feature `nvenc`) through `libloading`.
//! Nothing CUDA is needed to build or to start; a host without an NVIDIA driver gets
//! [`GpuReport::NoGpu`] with the reason, never a panic.
//!
//! The probes sit behind [`GpuProbe`] so that what the binaries do with a report (metrics, the
//! VRAM cap check, the proxy's encoder cap) is plain functions tested with fake reports.

mod cuda;
#[cfg(feature = "nvenc")]
pub mod nvenc;

pub use cuda::{CudaProbe, CudaTotals};

/// One CUDA device as the driver reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    /// CUDA ordinal (as `CUDA_VISIBLE_DEVICES` numbers them for this process).
    pub index: u32,
    /// Product name, e.g. `NVIDIA GeForce RTX 4090`.
    pub name: String,
    /// Device memory, bytes.
    pub vram_total: u64,
    /// Memory in use by every process on the device, bytes (total − free). `None` where the
    /// probe did not open a context ([`CudaTotals`]).
    pub vram_used: Option<u64>,
}

/// What a probe found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GpuReport {
    /// At least one device.
    Devices(Vec<Device>),
    /// No usable GPU, and why (no driver library, no device, a driver error).
    NoGpu(String),
}

impl GpuReport {
    /// The devices; empty on [`GpuReport::NoGpu`].
    pub fn devices(&self) -> &[Device] {
        match self {
            GpuReport::Devices(d) => d,
            GpuReport::NoGpu(_) => &[],
        }
    }

    /// One line for the log: each device with its memory, or "no GPU (reason)".
    pub fn summary(&self) -> String {
        match self {
            GpuReport::NoGpu(reason) => format!("no GPU ({reason})"),
            GpuReport::Devices(devices) => devices
                .iter()
                .map(|d| {
                    let used = d
                        .vram_used
                        .map(|u| format!(", {:.1} GiB used", gib(u)))
                        .unwrap_or_default();
                    format!(
                        "GPU {}: {} ({:.1} GiB{used})",
                        d.index,
                        d.name,
                        gib(d.vram_total)
                    )
                })
                .collect::<Vec<_>>()
                .join("; "),
        }
    }
}

fn gib(bytes: u64) -> f64 {
    bytes as f64 / f64::from(1u32 << 30)
}

/// Something that can say which GPUs this host has. [`CudaProbe`] asks the driver; tests
/// implement it with fixed reports.
pub trait GpuProbe: Send + Sync {
    /// The devices now (memory in use changes between calls).
    fn report(&self) -> GpuReport;
}

/// How a per-GPU VRAM cap compares with the devices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CapCheck {
    /// No GPU to check against (the reason); the cap only feeds the alert.
    NoGpu(String),
    /// Every device has at least the cap.
    Fits,
    /// These devices have less memory than the cap: (index, name, total bytes).
    AboveDevice(Vec<(u32, String, u64)>),
}

/// Compares a per-GPU cap in GiB with every device's total memory.
pub fn check_vram_cap(report: &GpuReport, cap_gib: u32) -> CapCheck {
    let cap_bytes = u64::from(cap_gib) << 30;
    match report {
        GpuReport::NoGpu(reason) => CapCheck::NoGpu(reason.clone()),
        GpuReport::Devices(devices) => {
            let small: Vec<_> = devices
                .iter()
                .filter(|d| d.vram_total < cap_bytes)
                .map(|d| (d.index, d.name.clone(), d.vram_total))
                .collect();
            if small.is_empty() {
                CapCheck::Fits
            } else {
                CapCheck::AboveDevice(small)
            }
        }
    }
}

impl CapCheck {
    /// The operator's message when the cap is above a device, naming the smallest one.
    pub fn problem(&self, variable: &str, cap_gib: u32) -> Option<String> {
        let CapCheck::AboveDevice(small) = self else {
            return None;
        };
        let (index, name, total) = small.iter().min_by_key(|(_, _, t)| *t)?;
        Some(format!(
            "{variable}={cap_gib} is above the {:.1} GiB that GPU {index} ({name}) has",
            gib(*total)
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device(index: u32, name: &str, gib: u64, used: Option<u64>) -> Device {
        Device {
            index,
            name: name.into(),
            vram_total: gib << 30,
            vram_used: used,
        }
    }

    #[test]
    fn cap_check_names_the_smallest_device_below_the_cap() {
        let report = GpuReport::Devices(vec![
            device(0, "NVIDIA L40S", 48, None),
            device(1, "NVIDIA GeForce RTX 4080", 16, None),
            device(2, "NVIDIA GeForce RTX 3060", 12, None),
        ]);
        assert_eq!(check_vram_cap(&report, 12), CapCheck::Fits);
        let check = check_vram_cap(&report, 20);
        assert_eq!(
            check,
            CapCheck::AboveDevice(vec![
                (1, "NVIDIA GeForce RTX 4080".into(), 16 << 30),
                (2, "NVIDIA GeForce RTX 3060".into(), 12 << 30),
            ])
        );
        assert_eq!(
            check.problem("LLM_VRAM_CAP_GB", 20).unwrap(),
            "LLM_VRAM_CAP_GB=20 is above the 12.0 GiB that GPU 2 (NVIDIA GeForce RTX 3060) has"
        );
    }

    #[test]
    fn cap_check_without_a_gpu_carries_the_reason_and_no_problem() {
        let check = check_vram_cap(&GpuReport::NoGpu("no driver".into()), 20);
        assert_eq!(check, CapCheck::NoGpu("no driver".into()));
        assert_eq!(check.problem("LLM_VRAM_CAP_GB", 20), None);
    }

    #[test]
    fn summary_lists_devices_or_the_reason() {
        let report = GpuReport::Devices(vec![device(0, "NVIDIA L4", 22, Some(3 << 29))]);
        assert_eq!(
            report.summary(),
            "GPU 0: NVIDIA L4 (22.0 GiB, 1.5 GiB used)"
        );
        assert_eq!(
            GpuReport::NoGpu("no driver".into()).summary(),
            "no GPU (no driver)"
        );
        assert!(GpuReport::NoGpu("x".into()).devices().is_empty());
    }
}
