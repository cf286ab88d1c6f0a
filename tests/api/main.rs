//! The black-box HTTP suite: one binary, one module per resource.

mod helpers;

mod accounts;
mod api_keys;
mod ceiling;
mod demand;
mod documents;
mod events;
mod health;
mod idempotency;
mod impact;
mod imports;
mod isolation;
mod items;
mod limits;
mod lots;
mod oidc;
mod openapi;
mod organisations;
mod pages;
mod photos;
mod robustness;
mod scenario;
mod search;
mod signatures;
mod sites;
mod webhooks;
mod workshop;
mod writes;
