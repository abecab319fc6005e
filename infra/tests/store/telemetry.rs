use std::collections::HashSet;

use chrono::{DateTime, Duration, Utc};
use domain::ports::TelemetryStore;
use domain::shard::ShardId;
use domain::telemetry::{
    ground_distance_m, BBox, Bucket, Interval, Stats, TelemetryPoint, TimeRange,
};
use domain::{DroneId, FlightPlanId, OrgId, StoreError};
use infra::{StorageSettings, Store};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement};

use crate::helpers::{at, id_on, sqlite_url, TestDb};

/// A point of `drone` at `start + seconds`, with values derived from `i`.
fn point(org: OrgId, drone: DroneId, ts: DateTime<Utc>, i: u32) -> TelemetryPoint {
    let f = f64::from(i);
    TelemetryPoint {
        org_id: org,
        drone_id: drone,
        ts,
        lat: 47.0 + f * 0.001,
        lon: 8.0 + f * 0.002,
        alt_m: f,
        speed_mps: 2.0 * f,
        heading_deg: f64::from((i * 10) % 360),
        battery_pct: 100.0 - f / 10.0,
        vertical_speed_mps: (i % 2 == 1).then_some(-1.5),
        satellites: (i % 3 != 1).then_some(12),
        link_quality_pct: (i % 4 != 1).then_some(97.5),
        flight_plan_id: (i % 5 == 1).then(FlightPlanId::new),
    }
}

/// `count` points of `drone`, every `step_s` seconds from `start`.
fn track(
    org: OrgId,
    drone: DroneId,
    start: DateTime<Utc>,
    step_s: i64,
    count: u32,
) -> Vec<TelemetryPoint> {
    (0..count)
        .map(|i| {
            point(
                org,
                drone,
                start + Duration::seconds(step_s * i64::from(i)),
                i,
            )
        })
        .collect()
}

const START: &str = "2026-03-01T12:00:00Z";

fn everything() -> TimeRange {
    TimeRange {
        from: at("2000-01-01T00:00:00Z"),
        to: at("2100-01-01T00:00:00Z"),
    }
}

/// Every stored point of the drone, oldest first.
async fn stored(store: &Store, org: OrgId, drone: DroneId) -> Vec<TelemetryPoint> {
    store
        .history_ascending(org, drone, everything(), None, 100_000)
        .await
        .unwrap()
}

pub async fn points_of_many_drones_are_stored_once_across_shards(store: &Store) {
    let org = OrgId::new();
    let drones: Vec<DroneId> = (0..20).map(|i| id_on(store, i % 2)).collect();
    let start = at(START);
    let batch: Vec<TelemetryPoint> = drones
        .iter()
        .flat_map(|d| track(org, *d, start, 1, 30))
        .collect();

    assert_eq!(store.write_points(&batch).await.unwrap(), 600);
    for d in &drones {
        let mut expected: Vec<_> = batch.iter().filter(|p| p.drone_id == *d).copied().collect();
        expected.sort_by_key(|p| p.ts);
        assert_eq!(stored(store, org, *d).await, expected);
    }

    // The same batch again, as after a redelivery: nothing new, nothing changed.
    let latest_before = store.latest(org, drones[0]).await.unwrap();
    assert_eq!(store.write_points(&batch).await.unwrap(), 0);
    for d in &drones {
        assert_eq!(stored(store, org, *d).await.len(), 30);
    }
    assert_eq!(store.latest(org, drones[0]).await.unwrap(), latest_before);

    // Half replayed, half new: only the new ones count.
    let mut mixed: Vec<TelemetryPoint> = batch.iter().step_by(6).copied().collect();
    let replayed = mixed.len();
    for d in &drones {
        mixed.extend(track(org, *d, start + Duration::seconds(30), 1, 5));
    }
    assert_eq!(replayed, 100);
    assert_eq!(store.write_points(&mixed).await.unwrap(), 100);
    for d in &drones {
        assert_eq!(stored(store, org, *d).await.len(), 35);
    }
    assert_eq!(store.write_points(&[]).await.unwrap(), 0);
}

pub async fn large_batches_and_replays_are_written_in_chunks(store: &Store) {
    let org = OrgId::new();
    let (a, b) = (id_on(store, 0), id_on(store, 1));
    let start = at(START);
    let first: Vec<_> = [a, b]
        .iter()
        .flat_map(|d| track(org, *d, start, 1, 4_500))
        .collect();
    assert_eq!(store.write_points(&first).await.unwrap(), 9_000);

    // More rows per shard than one INSERT may carry, most of them already stored.
    let mut second = first.clone();
    second.extend(track(org, a, start + Duration::seconds(4_500), 1, 600));
    assert_eq!(store.write_points(&second).await.unwrap(), 600);
    assert_eq!(stored(store, org, a).await.len(), 5_100);
    assert_eq!(stored(store, org, b).await.len(), 4_500);
    assert_eq!(
        store.latest(org, a).await.unwrap().unwrap().ts,
        start + Duration::seconds(5_099)
    );
}

pub async fn a_key_repeated_within_a_batch_keeps_the_last_point(store: &Store) {
    let org = OrgId::new();
    let drone = id_on(store, 1);
    let ts = at(START);
    let mut second = point(org, drone, ts, 7);
    second.alt_m = 99.0;
    // Sub-microsecond digits are not stored: this is the same key as well.
    let mut third = point(org, drone, ts + Duration::nanoseconds(300), 8);
    third.alt_m = 42.0;
    let written = store
        .write_points(&[point(org, drone, ts, 1), second, third])
        .await
        .unwrap();
    assert_eq!(written, 1);
    let rows = stored(store, org, drone).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].alt_m, 42.0);
    assert_eq!(rows[0].ts, ts);
    assert_eq!(store.latest(org, drone).await.unwrap(), Some(rows[0]));
}

