//! The telemetry archive: each UTC day of a shard's raw points as one Parquet file in object
//! storage (a local directory, or any store `object_store` reaches), listed in the shard's
//! `telemetry_archive` manifest (schema and the rules in
//! `migrations/src/shard/m20261203_000110_create_telemetry_archive.rs`).
//!
//! Archiving a day: the rows are read in key order `(drone_id, ts)`, a page at a time, and
//! streamed into `shard-N/telemetry-YYYY-MM-DD.parquet` (multipart, zstd, row groups of
//! 128k rows whose `drone_id` statistics let a read skip the other drones). The file is then
//! read back in full: its rows are counted and its bytes hashed (SHA-256), and only when the
//! count is the day's row count is the day entered in the manifest and then its raw rows
//! dropped. Every step is safe to repeat: a file without a manifest row is written again, a
//! manifest row whose raw rows are still there has them dropped.
//!
//! Days are archived oldest first and a shard's archive is never behind a gap, so the
//! archived days are everything before [`archived_until`]: reads take raw rows from there on
//! and the archive before it.

use std::sync::Arc;

use arrow_array::builder::{
    FixedSizeBinaryBuilder, Float64Builder, Int16Builder, TimestampMicrosecondBuilder,
};
use arrow_array::{
    Array, ArrayRef, FixedSizeBinaryArray, Float64Array, Int16Array, RecordBatch,
    TimestampMicrosecondArray,
};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};
use domain::telemetry::{TelemetryPoint, TimeRange};
use domain::{DroneId, FlightPlanId, OrgId};
use futures::future::BoxFuture;
use futures::FutureExt;
use futures::StreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use parquet::arrow::arrow_reader::ArrowReaderOptions;
use parquet::arrow::async_reader::{AsyncFileReader, ParquetRecordBatchStreamBuilder};
use parquet::arrow::async_writer::AsyncArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::errors::ParquetError;
use parquet::file::metadata::{ParquetMetaData, ParquetMetaDataReader};
use parquet::file::properties::WriterProperties;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::read::Direction;
use super::sql::{query_points, Dialect, Query, COLUMNS};

/// Rows read from the database per page while a day is written.
const PAGE_ROWS: i64 = 50_000;
const ROW_GROUP_ROWS: usize = 128 * 1024;

/// Where archived days go: an object store and the prefix inside it.
#[derive(Clone)]
pub struct Archive {
    store: Arc<dyn ObjectStore>,
    /// The store as configured, for messages (never with credentials: those come from the
    /// environment).
    url: String,
}

impl std::fmt::Debug for Archive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Archive").field("url", &self.url).finish()
    }
}

