//! The reads: one drone's latest state, history pages and downsampled buckets on its
//! shard; the organisation's fleet from `drone_latest` on every shard. Every statement is
//! scoped by `org_id`.

use chrono::{DateTime, Utc};
use domain::telemetry::{BBox, Bucket, Interval, Stats, TelemetryPoint, TimeRange};
use domain::{DroneId, OrgId};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, QueryResult};

use super::rollup;
use super::sql::{point_from_row, query_points, Dialect, Query, COLUMNS};

/// Which way a history page walks and where it resumes.
#[derive(Debug, Clone, Copy)]
pub(super) enum Direction {
    /// Newest first, strictly before the cursor.
    Descending(Option<DateTime<Utc>>),
    /// Oldest first, strictly after the cursor.
    Ascending(Option<DateTime<Utc>>),
}

pub(super) async fn latest(
    conn: &DatabaseConnection,
    org: OrgId,
    drone: DroneId,
) -> Result<Option<TelemetryPoint>, DbErr> {
    let dialect = Dialect::of(conn)?;
    let mut q = Query::new(dialect, "SELECT ");
    q.sql(COLUMNS)
        .sql(" FROM drone_latest WHERE drone_id = ")
        .bind(drone.as_uuid())
        .sql(" AND org_id = ")
        .bind(org.as_uuid());
    conn.query_one(q.build())
        .await?
        .map(|row| point_from_row(dialect, &row))
        .transpose()
}

pub(super) async fn history(
    conn: &DatabaseConnection,
    org: OrgId,
    drone: DroneId,
    range: TimeRange,
    direction: Direction,
    limit: u32,
) -> Result<Vec<TelemetryPoint>, DbErr> {
    let dialect = Dialect::of(conn)?;
    let mut q = Query::new(dialect, "SELECT ");
    q.sql(COLUMNS)
        .sql(" FROM telemetry WHERE drone_id = ")
        .bind(drone.as_uuid())
        .sql(" AND org_id = ")
        .bind(org.as_uuid())
        .sql(" AND ts >= ")
        .bind_ts(range.from)
        .sql(" AND ts < ")
        .bind_ts(range.to);
    match direction {
        Direction::Descending(before) => {
            if let Some(before) = before {
                q.sql(" AND ts < ").bind_ts(before);
            }
            q.sql(" ORDER BY ts DESC");
        }
        Direction::Ascending(after) => {
            if let Some(after) = after {
                q.sql(" AND ts > ").bind_ts(after);
            }
            q.sql(" ORDER BY ts ASC");
        }
    }
    q.sql(" LIMIT ").bind(i64::from(limit));
    query_points(conn, dialect, q).await
}

/// Buckets are computed in SQL: per bucket the aggregates, the distance flown (each point's
/// segment from the previous one in the bucket, over a window of the drone's points in
/// time order) and the oldest and newest `ts`, then those points' positions by their key
/// `(drone_id, ts)`, two index lookups per bucket.
pub(super) async fn downsample(
    conn: &DatabaseConnection,
    org: OrgId,
    drone: DroneId,
    range: TimeRange,
    interval: Interval,
) -> Result<Vec<Bucket>, DbErr> {
    let dialect = Dialect::of(conn)?;
    let seconds = interval.seconds();
    // Bucket starts in Unix seconds, aligned to the epoch (floor, also before 1970).
    let bucket = rollup::bucket_seconds(dialect, "ts", seconds);
    let share = rollup::distance_share(
        dialect,
        "ts",
        seconds,
        ("lat", "lon"),
        ("lat", "lon"),
        "0.0",
    );
    let mut q = Query::new(dialect, "SELECT b.bucket, b.n, ");
    q.sql(
        "b.alt_avg, b.alt_min, b.alt_max, b.speed_avg, b.speed_min, b.speed_max, \
         b.battery_avg, b.battery_min, b.battery_max, b.heading_avg, b.heading_min, \
         b.heading_max, b.first_ts, f.lat, f.lon, b.last_ts, l.lat, l.lon, b.distance_m \
         FROM (SELECT ",
    )
    .sql(&bucket)
    .sql(
        " AS bucket, count(*) AS n, \
         avg(alt_m) AS alt_avg, min(alt_m) AS alt_min, max(alt_m) AS alt_max, \
         avg(speed_mps) AS speed_avg, min(speed_mps) AS speed_min, max(speed_mps) AS speed_max, \
         avg(battery_pct) AS battery_avg, min(battery_pct) AS battery_min, \
         max(battery_pct) AS battery_max, \
         avg(heading_deg) AS heading_avg, min(heading_deg) AS heading_min, \
         max(heading_deg) AS heading_max, sum(share) AS distance_m, \
         min(ts) AS first_ts, max(ts) AS last_ts FROM (SELECT t.*, ",
    )
    .sql(&share)
    .sql(" AS share FROM telemetry t WHERE drone_id = ")
    .bind(drone.as_uuid())
    .sql(" AND org_id = ")
    .bind(org.as_uuid())
    .sql(" AND ts >= ")
    .bind_ts(range.from)
    .sql(" AND ts < ")
    .bind_ts(range.to)
    .sql(&rollup::window_clause("ts"))
    .sql(") x GROUP BY 1) b");
    for (alias, edge) in [("f", "first_ts"), ("l", "last_ts")] {
        q.sql(&format!(
            " {} telemetry {alias} ON {alias}.drone_id = ",
            dialect.join_in_order()
        ))
        .bind(drone.as_uuid())
        // The range again, so that the planner reads only the range's partitions and
        // rows on this side too.
        .sql(&format!(" AND {alias}.ts >= "))
        .bind_ts(range.from)
        .sql(&format!(" AND {alias}.ts < "))
        .bind_ts(range.to)
        .sql(&format!(" AND {alias}.ts = b.{edge}"));
    }
    q.sql(" ORDER BY b.bucket");
    conn.query_all(q.build())
        .await?
        .iter()
        .map(|row| bucket_from_row(dialect, row))
        .collect()
}

