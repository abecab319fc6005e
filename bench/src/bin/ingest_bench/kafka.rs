//! Figures through Kafka (`--kafka-brokers`): the same HTTP load against a second app that
//! produces to Kafka, written by one in-process `ingest` worker, timed until every accepted
//! point is written; then the broker's own produce and consume rates for records of the
//! same points, with no HTTP and no database.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use domain::{DroneId, OrgId};
use infra::kafka::{KafkaSettings, RecordFormat};
use nimbusfleet::application::{Application, Role};
use nimbusfleet::settings::Settings;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use serde_json::json;
use uuid::Uuid;

use crate::{emit, ingest, points, progress, round, setup, Args};

/// How often the worker's `/metrics` is read while waiting for it to write everything.
const SCRAPE_INTERVAL: Duration = Duration::from_millis(50);

/// Follows `nimbusfleet_telemetry_points_processed_total` on the worker's `/metrics` into
/// `written`, until dropped.
fn follow_written(port: u16, written: Arc<AtomicU64>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let url = format!("http://127.0.0.1:{port}/metrics");
        let client = reqwest::Client::new();
        loop {
            if let Ok(res) = client.get(&url).send().await {
                let text = res.text().await.unwrap_or_default();
                let processed = text
                    .lines()
                    .find_map(|l| l.strip_prefix("nimbusfleet_telemetry_points_processed_total "))
                    .and_then(|v| v.trim().parse::<f64>().ok());
                if let Some(processed) = processed {
                    written.store(processed as u64, Ordering::Release);
                }
            }
            tokio::time::sleep(SCRAPE_INTERVAL).await;
        }
    })
}

/// What one run through Kafka measured, for the figures that compare runs.
struct Measured {
    rate: f64,
    points: u64,
    org: OrgId,
    drones: Vec<DroneId>,
    tag: String,
    kafka: KafkaSettings,
}

/// The Kafka figures: the same load with JSON records (the format before the compact one,
/// the reference) and with compact records, then the broker's own rates for compact records.
pub async fn run(
    args: &Args,
    base: &Settings,
    brokers: &str,
    embedded_rate: f64,
) -> anyhow::Result<()> {
    let json = through_kafka(args, base, brokers, RecordFormat::Json).await?;
    let compact = through_kafka(args, base, brokers, RecordFormat::Compact).await?;
    emit(
        "kafka_compact_vs_json_ratio",
        json!({ "value": round(compact.rate / json.rate, 3), "json_points_per_s": round(json.rate, 1),
                "compact_points_per_s": round(compact.rate, 1), "goal": 4.0 }),
    )?;
    let bytes_per_point = |format| -> anyhow::Result<f64> {
        let mut kafka = compact.kafka.clone();
        kafka.record_format = format;
        let sample = 10_000;
        let records = encode_records(
            &kafka,
            args.kafka_partitions,
            compact.org,
            &compact.drones,
            sample,
        )?;
        Ok(records
            .iter()
            .map(|(_, payload)| payload.len())
            .sum::<usize>() as f64
            / sample as f64)
    };
    emit(
        "kafka_record_bytes_per_point",
        json!({ "value": round(bytes_per_point(RecordFormat::Compact)?, 1),
                "json": round(bytes_per_point(RecordFormat::Json)?, 1),
                "record_max_points": compact.kafka.record_max_points }),
    )?;
    emit(
        "kafka_vs_embedded_ratio",
        json!({ "value": round(compact.rate / embedded_rate, 3), "embedded_points_per_s": round(embedded_rate, 1) }),
    )?;
    broker_rates(
        &compact.kafka,
        args,
        compact.org,
        &compact.drones,
        compact.points as usize,
        &compact.tag,
    )
    .await
}

