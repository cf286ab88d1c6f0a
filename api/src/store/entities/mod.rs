//! sea-orm entities, one per table. They mirror the migrations; the migrations never import them.

pub mod api_key;
pub mod event;
pub mod event_stream;
pub mod invitation;
pub mod membership;
pub mod organisation;
pub mod outbox;
pub mod session;
pub mod site;
pub mod user;
