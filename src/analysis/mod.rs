//! Analysis passes over the IR. Each returns a side table keyed by node; the IR is never
//! mutated. `profile` runs the counting passes and assembles the `Profile` that every report,
//! comparison and budget check reads.

pub mod llm;
pub mod memory;
pub mod params;
pub mod profile;
pub mod roofline;
pub mod training;

pub use profile::{profile, profile_model, NodeReport, Profile, ProfileOptions, Totals};