pub async fn latest_moves_forward_only(store: &Store) {
    let org = OrgId::new();
    let drone = id_on(store, 0);
    let t = at(START);
    let p10 = point(org, drone, t + Duration::seconds(10), 10);
    let p5 = point(org, drone, t + Duration::seconds(5), 5);
    let p20 = point(org, drone, t + Duration::seconds(20), 20);

    assert_eq!(store.latest(org, drone).await.unwrap(), None);
    store.write_points(&[p10]).await.unwrap();
    assert_eq!(store.latest(org, drone).await.unwrap(), Some(p10));

    // A late older point is stored but does not move the drone back.
    assert_eq!(store.write_points(&[p5]).await.unwrap(), 1);
    assert_eq!(store.latest(org, drone).await.unwrap(), Some(p10));

    store.write_points(&[p20]).await.unwrap();
    assert_eq!(store.latest(org, drone).await.unwrap(), Some(p20));
    store.write_points(&[p10, p5]).await.unwrap();
    assert_eq!(store.latest(org, drone).await.unwrap(), Some(p20));
    assert_eq!(stored(store, org, drone).await, [p5, p10, p20]);
}

pub async fn history_pages_newest_first_cover_every_row_once(store: &Store) {
    let org = OrgId::new();
    let drone = id_on(store, 1);
    let start = at(START);
    let points = track(org, drone, start, 2, 95);
    store.write_points(&points).await.unwrap();
    // Outside the range on both sides.
    let range = TimeRange {
        from: start + Duration::seconds(10),
        to: start + Duration::seconds(180),
    };

    let mut seen = Vec::new();
    let mut before = None;
    loop {
        let page = store.history(org, drone, range, before, 10).await.unwrap();
        assert!(page.len() <= 10);
        let Some(last) = page.last() else { break };
        before = Some(last.ts);
        seen.extend(page);
    }
    let expected: Vec<_> = points
        .iter()
        .rev()
        .filter(|p| p.ts >= range.from && p.ts < range.to)
        .copied()
        .collect();
    assert_eq!(expected.len(), 85);
    assert_eq!(seen, expected);
    assert_eq!(seen[0].ts, start + Duration::seconds(178));
}

pub async fn history_ascending_pages_oldest_first_cover_every_row_once(store: &Store) {
    let org = OrgId::new();
    let drone = id_on(store, 0);
    let start = at(START);
    let points = track(org, drone, start, 3, 64);
    store.write_points(&points).await.unwrap();
    let range = TimeRange {
        from: start,
        to: start + Duration::seconds(3 * 64),
    };

    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .history_ascending(org, drone, range, after, 7)
            .await
            .unwrap();
        let Some(last) = page.last() else { break };
        after = Some(last.ts);
        seen.extend(page);
    }
    assert_eq!(seen, points);
}

pub async fn downsampling_makes_epoch_aligned_buckets_with_exact_stats(store: &Store) {
    let org = OrgId::new();
    let drone = id_on(store, 1);
    let start = at(START);
    // Every 10 s for five minutes: six points per minute.
    let points = track(org, drone, start, 10, 30);
    store.write_points(&points).await.unwrap();
    store
        .write_points(&[point(org, drone, start + Duration::minutes(5), 99)])
        .await
        .unwrap();
    let range = TimeRange {
        from: start,
        to: start + Duration::minutes(5),
    };

    let buckets = store
        .downsample(org, drone, range, Interval::parse("1m").unwrap())
        .await
        .unwrap();
    assert_eq!(buckets.len(), 5);
    for (k, bucket) in buckets.iter().enumerate() {
        let k = k as f64;
        let first = 6.0 * k;
        let last = &points[6 * k as usize + 5];
        assert_eq!(bucket.start, start + Duration::minutes(k as i64));
        assert_eq!(bucket.count, 6);
        assert_eq!(
            bucket.alt_m,
            Stats {
                avg: first + 2.5,
                min: first,
                max: first + 5.0
            }
        );
        assert_eq!(
            bucket.speed_mps,
            Stats {
                avg: 2.0 * first + 5.0,
                min: 2.0 * first,
                max: 2.0 * first + 10.0
            }
        );
        assert_eq!(
            bucket.heading_deg,
            Stats {
                avg: 10.0 * first + 25.0,
                min: 10.0 * first,
                max: 10.0 * first + 50.0
            }
        );
        assert_eq!(bucket.battery_pct.min, last.battery_pct);
        assert_eq!(bucket.battery_pct.max, points[6 * k as usize].battery_pct);
        assert!((bucket.battery_pct.avg - (100.0 - (first + 2.5) / 10.0)).abs() < 1e-9);
        assert_eq!(
            (bucket.last_ts, bucket.last_lat, bucket.last_lon),
            (last.ts, last.lat, last.lon)
        );
    }

    // Buckets stay aligned to the epoch when the range is not; empty ones are left out.
    let gap = start + Duration::minutes(10);
    store
        .write_points(&[point(org, drone, gap, 1)])
        .await
        .unwrap();
    let buckets = store
        .downsample(
            org,
            drone,
            TimeRange {
                from: start + Duration::seconds(35),
                to: gap + Duration::seconds(1),
            },
            Interval::parse("2m").unwrap(),
        )
        .await
        .unwrap();
    let summary: Vec<_> = buckets.iter().map(|b| (b.start, b.count)).collect();
    assert_eq!(
        summary,
        [
            (start, 8),
            (start + Duration::minutes(2), 12),
            (start + Duration::minutes(4), 7),
            (gap, 1),
        ]
    );
}

