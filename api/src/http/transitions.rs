//! Device transitions now live in the command layer; re-exported while handlers move there.

pub use crate::commands::transitions::*;
