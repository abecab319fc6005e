use chrono::{DateTime, Utc};
use domain::ports::ShardOverview;
use domain::shard::{ShardRows, SlotMap, SlotMove};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The installation's shards and its latest slot moves.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ShardsResponse {
    /// The slot map every process routes by; one version more after each move.
    #[schema(example = 2)]
    pub slot_map_version: i64,
    #[schema(example = "0-511:0,512-767:2,768-1023:1")]
    pub slot_map: String,
    pub shards: Vec<ShardResponse>,
    /// The latest 20 moves, newest first.
    pub moves: Vec<SlotMoveResponse>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ShardResponse {
    #[schema(example = 2)]
    pub shard: u16,
    /// The slot ranges it owns, `first-last`.
    #[schema(example = json!(["512-767"]))]
    pub slots: Vec<String>,
    #[schema(example = 256)]
    pub slot_count: usize,
    /// Drones stored on it; `null` when it could not be read.
    pub drones: Option<i64>,
    /// Telemetry rows, as PostgreSQL estimates them (`null` on SQLite).
    pub points_estimate: Option<i64>,
    /// Why it could not be read.
    pub error: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SlotMoveResponse {
    pub id: i64,
    #[schema(example = "512-767")]
    pub slots: String,
    pub source: u16,
    pub target: u16,
    /// `copying`, `cutover`, `switched` (the map moved; the source's copies are being
    /// deleted) or `done`.
    #[schema(example = "done")]
    pub state: String,
    pub drones_total: u64,
    pub drones_copied: u64,
    /// Rows written to the target, all tables.
    pub rows_copied: u64,
    /// Changes made during the copy and caught up.
    pub changes: u64,
    /// Rows deleted from the source after the switch.
    pub deleted: u64,
    /// How long writes to the source waited at the cut-over.
    pub fence_ms: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

impl From<ShardOverview> for ShardsResponse {
    fn from(o: ShardOverview) -> Self {
        Self {
            slot_map_version: o.map.version(),
            slot_map: o.map.to_spec(),
            shards: o.shards.into_iter().map(|s| shard(&o.map, s)).collect(),
            moves: o.moves.into_iter().map(SlotMoveResponse::from).collect(),
        }
    }
}

fn shard(map: &SlotMap, rows: ShardRows) -> ShardResponse {
    let ranges = map.ranges_of(rows.shard);
    ShardResponse {
        shard: rows.shard.0,
        slot_count: ranges.iter().map(|r| usize::from(r.count())).sum(),
        slots: ranges.iter().map(ToString::to_string).collect(),
        drones: rows.drones,
        points_estimate: rows.points_estimate,
        error: rows.error,
    }
}

impl From<SlotMove> for SlotMoveResponse {
    fn from(m: SlotMove) -> Self {
        Self {
            id: m.id,
            slots: m.range.to_string(),
            source: m.source.0,
            target: m.target.0,
            state: m.state,
            drones_total: m.progress.drones_total,
            drones_copied: m.progress.drones_copied,
            rows_copied: m.progress.rows_copied(),
            changes: m.progress.changes,
            deleted: m.progress.deleted,
            fence_ms: m.fence_ms,
            created_at: m.created_at,
            updated_at: m.updated_at,
            finished_at: m.finished_at,
        }
    }
}