impl Archive {
    /// A local directory (a path, or `file:///…`), created if missing, or an object store:
    /// `s3://bucket/prefix` (Amazon S3 or any S3-compatible store), `gs://bucket/prefix` or
    /// `az://container/prefix`. Credentials, region and endpoint come from the environment
    /// variables each store documents (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
    /// `AWS_REGION`, `AWS_ENDPOINT`, `AWS_ALLOW_HTTP`; `GOOGLE_SERVICE_ACCOUNT`;
    /// `AZURE_STORAGE_ACCOUNT_NAME`, `AZURE_STORAGE_ACCOUNT_KEY`, …), never from the URL.
    pub fn open(url: &str) -> anyhow::Result<Self> {
        let store: Arc<dyn ObjectStore> = match url.strip_prefix("file://") {
            Some(dir) => Arc::new(local(dir)?),
            None if !url.contains("://") => Arc::new(local(url)?),
            None => cloud(url)?,
        };
        Ok(Archive {
            store,
            url: url.to_owned(),
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }
}

/// An S3, GCS or Azure store configured from the environment, under the URL's path.
fn cloud(url: &str) -> anyhow::Result<Arc<dyn ObjectStore>> {
    use object_store::ObjectStoreScheme;
    let invalid = |e: &dyn std::fmt::Display| anyhow::anyhow!("telemetry.archive_url {url:?}: {e}");
    let parsed = url::Url::parse(url).map_err(|e| invalid(&e))?;
    let (scheme, _) = ObjectStoreScheme::parse(&parsed).map_err(|e| invalid(&e))?;
    if !matches!(
        scheme,
        ObjectStoreScheme::AmazonS3
            | ObjectStoreScheme::GoogleCloudStorage
            | ObjectStoreScheme::MicrosoftAzure
    ) {
        return Err(invalid(
            &"not an archive store: use a directory, s3://, gs:// or az://",
        ));
    }
    // object_store's HTTP client has rustls without a provider: this build's is ring. An
    // error means one is installed already.
    let _ = rustls::crypto::ring::default_provider().install_default();
    // The stores' own variables only, as their builders' `from_env` would take them.
    let options = std::env::vars().filter(|(key, _)| {
        ["AWS_", "GOOGLE_", "AZURE_"]
            .iter()
            .any(|p| key.starts_with(p))
    });
    let (store, prefix) =
        object_store::parse_url_opts(&parsed, options).map_err(|e| invalid(&e))?;
    Ok(Arc::new(object_store::prefix::PrefixStore::new(
        store, prefix,
    )))
}

fn local(dir: &str) -> anyhow::Result<object_store::local::LocalFileSystem> {
    std::fs::create_dir_all(dir)
        .map_err(|e| anyhow::anyhow!("telemetry.archive_url: cannot create {dir}: {e}"))?;
    object_store::local::LocalFileSystem::new_with_prefix(dir)
        .map_err(|e| anyhow::anyhow!("telemetry.archive_url {dir}: {e}"))
}

/// An archived file read by ranges, its size known from the manifest or a read-back.
struct FileReader {
    store: Arc<dyn ObjectStore>,
    path: Path,
    size: u64,
}

impl FileReader {
    fn new(archive: &Archive, path: &Path, size: u64) -> Self {
        FileReader {
            store: archive.store.clone(),
            path: path.clone(),
            size,
        }
    }
}

impl AsyncFileReader for FileReader {
    fn get_bytes(
        &mut self,
        range: std::ops::Range<u64>,
    ) -> BoxFuture<'_, parquet::errors::Result<bytes::Bytes>> {
        async move {
            self.store
                .get_range(&self.path, range)
                .await
                .map_err(|e| ParquetError::External(Box::new(e)))
        }
        .boxed()
    }

    fn get_byte_ranges(
        &mut self,
        ranges: Vec<std::ops::Range<u64>>,
    ) -> BoxFuture<'_, parquet::errors::Result<Vec<bytes::Bytes>>> {
        async move {
            self.store
                .get_ranges(&self.path, &ranges)
                .await
                .map_err(|e| ParquetError::External(Box::new(e)))
        }
        .boxed()
    }

    fn get_metadata<'a>(
        &'a mut self,
        options: Option<&'a ArrowReaderOptions>,
    ) -> BoxFuture<'a, parquet::errors::Result<Arc<ParquetMetaData>>> {
        async move {
            let size = self.size;
            let metadata = ParquetMetaDataReader::new()
                .with_arrow_reader_options(options)
                .load_and_finish(self, size)
                .await?;
            Ok(Arc::new(metadata))
        }
        .boxed()
    }
}

fn err(context: &str, e: impl std::fmt::Display) -> DbErr {
    DbErr::Custom(format!("telemetry archive: {context}: {e}"))
}

/// Taken by an archive run for the whole of a shard's run ("NFARCHIV").
const ARCHIVE_LOCK: i64 = 0x4e46_4152_4348_4956;

/// A shard's archive lock, held until dropped: on PostgreSQL an advisory lock in a
/// transaction that is rolled back on drop; SQLite shards belong to one process and need
/// none.
pub(super) struct ShardLock {
    _held: Option<sea_orm::DatabaseTransaction>,
}

/// The shard's archive lock, or `None` when another process is archiving the shard.
/// Replicas run maintenance at the same time; one of them archives, the others skip it.
pub(super) async fn lock(conn: &DatabaseConnection) -> Result<Option<ShardLock>, DbErr> {
    if Dialect::of(conn)? != Dialect::Postgres {
        return Ok(Some(ShardLock { _held: None }));
    }
    let txn = sea_orm::TransactionTrait::begin(conn).await?;
    let mut q = Query::new(Dialect::Postgres, "SELECT pg_try_advisory_xact_lock(");
    q.bind(ARCHIVE_LOCK).sql(")");
    let taken: bool = match txn.query_one(q.build()).await? {
        Some(row) => row.try_get_by_index(0)?,
        None => false,
    };
    Ok(taken.then_some(ShardLock { _held: Some(txn) }))
}

pub(super) fn day_start(day: NaiveDate) -> DateTime<Utc> {
    day.and_time(NaiveTime::MIN).and_utc()
}

