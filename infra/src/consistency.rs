//! Read-your-writes across read replicas.
//!
//! A request runs inside a [`Scope`] (the API's middleware opens one per request):
//!
//! - A **read** (`GET`, `HEAD`) may be answered from a replica. When it carries a token its
//!   caller received from an earlier write, a database named in the token is read from a
//!   replica only once the replica has replayed the WAL up to the position in the token;
//!   until then the primary answers.
//! - A **write** (any other method) reads and writes primaries only. Every primary it wrote
//!   to is noted; when the request succeeds, the scope asks those primaries for their WAL
//!   position (`pg_current_wal_lsn()`, which is past the request's commits) and mints a
//!   token carrying it, merged with the token the request came with.
//!
//! Tokens are bound to the caller (a session or an API key): they are signed with a key of
//! the installation over the caller's id, and a token presented by another caller is
//! ignored. A forged or foreign token can therefore only be ignored, never make a read
//! fresher or staler than the rules say.
//!
//! Work outside any scope (the ingest pipeline, the monitor, maintenance) and anything run
//! through [`on_primary`] (cache fills) reads primaries only.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use sha2::Sha256;

use crate::store::Db;

tokio::task_local! {
    static SCOPE: Arc<Scope>;
}

/// WAL positions by database: what a token carries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Positions(BTreeMap<Db, u64>);

impl Positions {
    /// `c=0/16B3748,s0=0/16B37A0`: the catalog as `c`, shards as `s` and their index, each
    /// with its position written as PostgreSQL writes an LSN.
    fn encode(&self) -> String {
        let mut out = String::new();
        for (db, lsn) in &self.0 {
            if !out.is_empty() {
                out.push(',');
            }
            match db {
                Db::Catalog => out.push('c'),
                Db::Shard(i) => out.push_str(&format!("s{i}")),
            }
            out.push('=');
            out.push_str(&format_lsn(*lsn));
        }
        out
    }

    fn decode(raw: &str) -> Option<Self> {
        let mut positions = BTreeMap::new();
        for entry in raw.split(',').filter(|e| !e.is_empty()) {
            let (db, lsn) = entry.split_once('=')?;
            let db = match db {
                "c" => Db::Catalog,
                shard => Db::Shard(shard.strip_prefix('s')?.parse().ok()?),
            };
            positions.insert(db, parse_lsn(lsn)?);
        }
        Some(Self(positions))
    }

    /// Moves `db`'s position to `lsn` unless it is already past it.
    fn raise(&mut self, db: Db, lsn: u64) {
        let mine = self.0.entry(db).or_default();
        *mine = (*mine).max(lsn);
    }

    pub(crate) fn get(&self, db: Db) -> Option<u64> {
        self.0.get(&db).copied()
    }
}

/// An LSN as PostgreSQL writes it (`16/B374D848`) to the 64-bit number it stands for.
pub(crate) fn parse_lsn(raw: &str) -> Option<u64> {
    let (high, low) = raw.split_once('/')?;
    let high = u32::from_str_radix(high, 16).ok()?;
    let low = u32::from_str_radix(low, 16).ok()?;
    Some((u64::from(high) << 32) | u64::from(low))
}

fn format_lsn(lsn: u64) -> String {
    format!("{:X}/{:X}", lsn >> 32, lsn & 0xFFFF_FFFF)
}

/// The installation's key for signing tokens. Every replica of the service must hold the
/// same one (it is derived from the JWT secret).
#[derive(Clone)]
pub struct TokenKey(Arc<[u8]>);

impl TokenKey {
    pub fn derive(secret: &[u8]) -> Self {
        let mut mac = hmac(secret);
        mac.update(b"nimbusfleet read-after token key v1");
        Self(mac.finalize().into_bytes().to_vec().into())
    }

    /// `<positions>.<signature>`, the signature over the caller and the positions.
    fn sign(&self, caller: &[u8], positions: &Positions) -> String {
        let payload = positions.encode();
        let tag = self.mac(caller, &payload).finalize().into_bytes();
        let signature = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&tag[..TAG_BYTES]);
        format!("{payload}.{signature}")
    }

    fn verify(&self, caller: &[u8], token: &str) -> Option<Positions> {
        let (payload, signature) = token.rsplit_once('.')?;
        let tag = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(signature)
            .ok()
            .filter(|tag| tag.len() == TAG_BYTES)?;
        // A constant-time comparison of the tag's leading bytes.
        self.mac(caller, payload).verify_truncated_left(&tag).ok()?;
        Positions::decode(payload)
    }

    fn mac(&self, caller: &[u8], payload: &str) -> Hmac<Sha256> {
        let mut mac = hmac(&self.0);
        mac.update(&(caller.len() as u64).to_be_bytes());
        mac.update(caller);
        mac.update(payload.as_bytes());
        mac
    }
}

