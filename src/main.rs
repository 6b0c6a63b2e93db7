//! The `onnxscope` binary: parse arguments, run the command, print, exit 0 (ok), 1 (a budget
//! check failed) or 2 (an error). A closed stdout (`| head`) ends quietly.

use std::io::Write;

use clap::Parser;

fn main() {
    let cli = onnxscope::cli::Cli::parse();
    let code = match onnxscope::cli::run(cli) {
        Ok(out) => {
            let mut stdout = std::io::stdout().lock();
            match stdout
                .write_all(out.stdout.as_bytes())
                .and_then(|_| stdout.flush())
            {
                Ok(()) => out.code,
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => out.code,
                Err(e) => {
                    eprintln!("error: writing the report: {e}");
                    2
                }
            }
        }
        Err(e) => {
            let e = anyhow::Error::from(e);
            eprintln!("error: {e:#}");
            2
        }
    };
    std::process::exit(code);
}