fn location(shard: usize, day: NaiveDate) -> Path {
    Path::from(format!(
        "shard-{shard}/telemetry-{}.parquet",
        day.format("%Y-%m-%d")
    ))
}

fn schema() -> SchemaRef {
    let id = || DataType::FixedSizeBinary(16);
    let f = |name: &str| Field::new(name, DataType::Float64, false);
    Arc::new(Schema::new(vec![
        Field::new("drone_id", id(), false),
        Field::new("org_id", id(), false),
        Field::new(
            "ts",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
        f("lat"),
        f("lon"),
        f("alt_m"),
        f("speed_mps"),
        f("heading_deg"),
        f("battery_pct"),
        Field::new("vertical_speed_mps", DataType::Float64, true),
        Field::new("satellites", DataType::Int16, true),
        Field::new("link_quality_pct", DataType::Float64, true),
        Field::new("flight_plan_id", id(), true),
    ]))
}

fn to_batch(schema: &SchemaRef, points: &[TelemetryPoint]) -> Result<RecordBatch, DbErr> {
    let n = points.len();
    let ids = |f: &dyn Fn(&TelemetryPoint) -> Option<Uuid>| -> Result<ArrayRef, DbErr> {
        let mut b = FixedSizeBinaryBuilder::with_capacity(n, 16);
        for p in points {
            match f(p) {
                Some(id) => b
                    .append_value(id.as_bytes())
                    .map_err(|e| err("encoding", e))?,
                None => b.append_null(),
            }
        }
        Ok(Arc::new(b.finish()))
    };
    let floats = |f: &dyn Fn(&TelemetryPoint) -> Option<f64>| -> ArrayRef {
        let mut b = Float64Builder::with_capacity(n);
        for p in points {
            b.append_option(f(p));
        }
        Arc::new(b.finish())
    };
    let mut ts = TimestampMicrosecondBuilder::with_capacity(n).with_timezone("UTC");
    let mut sats = Int16Builder::with_capacity(n);
    for p in points {
        ts.append_value(p.ts.timestamp_micros());
        sats.append_option(p.satellites.map(super::sql::satellites_to_db));
    }
    let columns: Vec<ArrayRef> = vec![
        ids(&|p| Some(p.drone_id.as_uuid()))?,
        ids(&|p| Some(p.org_id.as_uuid()))?,
        Arc::new(ts.finish()),
        floats(&|p| Some(p.lat)),
        floats(&|p| Some(p.lon)),
        floats(&|p| Some(p.alt_m)),
        floats(&|p| Some(p.speed_mps)),
        floats(&|p| Some(p.heading_deg)),
        floats(&|p| Some(p.battery_pct)),
        floats(&|p| p.vertical_speed_mps),
        Arc::new(sats.finish()),
        floats(&|p| p.link_quality_pct),
        ids(&|p| p.flight_plan_id.map(|id| id.as_uuid()))?,
    ];
    RecordBatch::try_new(schema.clone(), columns).map_err(|e| err("encoding", e))
}

fn column<T: 'static>(batch: &RecordBatch, i: usize) -> Result<&T, DbErr> {
    batch
        .column(i)
        .as_any()
        .downcast_ref::<T>()
        .ok_or_else(|| err("decoding", format!("column {i} has an unexpected type")))
}

fn uuid_at(a: &FixedSizeBinaryArray, i: usize) -> Result<Uuid, DbErr> {
    Uuid::from_slice(a.value(i)).map_err(|e| err("decoding", e))
}

