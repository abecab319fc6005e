//! `nimbusfleet admin archive` killed with SIGKILL at random moments, then run again: every
//! point of the archived days is read back exactly once, from Parquet, and none is left in
//! the database.

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{DateTime, DurationRound, Utc};
use domain::ports::TelemetryStore;
use domain::telemetry::TimeRange;
use domain::{DroneId, OrgId};
use secrecy::ExposeSecret;
use uuid::Uuid;

use crate::helpers::{spawn_with, test_settings, Backend, TestApp};
use crate::kafka::{drones, query_shards};

const DRONES: usize = 12;
const DAYS: i64 = 4;
/// One point every STEP_S seconds, per drone, over the archived days.
const STEP_S: i64 = 10;

/// `admin archive --before …` as a process, configured like `serve` by environment.
fn archive_process(app: &TestApp, archive_dir: &str, before: &str) -> Child {
    let s = &app.settings.storage;
    let shards: Vec<&str> = s.shard_urls.iter().map(|u| u.expose_secret()).collect();
    Command::new(env!("CARGO_BIN_EXE_nimbusfleet"))
        .args(["admin", "archive", "--before", before])
        .env(
            "NIMBUS__STORAGE__CATALOG_URL",
            s.catalog_url.as_ref().unwrap().expose_secret(),
        )
        .env("NIMBUS__STORAGE__SHARD_URLS", shards.join(","))
        .env("NIMBUS__AUTH__JWT_SECRET", crate::helpers::JWT_SECRET)
        .env("NIMBUS__TELEMETRY__ARCHIVE_URL", archive_dir)
        .env("NIMBUS__LOG__LEVEL", "warn")
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

async fn manifest_rows(app: &TestApp) -> usize {
    query_shards(app, "SELECT day FROM telemetry_archive")
        .await
        .len()
}

async fn raw_rows(app: &TestApp) -> i64 {
    query_shards(app, "SELECT count(*) AS n FROM telemetry")
        .await
        .iter()
        .map(|r| r.try_get::<i64>("", "n").unwrap())
        .sum()
}

/// Each drone's points as the store reads them (archive before its boundary, raw after),
/// checked to be exactly the loaded ones: every timestamp once, in order.
async fn assert_every_point_once(
    store: &infra::Store,
    org: OrgId,
    drones: &[DroneId],
    from: DateTime<Utc>,
    when: &str,
) {
    let range = TimeRange {
        from,
        to: from + chrono::Duration::days(DAYS),
    };
    let expected = (DAYS * 86_400 / STEP_S) as usize;
    for &drone in drones {
        let mut seen = 0usize;
        let mut cursor = None;
        loop {
            let page = store
                .history_ascending(org, drone, range, cursor, 5_000)
                .await
                .unwrap();
            let Some(last) = page.last() else { break };
            for p in &page {
                let want = from + chrono::Duration::seconds(STEP_S * seen as i64);
                assert_eq!(p.ts, want, "{when}: drone {drone}, point {seen}");
                seen += 1;
            }
            cursor = Some(last.ts);
        }
        assert_eq!(seen, expected, "{when}: drone {drone}");
    }
}

#[tokio::test]
async fn kill_9_of_admin_archive_loses_and_duplicates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let archive_dir = tempfile::tempdir().unwrap();
    let settings = test_settings(Backend::Postgres, dir.path()).await;
    let app = spawn_with(Backend::Postgres, settings, dir).await;
    let org = app.org("archive-kill").await;
    let ids = drones(&app, &org, DRONES).await;
    let drone_ids: Vec<DroneId> = ids
        .iter()
        .map(|d| DroneId::from_uuid(d.parse().unwrap()))
        .collect();
    let org_id = OrgId::from_uuid(org.id);

    // Four whole UTC days, 40 days back, loaded with SQL (far faster than the API).
    let day = chrono::Duration::days(1);
    let from = Utc::now().duration_trunc(day).unwrap() - chrono::Duration::days(40);
    let to = from + chrono::Duration::days(DAYS);
    query_shards(
        &app,
        &format!(
            "INSERT INTO telemetry (drone_id, org_id, ts, lat, lon, alt_m, speed_mps, heading_deg, battery_pct) \
             SELECT d.id, d.org_id, g, 47 + 0.01 * sin(extract(epoch FROM g) / 600), 8.5, 60, 10, 90, 80 \
             FROM drones d CROSS JOIN generate_series('{}'::timestamptz, '{}'::timestamptz - interval '1 second', \
             interval '{STEP_S} seconds') g",
            from.to_rfc3339(),
            to.to_rfc3339()
        ),
    )
    .await;
    let loaded = raw_rows(&app).await;
    assert_eq!(loaded, (DRONES as i64) * DAYS * 86_400 / STEP_S);
    let archive = infra::telemetry::Archive::open(archive_dir.path().to_str().unwrap()).unwrap();
    let reader = infra::Store::connect(&app.settings.storage)
        .await
        .unwrap()
        .with_archive(archive, chrono::Duration::days(30));
    let before = to.date_naive().to_string();
    let shard_days = 2 * DAYS as usize;

    // Killed once as soon as the first day is entered in the manifest, then at random
    // moments in later runs: between any two steps, nothing is lost or read twice.
    let mut kills = 0;
    let mut rng = Uuid::new_v4().as_u128();
    for attempt in 0..6 {
        let done_before = manifest_rows(&app).await;
        if done_before == shard_days {
            break;
        }
        let mut child = archive_process(&app, archive_dir.path().to_str().unwrap(), &before);
        let started = Instant::now();
        let delay = if attempt == 0 {
            None
        } else {
            rng = rng.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            Some(Duration::from_millis(200 + (rng >> 64) as u64 % 1_500))
        };
        loop {
            if child.try_wait().unwrap().is_some() {
                break;
            }
            let due = match delay {
                None => manifest_rows(&app).await > done_before,
                Some(d) => started.elapsed() >= d,
            };
            if due {
                child.kill().unwrap(); // SIGKILL
                child.wait().unwrap();
                kills += 1;
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(120), "archive hung");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        eprintln!(
            "archive run {attempt}: {} of {shard_days} shard-days in the manifest, {} raw rows left",
            manifest_rows(&app).await,
            raw_rows(&app).await
        );
        assert_every_point_once(
            &reader,
            org_id,
            &drone_ids,
            from,
            &format!("after run {attempt}"),
        )
        .await;
    }
    assert!(kills > 0, "the archive finished before any kill");

    // A last run finishes what the killed ones left.
    let status = archive_process(&app, archive_dir.path().to_str().unwrap(), &before)
        .wait()
        .unwrap();
    assert!(status.success(), "{status}");
    assert_eq!(manifest_rows(&app).await, shard_days);
    assert_eq!(
        raw_rows(&app).await,
        0,
        "every archived day left the database"
    );
    let mut files = BTreeMap::new();
    for entry in walk(archive_dir.path()) {
        if entry.extension().is_some_and(|e| e == "parquet") {
            *files.entry(entry.parent().unwrap().to_owned()).or_insert(0) += 1;
        }
    }
    assert_eq!(files.values().sum::<usize>(), shard_days, "{files:?}");
    let others: Vec<_> = walk(archive_dir.path())
        .into_iter()
        .filter(|p| p.extension().is_none_or(|e| e != "parquet"))
        .collect();
    eprintln!("archive: other files {others:?}");
    assert_every_point_once(&reader, org_id, &drone_ids, from, "at the end").await;
    eprintln!("archive: {loaded} rows, {kills} kills, then a complete run");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}
