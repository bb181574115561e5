//! Schema migrations. The same files run unchanged on SQLite and PostgreSQL.
//!
//! Conventions: every id is a 64-bit auto-increment; every time is epoch milliseconds in a
//! BIGINT (`*_at`), so ordering and range queries behave identically on both backends; personal
//! data sits in `*_enc` columns (AES-GCM ciphertext, base64) with a keyed hash (`*_hash`) where it
//! must be looked up. Migrations are never edited once released.
#![forbid(unsafe_code)]

pub use sea_orm_migration::prelude::*;

mod dsl;
mod m20261121_000001_create_probing;
mod m20261121_000002_create_accounts;
mod m20261121_000003_create_notifications;
mod m20261121_000004_create_reports;
mod m20261122_000001_index_outbox_claim;
mod m20261122_000002_index_slot_claims;
mod m20261206_000001_create_webhooks;
mod m20261206_000002_create_early_status_callbacks;
mod m20261207_000001_slim_outbox_indexes;
mod m20261207_000002_alert_token_locator;
mod m20261207_221500_create_provider_states;
mod m20261207_233000_add_contacts_voice_enabled;
mod m20261208_000001_add_probe_locations_canaries;
mod m20261208_010000_add_association_members;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261121_000001_create_probing::Migration),
            Box::new(m20261121_000002_create_accounts::Migration),
            Box::new(m20261121_000003_create_notifications::Migration),
            Box::new(m20261121_000004_create_reports::Migration),
            Box::new(m20261122_000001_index_outbox_claim::Migration),
            Box::new(m20261122_000002_index_slot_claims::Migration),
            Box::new(m20261206_000001_create_webhooks::Migration),
            Box::new(m20261206_000002_create_early_status_callbacks::Migration),
            Box::new(m20261207_000001_slim_outbox_indexes::Migration),
            Box::new(m20261207_000002_alert_token_locator::Migration),
            Box::new(m20261207_221500_create_provider_states::Migration),
            Box::new(m20261207_233000_add_contacts_voice_enabled::Migration),
            Box::new(m20261208_000001_add_probe_locations_canaries::Migration),
            Box::new(m20261208_010000_add_association_members::Migration),
        ]
    }
}