fn from_batch(
    batch: &RecordBatch,
    keep: impl Fn(&TelemetryPoint) -> bool,
) -> Result<Vec<TelemetryPoint>, DbErr> {
    let drone = column::<FixedSizeBinaryArray>(batch, 0)?;
    let org = column::<FixedSizeBinaryArray>(batch, 1)?;
    let ts = column::<TimestampMicrosecondArray>(batch, 2)?;
    let f = |i| column::<Float64Array>(batch, i);
    let (lat, lon, alt, speed, heading, battery) = (f(3)?, f(4)?, f(5)?, f(6)?, f(7)?, f(8)?);
    let (vertical, link) = (f(9)?, f(11)?);
    let sats = column::<Int16Array>(batch, 10)?;
    let plan = column::<FixedSizeBinaryArray>(batch, 12)?;
    let optional = |a: &Float64Array, i: usize| (!a.is_null(i)).then(|| a.value(i));
    let mut out = Vec::new();
    for i in 0..batch.num_rows() {
        let p = TelemetryPoint {
            drone_id: DroneId::from_uuid(uuid_at(drone, i)?),
            org_id: OrgId::from_uuid(uuid_at(org, i)?),
            ts: DateTime::from_timestamp_micros(ts.value(i))
                .ok_or_else(|| err("decoding", "timestamp out of range"))?,
            lat: lat.value(i),
            lon: lon.value(i),
            alt_m: alt.value(i),
            speed_mps: speed.value(i),
            heading_deg: heading.value(i),
            battery_pct: battery.value(i),
            vertical_speed_mps: optional(vertical, i),
            satellites: (!sats.is_null(i)).then(|| u16::try_from(sats.value(i)).unwrap_or(0)),
            link_quality_pct: optional(link, i),
            flight_plan_id: if plan.is_null(i) {
                None
            } else {
                Some(FlightPlanId::from_uuid(uuid_at(plan, i)?))
            },
        };
        if keep(&p) {
            out.push(p);
        }
    }
    Ok(out)
}

/// A manifest row.
#[derive(Debug, Clone)]
pub struct ArchivedDay {
    pub day: NaiveDate,
    pub location: String,
    pub rows: u64,
    pub drones: u64,
    pub bytes: u64,
    pub sha256: String,
}

/// What archiving one day did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DayOutcome {
    /// Written, verified, entered in the manifest and dropped from `telemetry`.
    Archived { rows: u64, bytes: u64 },
    /// Already in the manifest (any raw rows left by an interrupted run were dropped).
    AlreadyArchived,
    /// The day has no rows on this shard.
    Empty,
}

async fn manifest_has(
    conn: &DatabaseConnection,
    dialect: Dialect,
    day: NaiveDate,
) -> Result<bool, DbErr> {
    let mut q = Query::new(
        dialect,
        "SELECT count(*) FROM telemetry_archive WHERE day = ",
    );
    q.bind_ts(day_start(day));
    let n: i64 = match conn.query_one(q.build()).await? {
        Some(row) => row.try_get_by_index(0)?,
        None => 0,
    };
    Ok(n > 0)
}

/// The end of the newest archived day on this shard: rows before it are read from the
/// archive.
pub(super) async fn archived_until(
    conn: &DatabaseConnection,
) -> Result<Option<DateTime<Utc>>, DbErr> {
    let dialect = Dialect::of(conn)?;
    let q = Query::new(dialect, "SELECT max(day) FROM telemetry_archive");
    let newest = match conn.query_one(q.build()).await? {
        Some(row) => dialect.read_optional_ts(&row, 0)?,
        None => None,
    };
    Ok(newest.map(|d| d + Duration::days(1)))
}

/// The manifest, oldest day first.
pub(super) async fn manifest(conn: &DatabaseConnection) -> Result<Vec<ArchivedDay>, DbErr> {
    let dialect = Dialect::of(conn)?;
    let q = Query::new(
        dialect,
        "SELECT day, location, rows, drones, bytes, sha256 FROM telemetry_archive ORDER BY day",
    );
    let mut days = Vec::new();
    for row in conn.query_all(q.build()).await? {
        let count = |i| -> Result<u64, DbErr> {
            Ok(u64::try_from(row.try_get_by_index::<i64>(i)?).unwrap_or(0))
        };
        days.push(ArchivedDay {
            day: dialect.read_ts(&row, 0)?.date_naive(),
            location: row.try_get_by_index(1)?,
            rows: count(2)?,
            drones: count(3)?,
            bytes: count(4)?,
            sha256: row.try_get_by_index(5)?,
        });
    }
    Ok(days)
}

/// Rows of `[from, to)`, key order, after `after` (keyset pagination).
async fn page(
    conn: &DatabaseConnection,
    dialect: Dialect,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    after: Option<(DroneId, DateTime<Utc>)>,
) -> Result<Vec<TelemetryPoint>, DbErr> {
    let mut q = Query::new(dialect, "SELECT ");
    q.sql(COLUMNS)
        .sql(" FROM telemetry WHERE ts >= ")
        .bind_ts(from)
        .sql(" AND ts < ")
        .bind_ts(to);
    if let Some((drone, ts)) = after {
        q.sql(" AND (drone_id > ")
            .bind(drone.as_uuid())
            .sql(" OR (drone_id = ")
            .bind(drone.as_uuid())
            .sql(" AND ts > ")
            .bind_ts(ts)
            .sql("))");
    }
    q.sql(" ORDER BY drone_id, ts LIMIT ").bind(PAGE_ROWS);
    query_points(conn, dialect, q).await
}

