//! Password hashing off the async workers (argon2id is deliberately slow, and takes 19 MiB
//! of memory per hash). Hashes run on a pool of one thread per core; others queue for up
//! to [`QUEUE_WAIT`], then get `503`, so a burst of logins can neither starve the workers
//! nor grow the process's memory. Each pool thread hashes in one buffer it keeps
//! ([`infra::secrets`]): allocating and freeing 19 MiB per hash left the allocator holding
//! 190 MB after a 200-login burst.

use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use domain::user::{Password, PasswordHash};
use tokio::sync::{Semaphore, SemaphorePermit};

use crate::error::ApiError;

/// How long a password check waits for a free hashing slot.
const QUEUE_WAIT: Duration = Duration::from_secs(2);

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

fn slots() -> &'static Semaphore {
    static SLOTS: OnceLock<Semaphore> = OnceLock::new();
    SLOTS.get_or_init(|| Semaphore::new(cores()))
}

type Job = Box<dyn FnOnce() + Send>;

/// The hashing threads, started on first use.
fn pool() -> &'static Mutex<mpsc::Sender<Job>> {
    static POOL: OnceLock<Mutex<mpsc::Sender<Job>>> = OnceLock::new();
    POOL.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..cores() {
            let rx = rx.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("password-hash-{i}"))
                .spawn(move || loop {
                    let job = match rx.lock() {
                        Ok(rx) => rx.recv(),
                        Err(_) => return,
                    };
                    match job {
                        Ok(job) => job(),
                        Err(_) => return,
                    }
                });
            if let Err(error) = spawned {
                tracing::error!(%error, "could not start a password hashing thread");
            }
        }
        Mutex::new(tx)
    })
}

/// Runs `work` on the hashing pool.
async fn on_pool<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let job: Job = Box::new(move || {
        let _ = tx.send(work());
    });
    pool()
        .lock()
        .map_err(|_| ApiError::internal(anyhow::anyhow!("the hashing pool is poisoned")))?
        .send(job)
        .map_err(|_| ApiError::internal(anyhow::anyhow!("the hashing pool has stopped")))?;
    rx.await
        .map_err(|_| ApiError::internal(anyhow::anyhow!("a password hash was dropped")))
}

async fn slot() -> Result<SemaphorePermit<'static>, ApiError> {
    match tokio::time::timeout(QUEUE_WAIT, slots().acquire()).await {
        Ok(Ok(permit)) => Ok(permit),
        _ => Err(ApiError::unavailable(
            "too many password checks at once; retry shortly",
            1,
        )),
    }
}

pub async fn hash(password: Password) -> Result<PasswordHash, ApiError> {
    let _slot = slot().await?;
    on_pool(move || infra::secrets::hash_password(&password))
        .await?
        .map_err(ApiError::internal)
}

/// Whether `password` matches `hash`; with no hash (an unknown email) it is checked against
/// a dummy, so that a wrong email and a wrong password take the same time.
pub async fn verify(password: String, hash: Option<PasswordHash>) -> Result<bool, ApiError> {
    let _slot = slot().await?;
    on_pool(move || match hash.or_else(dummy_hash) {
        Some(hash) => infra::secrets::verify_password(&password, &hash),
        None => false,
    })
    .await
}

fn dummy_hash() -> Option<PasswordHash> {
    static DUMMY: OnceLock<Option<PasswordHash>> = OnceLock::new();
    DUMMY
        .get_or_init(|| {
            let password = Password::parse("not-a-real-password-for-timing".to_owned()).ok()?;
            infra::secrets::hash_password(&password).ok()
        })
        .clone()
}
