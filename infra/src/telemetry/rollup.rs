//! Rollups: per drone and minute (`telemetry_1m`) and per drone and hour (`telemetry_1h`)
//! aggregates, kept current by [`roll_up`] and read by downsampled history instead of the
//! raw rows (schema and the meaning of each column in
//! `migrations/src/shard/m20261203_000109_create_telemetry_rollups.rs`).
//!
//! Every rollup row is recomputed from the rows below it (`telemetry` for minutes, minutes
//! for hours) and upserted, so a replayed point or a second run changes nothing. A round:
//!
//! 1. minutes from the `1m` watermark up to [`SETTLE`] before now, an hour a statement;
//! 2. hours from the `1h` watermark up to the hour the minutes have completed;
//! 3. the minutes that late points landed in behind the watermark (the writer marks them in
//!    `telemetry_rollup_dirty` after committing the points), and their hours.
//!
//! The writer marks a point when it is older than [`LATE`] once it is committed; a point
//! newer than that is ahead of the watermark, which stays [`SETTLE`] behind now, so no point
//! is missed (as long as the clocks of writers and the rollup agree within
//! `SETTLE - LATE`). Replicas may run rounds at once: the work is idempotent and watermarks
//! only move forward.
//!
//! A read of buckets that are whole minutes or hours takes the complete rollup buckets inside
//! the range and the raw rows for the rest (the edges and what is not rolled up yet), and
//! merges them per answer bucket.
//!
//! Distance flown is the one measure that is not a plain sum: a bucket's is the segments
//! between its consecutive points. Each row keeps its own and its first and last position,
//! so a coarser bucket's is its rows' distances plus the segments from each row's last
//! point to the next row's first, summed over a window of the drone's rows in time order
//! ([`distance_share`]) in SQL and by [`Part::then`] when parts are merged.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, DurationRound, Utc};
use domain::telemetry::{
    ground_distance_m, Bucket, Interval, Stats, TelemetryPoint, TimeRange, EARTH_RADIUS_M,
};
use domain::{DroneId, OrgId};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, QueryResult};
use uuid::Uuid;

use super::read;
use super::sql::{Dialect, Query};

/// How far behind now the minutes are rolled up: later points are read raw.
pub(super) const SETTLE: Duration = Duration::minutes(10);
/// Points older than this when written are marked for a rollup behind the watermark.
pub(super) const LATE: Duration = Duration::minutes(5);
/// The most a round rolls forward per table, so that a backlog (a first start on a full
/// table) is taken in steps rather than one long round.
const MAX_CHUNKS_PER_ROUND: usize = 48;
/// Dirty minutes recomputed per round.
const DIRTY_PER_ROUND: usize = 2_000;
/// The measures of a rollup row, in column order.
const MEASURES: [(&str, &str); 4] = [
    ("alt", "alt_m"),
    ("speed", "speed_mps"),
    ("battery", "battery_pct"),
    ("heading", "heading_deg"),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Width {
    Minute,
    Hour,
}

impl Width {
    fn table(self) -> &'static str {
        match self {
            Width::Minute => "telemetry_1m",
            Width::Hour => "telemetry_1h",
        }
    }

    fn seconds(self) -> i64 {
        match self {
            Width::Minute => 60,
            Width::Hour => 3600,
        }
    }

    fn duration(self) -> Duration {
        Duration::seconds(self.seconds())
    }

    /// How far one forward statement reaches.
    fn chunk(self) -> Duration {
        match self {
            Width::Minute => Duration::hours(1),
            Width::Hour => Duration::days(1),
        }
    }

    /// The coarsest rollup an answer bucket of `interval` can be made of.
    fn fitting(interval: Interval) -> Option<Self> {
        let s = interval.seconds();
        if s % 3600 == 0 {
            Some(Width::Hour)
        } else if s % 60 == 0 {
            Some(Width::Minute)
        } else {
            None
        }
    }
}

fn floor(t: DateTime<Utc>, width: Duration) -> DateTime<Utc> {
    t.duration_trunc(width).unwrap_or(t)
}

