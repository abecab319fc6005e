//! What differs between the two shard backends at the SQL level: placeholders, how a
//! timestamp is stored, and how many bind parameters one statement may carry.

use chrono::{DateTime, Utc};
use domain::telemetry::{BBox, TelemetryPoint};
use domain::{DroneId, FlightPlanId, OrgId};
use sea_orm::{
    ConnectionTrait, DatabaseBackend, DatabaseConnection, DbErr, QueryResult, Statement, Value,
};
use uuid::Uuid;

/// The columns of `telemetry` and `drone_latest`, in the order every statement and the
/// binary COPY use.
pub(super) const COLUMNS: &str = "drone_id, org_id, ts, lat, lon, alt_m, speed_mps, \
    heading_deg, battery_pct, vertical_speed_mps, satellites, link_quality_pct, flight_plan_id";

pub(super) const COLUMN_COUNT: usize = 13;

/// The value columns, which an upsert of `drone_latest` overwrites.
pub(super) const VALUE_COLUMNS: [&str; 12] = [
    "org_id",
    "ts",
    "lat",
    "lon",
    "alt_m",
    "speed_mps",
    "heading_deg",
    "battery_pct",
    "vertical_speed_mps",
    "satellites",
    "link_quality_pct",
    "flight_plan_id",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Dialect {
    /// `ts` is `timestamptz`.
    Postgres,
    /// `ts` is INTEGER microseconds since the Unix epoch.
    Sqlite,
}

impl Dialect {
    pub(super) fn of(db: &DatabaseConnection) -> Result<Self, DbErr> {
        match db.get_database_backend() {
            DatabaseBackend::Postgres => Ok(Dialect::Postgres),
            DatabaseBackend::Sqlite => Ok(Dialect::Sqlite),
            DatabaseBackend::MySql => Err(DbErr::Custom(
                "telemetry is stored on PostgreSQL or SQLite shards only".to_owned(),
            )),
        }
    }

    fn backend(self) -> DatabaseBackend {
        match self {
            Dialect::Postgres => DatabaseBackend::Postgres,
            Dialect::Sqlite => DatabaseBackend::Sqlite,
        }
    }

    /// An inner join that keeps the tables in the order written: a derived table of
    /// aggregates first, then the point lookups by key for each of its rows. SQLite may
    /// otherwise put the lookups outside and evaluate the derived table once per row they
    /// find (its `CROSS JOIN` fixes the order); PostgreSQL plans a plain `JOIN` well.
    pub(super) fn join_in_order(self) -> &'static str {
        match self {
            Dialect::Postgres => "JOIN",
            Dialect::Sqlite => "CROSS JOIN",
        }
    }

    /// Rows per multi-row statement: PostgreSQL takes at most 65,535 bind parameters,
    /// SQLite (3.32+, as bundled) 32,766.
    pub(super) fn rows_per_statement(self) -> usize {
        match self {
            Dialect::Postgres => 4_000,
            Dialect::Sqlite => 2_000,
        }
    }

    pub(super) fn ts(self, ts: DateTime<Utc>) -> Value {
        match self {
            Dialect::Postgres => Value::from(ts),
            Dialect::Sqlite => Value::from(ts.timestamp_micros()),
        }
    }

    /// A timestamp column that may be NULL (an aggregate over no rows).
    pub(super) fn read_optional_ts(
        self,
        row: &QueryResult,
        index: usize,
    ) -> Result<Option<DateTime<Utc>>, DbErr> {
        match self {
            Dialect::Postgres => row.try_get_by_index(index),
            Dialect::Sqlite => match row.try_get_by_index::<Option<i64>>(index)? {
                Some(_) => self.read_ts(row, index).map(Some),
                None => Ok(None),
            },
        }
    }

    pub(super) fn read_ts(self, row: &QueryResult, index: usize) -> Result<DateTime<Utc>, DbErr> {
        match self {
            Dialect::Postgres => row.try_get_by_index(index),
            Dialect::Sqlite => {
                let micros: i64 = row.try_get_by_index(index)?;
                DateTime::from_timestamp_micros(micros)
                    .ok_or_else(|| DbErr::Type(format!("timestamp {micros} µs is out of range")))
            }
        }
    }
}