async fn through_kafka(
    args: &Args,
    base: &Settings,
    brokers: &str,
    format: RecordFormat,
) -> anyhow::Result<Measured> {
    let tag = Uuid::new_v4().simple().to_string();
    let mut settings = base.clone();
    settings.kafka.record_format = format;
    // Two runs (an API and a worker each) beside the main and the queued apps, whose pools
    // stay open until the process ends: few enough connections that PostgreSQL's default
    // limit of 100 holds. The worker needs one per shard (each share is one COPY).
    settings.storage.max_connections = settings.storage.max_connections.min(2);
    settings.kafka.brokers = Some(brokers.to_owned());
    settings.kafka.topics.telemetry = format!("bench.telemetry.{tag}");
    settings.kafka.topics.dead_letter = format!("bench.telemetry.{tag}.dead-letter");
    settings.kafka.topics.parked = format!("bench.telemetry.{tag}.parked");
    settings.ingest.bind = "127.0.0.1:0".parse()?;
    let kafka = settings.kafka.clone();
    infra::kafka::create_topics(&kafka, args.kafka_partitions, 1).await?;

    let bench = setup::start(&settings).await?;
    // One ingest worker, built as `nimbusfleet ingest` builds it.
    let worker = Application::build(settings.clone(), Role::Ingest).await?;
    let (worker_port, worker_stop) = (worker.port(), worker.stop_handle());
    let consumer = tokio::spawn(worker.run());
    let written = Arc::new(AtomicU64::new(0));
    let follower = follow_written(worker_port, written.clone());

    let (fleet, drones) = bench.warm_fleet("Kafka", "KAF", args.drones).await?;
    let t0 = setup::start_of_points();
    progress(&format!(
        "Kafka ingest, {format:?} records: {} senders × {}-point batches for {} s, {} partitions, 1 ingest worker",
        args.senders, args.batch, args.duration, args.kafka_partitions
    ));
    let ingested = ingest::run(
        &bench,
        &fleet,
        &drones,
        &args.ingest_config(t0),
        &|accepted| written.load(Ordering::Acquire) >= accepted,
    )
    .await?;
    follower.abort();
    worker_stop.stop().await;
    consumer.await.context("the ingest worker panicked")??;
    bench.stop().await;

    let rate = ingested.points as f64 / ingested.elapsed.as_secs_f64();
    let http = crate::stats::Summary::of(ingested.http_ms.clone());
    emit(
        "kafka_ingest_points_per_s",
        json!({
            "value": round(rate, 1),
            "senders": args.senders,
            "batch": args.batch,
            "drones": args.drones,
            "partitions": args.kafka_partitions,
            "workers": 1,
            "record_format": format,
            "points": ingested.points,
            "seconds": round(ingested.elapsed.as_secs_f64(), 3),
            "drain_ms": round(ingested.drain.as_secs_f64() * 1e3, 1),
            "retries": ingested.retries,
            "http_p50_ms": http.as_ref().map(|s| round(s.p50, 2)),
            "http_p99_ms": http.as_ref().map(|s| round(s.p99, 2)),
        }),
    )?;
    Ok(Measured {
        rate,
        points: ingested.points,
        org: fleet.id,
        drones,
        tag,
        kafka,
    })
}