pub async fn another_orgs_drone_is_invisible(store: &Store) {
    let owner = OrgId::new();
    let stranger = OrgId::new();
    let drone = id_on(store, 0);
    let start = at(START);
    store
        .write_points(&track(owner, drone, start, 10, 12))
        .await
        .unwrap();

    assert!(store.latest(owner, drone).await.unwrap().is_some());
    assert_eq!(store.latest(stranger, drone).await.unwrap(), None);
    assert!(store
        .history(stranger, drone, everything(), None, 100)
        .await
        .unwrap()
        .is_empty());
    assert!(store
        .history_ascending(stranger, drone, everything(), None, 100)
        .await
        .unwrap()
        .is_empty());
    let interval = Interval::parse("1m").unwrap();
    assert!(store
        .downsample(stranger, drone, everything(), interval)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        store
            .downsample(owner, drone, everything(), interval)
            .await
            .unwrap()
            .len(),
        2
    );
    let (fleet, missing) = store.fleet_positions(stranger, None).await.unwrap();
    assert!(fleet.is_empty() && missing.is_empty());
    assert_eq!(
        store
            .drones_reporting_since(stranger, start)
            .await
            .unwrap()
            .value,
        0
    );
}

pub async fn fleet_positions_span_shards_and_filter_by_bbox(store: &Store) {
    let org = OrgId::new();
    let other = OrgId::new();
    let t = at(START);
    let mut expected = Vec::new();
    let mut batch = Vec::new();
    for i in 0..10u32 {
        let drone = id_on(store, (i % 2) as u16);
        let mut p = point(org, drone, t, i);
        p.lat = 40.0 + f64::from(i);
        p.lon = 5.0 + f64::from(i);
        // An older point must not be the one reported.
        batch.push(point(org, drone, t - Duration::seconds(30), i));
        batch.push(p);
        expected.push(p);
    }
    batch.push(point(other, id_on(store, 0), t, 1));
    store.write_points(&batch).await.unwrap();
    expected.sort_by_key(|p| p.drone_id);

    let (fleet, missing) = store.fleet_positions(org, None).await.unwrap();
    assert!(missing.is_empty());
    assert_eq!(fleet, expected);
    let shards: HashSet<_> = fleet
        .iter()
        .map(|p| store.slot_map().shard_of(p.drone_id))
        .collect();
    assert_eq!(shards, HashSet::from([ShardId(0), ShardId(1)]));

    // Edges are inside.
    let bbox = BBox::parse("7.0,42.0,10.0,44.5").unwrap();
    let (inside, _) = store.fleet_positions(org, Some(bbox)).await.unwrap();
    let lats: HashSet<_> = inside.iter().map(|p| p.lat as i64).collect();
    assert_eq!(lats, HashSet::from([42, 43, 44]));
    assert!(inside.iter().all(|p| bbox.contains(p.lat, p.lon)));
}

pub async fn drones_reporting_since_counts_each_drone_once(store: &Store) {
    let org = OrgId::new();
    let t = at(START);
    let mut batch = Vec::new();
    for i in 0..8u32 {
        let drone = id_on(store, (i % 2) as u16);
        // Drone i last reported i minutes ago, with a few earlier points.
        let last = t - Duration::minutes(i64::from(i));
        batch.extend(track(org, drone, last - Duration::seconds(20), 10, 3));
    }
    store.write_points(&batch).await.unwrap();

    assert_eq!(store.drones_reporting_since(org, t).await.unwrap().value, 1);
    assert_eq!(
        store
            .drones_reporting_since(org, t - Duration::minutes(3))
            .await
            .unwrap()
            .value,
        4
    );
    assert_eq!(
        store
            .drones_reporting_since(org, t - Duration::hours(1))
            .await
            .unwrap()
            .value,
        8
    );
    assert_eq!(
        store
            .drones_reporting_since(org, t + Duration::seconds(1))
            .await
            .unwrap()
            .value,
        0
    );
}

pub async fn maintenance_keeps_points_within_retention(store: &Store) {
    let org = OrgId::new();
    let drone = id_on(store, 1);
    let now = at("2026-03-10T12:00:00Z");
    let expired = point(org, drone, now - Duration::days(40), 1);
    let kept = point(org, drone, now - Duration::days(10), 2);
    let fresh = point(org, drone, now - Duration::minutes(1), 3);
    store.write_points(&[expired, kept, fresh]).await.unwrap();

    store.maintain(now, Duration::days(30)).await.unwrap();
    store.maintain(now, Duration::days(30)).await.unwrap();
    assert_eq!(stored(store, org, drone).await, [kept, fresh]);
    assert_eq!(store.latest(org, drone).await.unwrap(), Some(fresh));
}

async fn shard_connection(db: &TestDb, shard: usize) -> DatabaseConnection {
    Database::connect(secrecy::ExposeSecret::expose_secret(
        &db.settings.shard_urls[shard],
    ))
    .await
    .unwrap()
}

async fn count(conn: &DatabaseConnection, sql: &str) -> i64 {
    conn.query_one(Statement::from_string(conn.get_database_backend(), sql))
        .await
        .unwrap()
        .unwrap()
        .try_get_by_index(0)
        .unwrap()
}

async fn partitions(conn: &DatabaseConnection) -> Vec<String> {
    let rows = conn
        .query_all(Statement::from_string(
            conn.get_database_backend(),
            "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
             WHERE i.inhparent = 'telemetry'::regclass ORDER BY 1",
        ))
        .await
        .unwrap();
    rows.iter()
        .map(|r| r.try_get_by_index::<String>(0).unwrap())
        .collect()
}

