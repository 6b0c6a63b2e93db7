//! All integration tests, compiled into one binary.

mod bad_input;
mod cli;
mod common;
mod models;
mod ops;
