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
mod odd_dims;
mod ops;
mod parallel;
mod realworld;
mod regions;
mod run;
mod synth_llama;
