//! Analysis passes over the IR. Each returns its own table keyed by node (position in the
//! execution order); the IR is never mutated. `profile` runs the counting passes and
//! `report::join` lays their tables side by side as the `Profile` that every report,
//! comparison and budget check reads; `roofline` and `training` tables are joined on request.

pub mod llm;
pub mod memory;
pub mod params;
pub mod profile;
pub mod report;
pub mod roofline;
pub mod training;

pub use profile::{profile, profile_model, ProfileOptions};
pub use report::{NodeReport, Profile, Totals};
