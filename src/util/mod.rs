//! Small utilities shared by several commands, each kept once: named choices ([`choice`]),
//! the seeded SplitMix64 generator ([`rng`]), atomic file writes ([`fs`]), XML/HTML escaping and
//! the terminal-table preset ([`text`]), order-keeping data parallelism ([`par`]), the hasher
//! of the per-node name maps ([`hash`]).

pub mod choice;
pub mod fs;
pub mod hash;
pub mod par;
pub mod rng;
pub mod text;