pub async fn maintenance_partitions_postgres_by_day_without_losing_points(db: &TestDb) {
    let store = &db.store;
    let conn = shard_connection(db, 0).await;
    let org = OrgId::new();
    let drone = id_on(store, 0);
    let now = at("2026-03-10T12:00:00Z");
    let yesterday = point(org, drone, at("2026-03-09T08:00:00Z"), 1);
    let older = point(org, drone, at("2026-03-01T08:00:00Z"), 2);
    assert_eq!(partitions(&conn).await, ["telemetry_default"]);

    // No partition yet: the default one takes the points, and they read as usual.
    store.write_points(&[yesterday, older]).await.unwrap();
    assert_eq!(
        count(&conn, "SELECT count(*) FROM telemetry_default").await,
        2
    );
    assert_eq!(stored(store, org, drone).await, [older, yesterday]);

    // Two replicas at once.
    let (a, b) = tokio::join!(
        store.maintain(now, Duration::days(30)),
        store.maintain(now, Duration::days(30))
    );
    a.unwrap();
    b.unwrap();
    assert_eq!(
        partitions(&conn).await,
        [
            "telemetry_default",
            "telemetry_p20260309",
            "telemetry_p20260310",
            "telemetry_p20260311",
            "telemetry_p20260312",
            "telemetry_p20260313",
        ]
    );
    // Yesterday's point moved into its new partition; the older one stays in the default.
    assert_eq!(
        count(&conn, "SELECT count(*) FROM telemetry_p20260309").await,
        1
    );
    assert_eq!(
        count(&conn, "SELECT count(*) FROM telemetry_default").await,
        1
    );
    assert_eq!(stored(store, org, drone).await, [older, yesterday]);

    let today = point(org, drone, at("2026-03-10T13:00:00Z"), 3);
    store.write_points(&[today]).await.unwrap();
    assert_eq!(
        count(&conn, "SELECT count(*) FROM telemetry_p20260310").await,
        1
    );

    // Five weeks on: the March days are past a 30-day retention.
    let later = at("2026-04-15T00:30:00Z");
    store.maintain(later, Duration::days(30)).await.unwrap();
    let names = partitions(&conn).await;
    assert!(
        !names.iter().any(|n| n.starts_with("telemetry_p202603")),
        "{names:?}"
    );
    assert!(
        names.contains(&"telemetry_p20260414".to_owned()),
        "{names:?}"
    );
    assert!(
        names.contains(&"telemetry_p20260418".to_owned()),
        "{names:?}"
    );
    assert_eq!(
        count(&conn, "SELECT count(*) FROM telemetry_default").await,
        0
    );
    assert!(stored(store, org, drone).await.is_empty());
}

/// The raw COPY is all or nothing; `write_points` falls back to skipping stored rows.
pub async fn a_replayed_copy_fails_where_write_points_succeeds(db: &TestDb) {
    let store = &db.store;
    let org = OrgId::new();
    let drone = id_on(store, 1);
    let points = track(org, drone, at(START), 1, 50);
    let pool = store.postgres_shard_pool(ShardId(1)).unwrap();
    assert_eq!(
        infra::telemetry::copy_points(pool, &points).await.unwrap(),
        50
    );

    let mut replay = points.clone();
    replay.extend(track(org, drone, at(START) + Duration::seconds(50), 1, 10));
    let err = infra::telemetry::copy_points(pool, &replay)
        .await
        .unwrap_err();
    let code = err.as_database_error().and_then(|e| e.code()).unwrap();
    assert_eq!(code, "23505");
    assert_eq!(stored(store, org, drone).await.len(), 50);

    assert_eq!(store.write_points(&replay).await.unwrap(), 10);
    assert_eq!(stored(store, org, drone).await, replay);
    // The pool's connections are still usable after the failed COPY.
    for _ in 0..5 {
        assert_eq!(stored(store, org, drone).await.len(), 60);
    }
    assert!(store.postgres_shard_pool(ShardId(7)).is_none());
}

pub async fn a_lost_shard_fails_its_writes_and_is_left_out_of_fleet_reads(db: &TestDb) {
    let store = &db.store;
    let org = OrgId::new();
    let (healthy, lost) = (id_on(store, 0), id_on(store, 1));
    let t = at(START);
    store
        .write_points(&[point(org, healthy, t, 1), point(org, lost, t, 2)])
        .await
        .unwrap();

    db.lose_database(2).await;

    let err = store
        .write_points(&[
            point(org, healthy, t + Duration::seconds(1), 3),
            point(org, lost, t + Duration::seconds(1), 4),
        ])
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::ShardUnavailable { shard: 1, .. }),
        "{err:?}"
    );
    let (fleet, missing) = store.fleet_positions(org, None).await.unwrap();
    assert_eq!(
        fleet.iter().map(|p| p.drone_id).collect::<Vec<_>>(),
        [healthy]
    );
    assert_eq!(fleet[0].ts, t + Duration::seconds(1));
    assert_eq!(missing, [1]);
    assert_eq!(store.drones_reporting_since(org, t).await.unwrap().value, 1);
}

pub async fn a_failing_sqlite_shard_is_left_out_of_fleet_reads() {
    let db = TestDb::sqlite().await;
    let org = OrgId::new();
    let (healthy, other) = (id_on(&db, 0), id_on(&db, 1));
    let t = at(START);
    db.write_points(&[point(org, healthy, t, 1), point(org, other, t, 2)])
        .await
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let degraded = StorageSettings {
        shard_urls: vec![
            db.settings.shard_urls[0].clone(),
            sqlite_url(dir.path(), "empty.db").into(),
        ],
        ..db.settings.clone()
    };
    let degraded = Store::connect(&degraded).await.unwrap();
    let (fleet, missing) = degraded.fleet_positions(org, None).await.unwrap();
    assert_eq!(
        fleet.iter().map(|p| p.drone_id).collect::<Vec<_>>(),
        [healthy]
    );
    assert_eq!(missing, [1]);
    assert_eq!(
        degraded.drones_reporting_since(org, t).await.unwrap().value,
        1
    );
    assert!(degraded.latest(org, other).await.is_err());
}

