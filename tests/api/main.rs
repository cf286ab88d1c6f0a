//! The black-box HTTP suite: one binary, one module per resource.

mod helpers;

mod accounts;
mod api_keys;
mod ceiling;
mod demand;
mod documents;
mod events;
mod health;
mod hostile;
mod idempotency;
mod impact;
mod imports;
mod isolation;
mod items;
mod limits;
mod lots;
mod mail;
mod open_data;
mod openapi;
mod organisations;
mod pages;
mod personal;
mod photos;
mod robustness;
mod scenario;
mod search;
mod secrets;
mod signatures;
mod sites;
mod verification;
mod tamper;
mod webhooks;
mod workshop;
mod workshop_tools;
mod writes;
