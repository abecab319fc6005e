//! Routing of drones to shards.
//!
//! `slot = fnv1a_64(drone_id bytes) mod 1024`. The hash is FNV-1a (64-bit, offset basis
//! `0xcbf29ce484222325`, prime `0x100000001b3`) over the 16 bytes of the UUID in network
//! order. It is fixed forever: changing it would move every drone. A [`SlotMap`] assigns
//! ranges of slots to physical shards; growing a fleet moves slot ranges, never rehashes.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::ids::DroneId;

pub const SLOT_COUNT: u16 = 1024;

/// A slot in `0..1024`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Slot(u16);

impl Slot {
    pub fn new(raw: u16) -> Option<Self> {
        (raw < SLOT_COUNT).then_some(Self(raw))
    }

    pub const fn get(self) -> u16 {
        self.0
    }
}

impl fmt::Display for Slot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The fixed hash behind [`slot_of`].
pub fn fnv1a_64(bytes: &[u8]) -> u64 {
    const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    bytes.iter().fold(OFFSET_BASIS, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(PRIME)
    })
}

pub fn slot_of(drone: DroneId) -> Slot {
    Slot((fnv1a_64(drone.as_uuid().as_bytes()) % u64::from(SLOT_COUNT)) as u16)
}

/// Index of a physical shard in the configured list of shard databases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ShardId(pub u16);

impl fmt::Display for ShardId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SlotMapError {
    #[error("slot map is empty")]
    Empty,
    #[error("`{0}` is not a `first-last:shard` entry")]
    Syntax(String),
    #[error("slot {0} is outside 0..1023")]
    SlotOutOfRange(u32),
    #[error("slot {0} is assigned twice")]
    Overlap(u16),
    #[error("slot {0} is not assigned to any shard")]
    Gap(u16),
    #[error("shard {shard} is named but only {shards} shard(s) are configured")]
    UnknownShard { shard: u16, shards: u16 },
    #[error("shard {0} is configured but owns no slot")]
    IdleShard(u16),
}

/// Which shard owns each of the 1024 slots. Always total: every slot has exactly one shard.
///
/// A map carries a version: 1 as configured, one more after each slot move recorded in the
/// catalog. Shards may be configured beyond the ones that own slots (a shard just added,
/// waiting for a move); `shard_count` counts every configured shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotMap {
    owner: Vec<ShardId>,
    shards: u16,
    version: i64,
}

/// An inclusive range of slots, `first..=last`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SlotRange {
    pub first: u16,
    pub last: u16,
}

impl SlotRange {
    /// Parses `256-383` (or one slot, `300`).
    pub fn parse(text: &str) -> Result<Self, SlotMapError> {
        let syntax = || SlotMapError::Syntax(text.to_owned());
        let (first, last) = text.split_once('-').unwrap_or((text, text));
        let first: u32 = first.trim().parse().map_err(|_| syntax())?;
        let last: u32 = last.trim().parse().map_err(|_| syntax())?;
        if last < first {
            return Err(syntax());
        }
        for slot in [first, last] {
            if slot >= u32::from(SLOT_COUNT) {
                return Err(SlotMapError::SlotOutOfRange(slot));
            }
        }
        Ok(Self {
            first: first as u16,
            last: last as u16,
        })
    }

    /// How many slots the range holds (at least one).
    pub fn count(self) -> u16 {
        self.last - self.first + 1
    }

    pub fn contains(self, slot: Slot) -> bool {
        (self.first..=self.last).contains(&slot.get())
    }
}

impl fmt::Display for SlotRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.first, self.last)
    }
}

/// One step of a rebalance: `range` goes from shard `from` to shard `to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlannedMove {
    pub range: SlotRange,
    pub from: ShardId,
    pub to: ShardId,
}

impl SlotMap {
    /// Splits the slots into `shards` contiguous ranges of (nearly) equal size.
    pub fn even(shards: u16) -> Result<Self, SlotMapError> {
        if shards == 0 {
            return Err(SlotMapError::Empty);
        }
        let owner = (0..SLOT_COUNT)
            .map(|slot| {
                ShardId((u32::from(slot) * u32::from(shards) / u32::from(SLOT_COUNT)) as u16)
            })
            .collect();
        Ok(Self {
            owner,
            shards,
            version: 1,
        })
    }

