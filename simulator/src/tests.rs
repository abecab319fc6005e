//! The run loop against a fake server speaking just enough HTTP/1.1.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use secrecy::SecretString;
use uuid::Uuid;

use super::{run, SimAuth, SimConfig, Summary};
use crate::SimulateArgs;

/// The `simulate` subcommand as the binary mounts it.
#[derive(Parser)]
#[command(name = "nimbusfleet")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    Simulate(Box<SimulateArgs>),
    /// Stands for the binary's other subcommands.
    Serve,
}

/// Answers the telemetry endpoint with `503` for the first `refusals` posts, then `202`
/// accepting every point. Returns the base URL and the number of points accepted.
fn fake_server(drone_id: Uuid, refusals: usize) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let accepted = Arc::new(AtomicUsize::new(0));
    let posts = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let (accepted, posts) = (counter.clone(), posts.clone());
            std::thread::spawn(move || serve(stream, drone_id, refusals, &accepted, &posts));
        }
    });
    (url, accepted)
}

fn serve(
    stream: TcpStream,
    drone_id: Uuid,
    refusals: usize,
    accepted: &AtomicUsize,
    posts: &AtomicUsize,
) {
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let mut length = 0;
        loop {
            let mut header = String::new();
            reader.read_line(&mut header).unwrap();
            if header.trim().is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().unwrap();
                }
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        let (status, extra, answer) = if request_line.starts_with("POST /api/v1/telemetry") {
            let points = serde_json::from_slice::<serde_json::Value>(&body).unwrap()["points"]
                .as_array()
                .unwrap()
                .len();
            if posts.fetch_add(1, Ordering::SeqCst) < refusals {
                (
                    "503 Service Unavailable",
                    "retry-after: 0\r\n",
                    r#"{"code":"service_unavailable","detail":"queue full"}"#.to_owned(),
                )
            } else {
                accepted.fetch_add(points, Ordering::SeqCst);
                (
                    "202 Accepted",
                    "",
                    format!(r#"{{"accepted":{points},"rejected":0,"errors":[]}}"#),
                )
            }
        } else if request_line.starts_with(&format!("GET /api/v1/drones/{drone_id}")) {
            let drone = serde_json::json!({
                "id": drone_id, "serial": "SIM-0001", "name": "Simulator 0001",
                "model": "NimbusSim X4", "manufacturer": null, "firmware_version": null,
                "home": {"lat": 47.37, "lon": 8.54, "alt_m": 0.0},
                "max_speed_mps": 20.0, "max_altitude_m": 120.0, "endurance_min": 40,
                "status": "active", "created_at": "2026-01-01T00:00:00Z",
                "updated_at": "2026-01-01T00:00:00Z", "version": 1
            });
            ("200 OK", "", drone.to_string())
        } else {
            ("404 Not Found", "", r#"{"code":"not_found"}"#.to_owned())
        };
        write!(
            writer,
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\n{extra}content-length: {}\r\n\r\n{answer}",
            answer.len()
        )
        .unwrap();
    }
}

fn config(url: &str, drone_id: Uuid) -> SimConfig {
    SimConfig {
        base_url: url.to_owned(),
        auth: SimAuth::ApiKey {
            key: SecretString::from("nfk_test_secret"),
            drone_id,
        },
        drones: 1,
        rate_hz: 20.0,
        duration: Some(Duration::from_millis(1_500)),
        batch_interval: Duration::from_millis(100),
        concurrency: 2,
        seed: 1,
        progress_interval: Duration::from_secs(1),
        drain_timeout: Duration::from_secs(5),
        label: "test: ".to_owned(),
        serial_prefix: crate::DEFAULT_SERIAL_PREFIX.to_owned(),
        progress: true,
        misbehave: Vec::new(),
        misbehave_share: 0.1,
    }
}

#[tokio::test]
async fn batches_refused_with_503_are_resent_and_no_point_is_lost() {
    let drone = Uuid::new_v4();
    let (url, accepted) = fake_server(drone, 3);
    let summary = run(config(&url, drone), std::future::pending())
        .await
        .unwrap();
    assert_eq!(summary.drones, 1);
    assert!(summary.generated > 10, "{summary}");
    assert_eq!(summary.accepted, summary.generated, "{summary}");
    assert_eq!(accepted.load(Ordering::SeqCst) as u64, summary.generated);
    assert!(summary.retried > 0, "{summary}");
    assert_eq!((summary.failed, summary.unsent), (0, 0));
}

#[tokio::test]
async fn an_unreachable_server_is_waited_for_until_the_deadline() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let mut config = config(&url, Uuid::new_v4());
    config.duration = Some(Duration::from_millis(800));
    let summary = run(config, std::future::pending()).await.unwrap();
    assert_eq!(summary, Summary::default());
}

#[tokio::test]
async fn shutdown_stops_the_run() {
    let drone = Uuid::new_v4();
    let (url, _) = fake_server(drone, 0);
    let mut config = config(&url, drone);
    config.duration = None;
    let summary = run(config, tokio::time::sleep(Duration::from_millis(600)))
        .await
        .unwrap();
    assert!(summary.generated > 0, "{summary}");
    assert_eq!(summary.accepted, summary.generated, "{summary}");
}

#[tokio::test]
async fn a_config_that_cannot_run_is_refused() {
    let mut config = config("http://127.0.0.1:1", Uuid::nil());
    config.rate_hz = 0.0;
    assert!(run(config, std::future::pending()).await.is_err());
}

#[test]
fn the_command_line_maps_onto_the_config() {
    let cli = Cli::parse_from([
        "nimbusfleet",
        "simulate",
        "--url",
        "http://example.test:9000",
        "--drones",
        "20",
        "--rate",
        "2.5",
        "--email",
        "operator@example.test",
        "--password",
        "a long password",
        "--duration",
        "30",
        "--seed",
        "7",
    ]);
    let Command::Simulate(args) = cli.command else {
        panic!("not the simulate command");
    };
    let config = SimConfig::try_from(*args).unwrap();
    assert_eq!(config.base_url, "http://example.test:9000");
    assert_eq!(config.drones, 20);
    assert_eq!(config.rate_hz, 2.5);
    assert_eq!(config.duration, Some(Duration::from_secs(30)));
    assert_eq!(config.batch_interval, Duration::from_secs(1));
    assert_eq!(config.concurrency, 8);
    assert_eq!(config.seed, 7);
    assert!(
        matches!(config.auth, SimAuth::Credentials { ref email, .. } if email == "operator@example.test")
    );
    assert_eq!(config.target_points_per_s(20), 50.0);
}

#[test]
fn an_api_key_needs_its_drone_id() {
    let parsed = Cli::try_parse_from(["nimbusfleet", "simulate", "--api-key", "nfk_x_y"]);
    assert!(parsed.is_err());
}
