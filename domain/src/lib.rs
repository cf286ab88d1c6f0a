//! Pure rules of Réemploi: value types parsed once at the edge ("parse, don't validate"),
//! organisation kinds and roles, verification life cycle, and the tamper-evident event chain.
//!
//! This crate performs no IO and knows nothing of HTTP, databases or async runtimes; the
//! `api` crate adapts it to the outside world. A CI check keeps it that way.

pub mod audit;
pub mod demand;
pub mod eligibility;
pub mod email;
pub mod error;
pub mod geo;
pub mod ids;
pub mod impact;
pub mod import;
pub mod item;
pub mod labels;
pub mod lifecycle;
pub mod lot;
pub mod matching;
pub mod organisation;
pub mod personal;
pub mod reports;
pub mod text;
pub mod valuation;
pub mod verification;
pub mod webhooks;
pub mod workshop;

pub use error::{FieldError, FieldErrors, Invalid};