fn bucket_from_row(dialect: Dialect, row: &QueryResult) -> Result<Bucket, DbErr> {
    let start: i64 = row.try_get_by_index(0)?;
    let count: i64 = row.try_get_by_index(1)?;
    let stats = |first: usize| -> Result<Stats, DbErr> {
        Ok(Stats {
            avg: row.try_get_by_index(first)?,
            min: row.try_get_by_index(first + 1)?,
            max: row.try_get_by_index(first + 2)?,
        })
    };
    Ok(Bucket {
        start: DateTime::from_timestamp(start, 0)
            .ok_or_else(|| DbErr::Type(format!("bucket start {start} s is out of range")))?,
        count: u64::try_from(count).unwrap_or(0),
        alt_m: stats(2)?,
        speed_mps: stats(5)?,
        battery_pct: stats(8)?,
        heading_deg: stats(11)?,
        first_ts: dialect.read_ts(row, 14)?,
        first_lat: row.try_get_by_index(15)?,
        first_lon: row.try_get_by_index(16)?,
        last_ts: dialect.read_ts(row, 17)?,
        last_lat: row.try_get_by_index(18)?,
        last_lon: row.try_get_by_index(19)?,
        distance_m: row.try_get_by_index(20)?,
    })
}

/// The organisation's drones on one shard, in drone id order.
pub(super) async fn positions(
    conn: &DatabaseConnection,
    org: OrgId,
    bbox: Option<BBox>,
) -> Result<Vec<TelemetryPoint>, DbErr> {
    let dialect = Dialect::of(conn)?;
    let mut q = Query::new(dialect, "SELECT ");
    q.sql(COLUMNS)
        .sql(" FROM drone_latest WHERE org_id = ")
        .bind(org.as_uuid());
    q.within("", bbox);
    q.sql(" ORDER BY drone_id");
    query_points(conn, dialect, q).await
}

/// The organisation's drones on one shard as they were at `at`: each drone's last point in
/// `(at - window, at]`, one index probe of `(drone_id, ts)` per drone of the shard's
/// `drones`, in drone id order.
pub(super) async fn positions_at(
    conn: &DatabaseConnection,
    org: OrgId,
    at: DateTime<Utc>,
    window: Interval,
    bbox: Option<BBox>,
) -> Result<Vec<TelemetryPoint>, DbErr> {
    let dialect = Dialect::of(conn)?;
    let since = at - chrono::Duration::seconds(window.seconds());
    let mut q = Query::new(dialect, "SELECT ");
    match dialect {
        // LATERAL … LIMIT 1 is a backward scan of the key that stops at the first row, on
        // the partitions the window covers.
        Dialect::Postgres => {
            q.sql("t.* FROM drones d CROSS JOIN LATERAL (SELECT ")
                .sql(COLUMNS)
                .sql(" FROM telemetry WHERE drone_id = d.id AND ts <= ")
                .bind_ts(at)
                .sql(" AND ts > ")
                .bind_ts(since)
                .sql(" ORDER BY ts DESC LIMIT 1) t WHERE d.org_id = ")
                .bind(org.as_uuid());
        }
        // SQLite answers a correlated max(ts) on the key with one probe.
        Dialect::Sqlite => {
            q.sql(&qualified("t"))
                .sql(
                    " FROM drones d JOIN telemetry t ON t.drone_id = d.id AND t.ts = \
                     (SELECT max(x.ts) FROM telemetry x WHERE x.drone_id = d.id AND x.ts <= ",
                )
                .bind_ts(at)
                .sql(" AND x.ts > ")
                .bind_ts(since)
                .sql(") WHERE d.org_id = ")
                .bind(org.as_uuid());
        }
    }
    q.sql(" AND t.org_id = ").bind(org.as_uuid());
    q.within("t.", bbox);
    q.sql(" ORDER BY d.id");
    query_points(conn, dialect, q).await
}

