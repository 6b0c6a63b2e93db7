//! Training budgets (work in progress).
use serde::Serialize;

#[derive(Clone, Debug, Serialize)]
pub struct TrainingReport {}
