//! The real loaders on this host. Without an NVIDIA driver (CI, most dev machines) they must
//! say "no GPU" with a reason and not panic; with one, they must describe the device. Each test
//! checks the path this host can check and says loudly which one it skipped.

use goassist_gpu::{CudaProbe, CudaTotals, GpuProbe, GpuReport};

/// Whether this host has an NVIDIA driver, as the dynamic loader sees it.
fn driver_present() -> bool {
    std::path::Path::new("/proc/driver/nvidia/version").exists()
}

#[test]
fn without_a_driver_the_probe_reports_no_gpu_with_the_reason() {
    if driver_present() {
        eprintln!("SKIPPED: this host has an NVIDIA driver; the driver-absent path is not checked");
        return;
    }
    for report in [CudaProbe::new().report(), CudaTotals.report()] {
        let GpuReport::NoGpu(reason) = &report else {
            panic!("no driver, yet the probe found {report:?}");
        };
        // No libcuda at all (this kind of host), or a libcuda without its kernel driver.
        assert!(
            reason.contains("no NVIDIA driver") || reason.contains("did not initialise"),
            "{reason}"
        );
        eprintln!("driver-absent path: {reason}");
        assert_eq!(report.summary(), format!("no GPU ({reason})"));
    }
}

#[cfg(feature = "nvenc")]
#[test]
fn without_a_driver_nvenc_is_unavailable_with_the_reason() {
    use goassist_gpu::nvenc::{NvencCapability, probe};
    if driver_present() {
        eprintln!("SKIPPED: this host has an NVIDIA driver; the driver-absent path is not checked");
        return;
    }
    let NvencCapability::Unavailable(reason) = probe() else {
        panic!("no driver, yet NVENC was found");
    };
    assert!(reason.contains("no NVIDIA driver"), "{reason}");
}

#[test]
fn with_a_driver_every_device_has_a_name_and_memory() {
    if !driver_present() {
        eprintln!(
            "SKIPPED (no GPU): no NVIDIA driver on this host (/proc/driver/nvidia/version is \
             absent); the GPU path is checked by scripts/gpu_check.sh on a GPU machine"
        );
        return;
    }
    let probe = CudaProbe::new();
    let report = probe.report();
    eprintln!("{}", report.summary());
    let GpuReport::Devices(devices) = &report else {
        panic!("a driver is present but the probe says {report:?}");
    };
    for d in devices {
        assert!(!d.name.is_empty());
        assert!(d.vram_total >= 1 << 30, "{d:?}");
        let used = d.vram_used.expect("a context was opened");
        assert!(used > 0 && used <= d.vram_total, "{d:?}");
    }
    let totals = CudaTotals.report();
    assert_eq!(totals.devices().len(), devices.len());
    for (t, d) in totals.devices().iter().zip(devices) {
        assert_eq!(
            (t.index, &t.name, t.vram_total),
            (d.index, &d.name, d.vram_total)
        );
        assert_eq!(t.vram_used, None);
    }
    #[cfg(feature = "nvenc")]
    eprintln!("{}", goassist_gpu::nvenc::probe().summary());
}
