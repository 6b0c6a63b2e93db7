//! All integration tests, compiled into one binary.

mod bad_input;
mod check;
mod cli;
mod common;
mod compare;
mod fuzz_regressions;
mod golden;
mod llm;
mod llm_run;
mod memory;
mod models;
mod ops;
mod realworld;
mod regions;
mod run;
mod synth_llama;
