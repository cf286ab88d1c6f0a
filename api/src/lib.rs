//! The Réemploi service: HTTP API (poem-openapi), persistence (sea-orm on SQLite or PostgreSQL),
//! ports to the outside world (mail), background workers and the `reemploi` command line.

pub mod access;
pub mod account_settings;
pub mod admin;
pub mod app;
pub mod backup;
pub mod bench;
pub mod bench_http;
pub mod blobs;
pub mod cli;
pub mod commands;
pub mod config;
pub mod connections;
pub mod csv_out;
pub mod documents;
pub mod error;
pub mod http;
pub mod importer;
pub mod mail;
pub mod metrics;
pub mod oidc;
pub mod ops_settings;
pub mod purge;
pub mod ratelimit;
pub mod registers;
pub mod search;
pub mod security;
pub mod signing;
pub mod state;
pub mod store;
pub mod webhooks;
pub mod worker;
