//! Store tests. Every scenario runs against SQLite (a catalog and two shard files in a
//! temporary directory, so cross-shard behaviour is real) and against freshly created
//! PostgreSQL databases on the server named by `NIMBUS_TEST_PG_URL` (default: the local one).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod helpers;

mod alerts;
mod api_keys;
mod drones;
mod flight_plans;
mod orgs_and_users;
mod routing;
mod telemetry;

/// Declares a module of tests, one per `scenario(&Store)`, each on new databases of a server
/// that `$open` (a `TestDb` constructor answering `Option<TestDb>`) provides.
macro_rules! on_server {
    ($name:ident, $open:ident, $($module:ident :: $scenario:ident),* $(,)?) => {
        mod $name {
            $(
                #[tokio::test]
                async fn $scenario() {
                    let Some(db) = crate::helpers::TestDb::$open().await else {
                        return;
                    };
                    crate::$module::$scenario(&db).await;
                    db.drop_databases().await;
                }
            )*
        }
    };
}

/// Declares one test per backend for each `scenario(&Store)`.
macro_rules! on_every_backend {
    ($($module:ident :: $scenario:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $scenario() {
                    let db = crate::helpers::TestDb::sqlite().await;
                    crate::$module::$scenario(&db).await;
                }
            )*
        }
        on_server!(postgres, postgres, $($module :: $scenario),*);
    };
}

on_every_backend!(
    alerts::a_burst_of_alert_changes_opens_each_alert_once,
    drones::a_serial_is_unique_per_organisation_across_shards,
    drones::a_drone_is_stored_on_its_own_shard_only,
    drones::a_stored_drone_reads_back_as_it_was_written,
    drones::listing_walks_every_drone_once_across_shards,
    drones::list_filters_combine_across_shards,
    drones::updating_with_a_stale_version_is_a_version_mismatch,
    drones::changing_a_serial_moves_its_reservation,
    drones::a_drone_of_another_org_is_not_found,
    drones::deleting_a_drone_frees_its_serial_and_removes_its_keys_and_plans,
    flight_plans::a_plan_round_trips_through_create_get_update,
    flight_plans::plans_are_listed_and_counted_by_drone_state_and_time,
    flight_plans::a_plan_of_another_org_is_not_found,
    orgs_and_users::creating_an_org_makes_its_admin_atomically,
    orgs_and_users::users_are_listed_updated_and_deleted_within_their_org,
    api_keys::api_keys_are_found_by_prefix_and_scoped_by_drone,
    routing::the_slot_map_is_recorded_and_then_enforced,
    routing::pools_and_health_are_reported_per_database,
    telemetry::points_of_many_drones_are_stored_once_across_shards,
    telemetry::large_batches_and_replays_are_written_in_chunks,
    telemetry::a_key_repeated_within_a_batch_keeps_the_last_point,
    telemetry::latest_moves_forward_only,
    telemetry::history_pages_newest_first_cover_every_row_once,
    telemetry::history_ascending_pages_oldest_first_cover_every_row_once,
    telemetry::downsampling_makes_epoch_aligned_buckets_with_exact_stats,
    telemetry::another_orgs_drone_is_invisible,
    telemetry::fleet_positions_span_shards_and_filter_by_bbox,
    telemetry::drones_reporting_since_counts_each_drone_once,
    telemetry::maintenance_keeps_points_within_retention,
    telemetry::rollups_answer_downsampled_reads_like_the_raw_rows,
    telemetry::archived_days_move_to_parquet_and_read_back_without_loss_or_duplicates,
    telemetry::archived_days_round_trip_through_an_s3_compatible_store,
);

// The telemetry scenarios once more on PostgreSQL with TimescaleDB, where `telemetry` is a
// hypertable of one-day chunks and retention and archiving drop chunks.
on_server!(
    timescaledb,
    timescaledb,
    telemetry::points_of_many_drones_are_stored_once_across_shards,
    telemetry::large_batches_and_replays_are_written_in_chunks,
    telemetry::a_key_repeated_within_a_batch_keeps_the_last_point,
    telemetry::latest_moves_forward_only,
    telemetry::history_pages_newest_first_cover_every_row_once,
    telemetry::history_ascending_pages_oldest_first_cover_every_row_once,
    telemetry::downsampling_makes_epoch_aligned_buckets_with_exact_stats,
    telemetry::fleet_positions_span_shards_and_filter_by_bbox,
    telemetry::maintenance_keeps_points_within_retention,
    telemetry::rollups_answer_downsampled_reads_like_the_raw_rows,
    telemetry::archived_days_move_to_parquet_and_read_back_without_loss_or_duplicates,
    telemetry::a_replayed_copy_fails_where_write_points_succeeds,
    telemetry::a_hypertable_keeps_days_in_chunks_that_retention_and_the_archive_drop,
);

mod sqlite_only {
    #[tokio::test]
    async fn a_failing_shard_is_left_out_of_lists_and_reported() {
        crate::routing::a_failing_shard_is_left_out_of_lists_and_reported().await;
    }

    #[tokio::test]
    async fn an_in_memory_store_keeps_to_one_connection_per_database() {
        crate::routing::an_in_memory_store_keeps_to_one_connection_per_database().await;
    }

    #[tokio::test]
    async fn connection_errors_name_the_database_without_its_password() {
        crate::routing::connection_errors_name_the_database_without_its_password().await;
    }

    #[tokio::test]
    async fn a_failing_shard_is_left_out_of_fleet_telemetry_reads() {
        crate::telemetry::a_failing_sqlite_shard_is_left_out_of_fleet_reads().await;
    }

    #[tokio::test]
    async fn telemetry_keeps_timestamps_as_microseconds_and_ids_as_blobs() {
        let db = crate::helpers::TestDb::sqlite().await;
        crate::telemetry::sqlite_keeps_timestamps_as_microseconds_and_ids_as_blobs(&db).await;
    }
}

mod postgres_only {
    #[tokio::test]
    async fn replicas_starting_together_migrate_in_turn() {
        crate::routing::replicas_starting_together_migrate_in_turn().await;
    }

    #[tokio::test]
    async fn a_lost_shard_is_unavailable_and_left_out_of_lists() {
        let Some(db) = crate::helpers::TestDb::postgres().await else {
            return;
        };
        crate::routing::a_lost_shard_is_unavailable_and_left_out_of_lists(&db).await;
        db.drop_databases().await;
    }

    #[tokio::test]
    async fn telemetry_maintenance_partitions_by_day_without_losing_points() {
        let Some(db) = crate::helpers::TestDb::postgres().await else {
            return;
        };
        crate::telemetry::maintenance_partitions_postgres_by_day_without_losing_points(&db).await;
        db.drop_databases().await;
    }

    #[tokio::test]
    async fn a_replayed_copy_fails_where_write_points_succeeds() {
        let Some(db) = crate::helpers::TestDb::postgres().await else {
            return;
        };
        crate::telemetry::a_replayed_copy_fails_where_write_points_succeeds(&db).await;
        db.drop_databases().await;
    }

    #[tokio::test]
    async fn a_lost_shard_fails_its_telemetry_writes_and_is_left_out_of_fleet_reads() {
        let Some(db) = crate::helpers::TestDb::postgres().await else {
            return;
        };
        crate::telemetry::a_lost_shard_fails_its_writes_and_is_left_out_of_fleet_reads(&db).await;
        db.drop_databases().await;
    }
}