/// Archives one day of one shard (see the module documentation); `progress` is told the
/// rows written so far.
pub(super) async fn archive_day(
    conn: &DatabaseConnection,
    archive: &Archive,
    shard: usize,
    day: NaiveDate,
    progress: &(dyn Fn(u64) + Send + Sync),
) -> Result<DayOutcome, DbErr> {
    let dialect = Dialect::of(conn)?;
    let (from, to) = (day_start(day), day_start(day) + Duration::days(1));
    if manifest_has(conn, dialect, day).await? {
        drop_raw(conn, dialect, day).await?;
        return Ok(DayOutcome::AlreadyArchived);
    }
    let path = location(shard, day);
    let schema = schema();
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(
            ZstdLevel::try_new(3).map_err(|e| err("zstd", e))?,
        ))
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .build();
    let writer = object_store::buffered::BufWriter::new(archive.store.clone(), path.clone());
    let mut writer = AsyncArrowWriter::try_new(writer, schema.clone(), Some(props))
        .map_err(|e| err("starting a file", e))?;
    let (mut rows, mut drones) = (0u64, 0u64);
    let (mut first_ts, mut last_ts) = (None::<DateTime<Utc>>, None::<DateTime<Utc>>);
    let mut after = None;
    let mut last_drone = None;
    loop {
        let points = page(conn, dialect, from, to, after).await?;
        let Some(last) = points.last() else { break };
        after = Some((last.drone_id, last.ts));
        for p in &points {
            if last_drone != Some(p.drone_id) {
                drones += 1;
                last_drone = Some(p.drone_id);
            }
            first_ts = Some(first_ts.map_or(p.ts, |t| t.min(p.ts)));
            last_ts = Some(last_ts.map_or(p.ts, |t| t.max(p.ts)));
        }
        writer
            .write(&to_batch(&schema, &points)?)
            .await
            .map_err(|e| err("writing", e))?;
        rows += points.len() as u64;
        progress(rows);
        if (points.len() as i64) < PAGE_ROWS {
            break;
        }
    }
    if rows == 0 {
        // Nothing was uploaded: an unfinished multipart upload is aborted when dropped.
        drop(writer);
        return Ok(DayOutcome::Empty);
    }
    writer
        .close()
        .await
        .map_err(|e| err("finishing the file", e))?;
    let (read_back, bytes, sha256) = verify(archive, &path).await?;
    if read_back != rows {
        return Err(err(
            "verifying",
            format!(
                "{path} holds {read_back} rows, {rows} were written; the day stays in the database"
            ),
        ));
    }
    let mut q = Query::new(
        dialect,
        "INSERT INTO telemetry_archive (day, location, rows, drones, bytes, sha256, first_ts, \
         last_ts, archived_at) VALUES (",
    );
    q.bind_ts(from)
        .sql(", ")
        .bind(path.to_string())
        .sql(", ")
        .bind(rows as i64)
        .sql(", ")
        .bind(drones as i64)
        .sql(", ")
        .bind(bytes as i64)
        .sql(", ")
        .bind(sha256)
        .sql(", ")
        .bind_ts(first_ts.unwrap_or(from))
        .sql(", ")
        .bind_ts(last_ts.unwrap_or(from))
        .sql(", ")
        .bind_ts(Utc::now())
        .sql(")");
    conn.execute(q.build()).await?;
    drop_raw(conn, dialect, day).await?;
    Ok(DayOutcome::Archived { rows, bytes })
}

/// Reads the whole file back: its rows, its size and its SHA-256.
async fn verify(archive: &Archive, path: &Path) -> Result<(u64, u64, String), DbErr> {
    let mut hash = Sha256::new();
    let mut bytes = 0u64;
    let mut body = archive
        .store
        .get(path)
        .await
        .map_err(|e| err("reading back", e))?
        .into_stream();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| err("reading back", e))?;
        bytes += chunk.len() as u64;
        hash.update(&chunk);
    }
    let reader = FileReader::new(archive, path, bytes);
    let mut stream = ParquetRecordBatchStreamBuilder::new(reader)
        .await
        .map_err(|e| err("reading back", e))?
        .build()
        .map_err(|e| err("reading back", e))?;
    let mut rows = 0u64;
    while let Some(batch) = stream.next().await {
        rows += batch.map_err(|e| err("reading back", e))?.num_rows() as u64;
    }
    Ok((rows, bytes, hex::encode(hash.finalize())))
}