/// Bytes of the HMAC a token carries.
const TAG_BYTES: usize = 16;

fn hmac(key: &[u8]) -> Hmac<Sha256> {
    // HMAC takes keys of any length.
    <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Read,
    Write,
    Primary,
}

/// One request's consistency: see the module documentation.
pub struct Scope {
    kind: Kind,
    key: Option<TokenKey>,
    /// The token the request came with, checked once the caller is known.
    presented: Option<String>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    caller: Option<Vec<u8>>,
    /// From the presented token, once verified against the caller.
    wanted: Positions,
    /// Primaries this request wrote to (only those with replicas are noted).
    written: Vec<(Db, DatabaseConnection)>,
}

impl Scope {
    /// A request's scope; `read` for `GET` and `HEAD`.
    pub fn new(read: bool, key: TokenKey, presented: Option<String>) -> Arc<Self> {
        Arc::new(Self {
            kind: if read { Kind::Read } else { Kind::Write },
            key: Some(key),
            presented,
            state: Mutex::default(),
        })
    }

    fn primary() -> Arc<Self> {
        Arc::new(Self {
            kind: Kind::Primary,
            key: None,
            presented: None,
            state: Mutex::default(),
        })
    }

    /// Runs `f` inside this scope.
    pub async fn run<F: Future>(self: &Arc<Self>, f: F) -> F::Output {
        SCOPE.scope(self.clone(), f).await
    }