    /// Parses `"0-511:0,512-1023:1"`: inclusive slot ranges and the shard index owning each.
    /// The ranges must cover every slot exactly once and name only configured shards.
    pub fn parse(spec: &str, shards: u16) -> Result<Self, SlotMapError> {
        let owner = Self::owners(spec, shards)?;
        if let Some(idle) = (0..shards).find(|s| !owner.contains(&ShardId(*s))) {
            return Err(SlotMapError::IdleShard(idle));
        }
        Ok(Self {
            owner,
            shards,
            version: 1,
        })
    }

    /// Each slot's owner as `spec` assigns it (shards below `shards`), without requiring every
    /// shard to own a slot.
    fn owners(spec: &str, shards: u16) -> Result<Vec<ShardId>, SlotMapError> {
        let mut owner: Vec<Option<ShardId>> = vec![None; usize::from(SLOT_COUNT)];
        for entry in spec.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let syntax = || SlotMapError::Syntax(entry.to_owned());
            let (range, shard) = entry.split_once(':').ok_or_else(syntax)?;
            let (first, last) = range.split_once('-').unwrap_or((range, range));
            let first: u32 = first.trim().parse().map_err(|_| syntax())?;
            let last: u32 = last.trim().parse().map_err(|_| syntax())?;
            let shard: u16 = shard.trim().parse().map_err(|_| syntax())?;
            if shard >= shards {
                return Err(SlotMapError::UnknownShard { shard, shards });
            }
            if last < first {
                return Err(syntax());
            }
            for slot in first..=last {
                let cell = owner
                    .get_mut(slot as usize)
                    .ok_or(SlotMapError::SlotOutOfRange(slot))?;
                if cell.replace(ShardId(shard)).is_some() {
                    return Err(SlotMapError::Overlap(slot as u16));
                }
            }
        }
        owner
            .into_iter()
            .enumerate()
            .map(|(slot, shard)| shard.ok_or(SlotMapError::Gap(slot as u16)))
            .collect()
    }

    /// A map recorded in the catalog after slot moves: like [`SlotMap::parse`], but shards
    /// that own no slot (added, or emptied by a move) are allowed.
    pub fn recorded(spec: &str, shards: u16, version: i64) -> Result<Self, SlotMapError> {
        let owner = Self::owners(spec, shards)?;
        Ok(Self {
            owner,
            shards,
            version,
        })
    }

    /// The map's version: 1 as configured, one more after each move.
    pub fn version(&self) -> i64 {
        self.version
    }

    /// This map with `range` owned by `to` (counted among the shards), one version later.
    pub fn with_move(&self, range: SlotRange, to: ShardId) -> Self {
        let mut next = self.clone();
        for slot in range.first..=range.last {
            next.owner[usize::from(slot)] = to;
        }
        next.shards = next.shards.max(to.0 + 1);
        next.version += 1;
        next
    }

    /// The shards owning slots of `range`, each with the part of it they own, in slot order.
    pub fn owners_within(&self, range: SlotRange) -> Vec<(SlotRange, ShardId)> {
        let mut parts: Vec<(SlotRange, ShardId)> = Vec::new();
        for slot in range.first..=range.last {
            let shard = self.owner[usize::from(slot)];
            match parts.last_mut() {
                Some((part, owner)) if *owner == shard => part.last = slot,
                _ => parts.push((
                    SlotRange {
                        first: slot,
                        last: slot,
                    },
                    shard,
                )),
            }
        }
        parts
    }

    /// The ranges of slots `shard` owns, in slot order.
    pub fn ranges_of(&self, shard: ShardId) -> Vec<SlotRange> {
        self.owners_within(SlotRange {
            first: 0,
            last: SLOT_COUNT - 1,
        })
        .into_iter()
        .filter(|(_, owner)| *owner == shard)
        .map(|(range, _)| range)
        .collect()
    }

    /// How many slots `shard` owns.
    pub fn slots_of(&self, shard: ShardId) -> usize {
        self.owner.iter().filter(|s| **s == shard).count()
    }

    /// The moves that turn this map into an even spread over `shards` shards: each slot
    /// whose owner differs goes to its owner in [`SlotMap::even`], grouped into ranges
    /// with one source and one target.
    pub fn rebalance(&self, shards: u16) -> Result<Vec<PlannedMove>, SlotMapError> {
        let target = Self::even(shards)?;
        let mut moves: Vec<PlannedMove> = Vec::new();
        for slot in 0..SLOT_COUNT {
            let (from, to) = (
                self.owner[usize::from(slot)],
                target.owner[usize::from(slot)],
            );
            if from == to {
                continue;
            }
            match moves.last_mut() {
                Some(m) if m.from == from && m.to == to && m.range.last + 1 == slot => {
                    m.range.last = slot;
                }
                _ => moves.push(PlannedMove {
                    range: SlotRange {
                        first: slot,
                        last: slot,
                    },
                    from,
                    to,
                }),
            }
        }
        Ok(moves)
    }

    pub fn shard_count(&self) -> u16 {
        self.shards
    }

    pub fn shard_of_slot(&self, slot: Slot) -> ShardId {
        self.owner[usize::from(slot.get())]
    }

    pub fn shard_of(&self, drone: DroneId) -> ShardId {
        self.shard_of_slot(slot_of(drone))
    }

    /// The canonical textual form, accepted by [`SlotMap::parse`].
    pub fn to_spec(&self) -> String {
        let mut out = Vec::new();
        let mut start = 0usize;
        for slot in 1..=self.owner.len() {
            if slot == self.owner.len() || self.owner[slot] != self.owner[start] {
                out.push(format!("{}-{}:{}", start, slot - 1, self.owner[start]));
                start = slot;
            }
        }
        out.join(",")
    }
}

