use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};
use domain::session::Session;
use domain::telemetry::TelemetryPoint;
use domain::user::Role;
use domain::{DroneId, OrgId, SessionId, UserId};
use infra::redis::{NoopObserver, PoolSettings, Redis};

pub fn shared_url() -> String {
    std::env::var("NIMBUS_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// A key prefix no other test uses.
pub fn unique_prefix() -> String {
    format!("nf-test:{}:", uuid::Uuid::new_v4().simple())
}

pub fn settings(url: &str, prefix: &str, timeout: Duration) -> PoolSettings {
    PoolSettings {
        url: url.to_owned(),
        key_prefix: prefix.to_owned(),
        timeout,
        pool_size: 4,
    }
}

/// A `Redis` on the shared server. The timeout is generous: the tests run beside builds.
pub fn redis(prefix: &str) -> Redis {
    Redis::new(
        settings(&shared_url(), prefix, Duration::from_millis(500)),
        Arc::new(NoopObserver),
    )
    .unwrap()
}

pub fn session(user: UserId, lifetime: TimeDelta) -> Session {
    let now = Utc::now();
    Session {
        id: SessionId::new(),
        user_id: user,
        org_id: OrgId::new(),
        role: Role::Operator,
        created_at: now,
        expires_at: now + lifetime,
    }
}

pub fn point(org: OrgId, i: u32) -> TelemetryPoint {
    TelemetryPoint {
        org_id: org,
        drone_id: DroneId::new(),
        ts: Utc::now(),
        lat: 48.0 + f64::from(i) * 0.001,
        lon: 11.0,
        alt_m: 120.0,
        speed_mps: 12.5,
        heading_deg: 90.0,
        battery_pct: 80.0,
        vertical_speed_mps: Some(0.5),
        satellites: Some(12),
        link_quality_pct: None,
        flight_plan_id: None,
    }
}

/// A `redis-server` of this test alone, on a free port, without persistence. Killed when
/// dropped.
pub struct PrivateRedis {
    port: u16,
    child: Option<Child>,
}

impl PrivateRedis {
    pub fn start() -> PrivateRedis {
        let port = free_port();
        let mut server = PrivateRedis { port, child: None };
        server.restart();
        server
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills the server (SIGKILL: no goodbye to its clients) and waits until it is gone.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server on the same port and waits until it accepts connections.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "the server is running");
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1"])
            .args(["--save", ""])
            .args(["--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server on PATH");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Counts what the adapters report, per operation.
#[derive(Default)]
pub struct CountingObserver {
    counts: std::sync::Mutex<std::collections::HashMap<(&'static str, bool), u64>>,
}

impl CountingObserver {
    pub fn count(&self, op: &'static str, ok: bool) -> u64 {
        self.counts
            .lock()
            .unwrap()
            .get(&(op, ok))
            .copied()
            .unwrap_or(0)
    }

    pub fn failures(&self) -> u64 {
        let counts = self.counts.lock().unwrap();
        counts
            .iter()
            .filter(|((_, ok), _)| !ok)
            .map(|(_, n)| n)
            .sum()
    }
}

impl infra::redis::RedisObserver for CountingObserver {
    fn command(&self, op: &'static str, ok: bool, _took: Duration) {
        *self.counts.lock().unwrap().entry((op, ok)).or_default() += 1;
    }
}

impl PrivateRedis {
    /// Freezes the server (SIGSTOP): connections stay open and nothing answers.
    pub fn freeze(&self) {
        self.signal("-STOP");
    }

    pub fn thaw(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        let pid = self.child.as_ref().expect("the server is running").id();
        let status = Command::new("kill")
            .args([signal, &pid.to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
