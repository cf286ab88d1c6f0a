//! Schema migrations of Réemploi, one file per change, named by date. A migration never imports
//! the application's entities, so that an old migration keeps its meaning; once on main it is never
//! edited, and every one has a `down`.

pub use sea_orm_migration::prelude::*;

mod helpers;
mod m20261129_000001_foundation;
mod m20261129_000002_supply;
mod m20261129_000003_workshop;
mod m20261129_000004_photos;
mod m20261129_000005_idempotency;
mod m20261130_000006_demand;
mod m20261130_000007_documents;
mod m20261130_000008_impact;
mod m20261201_000009_signatures;
mod m20261201_000010_ceiling;
mod m20261201_000011_webhooks;
mod m20261201_000012_storage_media;
mod m20261201_000013_accounts;
mod m20261201_000014_chain_people;
mod m20261201_000016_workshop_reports;
mod m20261201_000017_verification;
mod m20261201_000018_oidc;
mod m20261201_000019_matching;
mod m20261201_000020_job_leases;
mod m20261201_000021_job_inputs;

/// Runs the migrations in order.
#[derive(Debug)]
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261129_000001_foundation::Migration),
            Box::new(m20261129_000002_supply::Migration),
            Box::new(m20261129_000003_workshop::Migration),
            Box::new(m20261129_000004_photos::Migration),
            Box::new(m20261129_000005_idempotency::Migration),
            Box::new(m20261130_000006_demand::Migration),
            Box::new(m20261130_000007_documents::Migration),
            Box::new(m20261130_000008_impact::Migration),
            Box::new(m20261201_000009_signatures::Migration),
            Box::new(m20261201_000010_ceiling::Migration),
            Box::new(m20261201_000011_webhooks::Migration),
            Box::new(m20261201_000012_storage_media::Migration),
            Box::new(m20261201_000013_accounts::Migration),
            Box::new(m20261201_000014_chain_people::Migration),
            Box::new(m20261201_000016_workshop_reports::Migration),
            Box::new(m20261201_000017_verification::Migration),
            Box::new(m20261201_000018_oidc::Migration),
            Box::new(m20261201_000019_matching::Migration),
            Box::new(m20261201_000020_job_leases::Migration),
            Box::new(m20261201_000021_job_inputs::Migration),
        ]
    }
}