pub async fn sqlite_keeps_timestamps_as_microseconds_and_ids_as_blobs(db: &TestDb) {
    let org = OrgId::new();
    let drone = id_on(db, 0);
    let ts = at("2026-03-01T12:00:00.123456Z");
    db.write_points(&[point(org, drone, ts, 1)]).await.unwrap();
    let conn = shard_connection(db, 0).await;
    let row = conn
        .query_one(Statement::from_string(
            conn.get_database_backend(),
            "SELECT ts, typeof(drone_id), length(drone_id) FROM telemetry",
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        row.try_get_by_index::<i64>(0).unwrap(),
        ts.timestamp_micros()
    );
    assert_eq!(row.try_get_by_index::<String>(1).unwrap(), "blob");
    assert_eq!(row.try_get_by_index::<i64>(2).unwrap(), 16);
}

/// The downsampled buckets of `points` computed here, the way the raw SQL does.
fn expected_buckets(points: &[TelemetryPoint], interval: i64, range: TimeRange) -> Vec<Bucket> {
    let mut by_start: std::collections::BTreeMap<i64, Vec<&TelemetryPoint>> = Default::default();
    for p in points
        .iter()
        .filter(|p| p.ts >= range.from && p.ts < range.to)
    {
        let start = p.ts.timestamp().div_euclid(interval) * interval;
        by_start.entry(start).or_default().push(p);
    }
    by_start
        .into_iter()
        .map(|(start, ps)| {
            let stats = |f: fn(&TelemetryPoint) -> f64| Stats {
                avg: ps.iter().map(|p| f(p)).sum::<f64>() / ps.len() as f64,
                min: ps.iter().map(|p| f(p)).fold(f64::INFINITY, f64::min),
                max: ps.iter().map(|p| f(p)).fold(f64::NEG_INFINITY, f64::max),
            };
            let first = ps.iter().min_by_key(|p| p.ts).unwrap();
            let last = ps.iter().max_by_key(|p| p.ts).unwrap();
            let mut in_order = ps.clone();
            in_order.sort_by_key(|p| p.ts);
            let distance_m = in_order
                .windows(2)
                .map(|w| ground_distance_m(w[0].lat, w[0].lon, w[1].lat, w[1].lon))
                .sum();
            Bucket {
                start: DateTime::from_timestamp(start, 0).unwrap(),
                count: ps.len() as u64,
                alt_m: stats(|p| p.alt_m),
                speed_mps: stats(|p| p.speed_mps),
                battery_pct: stats(|p| p.battery_pct),
                heading_deg: stats(|p| p.heading_deg),
                first_lat: first.lat,
                first_lon: first.lon,
                first_ts: first.ts,
                last_lat: last.lat,
                last_lon: last.lon,
                last_ts: last.ts,
                distance_m,
            }
        })
        .collect()
}

fn assert_same_buckets(got: &[Bucket], expected: &[Bucket], case: &str) {
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * (1.0 + a.abs().max(b.abs()));
    assert_eq!(got.len(), expected.len(), "{case}: bucket count");
    for (g, e) in got.iter().zip(expected) {
        assert_eq!(
            (g.start, g.count, g.first_ts, g.last_ts),
            (e.start, e.count, e.first_ts, e.last_ts),
            "{case}"
        );
        assert!(
            close(g.last_lat, e.last_lat)
                && close(g.last_lon, e.last_lon)
                && close(g.first_lat, e.first_lat)
                && close(g.first_lon, e.first_lon),
            "{case}"
        );
        assert!(
            close(g.distance_m, e.distance_m),
            "{case}: distance flown {} != {} in the bucket at {}",
            g.distance_m,
            e.distance_m,
            g.start
        );
        for (gs, es) in [
            (g.alt_m, e.alt_m),
            (g.speed_mps, e.speed_mps),
            (g.battery_pct, e.battery_pct),
            (g.heading_deg, e.heading_deg),
        ] {
            assert!(
                close(gs.avg, es.avg) && close(gs.min, es.min) && close(gs.max, es.max),
                "{case}: {gs:?} != {es:?} in the bucket at {}",
                g.start
            );
        }
    }
}

/// Random points of `drone` from `start` over `span`, 1 to 40 s apart.
fn random_track(
    rng: &mut impl rand::Rng,
    org: OrgId,
    drone: DroneId,
    start: DateTime<Utc>,
    span: Duration,
) -> Vec<TelemetryPoint> {
    let mut points = Vec::new();
    let mut ts = start + Duration::milliseconds(rng.gen_range(0..1000));
    let mut i = 0;
    while ts < start + span {
        let mut p = point(org, drone, ts, i);
        p.alt_m = rng.gen_range(-50.0..500.0);
        p.speed_mps = rng.gen_range(0.0..40.0);
        p.battery_pct = rng.gen_range(0.0..100.0);
        p.heading_deg = rng.gen_range(0.0..360.0);
        p.lat = rng.gen_range(46.0..48.0);
        p.lon = rng.gen_range(7.0..9.0);
        points.push(p);
        ts += Duration::milliseconds(rng.gen_range(1_000..40_000));
        i += 1;
    }
    points
}

pub async fn rollups_answer_downsampled_reads_like_the_raw_rows(db: &TestDb) {
    use rand::SeedableRng;
    let store: &Store = db;
    let mut rng = rand::rngs::StdRng::seed_from_u64(20261203);
    let org = OrgId::new();
    let drone = id_on(store, 1);
    let start = at(START);
    let mut points = random_track(&mut rng, org, drone, start, Duration::hours(5));
    for chunk in points.chunks(1000) {
        store.write_points(chunk).await.unwrap();
    }
    // Another drone on the same shard, so that rollups keep drones apart.
    let other = id_on(store, 1);
    store
        .write_points(&random_track(
            &mut rng,
            org,
            other,
            start,
            Duration::hours(5),
        ))
        .await
        .unwrap();
    let now = start + Duration::days(1);
    let retention = Duration::hours(25);
    for _ in 0..3 {
        store.roll_up(now, retention).await.unwrap();
    }
    let shard = shard_connection(db, 1).await;
    assert!(count(&shard, "SELECT count(*) FROM telemetry_1m").await > 500);
    assert!(count(&shard, "SELECT count(*) FROM telemetry_1h").await >= 10);

    let cases = |start: DateTime<Utc>| {
        [
            ("1m", start, start + Duration::hours(5)),
            (
                "5m",
                start + Duration::seconds(433),
                start + Duration::seconds(9667),
            ),
            ("1h", start - Duration::hours(1), start + Duration::hours(6)),
            (
                "1h",
                start + Duration::seconds(1801),
                start + Duration::seconds(12_599),
            ),
            ("2h", start, start + Duration::hours(5)),
            ("1d", start - Duration::days(1), start + Duration::days(1)),
            (
                "10s",
                start + Duration::minutes(30),
                start + Duration::minutes(50),
            ),
            ("90s", start, start + Duration::hours(2)),
        ]
    };
    let check = |points: Vec<TelemetryPoint>, phase: &'static str| async move {
        for (interval, from, to) in cases(start) {
            let range = TimeRange { from, to };
            let parsed = Interval::parse(interval).unwrap();
            let got = store.downsample(org, drone, range, parsed).await.unwrap();
            let expected = expected_buckets(&points, parsed.seconds(), range);
            assert_same_buckets(&got, &expected, &format!("{phase}: {interval} {from}–{to}"));
        }
    };
    check(points.clone(), "rolled up").await;

    // Late points behind the watermark: stale until the next round, then counted.
    let late: Vec<TelemetryPoint> = (0..25)
        .map(|i| {
            let ts = start + Duration::seconds(600 * i + 7) + Duration::microseconds(3);
            let mut p = point(org, drone, ts, 1000 + i as u32);
            p.alt_m = 900.0 + i as f64;
            p
        })
        .collect();
    store.write_points(&late).await.unwrap();
    store.roll_up(now, retention).await.unwrap();
    points.extend(late);
    points.sort_by_key(|p| p.ts);
    check(points.clone(), "late points").await;
    // A second round changes nothing.
    store.roll_up(now, retention).await.unwrap();
    check(points.clone(), "again").await;

    // The hour's answer comes from its rollup: without the raw rows it is the same.
    let hour = TimeRange {
        from: start + Duration::hours(1),
        to: start + Duration::hours(2),
    };
    let before = store
        .downsample(org, drone, hour, Interval::parse("1h").unwrap())
        .await
        .unwrap();
    assert_eq!(before.len(), 1);
    let bounds = match shard.get_database_backend() {
        sea_orm::DatabaseBackend::Postgres => format!(
            "ts >= '{}' AND ts < '{}'",
            hour.from.to_rfc3339(),
            hour.to.to_rfc3339()
        ),
        _ => format!(
            "ts >= {} AND ts < {}",
            hour.from.timestamp_micros(),
            hour.to.timestamp_micros()
        ),
    };
    shard
        .execute(Statement::from_string(
            shard.get_database_backend(),
            format!("DELETE FROM telemetry WHERE {bounds}"),
        ))
        .await
        .unwrap();
    let after = store
        .downsample(org, drone, hour, Interval::parse("1h").unwrap())
        .await
        .unwrap();
    assert_same_buckets(&after, &before, "from the rollup alone");

    // A drone flying north along a meridian, 0.001° (111.19 m) a second for two hours:
    // each hour's distance is its 3,599 segments, the two hours' 7,199, from the rollups
    // as from the raw rows.
    let north = id_on(store, 1);
    let track: Vec<TelemetryPoint> = (0..7200)
        .map(|i| {
            let mut p = point(org, north, start + Duration::seconds(i), i as u32);
            p.lat = 46.0 + 0.001 * i as f64;
            p.lon = 8.0;
            p
        })
        .collect();
    for chunk in track.chunks(1000) {
        store.write_points(chunk).await.unwrap();
    }
    for _ in 0..3 {
        store.roll_up(now, retention).await.unwrap();
    }
    let segment = 0.001_f64.to_radians() * domain::telemetry::EARTH_RADIUS_M;
    let two_hours = TimeRange {
        from: start,
        to: start + Duration::hours(2),
    };
    for (interval, per_bucket, buckets) in [("1h", 3599.0, 2), ("2h", 7199.0, 1), ("1m", 59.0, 120)]
    {
        let answer = store
            .downsample(org, north, two_hours, Interval::parse(interval).unwrap())
            .await
            .unwrap();
        assert_eq!(answer.len(), buckets, "{interval}");
        for b in &answer {
            assert!(
                (b.distance_m - per_bucket * segment).abs() < 1e-6 * per_bucket * segment,
                "{interval}: {} m flown in the bucket at {}, expected {}",
                b.distance_m,
                b.start,
                per_bucket * segment
            );
        }
    }
}