/// The broker's own produce and consume rates for the same points, pre-encoded into records
/// exactly as the API's producer makes them.
async fn broker_rates(
    kafka: &KafkaSettings,
    args: &Args,
    org: OrgId,
    drones: &[DroneId],
    points: usize,
    tag: &str,
) -> anyhow::Result<()> {
    let mut raw = kafka.clone();
    raw.topics.telemetry = format!("bench.raw.{tag}");
    raw.topics.dead_letter = format!("bench.raw.{tag}.dead-letter");
    raw.topics.parked = format!("bench.raw.{tag}.parked");
    infra::kafka::create_topics(&raw, args.kafka_partitions, 1).await?;

    let records = encode_records(&raw, args.kafka_partitions, org, drones, points)?;
    let bytes: usize = records.iter().map(|(_, payload)| payload.len()).sum();
    progress(&format!(
        "tansu produce: {} records ({points} points, {:.1} MB)",
        records.len(),
        bytes as f64 / 1e6
    ));
    let producer: FutureProducer = ClientConfig::new()
        .set(
            "bootstrap.servers",
            raw.brokers.as_deref().unwrap_or_default(),
        )
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("compression.type", raw.compression.as_str())
        .set("linger.ms", raw.linger.as_millis().to_string())
        .set(
            "queue.buffering.max.kbytes",
            raw.queue_max_kbytes.to_string(),
        )
        .create()?;
    let started = Instant::now();
    let mut deliveries = Vec::with_capacity(records.len());
    for (partition, payload) in &records {
        let key = partition.to_string();
        loop {
            let record = FutureRecord::to(&raw.topics.telemetry)
                .partition(*partition)
                .key(&key)
                .payload(payload);
            match producer.send_result(record) {
                Ok(delivery) => {
                    deliveries.push(delivery);
                    break;
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                Err((error, _)) => bail!("producing to {}: {error}", raw.topics.telemetry),
            }
        }
    }
    for delivery in futures::future::join_all(deliveries).await {
        if !matches!(delivery, Ok(Ok(_))) {
            bail!("a record was not acknowledged");
        }
    }
    let produced = started.elapsed();
    emit(
        "tansu_produce_points_per_s",
        json!({
            "value": round(points as f64 / produced.as_secs_f64(), 1),
            "records": records.len(),
            "points": points,
            "mb": round(bytes as f64 / 1e6, 2),
            "seconds": round(produced.as_secs_f64(), 3),
        }),
    )?;

    progress("tansu consume: the same records, from the beginning of every partition");
    let expected = records.len();
    let partitions = args.kafka_partitions;
    let brokers = raw.brokers.clone().unwrap_or_default();
    let topic = raw.topics.telemetry.clone();
    let (consumed, took) =
        tokio::task::spawn_blocking(move || consume_all(&brokers, &topic, partitions, expected))
            .await??;
    emit(
        "tansu_consume_points_per_s",
        json!({
            "value": round(points as f64 / took.as_secs_f64(), 1),
            "records": consumed,
            "points": points,
            "seconds": round(took.as_secs_f64(), 3),
        }),
    )
}

/// The same kind of points the senders made, as the API's producer makes records of them.
fn encode_records(
    kafka: &KafkaSettings,
    partitions: i32,
    org: OrgId,
    drones: &[DroneId],
    points: usize,
) -> anyhow::Result<Vec<(i32, Vec<u8>)>> {
    let t0 = setup::start_of_points() - chrono::Duration::seconds(60);
    let d = drones.len() as u64;
    let generated = (0..points as u64)
        .map(|k| {
            let index = (k % d) as usize;
            let ts = t0 + chrono::Duration::microseconds(k as i64);
            points::point(org, drones[index], index, k / d, ts)
        })
        .collect();
    infra::kafka::records(
        generated,
        partitions,
        kafka.record_max_points,
        kafka.record_format,
    )
    .context("failed to encode the records")
}

fn consume_all(
    brokers: &str,
    topic: &str,
    partitions: i32,
    expected: usize,
) -> anyhow::Result<(usize, Duration)> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set(
            "group.id",
            format!("bench-reader-{}", Uuid::new_v4().simple()),
        )
        .set("enable.auto.commit", "false")
        .create()?;
    let mut assignment = TopicPartitionList::new();
    for partition in 0..partitions {
        assignment.add_partition_offset(topic, partition, Offset::Beginning)?;
    }
    consumer.assign(&assignment)?;
    let started = Instant::now();
    let mut consumed = 0;
    while consumed < expected {
        if started.elapsed() > Duration::from_secs(300) {
            bail!("consumed {consumed} of {expected} records in 300 s");
        }
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(message)) if message.payload().is_some() => consumed += 1,
            Some(Ok(_)) => {}
            Some(Err(error)) => bail!("consuming {topic}: {error}"),
            None => {}
        }
    }
    Ok((consumed, started.elapsed()))
}