/// Removes an archived day's raw rows: its partition on native PostgreSQL partitioning (and
/// any of its rows in the default partition), its chunk on TimescaleDB, its rows elsewhere.
async fn drop_raw(
    conn: &DatabaseConnection,
    dialect: Dialect,
    day: NaiveDate,
) -> Result<(), DbErr> {
    let (from, to) = (day_start(day), day_start(day) + Duration::days(1));
    if dialect == Dialect::Postgres {
        super::maintain::drop_day(conn, day).await?;
    }
    let mut q = Query::new(dialect, "DELETE FROM telemetry WHERE ts >= ");
    q.bind_ts(from).sql(" AND ts < ").bind_ts(to);
    conn.execute(q.build()).await?;
    Ok(())
}

/// Deletes archived days that ended before `cutoff`: the manifest row first, then the file
/// (a file left by a crash in between is never read, and written over if the day comes
/// back).
pub(super) async fn expire(
    conn: &DatabaseConnection,
    archive: &Archive,
    cutoff: DateTime<Utc>,
) -> Result<u64, DbErr> {
    let dialect = Dialect::of(conn)?;
    let mut expired = 0;
    for day in manifest(conn).await? {
        if day_start(day.day) + Duration::days(1) > cutoff {
            break;
        }
        let mut q = Query::new(dialect, "DELETE FROM telemetry_archive WHERE day = ");
        q.bind_ts(day_start(day.day));
        conn.execute(q.build()).await?;
        match archive
            .store
            .delete(&Path::from(day.location.as_str()))
            .await
        {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => {
                tracing::warn!(error = %e, file = %day.location, "could not delete an expired archive file")
            }
        }
        expired += 1;
    }
    Ok(expired)
}

/// One drone's archived points in `range` (all before [`archived_until`]), in the order of
/// `direction` and after its cursor, at most `limit`. Each day's file is read only in the
/// row groups whose `drone_id` statistics include the drone.
pub(super) async fn history(
    conn: &DatabaseConnection,
    archive: &Archive,
    org: OrgId,
    drone: DroneId,
    range: TimeRange,
    direction: Direction,
    limit: u32,
) -> Result<Vec<TelemetryPoint>, DbErr> {
    let mut days: Vec<ArchivedDay> = manifest(conn)
        .await?
        .into_iter()
        .filter(|d| {
            let start = day_start(d.day);
            start < range.to && start + Duration::days(1) > range.from
        })
        .collect();
    if matches!(direction, Direction::Descending(_)) {
        days.reverse();
    }
    let id = *drone.as_uuid().as_bytes();
    let mut out: Vec<TelemetryPoint> = Vec::new();
    for day in days {
        if out.len() >= limit as usize {
            break;
        }
        let path = Path::from(day.location.as_str());
        let reader = FileReader::new(archive, &path, day.bytes);
        let builder = ParquetRecordBatchStreamBuilder::new(reader)
            .await
            .map_err(|e| err(&format!("reading {path}"), e))?;
        let groups: Vec<usize> = builder
            .metadata()
            .row_groups()
            .iter()
            .enumerate()
            .filter(|(_, rg)| match rg.column(0).statistics() {
                Some(s) => match (s.min_bytes_opt(), s.max_bytes_opt()) {
                    (Some(min), Some(max)) => min <= &id[..] && &id[..] <= max,
                    _ => true,
                },
                None => true,
            })
            .map(|(i, _)| i)
            .collect();
        let mut stream = builder
            .with_row_groups(groups)
            .build()
            .map_err(|e| err(&format!("reading {path}"), e))?;
        let mut points = Vec::new();
        while let Some(batch) = stream.next().await {
            let batch = batch.map_err(|e| err(&format!("reading {path}"), e))?;
            points.extend(from_batch(&batch, |p| {
                p.drone_id == drone
                    && p.org_id == org
                    && p.ts >= range.from
                    && p.ts < range.to
                    && match direction {
                        Direction::Descending(Some(before)) => p.ts < before,
                        Direction::Ascending(Some(after)) => p.ts > after,
                        _ => true,
                    }
            })?);
        }
        points.sort_by_key(|p| p.ts);
        if matches!(direction, Direction::Descending(_)) {
            points.reverse();
        }
        out.extend(points);
    }
    out.truncate(limit as usize);
    Ok(out)
}
