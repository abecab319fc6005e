//! NimbusFleet's schema, as two independent migrators: the catalog (organisations, users,
//! API keys, the per-organisation serial registry, the recorded slot map) and the shard
//! schema applied to every shard database (drones and what hangs off them).
//!
//! Every table is built with sea-query's schema builder so the same migration runs on
//! PostgreSQL and on SQLite. Each migrator keeps its bookkeeping in its own table, so a
//! catalog and a shard may share one database (as in the embedded single-file setup).

pub mod catalog;
pub mod shard;

pub use sea_orm_migration::MigratorTrait;
