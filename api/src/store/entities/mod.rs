//! sea-orm entities, one per table. They mirror the migrations; the migrations never import them.

pub mod api_key;
pub mod claim;
pub mod disposal;
pub mod event;
pub mod event_stream;
pub mod handover;
pub mod handover_item;
pub mod idempotency_key;
pub mod invitation;
pub mod item;
pub mod job;
pub mod lot;
pub mod membership;
pub mod organisation;
pub mod outbox;
pub mod partnership;
pub mod photo;
pub mod refurbishment_record;
pub mod sanitisation_record;
pub mod session;
pub mod site;
pub mod user;
