//! The consumer group's lag as a whole — every partition of the telemetry topic, whoever
//! holds it — so that a partition nobody consumes shows up in the metric that autoscaling
//! and alerts use. Each worker measures it on a thread of its own; all report the same
//! figure (take the maximum across workers, not the sum).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaResult;
use rdkafka::{Message, Offset, TopicPartitionList};

use super::KafkaSettings;

/// What the group has not consumed yet, over every partition of the topic.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GroupLag {
    /// Records not yet committed by the group.
    pub records: i64,
    /// Age of the oldest record not yet committed (zero without lag).
    pub oldest: Duration,
    /// Partitions of the telemetry topic.
    pub partitions: i32,
    /// Partitions no member of the group holds; `None` when the broker does not say.
    pub unowned: Option<i32>,
    /// Per partition with lag: the group's committed offset and the high watermark.
    pub behind: BTreeMap<i32, (i64, i64)>,
}

/// The least time given to fetching the oldest unconsumed records for their age.
const MIN_RECORD_WAIT: Duration = Duration::from_secs(1);

/// The name `/health/ready` reports the group's health under.
pub const GROUP_HEALTH: &str = "consumer-group";

/// Whether the group consumes every partition, as the lag thread last measured: down when
/// partitions have had no owner, or have had records waiting while the group's committed
/// offset on them did not move, for longer than `grace` (a rebalance takes a moment; a
/// group that stays like that has lost them — a member that died may still be listed as
/// their owner).
pub struct GroupHealth {
    grace: Duration,
    unowned_since: Mutex<Option<(Instant, i32)>>,
    /// Partitions with lag: the committed offset last seen and since when it has not moved.
    stalled_since: Mutex<BTreeMap<i32, (i64, Instant)>>,
}

impl GroupHealth {
    pub(crate) fn new(grace: Duration) -> Self {
        Self {
            grace,
            unowned_since: Mutex::new(None),
            stalled_since: Mutex::new(BTreeMap::new()),
        }
    }

    pub(crate) fn record(&self, lag: &GroupLag) {
        let now = Instant::now();
        if let Ok(mut since) = self.unowned_since.lock() {
            *since = match (lag.unowned, *since) {
                (Some(n), Some((first, _))) if n > 0 => Some((first, n)),
                (Some(n), None) if n > 0 => Some((now, n)),
                _ => None,
            };
        }
        if let Ok(mut stalled) = self.stalled_since.lock() {
            stalled.retain(|partition, _| lag.behind.contains_key(partition));
            for (partition, (committed, _)) in &lag.behind {
                match stalled.get(partition) {
                    Some((seen, _)) if seen == committed => {}
                    _ => {
                        stalled.insert(*partition, (*committed, now));
                    }
                }
            }
        }
    }

    /// Forgets what was seen, after a rejoin: the new assignment gets its own grace.
    pub(crate) fn reset(&self) {
        if let Ok(mut since) = self.unowned_since.lock() {
            *since = None;
        }
        if let Ok(mut stalled) = self.stalled_since.lock() {
            stalled.clear();
        }
    }

    pub(crate) fn grace(&self) -> Duration {
        self.grace
    }

    /// How many partitions have had no owner, or no progress, for longer than the grace.
    pub(crate) fn stuck(&self) -> Option<i32> {
        let unowned = self
            .unowned_since
            .lock()
            .ok()
            .and_then(|since| *since)
            .filter(|(first, _)| first.elapsed() > self.grace)
            .map_or(0, |(_, n)| n);
        let stalled = self.stalled_since.lock().map_or(0, |stalled| {
            stalled
                .values()
                .filter(|(_, since)| since.elapsed() > self.grace)
                .count()
        });
        let stuck = unowned.max(i32::try_from(stalled).unwrap_or(i32::MAX));
        (stuck > 0).then_some(stuck)
    }
}

#[async_trait::async_trait]
impl domain::ports::HealthCheck for GroupHealth {
    async fn check(&self) -> Vec<(String, Option<String>)> {
        let problem = self.stuck().map(|n| {
            format!(
                "{n} partition(s) have had records waiting and no consumer making progress for more than {} s",
                self.grace.as_secs()
            )
        });
        vec![(GROUP_HEALTH.to_owned(), problem)]
    }
}

/// Measures [`GroupLag`] with two clients of its own: one that reads the group's
/// committed offsets (it carries the group id but never joins), and one that fetches the
/// oldest unconsumed record of each lagging partition for its timestamp.
pub(crate) struct LagProbe {
    offsets: BaseConsumer,
    records: BaseConsumer,
    topic: String,
    group: String,
}

impl LagProbe {
    /// Measures `group` on `topic`.
    pub(crate) fn new(kafka: &KafkaSettings, group: &str, topic: &str) -> KafkaResult<Self> {
        let offsets = kafka
            .client_config(&[
                ("group.id", group.to_owned()),
                ("enable.auto.commit", "false".into()),
            ])
            .create()?;
        let records = kafka
            .client_config(&[
                ("group.id", format!("{group}.lag-probe")),
                ("enable.auto.commit", "false".into()),
                ("enable.partition.eof", "false".into()),
            ])
            .create()?;
        Ok(Self {
            offsets,
            records,
            topic: topic.to_owned(),
            group: group.to_owned(),
        })
    }

