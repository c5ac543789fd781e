//! `requantize_gguf IN OUT`: rewrites a GGUF's Q4_1/Q5_0/Q5_1 tensors as Q8_0 (the server
//! binary exposes the same as `goassist-inference requantize-gguf IN OUT`).

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [input, output] = args.as_slice() else {
        eprintln!("usage: requantize_gguf IN.gguf OUT.gguf");
        std::process::exit(2);
    };
    let started = std::time::Instant::now();
    match goassist_engines::llm::requantize_gguf(input.as_ref(), output.as_ref()) {
        Ok(report) => println!(
            "{output}: {} of {} tensors rewritten as Q8_0, {} bytes, {:.1} s",
            report.converted,
            report.tensors,
            report.output_bytes,
            started.elapsed().as_secs_f64()
        ),
        Err(e) => {
            eprintln!("requantize failed: {e}");
            std::process::exit(1);
        }
    }
}
