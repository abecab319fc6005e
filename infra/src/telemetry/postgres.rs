//! The PostgreSQL fast path: `COPY telemetry FROM STDIN (FORMAT binary)`, encoded by hand.
//!
//! Binary COPY skips text parsing on the server and needs no bind parameters, so a batch
//! of any size is one round trip. It cannot skip rows that already exist: a replayed point
//! makes the whole COPY fail with a unique violation, and the caller then falls back to
//! `INSERT … ON CONFLICT DO NOTHING`.

use domain::shard::ShardId;
use domain::telemetry::TelemetryPoint;
use sea_orm::sqlx::postgres::PgConnection;
use sea_orm::sqlx::{self, PgPool};
use sea_orm::{ConnectionTrait, DatabaseBackend};
use uuid::Uuid;

use super::sql::{satellites_to_db, COLUMNS, COLUMN_COUNT};
use crate::store::Store;

/// Signature, flags (no OIDs) and an empty header extension.
const HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";
const TRAILER: i16 = -1;
/// 2000-01-01T00:00:00Z, PostgreSQL's timestamp epoch, in Unix microseconds.
const PG_EPOCH_UNIX_MICROS: i64 = 946_684_800_000_000;
/// The encoded size of a row with every optional field present.
const MAX_ROW_BYTES: usize = 2 + COLUMN_COUNT * 4 + 3 * 16 + 8 + 9 * 8 + 2;

/// Copies `points` into the shard's `telemetry` table with one binary `COPY` and returns
/// how many rows it stored. All or nothing: if any point's `(drone_id, ts)` is already
/// stored, or appears twice in `points`, nothing is stored and the error is a unique
/// violation. This is the raw bulk load without deduplication or the `drone_latest`
/// update, public so that a benchmark can time it against the same rows
/// `TelemetryStore::write_points` writes.
pub async fn copy_points(pool: &PgPool, points: &[TelemetryPoint]) -> Result<u64, sqlx::Error> {
    if points.is_empty() {
        return Ok(0);
    }
    let mut conn = pool.acquire().await?;
    copy_on(&mut conn, points).await
}

/// [`copy_points`] on a connection the caller acquired (so that it can tell a shard it
/// cannot reach from a COPY that failed).
pub(super) async fn copy_on(
    conn: &mut PgConnection,
    points: &[TelemetryPoint],
) -> Result<u64, sqlx::Error> {
    let data = encode(points);
    let statement = format!("COPY telemetry ({COLUMNS}) FROM STDIN (FORMAT binary)");
    let mut copy = conn.copy_in_raw(&statement).await?;
    let sent = copy.send(data).await.map(|_| ());
    if let Err(err) = sent {
        // The server stays in COPY mode until told otherwise; the send error is the one
        // worth reporting.
        let _ = copy.abort("sending COPY data failed").await;
        return Err(err);
    }
    copy.finish().await
}

impl Store {
    /// The sqlx pool of a PostgreSQL shard (`None` for SQLite or an unknown shard), for
    /// benchmarks that time [`copy_points`] on their own.
    pub fn postgres_shard_pool(&self, shard: ShardId) -> Option<&PgPool> {
        let (_, db) = self.shard(shard).ok()?;
        (db.get_database_backend() == DatabaseBackend::Postgres)
            .then(|| db.get_postgres_connection_pool())
    }
}

/// The binary COPY stream of `points`: header, one tuple per point, trailer.
pub(super) fn encode(points: &[TelemetryPoint]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER.len() + points.len() * MAX_ROW_BYTES + 2);
    out.extend_from_slice(HEADER);
    for p in points {
        out.extend_from_slice(&(COLUMN_COUNT as i16).to_be_bytes());
        put_uuid(&mut out, p.drone_id.as_uuid());
        put_uuid(&mut out, p.org_id.as_uuid());
        put_field(
            &mut out,
            &(p.ts.timestamp_micros() - PG_EPOCH_UNIX_MICROS).to_be_bytes(),
        );
        for v in [
            p.lat,
            p.lon,
            p.alt_m,
            p.speed_mps,
            p.heading_deg,
            p.battery_pct,
        ] {
            put_field(&mut out, &v.to_be_bytes());
        }
        put_optional(&mut out, p.vertical_speed_mps.map(f64::to_be_bytes));
        put_optional(
            &mut out,
            p.satellites.map(|n| satellites_to_db(n).to_be_bytes()),
        );
        put_optional(&mut out, p.link_quality_pct.map(f64::to_be_bytes));
        put_optional(
            &mut out,
            p.flight_plan_id.map(|id| *id.as_uuid().as_bytes()),
        );
    }
    out.extend_from_slice(&TRAILER.to_be_bytes());
    out
}

fn put_field(out: &mut Vec<u8>, bytes: &[u8]) {
    // Every field here is 2 to 16 bytes long.
    out.extend_from_slice(&(bytes.len() as i32).to_be_bytes());
    out.extend_from_slice(bytes);
}

fn put_uuid(out: &mut Vec<u8>, id: Uuid) {
    put_field(out, id.as_bytes());
}

fn put_optional<const N: usize>(out: &mut Vec<u8>, bytes: Option<[u8; N]>) {
    match bytes {
        Some(bytes) => put_field(out, &bytes),
        None => out.extend_from_slice(&(-1i32).to_be_bytes()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use chrono::DateTime;
    use domain::{DroneId, OrgId};

    fn point() -> TelemetryPoint {
        TelemetryPoint {
            org_id: OrgId::new(),
            drone_id: DroneId::new(),
            ts: DateTime::parse_from_rfc3339("2000-01-01T00:00:01.000002Z")
                .unwrap()
                .to_utc(),
            lat: 47.5,
            lon: 8.25,
            alt_m: 120.0,
            speed_mps: 12.5,
            heading_deg: 270.0,
            battery_pct: 81.0,
            vertical_speed_mps: None,
            satellites: Some(14),
            link_quality_pct: None,
            flight_plan_id: None,
        }
    }

    #[test]
    fn a_copy_stream_has_header_tuples_and_trailer() {
        let p = point();
        let data = encode(&[p, p]);
        assert!(data.starts_with(b"PGCOPY\n\xff\r\n\0"));
        assert_eq!(&data[11..19], &[0; 8]);
        assert_eq!(&data[data.len() - 2..], &[0xff, 0xff]);
        // Per tuple: count, 2 uuids, ts, 6 doubles, int2, and 3 NULLs.
        let tuple = 2 + 2 * (4 + 16) + (4 + 8) + 6 * (4 + 8) + (4 + 2) + 3 * 4;
        assert_eq!(data.len(), 19 + 2 * tuple + 2);
        assert!(tuple <= MAX_ROW_BYTES);
    }

    #[test]
    fn timestamps_count_microseconds_from_the_year_2000() {
        let p = point();
        let data = encode(&[p]);
        let ts_field = 19 + 2 + 2 * (4 + 16);
        assert_eq!(&data[ts_field..ts_field + 4], &8i32.to_be_bytes());
        assert_eq!(
            &data[ts_field + 4..ts_field + 12],
            &1_000_002i64.to_be_bytes()
        );
        let vertical_speed = ts_field + 12 + 6 * 12;
        assert_eq!(
            &data[vertical_speed..vertical_speed + 4],
            &(-1i32).to_be_bytes()
        );
        let sats = vertical_speed + 4;
        assert_eq!(&data[sats..sats + 4], &2i32.to_be_bytes());
        assert_eq!(&data[sats + 4..sats + 6], &14i16.to_be_bytes());
    }
}
