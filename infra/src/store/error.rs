//! Mapping of database errors to the port's `StoreError`.

use domain::{ConflictKind, StoreError};
use sea_orm::{DbErr, RuntimeErr, SqlErr};
use uuid::Uuid;

/// Which database a statement ran on, so that its failure can be reported as the right
/// `StoreError` (`ShardUnavailable` or `CatalogUnavailable` when it cannot be reached).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Db {
    Catalog,
    Shard(u16),
}

impl Db {
    /// The error of a failed statement that broke no uniqueness rule worth reporting.
    pub(crate) fn err(self, err: DbErr) -> StoreError {
        match self {
            // Retried by the new map (`Store::rerouted`); a 503 if the slots stay fenced.
            Db::Shard(shard) if super::moves::is_slot_moved(&err) => StoreError::ShardUnavailable {
                shard,
                source: Box::new(super::moves::SlotsMoved(err)),
            },
            Db::Shard(shard) if is_unavailable(&err) => StoreError::ShardUnavailable {
                shard,
                source: Box::new(err),
            },
            Db::Catalog if is_unavailable(&err) => StoreError::CatalogUnavailable(Box::new(err)),
            _ => StoreError::backend(err),
        }
    }

    /// Like [`Db::err`], but a unique violation is a `Conflict` of `kind`.
    pub(crate) fn err_or_conflict(self, err: DbErr, kind: ConflictKind) -> StoreError {
        if is_unique_violation(&err) {
            StoreError::Conflict(kind)
        } else {
            self.err(err)
        }
    }
}

pub(crate) fn is_unique_violation(err: &DbErr) -> bool {
    matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
}

pub(crate) fn is_foreign_key_violation(err: &DbErr) -> bool {
    matches!(
        err.sql_err(),
        Some(SqlErr::ForeignKeyConstraintViolation(_))
    )
}

/// Whether the database could not be reached (as opposed to refusing a statement).
fn is_unavailable(err: &DbErr) -> bool {
    use sea_orm::sqlx::Error as Sqlx;
    match err {
        DbErr::Conn(_) | DbErr::ConnectionAcquire(_) => true,
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => matches!(
            e,
            Sqlx::Io(_)
                | Sqlx::Tls(_)
                | Sqlx::PoolTimedOut
                | Sqlx::PoolClosed
                | Sqlx::WorkerCrashed
        ),
        _ => false,
    }
}

/// A stored row that no longer converts into its domain type (edited by hand, or written
/// by a version with other rules). Reported as a backend failure, never a panic.
#[derive(Debug, thiserror::Error)]
#[error("stored {entity} {id} is invalid: {detail}")]
pub(crate) struct CorruptRow {
    pub entity: &'static str,
    pub id: Uuid,
    pub detail: String,
}

impl CorruptRow {
    pub(crate) fn err(
        entity: &'static str,
        id: Uuid,
        detail: impl std::fmt::Display,
    ) -> StoreError {
        StoreError::backend(Self {
            entity,
            id,
            detail: detail.to_string(),
        })
    }
}

/// A request that cannot be routed consistently: a bug in the caller, not a user error.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Misrouted {
    #[error("shard {0} is not configured")]
    UnknownShard(u16),
    #[error(
        "flight plan {plan} carries slot {plan_slot}, which is not on drone {drone}'s shard; \
         create plan ids with FlightPlanId::for_slot(slot_of(drone_id))"
    )]
    PlanSlot {
        plan: Uuid,
        plan_slot: u16,
        drone: Uuid,
    },
}

/// The error and its causes on one line, for logs.
pub(crate) fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
}

/// Splits fan-out results into the rows of the shards that answered and the indices of
/// those that did not. Fails only when no shard answered.
pub(crate) fn collect_runs<T>(
    results: Vec<(Db, Result<Vec<T>, StoreError>)>,
) -> Result<(Vec<Vec<T>>, Vec<u16>), StoreError> {
    let mut runs = Vec::with_capacity(results.len());
    let mut missing = Vec::new();
    let mut last_error = None;
    for (db, result) in results {
        match result {
            Ok(rows) => runs.push(rows),
            Err(err) => {
                let shard = match db {
                    Db::Shard(shard) => shard,
                    Db::Catalog => u16::MAX,
                };
                tracing::warn!(shard, error = %chain(&err), "shard left out of a fan-out query");
                missing.push(shard);
                last_error = Some(err);
            }
        }
    }
    match last_error {
        Some(err) if runs.is_empty() => Err(err),
        _ => Ok((runs, missing)),
    }
}