fn parquet_files(dir: &std::path::Path) -> usize {
    let mut n = 0;
    for shard in std::fs::read_dir(dir).unwrap() {
        for file in std::fs::read_dir(shard.unwrap().path()).unwrap() {
            if file
                .unwrap()
                .path()
                .extension()
                .is_some_and(|e| e == "parquet")
            {
                n += 1;
            }
        }
    }
    n
}

async fn raw_rows(db: &TestDb) -> i64 {
    let mut n = 0;
    for shard in 0..2 {
        n += count(
            &shard_connection(db, shard).await,
            "SELECT count(*) FROM telemetry",
        )
        .await;
    }
    n
}

/// The test's databases with an archive in a new directory (kept as long as the directory).
async fn archived_store(db: &TestDb) -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let archive = infra::telemetry::Archive::open(dir.path().to_str().unwrap()).unwrap();
    let store = Store::connect(&db.settings)
        .await
        .unwrap()
        .with_archive(archive, Duration::days(30));
    (dir, store)
}

/// The S3-compatible server `make test` starts (`NIMBUS_TEST_S3_ENDPOINT`), with a new
/// bucket and the environment the archive reads its S3 settings from; `None` (the test
/// says it is skipped) when no server is configured.
async fn s3_bucket() -> Option<String> {
    let Ok(endpoint) = std::env::var("NIMBUS_TEST_S3_ENDPOINT") else {
        eprintln!("skipped: NIMBUS_TEST_S3_ENDPOINT is not set (make test starts a server)");
        return None;
    };
    let bucket = format!("nimbus-test-{}", uuid::Uuid::new_v4().simple());
    let created = reqwest::Client::new()
        .put(format!("{endpoint}/{bucket}"))
        .send()
        .await
        .unwrap();
    assert!(
        created.status().is_success(),
        "creating {bucket}: {created:?}"
    );
    // nextest runs each test in its own process: nothing else reads these.
    for (key, value) in [
        ("AWS_ENDPOINT", endpoint.as_str()),
        ("AWS_ALLOW_HTTP", "true"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "nimbus-test"),
        ("AWS_SECRET_ACCESS_KEY", "nimbus-test-secret"),
    ] {
        std::env::set_var(key, value);
    }
    Some(format!("{endpoint}/{bucket}"))
}

