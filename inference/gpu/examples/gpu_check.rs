//! Prints what the GoAssist servers will see on this host: each CUDA device's name and memory,
//! and the NVENC encoder on device 0 (codecs, the session cap the proxy applies and, with
//! `--measure-sessions N`, the number of sessions the driver really lets one process open).
//! Run by `scripts/gpu_check.sh`. Exit 0 with a GPU, 2 without one.

use std::process::ExitCode;

use clap::Parser;
use goassist_gpu::{CudaProbe, GpuProbe, GpuReport};

/// GPU check for GoAssist hosts.
#[derive(Parser)]
struct Args {
    /// Also open up to N encode sessions at once on GPU 0 and report how many the driver
    /// allowed (stop Unreal first: the sessions held during the check are not available to it).
    #[arg(long, value_name = "N")]
    measure_sessions: Option<u32>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let report = CudaProbe::new().report();
    let GpuReport::Devices(devices) = &report else {
        println!("{}", report.summary());
        return ExitCode::from(2);
    };
    for d in devices {
        let used = d.vram_used.unwrap_or(0);
        println!(
            "GPU {}: {}\n  VRAM total {} bytes ({:.1} GiB), in use {} bytes ({:.1} GiB, all processes)",
            d.index,
            d.name,
            d.vram_total,
            d.vram_total as f64 / f64::from(1u32 << 30),
            used,
            used as f64 / f64::from(1u32 << 30),
        );
    }
    let nvenc = goassist_gpu::nvenc::probe();
    println!("{}", nvenc.summary());
    if let Some(up_to) = args.measure_sessions {
        match goassist_gpu::nvenc::measure_session_limit(up_to) {
            Ok((n, None)) => println!(
                "NVENC sessions opened at once: {n} (stopped at --measure-sessions {up_to}; no cap met)"
            ),
            Ok((n, Some(refusal))) => {
                println!("NVENC sessions opened at once: {n}; the next was refused: {refusal}")
            }
            Err(e) => println!("NVENC sessions: none could be opened: {e}"),
        }
    }
    ExitCode::SUCCESS
}