/// What a slot move has done so far, kept in the catalog.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MoveProgress {
    /// Drones of the range when the copy started.
    pub drones_total: u64,
    pub drones_copied: u64,
    /// The last drone the chunked copy finished: a resumed copy goes on after it.
    pub last_drone: Option<Uuid>,
    /// Rows written to the target, per table (the copy and the catch-up).
    pub rows: BTreeMap<String, u64>,
    /// Logged changes copied after the first copy of their drone.
    pub changes: u64,
    /// Rows deleted from the source after the switch.
    pub deleted: u64,
    /// Time spent in the chunked copy and the catch-up before the fence (summed over
    /// resumed runs).
    #[serde(default)]
    pub copy_ms: u64,
}

impl MoveProgress {
    pub fn rows_copied(&self) -> u64 {
        self.rows.values().sum()
    }
}

/// One move, as the catalog records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotMove {
    pub id: i64,
    pub range: SlotRange,
    pub source: ShardId,
    pub target: ShardId,
    /// `copying`, `cutover`, `switched` or `done`.
    pub state: String,
    pub progress: MoveProgress,
    /// How long writes to the source waited at the cut-over.
    pub fence_ms: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// Rows of one shard, for `GET /admin/shards`.
#[derive(Debug, Clone, PartialEq)]
pub struct ShardRows {
    pub shard: ShardId,
    pub drones: Option<i64>,
    /// PostgreSQL's estimate (`reltuples`), cheap on big tables.
    pub points_estimate: Option<i64>,
    pub error: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    #[test]
    fn the_hash_is_the_documented_fnv1a() {
        // Reference values of FNV-1a 64.
        assert_eq!(fnv1a_64(b""), 0xcbf29ce484222325);
        assert_eq!(fnv1a_64(b"a"), 0xaf63dc4c8601ec8c);
        let id = DroneId::from_uuid(Uuid::nil());
        assert_eq!(slot_of(id).get() as u64, fnv1a_64(&[0u8; 16]) % 1024);
    }