/// The keys in an S3 bucket under `prefix`, listed by the server (ListObjectsV2).
async fn s3_keys(bucket_url: &str, prefix: &str) -> Vec<String> {
    let listing = reqwest::get(format!("{bucket_url}?list-type=2&prefix={prefix}"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    listing
        .split("<Key>")
        .skip(1)
        .filter_map(|k| k.split_once("</Key>").map(|(k, _)| k.to_owned()))
        .collect()
}

pub async fn archived_days_round_trip_through_an_s3_compatible_store(db: &TestDb) {
    let Some(bucket_url) = s3_bucket().await else {
        return;
    };
    let bucket = bucket_url.rsplit('/').next().unwrap();
    let archive = infra::telemetry::Archive::open(&format!("s3://{bucket}/fleet-a")).unwrap();
    let store = Store::connect(&db.settings)
        .await
        .unwrap()
        .with_archive(archive, Duration::days(30));
    let org = OrgId::new();
    let (a, b) = (id_on(&store, 0), id_on(&store, 1));
    let start = at("2026-03-01T00:00:00Z");
    let mut batch = Vec::new();
    for d in [a, b] {
        batch.extend(track(org, d, start, 60, 2 * 1440));
        batch.extend(track(org, d, start + Duration::days(10), 10, 30));
    }
    for chunk in batch.chunks(2000) {
        store.write_points(chunk).await.unwrap();
    }
    let (expected_a, expected_b) = (stored(&store, org, a).await, stored(&store, org, b).await);

    let before = (start + Duration::days(2)).date_naive();
    let since = start - Duration::days(1);
    let done = store.archive_before(before, since, &|_| {}).await.unwrap();
    assert_eq!(
        done.len(),
        4,
        "two days on each of the two shards: {done:?}"
    );
    assert!(done.iter().all(|d| d.rows == 1440 && d.bytes > 0));
    // One object per shard and day, under the URL's prefix, in the server's own listing.
    let mut keys = s3_keys(&bucket_url, "fleet-a/").await;
    keys.sort();
    assert_eq!(
        keys,
        [
            "fleet-a/shard-0/telemetry-2026-03-01.parquet",
            "fleet-a/shard-0/telemetry-2026-03-02.parquet",
            "fleet-a/shard-1/telemetry-2026-03-01.parquet",
            "fleet-a/shard-1/telemetry-2026-03-02.parquet",
        ]
    );
    assert_eq!(
        raw_rows(db).await,
        60,
        "only the later points stay in the database"
    );
    // Read back from the bucket: every point once, in order, then the raw rows.
    assert_eq!(stored(&store, org, a).await, expected_a);
    assert_eq!(stored(&store, org, b).await, expected_b);
    assert!(store
        .archive_before(before, since, &|_| {})
        .await
        .unwrap()
        .is_empty());

    // Retention applies to the archive: a day's retention two days on drops the first
    // day's objects.
    store
        .maintain(start + Duration::days(2), Duration::days(1))
        .await
        .unwrap();
    let keys = s3_keys(&bucket_url, "fleet-a/").await;
    assert_eq!(keys.len(), 2, "{keys:?}");
    assert_eq!(stored(&store, org, a).await, expected_a[1440..]);
}

pub async fn archived_days_move_to_parquet_and_read_back_without_loss_or_duplicates(db: &TestDb) {
    let (dir, store) = archived_store(db).await;
    let org = OrgId::new();
    let (a, b) = (id_on(&store, 0), id_on(&store, 1));
    let start = at("2026-03-01T00:00:00Z");
    let later = start + Duration::days(10);
    let mut batch = Vec::new();
    for d in [a, b] {
        // Three days, a point a minute, then a few points ten days later.
        batch.extend(track(org, d, start, 60, 3 * 1440));
        batch.extend(track(org, d, later, 10, 30));
    }
    for chunk in batch.chunks(2000) {
        store.write_points(chunk).await.unwrap();
    }
    let expected_a = stored(&store, org, a).await;
    let expected_b = stored(&store, org, b).await;
    assert_eq!(expected_a.len(), 3 * 1440 + 30);

    let before = (start + Duration::days(3)).date_naive();
    let since = start - Duration::days(1);
    let done = store.archive_before(before, since, &|_| {}).await.unwrap();
    assert_eq!(
        done.len(),
        6,
        "three days on each of the two shards: {done:?}"
    );
    assert!(done.iter().all(|d| d.rows == 1440 && d.bytes > 0));
    assert_eq!(parquet_files(dir.path()), 6);
    assert_eq!(
        raw_rows(db).await,
        60,
        "only the later points stay in the database"
    );
    assert_eq!(
        store.archived_until(a).await.unwrap(),
        Some(start + Duration::days(3))
    );
    assert_eq!(
        stored(&store, org, a).await,
        expected_a,
        "archive then raw, oldest first"
    );
    assert_eq!(stored(&store, org, b).await, expected_b);
    // Newest first in pages across the boundary.
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = store
            .history(org, a, everything(), cursor, 700)
            .await
            .unwrap();
        let Some(last) = page.last() else { break };
        cursor = Some(last.ts);
        seen.extend(page);
    }
    let mut newest_first = expected_a.clone();
    newest_first.reverse();
    assert_eq!(seen, newest_first);
    // A range inside one archived day, and another organisation's view.
    let noon = TimeRange {
        from: start + Duration::hours(36),
        to: start + Duration::hours(37),
    };
    assert_eq!(
        store
            .history_ascending(org, a, noon, None, 1000)
            .await
            .unwrap()
            .len(),
        60
    );
    assert!(store
        .history_ascending(OrgId::new(), a, everything(), None, 1000)
        .await
        .unwrap()
        .is_empty());

    // Again: nothing to do.
    assert!(store
        .archive_before(before, since, &|_| {})
        .await
        .unwrap()
        .is_empty());
    assert_eq!(stored(&store, org, a).await, expected_a);

    // A crash after the newest day's manifest row, before its rows were dropped: the rows
    // are there again, and still read once; the next run drops them.
    store
        .write_points(&expected_a[2 * 1440..3 * 1440])
        .await
        .unwrap();
    assert_eq!(raw_rows(db).await, 60 + 1440);
    assert_eq!(stored(&store, org, a).await, expected_a);
    assert!(store
        .archive_before(before, since, &|_| {})
        .await
        .unwrap()
        .is_empty());
    assert_eq!(raw_rows(db).await, 60);

    // A crash after writing the newest day's file, before the manifest: the day is read
    // from the database, and the next run writes the file again and enters it.
    let shard_a = shard_connection(db, 0).await;
    let last_day = start + Duration::days(2);
    let delete = match shard_a.get_database_backend() {
        sea_orm::DatabaseBackend::Postgres => format!(
            "DELETE FROM telemetry_archive WHERE day = '{}'",
            last_day.to_rfc3339()
        ),
        _ => format!(
            "DELETE FROM telemetry_archive WHERE day = {}",
            last_day.timestamp_micros()
        ),
    };
    shard_a
        .execute(Statement::from_string(
            shard_a.get_database_backend(),
            delete,
        ))
        .await
        .unwrap();
    store
        .write_points(&expected_a[2 * 1440..3 * 1440])
        .await
        .unwrap();
    assert_eq!(stored(&store, org, a).await, expected_a);
    let redone = store.archive_before(before, since, &|_| {}).await.unwrap();
    assert_eq!(redone.len(), 1, "{redone:?}");
    assert_eq!(parquet_files(dir.path()), 6);
    assert_eq!(stored(&store, org, a).await, expected_a);
    assert_eq!(raw_rows(db).await, 60);

    // Maintenance 93 days on: the later day is archived too (it is past 30 days), and the
    // three March days are past the 90-day retention, archive included.
    let now = start + Duration::days(93);
    store.maintain(now, Duration::days(90)).await.unwrap();
    assert_eq!(raw_rows(db).await, 0);
    assert_eq!(parquet_files(dir.path()), 2);
    assert_eq!(
        stored(&store, org, a).await,
        expected_a[3 * 1440..].to_vec()
    );
}

async fn chunks(conn: &DatabaseConnection) -> i64 {
    count(conn, "SELECT count(*) FROM show_chunks('telemetry')").await
}

/// TimescaleDB only: the migration makes `telemetry` a hypertable of one-day chunks, a
/// point lands in its day's chunk, retention drops whole chunks, and archiving a day drops
/// that day's chunk once its Parquet file is read back.
pub async fn a_hypertable_keeps_days_in_chunks_that_retention_and_the_archive_drop(db: &TestDb) {
    let conn = shard_connection(db, 0).await;
    let backend = conn.get_database_backend();
    let row = conn
        .query_one(Statement::from_string(
            backend,
            "SELECT d.time_interval::text FROM timescaledb_information.dimensions d \
             WHERE d.hypertable_name = 'telemetry' AND d.column_name = 'ts'",
        ))
        .await
        .unwrap()
        .expect("telemetry is a hypertable partitioned on ts");
    assert_eq!(row.try_get_by_index::<String>(0).unwrap(), "1 day");
    assert_eq!(chunks(&conn).await, 0);

    let (_dir, store) = archived_store(db).await;
    let org = OrgId::new();
    let drone = id_on(&store, 0);
    let now = at("2026-03-10T12:00:00Z");
    let days_ago = |d: i64| now - Duration::days(d);
    // Points on five days: two past a 30-day retention, one to archive, two recent.
    let mut points = Vec::new();
    for d in [45, 40, 20, 1, 0] {
        points.extend(track(org, drone, days_ago(d) - Duration::hours(2), 60, 60));
    }
    store.write_points(&points).await.unwrap();
    assert_eq!(chunks(&conn).await, 5, "one chunk per day with points");
    assert_eq!(stored(&store, org, drone).await, points);

    // Retention drops the two old days' chunks, nothing else.
    store.maintain(now, Duration::days(30)).await.unwrap();
    assert_eq!(chunks(&conn).await, 3);
    let kept = points[120..].to_vec();
    assert_eq!(stored(&store, org, drone).await, kept);

    // The day 20 days ago goes to the archive: its chunk is dropped, its points read back.
    let before = days_ago(10).date_naive();
    let done = store
        .archive_before(before, days_ago(35), &|_| {})
        .await
        .unwrap();
    assert_eq!(done.iter().map(|d| d.rows).sum::<u64>(), 60, "{done:?}");
    assert_eq!(chunks(&conn).await, 2);
    assert_eq!(
        count(&conn, "SELECT count(*) FROM telemetry").await,
        120,
        "only the two recent days stay in the database"
    );
    assert_eq!(stored(&store, org, drone).await, kept);
}