fn ceil(t: DateTime<Utc>, width: Duration) -> DateTime<Utc> {
    let f = floor(t, width);
    if f == t {
        t
    } else {
        f + width
    }
}

/// The start of `column`'s bucket of `seconds`, aligned to the Unix epoch, as a timestamp
/// of the dialect (`timestamptz`, or microseconds).
fn bucket_ts(dialect: Dialect, column: &str, seconds: i64) -> String {
    match dialect {
        Dialect::Postgres => {
            format!("to_timestamp(floor(extract(epoch FROM {column}) / {seconds}) * {seconds})")
        }
        Dialect::Sqlite => {
            let w = seconds * 1_000_000;
            format!("({column} - ((({column} % {w}) + {w}) % {w}))")
        }
    }
}

/// The start of `column`'s bucket of `seconds` in Unix seconds (what answers carry),
/// aligned to the epoch (floor, also before 1970). The width is a validated integer, so it
/// is written into the SQL rather than bound.
pub(super) fn bucket_seconds(dialect: Dialect, column: &str, seconds: i64) -> String {
    match dialect {
        Dialect::Postgres => {
            format!("(floor(extract(epoch FROM {column}) / {seconds}) * {seconds})::bigint")
        }
        Dialect::Sqlite => format!("({} / 1000000)", bucket_ts(dialect, column, seconds)),
    }
}

/// The haversine ground distance in metres between two positions given as SQL
/// expressions in degrees: the formula and radius of `geo`'s `Haversine`
/// ([`domain::telemetry::ground_distance_m`]), which the merges of parts in Rust use.
/// SQLite evaluates it with its math functions (the bundled library is built with them,
/// `.cargo/config.toml`).
fn ground_distance_sql(lat1: &str, lon1: &str, lat2: &str, lon2: &str) -> String {
    format!(
        "(2 * {r} * asin(sqrt(power(sin(radians({lat2} - {lat1}) / 2), 2) + \
         cos(radians({lat1})) * cos(radians({lat2})) * power(sin(radians({lon2} - {lon1}) / 2), 2))))",
        r = EARTH_RADIUS_M,
    )
}

/// The rows that distances are summed from: the windowed rows of one drone in time order,
/// `WINDOW w AS (PARTITION BY drone_id ORDER BY time)`.
pub(super) fn window_clause(time: &str) -> String {
    format!(" WINDOW w AS (PARTITION BY drone_id ORDER BY {time})")
}

/// A row's share of its bucket's (of `seconds`) distance flown, over the window of
/// [`window_clause`]: the distance inside the row (`inside`: 0 for a raw point, the rollup
/// row's own for a rollup row) plus the segment from the previous row's last position to
/// this row's first, when the previous row is in the same bucket.
pub(super) fn distance_share(
    dialect: Dialect,
    time: &str,
    seconds: i64,
    first: (&str, &str),
    last: (&str, &str),
    inside: &str,
) -> String {
    let segment = ground_distance_sql(
        &format!("lag({}) OVER w", last.0),
        &format!("lag({}) OVER w", last.1),
        first.0,
        first.1,
    );
    format!(
        "({inside} + CASE WHEN lag({time}) OVER w >= {} THEN {segment} ELSE 0.0 END)",
        bucket_ts(dialect, time, seconds)
    )
}

