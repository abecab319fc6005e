//! Counts the points of this run that reached the shard databases (PostgreSQL).

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement};
use uuid::Uuid;

pub struct Shards {
    conns: Vec<DatabaseConnection>,
}

impl Shards {
    pub async fn connect(urls: &[String]) -> anyhow::Result<Self> {
        let mut conns = Vec::with_capacity(urls.len());
        for url in urls {
            conns.push(Database::connect(url.as_str()).await?);
        }
        Ok(Self { conns })
    }

    pub fn is_empty(&self) -> bool {
        self.conns.is_empty()
    }

    /// Rows of `drones` with `ts >= since`, over every shard. The ids are this run's own
    /// (formatted by `Uuid`), so they are written into the statement as literals.
    pub async fn count(&self, drones: &[Uuid], since: DateTime<Utc>) -> anyhow::Result<u64> {
        let ids: Vec<String> = drones.iter().map(|id| format!("'{id}'")).collect();
        let sql = format!(
            "SELECT count(*)::bigint AS n FROM telemetry WHERE ts >= $1 AND drone_id IN ({})",
            ids.join(",")
        );
        let mut total = 0u64;
        for conn in &self.conns {
            let row = conn
                .query_one(Statement::from_sql_and_values(
                    conn.get_database_backend(),
                    &sql,
                    [since.into()],
                ))
                .await?;
            let n: i64 = row.map(|r| r.try_get("", "n")).transpose()?.unwrap_or(0);
            total += n as u64;
        }
        Ok(total)
    }
}