/// A statement under construction: SQL text and its bind values, with the placeholder
/// style of the dialect (`$n` or `?`).
pub(super) struct Query {
    dialect: Dialect,
    sql: String,
    values: Vec<Value>,
}

impl Query {
    pub(super) fn new(dialect: Dialect, sql: &str) -> Self {
        Query {
            dialect,
            sql: sql.to_owned(),
            values: Vec::new(),
        }
    }

    pub(super) fn with_capacity(dialect: Dialect, sql_bytes: usize, values: usize) -> Self {
        Query {
            dialect,
            sql: String::with_capacity(sql_bytes),
            values: Vec::with_capacity(values),
        }
    }

    pub(super) fn sql(&mut self, text: &str) -> &mut Self {
        self.sql.push_str(text);
        self
    }

    /// Appends a placeholder for `value`.
    pub(super) fn bind(&mut self, value: impl Into<Value>) -> &mut Self {
        self.values.push(value.into());
        match self.dialect {
            Dialect::Postgres => {
                self.sql.push('$');
                self.sql.push_str(&self.values.len().to_string());
            }
            Dialect::Sqlite => self.sql.push('?'),
        }
        self
    }

    /// Appends ` AND` conditions keeping `{alias}lat`/`{alias}lon` inside `bbox`, if any.
    pub(super) fn within(&mut self, alias: &str, bbox: Option<BBox>) -> &mut Self {
        if let Some(b) = bbox {
            self.sql(&format!(" AND {alias}lat >= "))
                .bind(b.min_lat)
                .sql(&format!(" AND {alias}lat <= "))
                .bind(b.max_lat)
                .sql(&format!(" AND {alias}lon >= "))
                .bind(b.min_lon)
                .sql(&format!(" AND {alias}lon <= "))
                .bind(b.max_lon);
        }
        self
    }

    pub(super) fn bind_ts(&mut self, ts: DateTime<Utc>) -> &mut Self {
        let value = self.dialect.ts(ts);
        self.bind(value)
    }

    /// Appends `(…)` with the point's thirteen values, in [`COLUMNS`] order.
    pub(super) fn point_tuple(&mut self, p: &TelemetryPoint) -> &mut Self {
        self.sql("(")
            .bind(p.drone_id.as_uuid())
            .sql(",")
            .bind(p.org_id.as_uuid())
            .sql(",")
            .bind_ts(p.ts)
            .sql(",")
            .bind(p.lat)
            .sql(",")
            .bind(p.lon)
            .sql(",")
            .bind(p.alt_m)
            .sql(",")
            .bind(p.speed_mps)
            .sql(",")
            .bind(p.heading_deg)
            .sql(",")
            .bind(p.battery_pct)
            .sql(",")
            .bind(p.vertical_speed_mps)
            .sql(",")
            .bind(p.satellites.map(satellites_to_db))
            .sql(",")
            .bind(p.link_quality_pct)
            .sql(",")
            .bind(p.flight_plan_id.map(|id| id.as_uuid()))
            .sql(")")
    }

    pub(super) fn build(self) -> Statement {
        Statement::from_sql_and_values(self.dialect.backend(), self.sql, self.values)
    }
}

/// Satellite counts are validated to 0–255; anything larger saturates rather than wraps.
pub(super) fn satellites_to_db(n: u16) -> i16 {
    i16::try_from(n).unwrap_or(i16::MAX)
}

/// A point from a row whose first thirteen columns are [`COLUMNS`].
pub(super) fn point_from_row(dialect: Dialect, row: &QueryResult) -> Result<TelemetryPoint, DbErr> {
    // PostgreSQL rows are read with sqlx directly: a fleet read decodes 13 columns of tens of
    // thousands of rows, and sea-orm's dynamic accessors cost about a third of that request.
    match row.try_as_pg_row() {
        Some(row) => point_from(row),
        None => point_from(&(dialect, row)),
    }
}

