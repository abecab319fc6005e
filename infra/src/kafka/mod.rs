//! Telemetry over Kafka (DESIGN §4): API replicas produce accepted points to a topic
//! ([`KafkaBus`]), a consumer group of ingest workers ([`IngestWorker`]) writes them to the
//! shards and fans them out live, and records that cannot be decoded go to a dead-letter
//! topic.
//!
//! A record carries many points of one partition (compact protobuf, or JSON; see
//! [`record`]), so the broker's per-record cost does not cap throughput. A drone always maps to the same
//! partition (its slot modulo the partition count), so its points stay in order.

mod consumer;
mod context;
mod lag;
mod park;
mod producer;
pub mod record;
mod replay;
mod settings;

use std::collections::BTreeMap;
use std::time::Duration;

use domain::ids::DroneId;
use domain::telemetry::TelemetryPoint;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::types::RDKafkaErrorCode;

pub use consumer::{IngestObserver, IngestWorker};
pub use lag::{GroupHealth, GroupLag, GROUP_HEALTH};
pub use producer::{KafkaBus, ProducerObserver};
pub use record::{decode as decode_points, encode as encode_points, EncodeError, RecordFormat};
pub use settings::{Compression, IngestSettings, KafkaSettings, KafkaTopic, TopicAssignments};

/// The partition that carries `drone`'s points.
fn partition_for(drone: DroneId, partitions: i32) -> i32 {
    let slot = i32::from(domain::shard::slot_of(drone).get());
    slot % partitions.max(1)
}

/// Points as records: grouped by partition (`partitions` of them), at most `max_points` per
/// record, each `(partition, payload)`.
pub fn records(
    points: Vec<TelemetryPoint>,
    partitions: i32,
    max_points: usize,
    format: RecordFormat,
) -> Result<Vec<(i32, Vec<u8>)>, EncodeError> {
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
                .map(|chunk| Ok((partition, encode_points(chunk, format)?)))
                .collect::<Vec<_>>()
        })
        .collect()
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
            // Accepted points carry microseconds, what PostgreSQL keeps.
            ts: chrono::DateTime::from_timestamp_micros(Utc::now().timestamp_micros()).unwrap(),
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
    fn records_group_points_by_partition_in_either_format() {
        let drones: Vec<DroneId> = (0..20).map(|_| DroneId::new()).collect();
        let points: Vec<TelemetryPoint> =
            drones.iter().cycle().take(100).map(|d| point(*d)).collect();
        for format in [RecordFormat::Compact, RecordFormat::Json] {
            let records = records(points.clone(), 6, 7, format).unwrap();
            let mut back = Vec::new();
            for (partition, payload) in records {
                let decoded = decode_points(Some(&payload)).unwrap();
                assert!(decoded.len() <= 7);
                assert!(decoded
                    .iter()
                    .all(|p| partition_for(p.drone_id, 6) == partition));
                back.extend(decoded);
            }
            assert_eq!(back.len(), points.len());
            for drone in &drones {
                let mine = |ps: &[TelemetryPoint]| {
                    ps.iter()
                        .filter(|p| p.drone_id == *drone)
                        .cloned()
                        .collect::<Vec<_>>()
                };
                assert_eq!(
                    mine(&back),
                    mine(&points),
                    "{format:?}: a drone's points in order"
                );
            }
        }
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