    /// Runs one synchronous step (a poll of a response body) inside this scope.
    pub fn run_sync<R>(self: &Arc<Self>, f: impl FnOnce() -> R) -> R {
        SCOPE.sync_scope(self.clone(), f)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The token to answer a successful write with: the presented positions (if they were
    /// the caller's) and the current position of every primary written to. `None` when
    /// nothing was written to a database with replicas, or the caller is unknown.
    pub async fn token(&self) -> Option<String> {
        let key = self.key.as_ref()?;
        let (caller, mut positions, written) = {
            let mut state = self.lock();
            if state.written.is_empty() {
                return None;
            }
            (
                state.caller.clone()?,
                state.wanted.clone(),
                std::mem::take(&mut state.written),
            )
        };
        for (db, conn) in written {
            match current_lsn(&conn).await {
                Ok(lsn) => positions.raise(db, lsn),
                // Without the position no token can promise this write: reads keep going
                // to replicas and may miss it for up to the lag limit.
                Err(e) => {
                    tracing::warn!(database = ?db, error = %e, "could not read the WAL position after a write")
                }
            }
        }
        Some(key.sign(&caller, &positions))
    }
}

/// Names the caller of the current request (a session id, an API key id), so that its
/// presented token is checked and a token minted for it. Outside a scope, does nothing.
pub fn bind_caller(caller: &[u8]) {
    let _ = SCOPE.try_with(|scope| {
        let verified = match (&scope.key, &scope.presented) {
            (Some(key), Some(token)) => key.verify(caller, token),
            _ => None,
        };
        let mut state = scope.lock();
        state.caller = Some(caller.to_vec());
        if let Some(positions) = verified {
            state.wanted = positions;
        }
    });
}

/// Runs `f` reading primaries only, whatever the surrounding scope (for answers that are
/// kept in a cache, which must never hold what a replica had not yet caught up with).
pub async fn on_primary<F: Future>(f: F) -> F::Output {
    SCOPE.scope(Scope::primary(), f).await
}

/// How the current task may read `db`.
pub(crate) enum ReadFrom {
    Primary,
    /// A replica that has replayed at least this far (0: any).
    Replica {
        after: u64,
    },
}

pub(crate) fn read_from(db: Db) -> ReadFrom {
    SCOPE
        .try_with(|scope| match scope.kind {
            Kind::Read => ReadFrom::Replica {
                after: scope.lock().wanted.get(db).unwrap_or(0),
            },
            Kind::Write | Kind::Primary => ReadFrom::Primary,
        })
        .unwrap_or(ReadFrom::Primary)
}

/// Notes that the current request writes to `db`'s primary.
pub(crate) fn wrote(db: Db, primary: &DatabaseConnection) {
    let _ = SCOPE.try_with(|scope| {
        if scope.kind == Kind::Write {
            let mut state = scope.lock();
            if !state.written.iter().any(|(d, _)| *d == db) {
                state.written.push((db, primary.clone()));
            }
        }
    });
}

pub(crate) async fn current_lsn(conn: &DatabaseConnection) -> Result<u64, sea_orm::DbErr> {
    lsn_of(conn, "SELECT pg_current_wal_lsn()::text").await
}

/// The LSN a one-column query answers, as a number.
pub(crate) async fn lsn_of(conn: &DatabaseConnection, sql: &str) -> Result<u64, sea_orm::DbErr> {
    let row = conn
        .query_one(Statement::from_string(conn.get_database_backend(), sql))
        .await?
        .ok_or_else(|| sea_orm::DbErr::RecordNotFound(sql.to_owned()))?;
    let raw: Option<String> = row.try_get_by_index(0)?;
    raw.as_deref()
        .and_then(parse_lsn)
        .ok_or_else(|| sea_orm::DbErr::Custom(format!("`{sql}` answered no LSN ({raw:?})")))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn lsns_read_and_write_as_postgresql_does() {
        assert_eq!(parse_lsn("16/B374D848"), Some(0x16_B374_D848));
        assert_eq!(format_lsn(0x16_B374_D848), "16/B374D848");
        assert_eq!(parse_lsn("0/0"), Some(0));
        assert_eq!(parse_lsn("16B374D848"), None);
        assert_eq!(parse_lsn("x/1"), None);
    }

    #[test]
    fn tokens_are_bound_to_their_caller_and_key() {
        let key = TokenKey::derive(b"secret");
        let positions = Positions(BTreeMap::from([
            (Db::Catalog, 0x10),
            (Db::Shard(3), 0x2_0000_0001),
        ]));
        let token = key.sign(b"session-a", &positions);
        assert!(token.starts_with("c=0/10,s3=2/1."), "{token}");
        assert_eq!(key.verify(b"session-a", &token), Some(positions.clone()));
        assert_eq!(key.verify(b"session-b", &token), None);
        assert_eq!(
            TokenKey::derive(b"other").verify(b"session-a", &token),
            None
        );
        let forged = token.replacen("s3=2/1", "s3=9/1", 1);
        assert_eq!(key.verify(b"session-a", &forged), None);
        assert_eq!(key.verify(b"session-a", "garbage"), None);
    }

    #[test]
    fn merged_positions_keep_the_later_of_each_database() {
        let mut a = Positions(BTreeMap::from([(Db::Shard(0), 5), (Db::Shard(1), 9)]));
        for (db, lsn) in [(Db::Shard(0), 7), (Db::Catalog, 1), (Db::Shard(1), 3)] {
            a.raise(db, lsn);
        }
        assert_eq!(
            a,
            Positions(BTreeMap::from([
                (Db::Catalog, 1),
                (Db::Shard(0), 7),
                (Db::Shard(1), 9)
            ]))
        );
    }

    #[tokio::test]
    async fn reads_use_replicas_only_inside_a_read_scope() {
        let key = TokenKey::derive(b"secret");
        let token = key.sign(b"me", &Positions(BTreeMap::from([(Db::Shard(0), 42)])));
        assert!(matches!(read_from(Db::Shard(0)), ReadFrom::Primary));
        let read = Scope::new(true, key.clone(), Some(token));
        read.run(async {
            bind_caller(b"me");
            assert!(matches!(
                read_from(Db::Shard(0)),
                ReadFrom::Replica { after: 42 }
            ));
            assert!(matches!(
                read_from(Db::Shard(1)),
                ReadFrom::Replica { after: 0 }
            ));
            on_primary(async {
                assert!(matches!(read_from(Db::Shard(0)), ReadFrom::Primary));
            })
            .await;
        })
        .await;
        let write = Scope::new(false, key, None);
        write
            .run(async {
                bind_caller(b"me");
                assert!(matches!(read_from(Db::Shard(0)), ReadFrom::Primary));
            })
            .await;
        assert_eq!(write.token().await, None, "nothing was written");
    }
}