/// Like [`positions_at`], from the minute rollups, for instants whose raw rows are archived:
/// each drone's last point of the newest minute whose last point lies in `(at - window,
/// at]`, with that minute's average altitude, speed, heading and battery (the rollup keeps
/// the last point's time and position, not its other values).
pub(super) async fn positions_at_from_rollups(
    conn: &DatabaseConnection,
    org: OrgId,
    at: DateTime<Utc>,
    window: Interval,
    bbox: Option<BBox>,
) -> Result<Vec<TelemetryPoint>, DbErr> {
    let dialect = Dialect::of(conn)?;
    let since = at - chrono::Duration::seconds(window.seconds());
    // A minute whose last point is after `since` starts less than a minute before it.
    let first_bucket = since - chrono::Duration::minutes(1);
    let nulls = match dialect {
        Dialect::Postgres => {
            "NULL::double precision, NULL::smallint, NULL::double precision, NULL::uuid"
        }
        Dialect::Sqlite => "NULL, NULL, NULL, NULL",
    };
    let columns = format!(
        "r.drone_id, r.org_id, r.last_ts, r.last_lat, r.last_lon, r.alt_sum / r.n, \
         r.speed_sum / r.n, r.heading_sum / r.n, r.battery_sum / r.n, {nulls}"
    );
    let newest = |q: &mut Query, alias: &str| {
        q.sql(&format!(" {alias}.bucket <= "))
            .bind_ts(at)
            .sql(&format!(" AND {alias}.bucket > "))
            .bind_ts(first_bucket)
            .sql(&format!(" AND {alias}.last_ts <= "))
            .bind_ts(at)
            .sql(&format!(" AND {alias}.last_ts > "))
            .bind_ts(since);
    };
    let mut q = Query::new(dialect, "SELECT ");
    match dialect {
        Dialect::Postgres => {
            q.sql(&columns).sql(
                " FROM drones d CROSS JOIN LATERAL (SELECT * FROM telemetry_1m r \
                      WHERE r.drone_id = d.id AND",
            );
            newest(&mut q, "r");
            q.sql(" ORDER BY r.bucket DESC LIMIT 1) r WHERE d.org_id = ")
                .bind(org.as_uuid());
        }
        Dialect::Sqlite => {
            q.sql(&columns).sql(
                " FROM drones d JOIN telemetry_1m r ON r.drone_id = d.id AND r.bucket = \
                 (SELECT max(x.bucket) FROM telemetry_1m x WHERE x.drone_id = d.id AND",
            );
            newest(&mut q, "x");
            q.sql(") WHERE d.org_id = ").bind(org.as_uuid());
        }
    }
    q.sql(" AND r.org_id = ").bind(org.as_uuid());
    q.within("r.last_", bbox);
    q.sql(" ORDER BY d.id");
    query_points(conn, dialect, q).await
}

/// [`COLUMNS`] with a table alias, for statements that join tables sharing column names.
fn qualified(alias: &str) -> String {
    COLUMNS
        .split(", ")
        .map(|column| format!("{alias}.{column}"))
        .collect::<Vec<_>>()
        .join(", ")
}

pub(super) async fn count_reporting_since(
    conn: &DatabaseConnection,
    org: OrgId,
    since: DateTime<Utc>,
    owned: Option<String>,
) -> Result<u64, DbErr> {
    let dialect = Dialect::of(conn)?;
    let mut q = Query::new(dialect, "SELECT count(*) FROM drone_latest WHERE org_id = ");
    q.bind(org.as_uuid()).sql(" AND ts >= ").bind_ts(since);
    if let Some(owned) = owned {
        // During a slot move: not the copies this shard holds for another.
        q.sql(" AND ").sql(&owned);
    }
    let n: i64 = match conn.query_one(q.build()).await? {
        Some(row) => row.try_get_by_index(0)?,
        None => 0,
    };
    Ok(u64::try_from(n).unwrap_or(0))
}

/// The latest state of these drones on one shard, whatever their organisation (the
/// monitor rebuilding its state).
pub(crate) async fn latest_of(
    conn: &DatabaseConnection,
    drones: &[DroneId],
) -> Result<Vec<TelemetryPoint>, DbErr> {
    if drones.is_empty() {
        return Ok(Vec::new());
    }
    let dialect = Dialect::of(conn)?;
    let mut q = Query::new(dialect, "SELECT ");
    q.sql(COLUMNS).sql(" FROM drone_latest WHERE drone_id IN (");
    for (i, drone) in drones.iter().enumerate() {
        if i > 0 {
            q.sql(", ");
        }
        q.bind(drone.as_uuid());
    }
    q.sql(")");
    query_points(conn, dialect, q).await
}

/// Every drone on one shard that reported at or after `since`, whatever its organisation.
pub(crate) async fn latest_since(
    conn: &DatabaseConnection,
    since: DateTime<Utc>,
) -> Result<Vec<TelemetryPoint>, DbErr> {
    let dialect = Dialect::of(conn)?;
    let mut q = Query::new(dialect, "SELECT ");
    q.sql(COLUMNS)
        .sql(" FROM drone_latest WHERE ts >= ")
        .bind_ts(since);
    query_points(conn, dialect, q).await
}