    /// One measurement; each broker call waits at most `timeout`.
    pub(crate) fn measure(&self, timeout: Duration) -> KafkaResult<GroupLag> {
        let metadata = self.offsets.fetch_metadata(Some(&self.topic), timeout)?;
        let partitions: Vec<i32> = metadata
            .topics()
            .iter()
            .filter(|t| t.name() == self.topic)
            .flat_map(|t| t.partitions().iter().map(|p| p.id()))
            .collect();
        let mut wanted = TopicPartitionList::new();
        for partition in &partitions {
            wanted.add_partition(&self.topic, *partition);
        }
        let committed = self.offsets.committed_offsets(wanted, timeout)?;
        let mut records = 0;
        let mut positions = BTreeMap::new();
        let mut behind = TopicPartitionList::new();
        for partition in &partitions {
            let (low, high) = self
                .offsets
                .fetch_watermarks(&self.topic, *partition, timeout)?;
            let next = committed
                .find_partition(&self.topic, *partition)
                .and_then(|e| e.offset().to_raw())
                .filter(|offset| *offset >= 0)
                .unwrap_or(low)
                .max(low);
            if high > next {
                records += high - next;
                positions.insert(*partition, (next, high));
                behind.add_partition_offset(&self.topic, *partition, Offset::Offset(next))?;
            }
        }
        Ok(GroupLag {
            records,
            oldest: self.oldest_unconsumed(&behind, timeout),
            partitions: i32::try_from(partitions.len()).unwrap_or(i32::MAX),
            unowned: self.unowned(&partitions, timeout),
            behind: positions,
        })
    }

    /// The age of the oldest record at the committed offsets of `behind`.
    fn oldest_unconsumed(&self, behind: &TopicPartitionList, timeout: Duration) -> Duration {
        if behind.count() == 0 || self.records.assign(behind).is_err() {
            return Duration::ZERO;
        }
        let mut pending: BTreeSet<i32> = behind.elements().iter().map(|e| e.partition()).collect();
        let mut oldest_ms: Option<i64> = None;
        // Fetching a record can take longer than a metadata call; a short lag interval must
        // not make the age unknowable.
        let deadline = std::time::Instant::now() + timeout.max(MIN_RECORD_WAIT);
        while !pending.is_empty() && std::time::Instant::now() < deadline {
            if let Some(Ok(message)) = self.records.poll(Duration::from_millis(50)) {
                if pending.remove(&message.partition()) {
                    if let Some(ms) = message.timestamp().to_millis() {
                        oldest_ms = Some(oldest_ms.map_or(ms, |o| o.min(ms)));
                    }
                }
            }
        }
        let _ = self.records.unassign();
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        oldest_ms.map_or(Duration::ZERO, |ms| {
            Duration::from_millis(u64::try_from(now_ms - ms).unwrap_or(0))
        })
    }

    /// Partitions of the topic that no member of the group is assigned.
    fn unowned(&self, partitions: &[i32], timeout: Duration) -> Option<i32> {
        let groups = self
            .offsets
            .client()
            .fetch_group_list(Some(&self.group), timeout)
            .ok()?;
        let group = groups.groups().iter().find(|g| g.name() == self.group)?;
        let mut owned = BTreeSet::new();
        for member in group.members() {
            let assignment = parse_assignment(member.assignment().unwrap_or_default())?;
            owned.extend(
                assignment
                    .into_iter()
                    .filter(|(topic, _)| *topic == self.topic)
                    .map(|(_, partition)| partition),
            );
        }
        let unowned = partitions.iter().filter(|p| !owned.contains(*p)).count();
        i32::try_from(unowned).ok()
    }
}

/// The `(topic, partition)` pairs of a member's assignment, in the consumer protocol's
/// encoding: version (i16), then topics (i32 count) each a name (i16 length + bytes) and
/// partitions (i32 count of i32), then user data. `None` when it cannot be read.
fn parse_assignment(bytes: &[u8]) -> Option<Vec<(String, i32)>> {
    let mut reader = Reader(bytes);
    if bytes.is_empty() {
        return Some(Vec::new());
    }
    reader.i16()?;
    let mut out = Vec::new();
    for _ in 0..reader.i32()?.max(0) {
        let len = usize::try_from(reader.i16()?).ok()?;
        let topic = std::str::from_utf8(reader.take(len)?).ok()?.to_owned();
        for _ in 0..reader.i32()?.max(0) {
            out.push((topic.clone(), reader.i32()?));
        }
    }
    Some(out)
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = (self.0.get(..n)?, self.0.get(n..)?);
        self.0 = rest;
        Some(head)
    }

    fn i16(&mut self) -> Option<i16> {
        Some(i16::from_be_bytes(self.take(2)?.try_into().ok()?))
    }

    fn i32(&mut self) -> Option<i32> {
        Some(i32::from_be_bytes(self.take(4)?.try_into().ok()?))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_member_assignment_is_read_topic_by_topic() {
        let mut bytes = vec![0, 1];
        bytes.extend(2_i32.to_be_bytes());
        for (topic, partitions) in [("nimbus.telemetry", vec![0_i32, 3]), ("other", vec![7])] {
            bytes.extend((topic.len() as i16).to_be_bytes());
            bytes.extend(topic.as_bytes());
            bytes.extend((partitions.len() as i32).to_be_bytes());
            for p in partitions {
                bytes.extend(p.to_be_bytes());
            }
        }
        bytes.extend((-1_i32).to_be_bytes());
        assert_eq!(
            parse_assignment(&bytes).unwrap(),
            [
                ("nimbus.telemetry".to_owned(), 0),
                ("nimbus.telemetry".to_owned(), 3),
                ("other".to_owned(), 7)
            ]
        );
        assert_eq!(parse_assignment(&[]).unwrap(), []);
        assert_eq!(parse_assignment(&[0, 1, 0, 0, 0, 1, 0]), None);
    }
}
