//! `onnxscope synth resnext`: the flags of a synthesized ResNet/ResNeXt, turned into a
//! [`ResNeXtConfig`], and the file written.

use std::path::PathBuf;

use clap::Args;

use super::args::choice;
use super::Outcome;
use crate::error::Result;
use crate::synth::llama::{LlamaConfig, Precision};
use crate::synth::{self, ResNeXtConfig};

/// Write a synthetic ResNet/ResNeXt model (torchvision layout) as an .onnx file.
#[derive(Debug, Clone, Args)]
pub struct SynthResnextArgs {
    /// Depth: 50, 101 or 152.
    #[arg(long, default_value_t = 50)]
    pub depth: u32,
    /// Cardinality C (groups of each 3×3 conv); 1 with --width 64 is plain ResNet.
    #[arg(long, default_value_t = 32)]
    pub cardinality: u32,
    /// Bottleneck width D of one group in the first stage.
    #[arg(long, default_value_t = 4)]
    pub width: u32,
    /// Input height and width in pixels.
    #[arg(long, default_value_t = 224)]
    pub input: u32,
    /// Number of output classes.
    #[arg(long, default_value_t = 1000)]
    pub classes: u32,
    /// Fold every BatchNormalization into the conv before it.
    #[arg(long)]
    pub fold_bn: bool,
    /// Write the graph only: initializers keep their shapes but are marked absent.
    #[arg(long)]
    pub no_weights: bool,
    /// Seed of the random weights.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Fixed batch size (default: symbolic `N`).
    #[arg(long)]
    pub batch: Option<u64>,
    /// Output file (default: `<arch>.onnx`, e.g. `resnext50_32x4d.onnx`).
    #[arg(short, long, value_name = "PATH")]
    pub output: Option<PathBuf>,
}

impl SynthResnextArgs {
    /// The generator configuration these arguments describe.
    pub fn config(&self) -> ResNeXtConfig {
        ResNeXtConfig {
            depth: self.depth,
            cardinality: self.cardinality,
            width: self.width,
            input: self.input,
            classes: self.classes,
            fold_bn: self.fold_bn,
            weights: !self.no_weights,
            seed: self.seed,
            batch: self.batch,
        }
    }
}

pub fn run(a: &SynthResnextArgs) -> Result<Outcome> {
    let cfg = a.config();
    let path = a
        .output
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("{}.onnx", cfg.arch_name())));
    Ok(Outcome::ok(synth::write_model(&cfg, &path)? + "\n"))
}

/// Write a synthetic Llama-family decoder (onnxruntime-genai layout) as an .onnx file.
#[derive(Debug, Clone, Args)]
pub struct SynthLlamaArgs {
    /// Decoder layers.
    #[arg(long, default_value_t = 32)]
    pub layers: u64,
    /// Hidden size.
    #[arg(long, default_value_t = 4096)]
    pub hidden: u64,
    /// Query heads.
    #[arg(long, default_value_t = 32)]
    pub heads: u64,
    /// Key/value heads (grouped-query attention; = --heads is multi-head attention).
    #[arg(long, default_value_t = 8)]
    pub kv_heads: u64,
    /// MLP intermediate size.
    #[arg(long, default_value_t = 14336)]
    pub intermediate: u64,
    /// Vocabulary size.
    #[arg(long, default_value_t = 128256)]
    pub vocab: u64,
    /// Weight precision.
    #[arg(long, value_parser = choice::<Precision>(), default_value_t = Precision::Int4)]
    pub precision: Precision,
    /// int4 quantization block size along K.
    #[arg(long, default_value_t = 32)]
    pub block_size: u64,
    /// Rows of the rotary caches (the longest context).
    #[arg(long, default_value_t = 8192)]
    pub max_position: u64,
    /// Write the graph only: weights declared (dims, types) but absent.
    #[arg(long)]
    pub no_weights: bool,
    /// Seed of the random weights.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output file (default: `<arch>.onnx`, e.g. `llama_32l_4096h_32x8_int4.onnx`).
    #[arg(short, long, value_name = "PATH")]
    pub output: Option<PathBuf>,
}

impl SynthLlamaArgs {
    /// The generator configuration these arguments describe.
    pub fn config(&self) -> LlamaConfig {
        LlamaConfig {
            layers: self.layers,
            hidden: self.hidden,
            heads: self.heads,
            kv_heads: self.kv_heads,
            intermediate: self.intermediate,
            vocab: self.vocab,
            precision: self.precision,
            block_size: self.block_size,
            max_position: self.max_position,
            weights: !self.no_weights,
            seed: self.seed,
        }
    }
}

pub fn run_llama(a: &SynthLlamaArgs) -> Result<Outcome> {
    let cfg = a.config();
    let path = a
        .output
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("{}.onnx", cfg.arch_name())));
    Ok(Outcome::ok(synth::llama::write_llama(&cfg, &path)? + "\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clap_parses_the_documented_flags() {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            synth: SynthResnextArgs,
        }
        let cli = Cli::try_parse_from([
            "x",
            "--depth",
            "101",
            "--cardinality",
            "32",
            "--width",
            "8",
            "--fold-bn",
            "--no-weights",
            "--seed",
            "9",
            "-o",
            "out.onnx",
        ])
        .unwrap();
        let cfg = cli.synth.config();
        assert_eq!(
            cfg,
            ResNeXtConfig {
                fold_bn: true,
                weights: false,
                seed: 9,
                ..ResNeXtConfig::resnext(101, 32, 8)
            }
        );
        assert_eq!(cli.synth.output, Some(PathBuf::from("out.onnx")));
        let cli = Cli::try_parse_from(["x"]).unwrap();
        assert_eq!(cli.synth.config(), ResNeXtConfig::default());
    }
}