/// What a rollup is computed from: the raw rows, or the minutes.
struct Source {
    table: &'static str,
    /// The time column that places a row in its bucket.
    time: &'static str,
    /// Count, then per measure sum, min, max, then first and last time.
    aggregates: String,
    /// The columns of the first and the last row's position, and the time column the
    /// first and last row are found by.
    first: (&'static str, &'static str, &'static str),
    last: (&'static str, &'static str, &'static str),
    /// The distance flown inside a row: none in a raw point, the rollup row's own.
    inside: &'static str,
}

impl Source {
    fn raw() -> Self {
        let measures: Vec<String> = MEASURES
            .iter()
            .map(|(m, c)| format!("sum({c}) AS {m}_sum, min({c}) AS {m}_min, max({c}) AS {m}_max"))
            .collect();
        Source {
            table: "telemetry",
            time: "ts",
            aggregates: format!(
                "count(*) AS n, {}, min(ts) AS first_ts, max(ts) AS last_ts",
                measures.join(", ")
            ),
            first: ("lat", "lon", "ts"),
            last: ("lat", "lon", "ts"),
            inside: "0.0",
        }
    }

    fn rollup(width: Width) -> Self {
        let measures: Vec<String> = MEASURES
            .iter()
            .map(|(m, _)| {
                format!("sum({m}_sum) AS {m}_sum, min({m}_min) AS {m}_min, max({m}_max) AS {m}_max")
            })
            .collect();
        Source {
            table: width.table(),
            time: "bucket",
            aggregates: format!(
                "CAST(sum(n) AS BIGINT) AS n, {}, min(first_ts) AS first_ts, max(last_ts) AS last_ts",
                measures.join(", ")
            ),
            first: ("first_lat", "first_lon", "first_ts"),
            last: ("last_lat", "last_lon", "last_ts"),
            inside: "distance_m",
        }
    }
}

fn rollup_columns() -> String {
    let measures: Vec<String> = MEASURES
        .iter()
        .map(|(m, _)| format!("{m}_sum, {m}_min, {m}_max"))
        .collect();
    format!(
        "drone_id, bucket, org_id, n, {}, first_ts, first_lat, first_lon, last_ts, last_lat, \
         last_lon, distance_m",
        measures.join(", ")
    )
}

/// Recomputes the `width` rollup rows of `[from, to)` (of one drone, or of every drone)
/// from `source` and upserts them.
async fn recompute(
    conn: &DatabaseConnection,
    dialect: Dialect,
    width: Width,
    source: &Source,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    drone: Option<DroneId>,
) -> Result<u64, DbErr> {
    let columns = rollup_columns();
    let values: Vec<String> = MEASURES
        .iter()
        .map(|(m, _)| format!("b.{m}_sum, b.{m}_min, b.{m}_max"))
        .collect();
    let (first_lat, first_lon, first_by) = source.first;
    let (last_lat, last_lon, last_by) = source.last;
    let table = source.table;
    let time = source.time;
    let mut q = Query::new(
        dialect,
        &format!("INSERT INTO {} ({columns}) ", width.table()),
    );
    let share = distance_share(
        dialect,
        time,
        width.seconds(),
        (first_lat, first_lon),
        (last_lat, last_lon),
        source.inside,
    );
    q.sql(&format!(
        "SELECT b.drone_id, b.bucket, b.org_id, b.n, {}, b.first_ts, f.{first_lat}, \
         f.{first_lon}, b.last_ts, l.{last_lat}, l.{last_lon}, b.distance_m FROM (SELECT \
         drone_id, org_id, bk AS bucket, {}, sum(share) AS distance_m FROM (SELECT s.*, {} AS \
         bk, {share} AS share FROM {table} s WHERE {time} >= ",
        values.join(", "),
        source.aggregates,
        bucket_ts(dialect, time, width.seconds()),
    ))
    .bind_ts(from)
    .sql(&format!(" AND {time} < "))
    .bind_ts(to);
    if let Some(drone) = drone {
        q.sql(" AND drone_id = ").bind(drone.as_uuid());
    }
    q.sql(&window_clause(time));
    q.sql(") x GROUP BY drone_id, org_id, bk) b");
    // The range again on the joined sides, so that the planner reads only its partitions.
    for (alias, by, edge) in [("f", first_by, "first_ts"), ("l", last_by, "last_ts")] {
        q.sql(&format!(
            " {} {table} {alias} ON {alias}.drone_id = b.drone_id AND {alias}.{time} >= ",
            dialect.join_in_order()
        ))
        .bind_ts(from)
        .sql(&format!(" AND {alias}.{time} < "))
        .bind_ts(to)
        .sql(&format!(" AND {alias}.{by} = b.{edge}"));
    }
    let updates: Vec<String> = columns
        .split(", ")
        .skip(2)
        .map(|c| format!("{c} = excluded.{c}"))
        .collect();
    // `WHERE true` tells SQLite's parser that ON CONFLICT is not a join's ON. On
    // PostgreSQL, not the drones of slots this shard gave away (`nf_moved_out`): their rows
    // are a finished move's copies, about to be deleted, which the shard refuses to store.
    q.sql(match dialect {
        Dialect::Postgres => {
            " WHERE NOT nf_slot(b.drone_id) <@ (SELECT slots FROM nf_moved_out WHERE id = 1)"
        }
        Dialect::Sqlite => " WHERE true",
    });
    q.sql(&format!(
        " ON CONFLICT (drone_id, bucket) DO UPDATE SET {}",
        updates.join(", ")
    ));
    Ok(conn.execute(q.build()).await?.rows_affected())
}

async fn watermark(
    conn: &impl ConnectionTrait,
    dialect: Dialect,
    width: Width,
) -> Result<Option<DateTime<Utc>>, DbErr> {
    let mut q = Query::new(
        dialect,
        "SELECT watermark FROM telemetry_rollup_state WHERE name = ",
    );
    q.bind(width.table());
    match conn.query_one(q.build()).await? {
        Some(row) => dialect.read_ts(&row, 0).map(Some),
        None => Ok(None),
    }
}

async fn set_watermark(
    conn: &DatabaseConnection,
    dialect: Dialect,
    width: Width,
    at: DateTime<Utc>,
) -> Result<(), DbErr> {
    let mut q = Query::new(
        dialect,
        "INSERT INTO telemetry_rollup_state (name, watermark) VALUES (",
    );
    q.bind(width.table())
        .sql(", ")
        .bind_ts(at)
        .sql(") ON CONFLICT (name) DO UPDATE SET watermark = excluded.watermark")
        // Replicas may run rounds at once: a watermark only moves forward.
        .sql(" WHERE telemetry_rollup_state.watermark < excluded.watermark");
    conn.execute(q.build()).await?;
    Ok(())
}

/// Rounds on one shard until the minute and hour rollups cover everything before
/// `through` (or until a round moves no watermark: nothing older is left to roll up). The
/// archive calls it before it drops raw rows, which downsampled reads and replays of
/// archived days then take from the rollups.
pub(super) async fn roll_up_through(
    conn: &DatabaseConnection,
    now: DateTime<Utc>,
    since: DateTime<Utc>,
    through: DateTime<Utc>,
) -> Result<(), DbErr> {
    let dialect = Dialect::of(conn)?;
    let marks = || async {
        Ok::<_, DbErr>((
            watermark(conn, dialect, Width::Minute).await?,
            watermark(conn, dialect, Width::Hour).await?,
        ))
    };
    let mut before = marks().await?;
    loop {
        if let (Some(m), Some(h)) = before {
            if m >= through && h >= through {
                return Ok(());
            }
        }
        roll_up(conn, now, since).await?;
        let after = marks().await?;
        if after == before {
            return Ok(());
        }
        before = after;
    }
}

/// What a round did on one shard.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RollupRound {
    pub minutes: u64,
    pub hours: u64,
    pub late_minutes: u64,
}

/// One round on one shard (see the module documentation). `since` is where the minutes
/// start on a shard that has never been rolled up: the oldest point retention keeps.
pub(super) async fn roll_up(
    conn: &DatabaseConnection,
    now: DateTime<Utc>,
    since: DateTime<Utc>,
) -> Result<RollupRound, DbErr> {
    let dialect = Dialect::of(conn)?;
    if dialect == Dialect::Postgres {
        summarize_brin(conn).await?;
    }
    let mut round = RollupRound::default();
    let minutes_to = floor(now - SETTLE, Width::Minute.duration());
    let hour = Width::Hour.duration();
    let start = match watermark(conn, dialect, Width::Minute).await? {
        Some(w) => w,
        None => first_hour(conn, dialect, now, since).await?,
    };
    let mut w1 = start;
    for _ in 0..MAX_CHUNKS_PER_ROUND {
        if w1 >= minutes_to {
            break;
        }
        let to = (w1 + Width::Minute.chunk()).min(minutes_to);
        round.minutes +=
            recompute(conn, dialect, Width::Minute, &Source::raw(), w1, to, None).await?;
        set_watermark(conn, dialect, Width::Minute, to).await?;
        w1 = to;
    }
    let hours_to = floor(w1, hour);
    let mut wh = match watermark(conn, dialect, Width::Hour).await? {
        Some(w) => w,
        None => floor(start, hour),
    };
    for _ in 0..MAX_CHUNKS_PER_ROUND {
        if wh >= hours_to {
            break;
        }
        let to = (wh + Width::Hour.chunk()).min(hours_to);
        let source = Source::rollup(Width::Minute);
        round.hours += recompute(conn, dialect, Width::Hour, &source, wh, to, None).await?;
        set_watermark(conn, dialect, Width::Hour, to).await?;
        wh = to;
    }
    round.late_minutes = roll_up_late(conn, dialect, w1, wh).await?;
    Ok(round)
}

/// Summarizes the page ranges written since the last round in the BRIN indexes of
/// `telemetry` (each partition or chunk) and `telemetry_1m`. A range not yet summarized
/// matches every time scan, so without this a round would read every page autovacuum has
/// not summarized yet.
async fn summarize_brin(conn: &DatabaseConnection) -> Result<(), DbErr> {
    conn.execute_unprepared(
        "SELECT brin_summarize_new_values(i.indexrelid) FROM pg_index i \
         JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam \
         WHERE a.amname = 'brin' AND c.relkind = 'i' AND i.indrelid IN ( \
         SELECT inhrelid FROM pg_inherits WHERE inhparent = 'telemetry'::regclass \
         UNION ALL SELECT 'telemetry'::regclass UNION ALL SELECT 'telemetry_1m'::regclass)",
    )
    .await?;
    Ok(())
}

/// Where a shard that has never been rolled up starts: the hour of its oldest point that
/// retention keeps (a scan of the table, once), or on an empty shard the hour before the
/// watermark's place (points that arrive later for older times are late points).
async fn first_hour(
    conn: &DatabaseConnection,
    dialect: Dialect,
    now: DateTime<Utc>,
    since: DateTime<Utc>,
) -> Result<DateTime<Utc>, DbErr> {
    let q = Query::new(dialect, "SELECT min(ts) FROM telemetry");
    let oldest = match conn.query_one(q.build()).await? {
        Some(row) => dialect.read_optional_ts(&row, 0)?,
        None => None,
    };
    let hour = Width::Hour.duration();
    Ok(match oldest {
        Some(oldest) => floor(oldest.max(since), hour),
        None => floor(now - SETTLE, hour),
    })
}

/// Recomputes the minutes (behind `w1`) and hours (behind `wh`) that late points landed
/// in. Marks are removed before the recompute: a point committed before its mark was
/// removed is in the recompute, and one marked later leaves a new mark.
async fn roll_up_late(
    conn: &DatabaseConnection,
    dialect: Dialect,
    w1: DateTime<Utc>,
    wh: DateTime<Utc>,
) -> Result<u64, DbErr> {
    let mut q = Query::new(
        dialect,
        "SELECT drone_id, minute FROM telemetry_rollup_dirty ORDER BY drone_id, minute LIMIT ",
    );
    q.bind(DIRTY_PER_ROUND as i64);
    let rows = conn.query_all(q.build()).await?;
    if rows.is_empty() {
        return Ok(0);
    }
    let mut marks = Vec::with_capacity(rows.len());
    for row in &rows {
        let drone: Uuid = row.try_get_by_index(0)?;
        marks.push((DroneId::from_uuid(drone), dialect.read_ts(row, 1)?));
    }
    for chunk in marks.chunks(dialect.rows_per_statement() / 2) {
        let mut q = Query::new(
            dialect,
            "DELETE FROM telemetry_rollup_dirty WHERE (drone_id, minute) IN (VALUES ",
        );
        minute_tuples(&mut q, chunk);
        q.sql(")");
        conn.execute(q.build()).await?;
    }
    let minute = Width::Minute.duration();
    let hour = Width::Hour.duration();
    let mut hours = Vec::new();
    for (drone, start) in &marks {
        if *start < w1 {
            let source = Source::raw();
            recompute(
                conn,
                dialect,
                Width::Minute,
                &source,
                *start,
                *start + minute,
                Some(*drone),
            )
            .await?;
        }
        let h = floor(*start, hour);
        if h < wh && hours.last() != Some(&(*drone, h)) {
            hours.push((*drone, h));
        }
    }
    for (drone, h) in hours {
        let source = Source::rollup(Width::Minute);
        recompute(
            conn,
            dialect,
            Width::Hour,
            &source,
            h,
            h + hour,
            Some(drone),
        )
        .await?;
    }
    Ok(marks.len() as u64)
}

/// `(drone, minute), …` for a dirty-minute statement.
fn minute_tuples(q: &mut Query, marks: &[(DroneId, DateTime<Utc>)]) {
    for (i, (drone, minute)) in marks.iter().enumerate() {
        if i > 0 {
            q.sql(", ");
        }
        q.sql("(")
            .bind(drone.as_uuid())
            .sql(", ")
            .bind_ts(*minute)
            .sql(")");
    }
}

/// Marks the minutes of `points` older than [`LATE`] at `now`, after they are committed.
pub(super) async fn mark_late(
    conn: &impl ConnectionTrait,
    dialect: Dialect,
    points: &[TelemetryPoint],
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let minute = Width::Minute.duration();
    let mut late: Vec<(DroneId, DateTime<Utc>)> = points
        .iter()
        .filter(|p| p.ts < now - LATE)
        .map(|p| (p.drone_id, floor(p.ts, minute)))
        .collect();
    if late.is_empty() {
        return Ok(());
    }
    late.sort_unstable();
    late.dedup();
    for chunk in late.chunks(dialect.rows_per_statement() / 2) {
        let mut q = Query::new(
            dialect,
            "INSERT INTO telemetry_rollup_dirty (drone_id, minute) VALUES ",
        );
        minute_tuples(&mut q, chunk);
        q.sql(" ON CONFLICT DO NOTHING");
        conn.execute(q.build()).await?;
    }
    Ok(())
}

/// An answer bucket under construction, from raw or rollup parts.
#[derive(Debug, Clone, Copy)]
struct Part {
    n: u64,
    sum: [f64; 4],
    min: [f64; 4],
    max: [f64; 4],
    first: Edge,
    last: Edge,
    distance_m: f64,
}

/// The time and position of a part's oldest or newest point.
#[derive(Debug, Clone, Copy)]
struct Edge {
    ts: DateTime<Utc>,
    lat: f64,
    lon: f64,
}

impl Part {
    fn of(b: &Bucket) -> Self {
        let stats = [b.alt_m, b.speed_mps, b.battery_pct, b.heading_deg];
        let n = b.count as f64;
        Part {
            n: b.count,
            sum: stats.map(|s| s.avg * n),
            min: stats.map(|s| s.min),
            max: stats.map(|s| s.max),
            first: Edge {
                ts: b.first_ts,
                lat: b.first_lat,
                lon: b.first_lon,
            },
            last: Edge {
                ts: b.last_ts,
                lat: b.last_lat,
                lon: b.last_lon,
            },
            distance_m: b.distance_m,
        }
    }

