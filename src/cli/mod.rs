//! The command line: the clap definitions of every command, their validation into the
//! library's typed options, and the dispatch. Clap lives only here (and in `main.rs`); each
//! command's file turns its flags into options, calls the library and renders the result
//! through [`crate::report::Render`]. `main.rs` only maps the [`Outcome`] to an exit code.

pub mod args;
pub mod check;
pub mod compare;
pub mod dice;
pub mod llm;
pub mod nms;
pub mod profile;
/// The Python extension module `onnxscope._onnxscope` (feature `python`): a front end beside
/// `main`, in process.
#[cfg(feature = "python")]
pub mod python;
pub mod run;
pub mod synth;

use std::io::Write;

use clap::{Parser, Subcommand};

use crate::error::Result;

#[derive(Parser, Debug)]
#[command(
    name = "onnxscope",
    version,
    about = "What an ONNX model costs: FLOPs, MACs, params, memory"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Non-maximum suppression on saved boxes and scores (.npy).
    Nms(nms::NmsArgs),
    /// Dice score / loss of a prediction against a target (.npy), MONAI semantics.
    Dice(dice::DiceArgs),
    /// Several models side by side (or ResNeXt configurations), with deltas.
    Compare(compare::CompareArgs),
    /// Write a synthesized model (ResNet/ResNeXt) as ONNX.
    #[command(subcommand)]
    Synth(SynthCommand),
    /// Per-node FLOPs, MACs, parameters and grouped-conv savings of a model.
    Profile(profile::ProfileArgs),
    /// Execute a model with tract on .npy / image / random inputs; save and summarise its
    /// outputs; time every node against its FLOPs (--profile); NMS or Dice on the outputs.
    Run(Box<run::RunArgs>),
    /// Check models against budgets (FLOPs, MACs, params, bytes, growth against a baseline);
    /// exit 0 within budget, 1 over, 2 on an error.
    Check(check::CheckArgs),
    /// An LLM export's prefill against decode: FLOPs, bytes, KV cache, tokens/s on a device.
    Llm(llm::LlmArgs),
}

#[derive(Subcommand, Debug)]
pub enum SynthCommand {
    /// ResNet / ResNeXt (torchvision's architecture): C = 1, D = 64 is ResNet.
    Resnext(synth::SynthResnextArgs),
    /// Llama-family decoder in the onnxruntime-genai layout (GQA, MatMulNBits for int4).
    Llama(synth::SynthLlamaArgs),
}

/// A report written straight to its destination as it is serialised (a large profile's JSON is
/// never held as one string).
type Stream = Box<dyn FnOnce(&mut dyn Write) -> std::io::Result<()> + Send>;

enum Body {
    Text(String),
    Stream(Stream),
}

/// What a command produced: the report for stdout (text, or written as it is serialised) and the
/// exit code (0, or 1 for a failed check).
pub struct Outcome {
    body: Body,
    pub code: i32,
}

impl Outcome {
    /// Text printed with exit code 0.
    pub fn ok(stdout: String) -> Outcome {
        Outcome {
            body: Body::Text(stdout),
            code: 0,
        }
    }

    /// A report serialised straight to stdout when printed, with exit code 0.
    pub fn streamed(
        write: impl FnOnce(&mut dyn Write) -> std::io::Result<()> + Send + 'static,
    ) -> Outcome {
        Outcome {
            body: Body::Stream(Box::new(write)),
            code: 0,
        }
    }

    /// The same report with exit code `code`.
    pub fn with_code(self, code: i32) -> Outcome {
        Outcome { code, ..self }
    }

    /// Writes the report to `w`.
    pub fn write_to(self, w: &mut dyn Write) -> std::io::Result<()> {
        match self.body {
            Body::Text(s) => w.write_all(s.as_bytes()),
            Body::Stream(write) => write(w),
        }
    }

    /// The report as text (and the exit code), for callers that keep it.
    pub fn into_text(self) -> (String, i32) {
        let code = self.code;
        match self.body {
            Body::Text(s) => (s, code),
            Body::Stream(write) => {
                let mut buf = Vec::new();
                write(&mut buf).expect("writing to memory cannot fail");
                (String::from_utf8(buf).expect("reports are UTF-8"), code)
            }
        }
    }

    /// Prints the report on stdout and returns the process's exit code: the outcome's, or 2 when
    /// stdout cannot be written (a closed pipe, `| head`, ends quietly with the outcome's code).
    pub fn print(self) -> i32 {
        let code = self.code;
        let mut stdout = std::io::stdout().lock();
        match self.write_to(&mut stdout).and_then(|()| stdout.flush()) {
            Ok(()) => code,
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => code,
            Err(e) => {
                eprintln!("error: writing the report: {e}");
                2
            }
        }
    }
}

pub fn run(cli: Cli) -> Result<Outcome> {
    match cli.command {
        Command::Profile(a) => profile::run(&a),
        Command::Nms(a) => nms::run(&a),
        Command::Dice(a) => dice::run(&a),
        Command::Compare(a) => compare::run(&a),
        Command::Synth(SynthCommand::Resnext(a)) => synth::run(&a),
        Command::Synth(SynthCommand::Llama(a)) => synth::run_llama(&a),
        Command::Check(a) => check::run(&a),
        Command::Run(a) => run::run(&a),
        Command::Llm(a) => llm::run(&a),
    }
}
