//! The `onnxscope` binary: parse arguments, run the command, print, exit 0 (ok), 1 (a budget
//! check failed) or 2 (an error). A closed stdout (`| head`) ends quietly.

use clap::Parser;

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let cli = onnxscope::cli::Cli::parse();
    let code = match onnxscope::cli::run(cli) {
        Ok(out) => out.print(),
        Err(e) => {
            let e = anyhow::Error::from(e);
            eprintln!("error: {e:#}");
            2
        }
    };
    std::process::exit(code);
}