fn point_from(row: &impl Columns) -> Result<TelemetryPoint, DbErr> {
    let satellites = row
        .opt_i16(10)?
        .map(|n| u16::try_from(n).map_err(|_| DbErr::Type(format!("negative satellite count {n}"))))
        .transpose()?;
    Ok(TelemetryPoint {
        drone_id: DroneId::from_uuid(row.uuid(0)?),
        org_id: OrgId::from_uuid(row.uuid(1)?),
        ts: row.ts(2)?,
        lat: row.f64(3)?,
        lon: row.f64(4)?,
        alt_m: row.f64(5)?,
        speed_mps: row.f64(6)?,
        heading_deg: row.f64(7)?,
        battery_pct: row.f64(8)?,
        vertical_speed_mps: row.opt_f64(9)?,
        satellites,
        link_quality_pct: row.opt_f64(11)?,
        flight_plan_id: row.opt_uuid(12)?.map(FlightPlanId::from_uuid),
    })
}

/// The column types a point is read from, by index.
trait Columns {
    fn uuid(&self, i: usize) -> Result<Uuid, DbErr>;
    fn opt_uuid(&self, i: usize) -> Result<Option<Uuid>, DbErr>;
    fn f64(&self, i: usize) -> Result<f64, DbErr>;
    fn opt_f64(&self, i: usize) -> Result<Option<f64>, DbErr>;
    fn opt_i16(&self, i: usize) -> Result<Option<i16>, DbErr>;
    fn ts(&self, i: usize) -> Result<DateTime<Utc>, DbErr>;
}

/// Through sea-orm, on either backend (the timestamp as the dialect stores it).
impl Columns for (Dialect, &QueryResult) {
    fn uuid(&self, i: usize) -> Result<Uuid, DbErr> {
        self.1.try_get_by_index(i)
    }
    fn opt_uuid(&self, i: usize) -> Result<Option<Uuid>, DbErr> {
        self.1.try_get_by_index(i)
    }
    fn f64(&self, i: usize) -> Result<f64, DbErr> {
        self.1.try_get_by_index(i)
    }
    fn opt_f64(&self, i: usize) -> Result<Option<f64>, DbErr> {
        self.1.try_get_by_index(i)
    }
    fn opt_i16(&self, i: usize) -> Result<Option<i16>, DbErr> {
        self.1.try_get_by_index(i)
    }
    fn ts(&self, i: usize) -> Result<DateTime<Utc>, DbErr> {
        self.0.read_ts(self.1, i)
    }
}

/// Straight from a PostgreSQL row.
impl Columns for sea_orm::sqlx::postgres::PgRow {
    fn uuid(&self, i: usize) -> Result<Uuid, DbErr> {
        pg_get(self, i)
    }
    fn opt_uuid(&self, i: usize) -> Result<Option<Uuid>, DbErr> {
        pg_get(self, i)
    }
    fn f64(&self, i: usize) -> Result<f64, DbErr> {
        pg_get(self, i)
    }
    fn opt_f64(&self, i: usize) -> Result<Option<f64>, DbErr> {
        pg_get(self, i)
    }
    fn opt_i16(&self, i: usize) -> Result<Option<i16>, DbErr> {
        pg_get(self, i)
    }
    fn ts(&self, i: usize) -> Result<DateTime<Utc>, DbErr> {
        pg_get(self, i)
    }
}

fn pg_get<'r, T>(row: &'r sea_orm::sqlx::postgres::PgRow, i: usize) -> Result<T, DbErr>
where
    T: sea_orm::sqlx::Decode<'r, sea_orm::sqlx::Postgres>
        + sea_orm::sqlx::Type<sea_orm::sqlx::Postgres>,
{
    use sea_orm::sqlx::Row;
    row.try_get(i)
        .map_err(|e| DbErr::Query(sea_orm::RuntimeErr::SqlxError(e)))
}

/// Runs a statement whose first thirteen columns are [`COLUMNS`] and reads its points.
pub(super) async fn query_points(
    conn: &impl ConnectionTrait,
    dialect: Dialect,
    q: Query,
) -> Result<Vec<TelemetryPoint>, DbErr> {
    conn.query_all(q.build())
        .await?
        .iter()
        .map(|row| point_from_row(dialect, row))
        .collect()
}
