//! The black-box HTTP suite: one binary, one module per resource.

mod helpers;

mod accounts;
mod api_keys;
mod events;
mod health;
mod isolation;
mod limits;
mod openapi;
mod organisations;
mod sites;
