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

/// What a command produced: the text for stdout and the exit code (0, or 1 for a failed check).
pub struct Outcome {
    pub stdout: String,
    pub code: i32,
}

impl Outcome {
    /// Text printed with exit code 0.
    pub fn ok(stdout: String) -> Outcome {
        Outcome { stdout, code: 0 }
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
