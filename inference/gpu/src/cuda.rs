//! The real probe: the CUDA driver API through cudarc, loaded at run time.
//!
//! cudarc panics (rather than erring) when `libcuda` cannot be loaded, so every path first asks
//! [`driver_loadable`], and the calls run under `catch_unwind` so that a driver missing a symbol
//! turns into [`GpuReport::NoGpu`] instead of taking the process down.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex};

use cudarc::driver::{CudaContext, result};

use crate::{Device, GpuProbe, GpuReport};

/// Asks the CUDA driver. Memory in use needs a context per device: the probe opens each
/// device's primary context on first use and keeps it (the driver reserves a few hundred MB of
/// VRAM per context; anything else in the process using the primary context shares it).
#[derive(Default)]
pub struct CudaProbe {
    contexts: Mutex<Option<Vec<Arc<CudaContext>>>>,
}

impl CudaProbe {
    /// A probe that opens nothing until [`GpuProbe::report`] is first called.
    pub fn new() -> Self {
        Self::default()
    }
}

/// Names and total memory only, without opening a context (no VRAM taken; `vram_used` is
/// None): what configuration checks need, cheap enough for `--check-config`.
#[derive(Debug, Default, Clone, Copy)]
pub struct CudaTotals;

impl GpuProbe for CudaTotals {
    fn report(&self) -> GpuReport {
        guarded(|| {
            let count = init_and_count()?;
            (0..count)
                .map(|i| device_without_context(i).map_err(|e| format!("GPU {i}: {e}")))
                .collect::<Result<Vec<_>, _>>()
        })
    }
}

impl GpuProbe for CudaProbe {
    fn report(&self) -> GpuReport {
        let mut contexts = self.contexts.lock().unwrap_or_else(|p| p.into_inner());
        guarded(|| {
            if contexts.is_none() {
                let count = init_and_count()?;
                let opened = (0..count)
                    .map(|i| {
                        CudaContext::new(i as usize)
                            .map_err(|e| format!("GPU {i}: cannot open a context: {e}"))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                *contexts = Some(opened);
            }
            let Some(opened) = contexts.as_ref() else {
                return Err("no contexts".into());
            };
            opened.iter().map(|ctx| device_with_context(ctx)).collect()
        })
    }
}

/// Whether `libcuda` can be loaded at all (cudarc's own loader, same names it will try).
pub(crate) fn driver_loadable() -> bool {
    // SAFETY: only dlopen()s the candidate names and closes them again; no symbol is called.
    #[allow(unsafe_code)]
    unsafe {
        cudarc::driver::sys::is_culib_present()
    }
}

/// Runs a driver query; no driver, a driver error or a panic inside cudarc become NoGpu.
fn guarded(query: impl FnOnce() -> Result<Vec<Device>, String>) -> GpuReport {
    if !driver_loadable() {
        return GpuReport::NoGpu(
            "no NVIDIA driver: libcuda.so could not be loaded (no driver installed, or not \
             mounted into this container)"
                .into(),
        );
    }
    match catch_unwind(AssertUnwindSafe(query)) {
        Ok(Ok(devices)) => GpuReport::Devices(devices),
        Ok(Err(reason)) => GpuReport::NoGpu(reason),
        Err(panic) => {
            let what = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("unknown");
            GpuReport::NoGpu(format!("the CUDA driver library failed: {what}"))
        }
    }
}

fn init_and_count() -> Result<i32, String> {
    result::init().map_err(|e| format!("CUDA driver did not initialise: {e}"))?;
    let count = result::device::get_count().map_err(|e| format!("cannot count GPUs: {e}"))?;
    if count == 0 {
        return Err("the CUDA driver reports no device".into());
    }
    Ok(count)
}

fn device_without_context(index: i32) -> Result<Device, result::DriverError> {
    let dev = result::device::get(index)?;
    let name = result::device::get_name(dev)?;
    // SAFETY: `dev` was just returned by cuDeviceGet for this ordinal.
    #[allow(unsafe_code)]
    let total = unsafe { result::device::total_mem(dev)? };
    Ok(Device {
        index: index as u32,
        name,
        vram_total: total as u64,
        vram_used: None,
    })
}

fn device_with_context(ctx: &CudaContext) -> Result<Device, String> {
    let index = ctx.ordinal();
    let err = |e: result::DriverError| format!("GPU {index}: {e}");
    let name = ctx.name().map_err(err)?;
    let (free, total) = ctx.mem_get_info().map_err(err)?;
    Ok(Device {
        index: index as u32,
        name,
        vram_total: total as u64,
        vram_used: Some(total.saturating_sub(free) as u64),
    })
}