    #[test]
    fn slots_spread_evenly_over_shards() {
        let map = SlotMap::even(4).unwrap();
        let mut counts = [0u32; 4];
        for _ in 0..40_000 {
            counts[map.shard_of(DroneId::new()).0 as usize] += 1;
        }
        for c in counts {
            assert!((9_000..11_000).contains(&c), "uneven spread: {counts:?}");
        }
    }

    #[test]
    fn a_move_changes_only_its_range_and_bumps_the_version() {
        let map = SlotMap::even(2).unwrap();
        let range = SlotRange::parse("256-383").unwrap();
        let moved = map.with_move(range, ShardId(2));
        assert_eq!(moved.to_spec(), "0-255:0,256-383:2,384-511:0,512-1023:1");
        assert_eq!((moved.shard_count(), moved.version()), (3, 2));
        assert_eq!(
            SlotMap::recorded(&moved.to_spec(), 3, 2).unwrap(),
            moved,
            "a recorded map reads back"
        );
        // A shard added and owning nothing yet is allowed in a recorded map only.
        assert!(SlotMap::recorded(&map.to_spec(), 3, 1).is_ok());
        assert_eq!(
            SlotMap::recorded("0-1023:3", 3, 1),
            Err(SlotMapError::UnknownShard {
                shard: 3,
                shards: 3
            })
        );
        assert_eq!(
            moved.owners_within(SlotRange::parse("200-400").unwrap()),
            vec![
                (
                    SlotRange {
                        first: 200,
                        last: 255
                    },
                    ShardId(0)
                ),
                (
                    SlotRange {
                        first: 256,
                        last: 383
                    },
                    ShardId(2)
                ),
                (
                    SlotRange {
                        first: 384,
                        last: 400
                    },
                    ShardId(0)
                ),
            ]
        );
    }

    #[test]
    fn a_rebalance_plans_the_moves_to_an_even_spread() {
        let map = SlotMap::even(2).unwrap();
        let moves = map.rebalance(3).unwrap();
        let mut after = map.clone();
        for m in &moves {
            assert_eq!(after.owners_within(m.range), vec![(m.range, m.from)]);
            after = after.with_move(m.range, m.to);
        }
        assert_eq!(after.to_spec(), SlotMap::even(3).unwrap().to_spec());
        assert_eq!(moves.len(), 2, "{moves:?}");
        assert!(SlotMap::even(3).unwrap().rebalance(3).unwrap().is_empty());
        assert!(matches!(
            SlotRange::parse("300-200"),
            Err(SlotMapError::Syntax(_))
        ));
        assert_eq!(
            SlotRange::parse("0-1024"),
            Err(SlotMapError::SlotOutOfRange(1024))
        );
    }

    #[test]
    fn an_even_map_round_trips_through_its_spec() {
        let map = SlotMap::even(3).unwrap();
        assert_eq!(map.to_spec(), "0-341:0,342-682:1,683-1023:2");
        assert_eq!(SlotMap::parse(&map.to_spec(), 3).unwrap(), map);
    }

    #[test]
    fn a_slot_map_must_cover_every_slot_once() {
        assert_eq!(SlotMap::parse("0-511:0", 1), Err(SlotMapError::Gap(512)));
        assert_eq!(
            SlotMap::parse("0-600:0,600-1023:1", 2),
            Err(SlotMapError::Overlap(600))
        );
        assert_eq!(
            SlotMap::parse("0-1023:1", 1),
            Err(SlotMapError::UnknownShard {
                shard: 1,
                shards: 1
            })
        );
        assert_eq!(
            SlotMap::parse("0-1023:0", 2),
            Err(SlotMapError::IdleShard(1))
        );
        assert_eq!(
            SlotMap::parse("0-2000:0", 1),
            Err(SlotMapError::SlotOutOfRange(1024))
        );
        assert!(matches!(
            SlotMap::parse("zero:0", 1),
            Err(SlotMapError::Syntax(_))
        ));
        assert_eq!(SlotMap::even(0), Err(SlotMapError::Empty));
    }
}
