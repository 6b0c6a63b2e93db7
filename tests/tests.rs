//! All integration tests, compiled into one binary.

mod bad_input;
mod check;
mod cli;
mod common;
mod compare;
mod golden;
mod memory;
mod models;
mod ops;
mod realworld;
mod run;