    /// Appends `next`, whose points all come after this part's: its distance joins this
    /// one's across the segment from this part's last point to `next`'s first.
    fn then(&mut self, next: &Part) {
        self.n += next.n;
        for i in 0..4 {
            self.sum[i] += next.sum[i];
            self.min[i] = self.min[i].min(next.min[i]);
            self.max[i] = self.max[i].max(next.max[i]);
        }
        let (a, b) = (self.last, next.first);
        self.distance_m += ground_distance_m(a.lat, a.lon, b.lat, b.lon) + next.distance_m;
        self.last = next.last;
    }

    fn bucket(&self, start: DateTime<Utc>) -> Bucket {
        let n = self.n.max(1) as f64;
        let stats = |i: usize| Stats {
            avg: self.sum[i] / n,
            min: self.min[i],
            max: self.max[i],
        };
        Bucket {
            start,
            count: self.n,
            alt_m: stats(0),
            speed_mps: stats(1),
            battery_pct: stats(2),
            heading_deg: stats(3),
            first_lat: self.first.lat,
            first_lon: self.first.lon,
            first_ts: self.first.ts,
            last_lat: self.last.lat,
            last_lon: self.last.lon,
            last_ts: self.last.ts,
            distance_m: self.distance_m,
        }
    }
}

/// Downsampled history: from the coarsest complete rollup that fits `interval` where it
/// covers the range, from raw rows elsewhere. The same answer as the raw computation.
pub(super) async fn downsample(
    conn: &DatabaseConnection,
    org: OrgId,
    drone: DroneId,
    range: TimeRange,
    interval: Interval,
) -> Result<Vec<Bucket>, DbErr> {
    let dialect = Dialect::of(conn)?;
    let Some(width) = Width::fitting(interval) else {
        return read::downsample(conn, org, drone, range, interval).await;
    };
    let Some(rolled) = watermark(conn, dialect, width).await? else {
        return read::downsample(conn, org, drone, range, interval).await;
    };
    let a = ceil(range.from, width.duration());
    let b = floor(range.to, width.duration()).min(rolled);
    if a >= b {
        return read::downsample(conn, org, drone, range, interval).await;
    }
    // The parts of each answer bucket (at most the two edges and the rollups between),
    // joined in time order.
    let mut parts: BTreeMap<DateTime<Utc>, Vec<Part>> = BTreeMap::new();
    for edge in [
        TimeRange {
            from: range.from,
            to: a,
        },
        TimeRange {
            from: b,
            to: range.to,
        },
    ] {
        if edge.from < edge.to {
            for bucket in read::downsample(conn, org, drone, edge, interval).await? {
                parts
                    .entry(bucket.start)
                    .or_default()
                    .push(Part::of(&bucket));
            }
        }
    }
    for (start, part) in rolled_parts(conn, dialect, width, org, drone, a, b, interval).await? {
        parts.entry(start).or_default().push(part);
    }
    Ok(parts
        .into_iter()
        .filter_map(|(start, mut parts)| {
            parts.sort_by_key(|p| p.first.ts);
            let mut parts = parts.into_iter();
            let mut whole = parts.next()?;
            for part in parts {
                whole.then(&part);
            }
            Some(whole.bucket(start))
        })
        .collect())
}

/// The rollup rows of `[a, b)` combined per answer bucket of `interval`.
#[allow(clippy::too_many_arguments)]
async fn rolled_parts(
    conn: &DatabaseConnection,
    dialect: Dialect,
    width: Width,
    org: OrgId,
    drone: DroneId,
    a: DateTime<Utc>,
    b: DateTime<Utc>,
    interval: Interval,
) -> Result<Vec<(DateTime<Utc>, Part)>, DbErr> {
    let table = width.table();
    let source = Source::rollup(width);
    let seconds = interval.seconds();
    let share = distance_share(
        dialect,
        "bucket",
        seconds,
        ("first_lat", "first_lon"),
        ("last_lat", "last_lon"),
        source.inside,
    );
    let mut q = Query::new(dialect, "SELECT g.start, g.n, ");
    let measures: Vec<String> = MEASURES
        .iter()
        .map(|(m, _)| format!("g.{m}_sum, g.{m}_min, g.{m}_max"))
        .collect();
    q.sql(&format!(
        "{}, g.first_ts, f.first_lat, f.first_lon, g.last_ts, l.last_lat, l.last_lon, \
         g.distance_m FROM (SELECT {} AS start, {}, sum(share) AS distance_m FROM (SELECT \
         r.*, {share} AS share FROM {table} r WHERE drone_id = ",
        measures.join(", "),
        bucket_seconds(dialect, "bucket", seconds),
        source.aggregates
    ))
    .bind(drone.as_uuid())
    .sql(" AND org_id = ")
    .bind(org.as_uuid())
    .sql(" AND bucket >= ")
    .bind_ts(a)
    .sql(" AND bucket < ")
    .bind_ts(b)
    .sql(&window_clause("bucket"))
    .sql(") x GROUP BY 1) g");
    // The rows holding the first and last points, by key: the bucket of `width` that
    // each point's time falls in.
    for (alias, edge) in [("f", "first_ts"), ("l", "last_ts")] {
        q.sql(&format!(
            " {} {table} {alias} ON {alias}.drone_id = ",
            dialect.join_in_order()
        ))
        .bind(drone.as_uuid())
        .sql(&format!(
            " AND {alias}.bucket = {} AND {alias}.{edge} = g.{edge}",
            bucket_ts(dialect, &format!("g.{edge}"), width.seconds())
        ));
    }
    q.sql(" ORDER BY g.start");
    conn.query_all(q.build())
        .await?
        .iter()
        .map(|row| part_from_row(dialect, row))
        .collect()
}

fn part_from_row(dialect: Dialect, row: &QueryResult) -> Result<(DateTime<Utc>, Part), DbErr> {
    let start: i64 = row.try_get_by_index(0)?;
    let n: i64 = row.try_get_by_index(1)?;
    let mut sum = [0.0; 4];
    let mut min = [0.0; 4];
    let mut max = [0.0; 4];
    for i in 0..4 {
        sum[i] = row.try_get_by_index(2 + 3 * i)?;
        min[i] = row.try_get_by_index(3 + 3 * i)?;
        max[i] = row.try_get_by_index(4 + 3 * i)?;
    }
    let start = DateTime::from_timestamp(start, 0)
        .ok_or_else(|| DbErr::Type(format!("bucket start {start} s is out of range")))?;
    let edge = |at: usize| -> Result<Edge, DbErr> {
        Ok(Edge {
            ts: dialect.read_ts(row, at)?,
            lat: row.try_get_by_index(at + 1)?,
            lon: row.try_get_by_index(at + 2)?,
        })
    };
    Ok((
        start,
        Part {
            n: u64::try_from(n).unwrap_or(0),
            sum,
            min,
            max,
            first: edge(14)?,
            last: edge(17)?,
            distance_m: row.try_get_by_index(20)?,
        },
    ))
}

/// Removes a drone's rollups (the drone is deleted).
pub(super) async fn forget(
    conn: &impl ConnectionTrait,
    dialect: Dialect,
    drone: DroneId,
) -> Result<(), DbErr> {
    for table in ["telemetry_1m", "telemetry_1h", "telemetry_rollup_dirty"] {
        let mut q = Query::new(dialect, &format!("DELETE FROM {table} WHERE drone_id = "));
        q.bind(drone.as_uuid());
        conn.execute(q.build()).await?;
    }
    Ok(())
}

/// Deletes rollup rows older than `cutoff` (retention applies to them too).
pub(super) async fn expire(
    conn: &impl ConnectionTrait,
    dialect: Dialect,
    cutoff: DateTime<Utc>,
) -> Result<(), DbErr> {
    for table in ["telemetry_1m", "telemetry_1h"] {
        let mut q = Query::new(dialect, &format!("DELETE FROM {table} WHERE bucket < "));
        q.bind_ts(cutoff);
        conn.execute(q.build()).await?;
    }
    Ok(())
}
