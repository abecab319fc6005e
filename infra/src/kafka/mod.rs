//! Telemetry over Kafka (DESIGN §4): API replicas produce accepted points to a topic
//! ([`KafkaBus`]), a consumer group of ingest workers ([`IngestWorker`]) writes them to the
//! shards and fans them out live, and records that cannot be decoded go to a dead-letter
//! topic.
//!
//! A record carries many points of one partition (JSON, `{"v":1,"points":[…]}`), so the
//! broker's per-record cost does not cap throughput. A drone always maps to the same
//! partition (its slot modulo the partition count), so its points stay in order.

mod consumer;
mod context;
mod lag;
mod park;
mod producer;
mod replay;
mod settings;

use std::collections::BTreeMap;
use std::time::Duration;

use domain::ids::DroneId;
use domain::telemetry::TelemetryPoint;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::types::RDKafkaErrorCode;
use serde::{Deserialize, Serialize};

pub use consumer::{IngestObserver, IngestWorker};
pub use lag::{GroupHealth, GroupLag, GROUP_HEALTH};
pub use producer::{KafkaBus, ProducerObserver};
pub use settings::{Compression, IngestSettings, KafkaSettings, KafkaTopic, TopicAssignments};

/// The partition that carries `drone`'s points.
fn partition_for(drone: DroneId, partitions: i32) -> i32 {
    let slot = i32::from(domain::shard::slot_of(drone).get());
    slot % partitions.max(1)
}

const RECORD_VERSION: u8 = 1;

#[derive(Serialize)]
struct RecordOut<'a> {
    v: u8,
    points: &'a [TelemetryPoint],
}

#[derive(Deserialize)]
struct RecordIn {
    v: u8,
    points: Vec<TelemetryPoint>,
}

/// Points as records: grouped by partition (`partitions` of them), at most `max_points` per
/// record, each `(partition, payload)`.
pub fn records(
    points: Vec<TelemetryPoint>,
    partitions: i32,
    max_points: usize,
) -> Result<Vec<(i32, Vec<u8>)>, serde_json::Error> {
    let mut by_partition: BTreeMap<i32, Vec<TelemetryPoint>> = BTreeMap::new();
    for point in points {
        by_partition
            .entry(partition_for(point.drone_id, partitions))
            .or_default()
            .push(point);
    }
    by_partition
        .into_iter()
        .flat_map(|(partition, points)| {
            points
                .chunks(max_points.max(1))
                .map(|chunk| Ok((partition, encode_points(chunk)?)))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The payload of one record.
fn encode_points(points: &[TelemetryPoint]) -> Result<Vec<u8>, serde_json::Error> {
    serde_json::to_vec(&RecordOut {
        v: RECORD_VERSION,
        points,
    })
}

/// Reads a record's payload; the error says why it cannot be read (for the dead-letter
/// topic).
pub fn decode_points(payload: Option<&[u8]>) -> Result<Vec<TelemetryPoint>, String> {
    let payload = payload.ok_or_else(|| "record has no payload".to_owned())?;
    let record: RecordIn =
        serde_json::from_slice(payload).map_err(|e| format!("undecodable payload: {e}"))?;
    if record.v != RECORD_VERSION {
        return Err(format!("unsupported record version {}", record.v));
    }
    Ok(record.points)
}

/// Creates the telemetry, dead-letter and parked topics when they do not exist yet (brokers that do
/// not create topics on first use need this; see `nimbusfleet admin create-topics`).
pub async fn create_topics(
    settings: &KafkaSettings,
    partitions: i32,
    replication: i32,
) -> anyhow::Result<()> {
    let admin: AdminClient<DefaultClientContext> = settings.client_config(&[]).create()?;
    let topics = KafkaTopic::ALL.map(|topic| {
        let partitions = match topic {
            // As many as the telemetry topic, so that each shard parks on a partition of
            // its own where there are at least as many partitions as shards.
            KafkaTopic::Telemetry | KafkaTopic::Parked => partitions,
            KafkaTopic::DeadLetter => 1,
        };
        NewTopic::new(
            settings.topic(topic),
            partitions,
            TopicReplication::Fixed(replication),
        )
    });
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    for result in admin.create_topics(&topics, &options).await? {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => anyhow::bail!("could not create topic {topic}: {code}"),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use domain::ids::OrgId;

    fn point(drone: DroneId) -> TelemetryPoint {
        TelemetryPoint {
            org_id: OrgId::new(),
            drone_id: drone,
            ts: Utc::now(),
            lat: 47.1,
            lon: 8.5,
            alt_m: 100.0,
            speed_mps: 12.0,
            heading_deg: 90.0,
            battery_pct: 80.0,
            vertical_speed_mps: None,
            satellites: Some(12),
            link_quality_pct: None,
            flight_plan_id: None,
        }
    }

    #[test]
    fn records_round_trip_and_bad_ones_say_why() {
        let drone = DroneId::new();
        let points = vec![point(drone), point(drone)];
        let decoded = decode_points(Some(&encode_points(&points).unwrap())).unwrap();
        assert_eq!(decoded.len(), 2);
        assert_eq!(decoded[0].drone_id, drone);

        assert!(decode_points(None).unwrap_err().contains("no payload"));
        assert!(decode_points(Some(b"{not json"))
            .unwrap_err()
            .contains("undecodable"));
        assert!(decode_points(Some(br#"{"v":9,"points":[]}"#))
            .unwrap_err()
            .contains("version 9"));
    }

    #[test]
    fn a_drone_always_maps_to_the_same_partition_within_range() {
        for _ in 0..200 {
            let drone = DroneId::new();
            let p = partition_for(drone, 6);
            assert!((0..6).contains(&p));
            assert_eq!(p, partition_for(drone, 6));
        }
    }
}
