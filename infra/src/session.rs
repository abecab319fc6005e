//! The embedded session store: sessions in process memory, gone on restart (users log in
//! again). The distributed deployment uses Redis behind the same port.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::Utc;
use domain::platform::{SessionError, SessionStore};
use domain::session::Session;
use domain::{SessionId, UserId};
use moka::notification::RemovalCause;
use moka::sync::Cache;
use moka::Expiry;

/// Upper bound on live sessions. Far above any realistic count; when reached, the sessions
/// closest to eviction by moka's policy are dropped (their users log in again).
const MAX_SESSIONS: u64 = 1_000_000;

type UserIndex = Arc<Mutex<HashMap<UserId, HashSet<SessionId>>>>;

/// Sessions in a moka cache, each expiring at its own `expires_at`, with an index from
/// user to sessions so that all of a user's sessions can be revoked at once.
#[derive(Clone)]
pub struct InMemorySessionStore {
    sessions: Cache<SessionId, Session>,
    by_user: UserIndex,
}

impl InMemorySessionStore {
    pub fn new() -> Self {
        let by_user: UserIndex = Arc::default();
        let index = Arc::clone(&by_user);
        let sessions = Cache::builder()
            .max_capacity(MAX_SESSIONS)
            .expire_after(UntilExpiresAt)
            // Keeps the index from growing with sessions that expired or were removed. The
            // cache calls it outside any lock of ours (we never hold the index lock while
            // calling into the cache).
            .eviction_listener(move |id: Arc<SessionId>, session: Session, cause| {
                if cause != RemovalCause::Replaced {
                    forget(&index, session.user_id, *id);
                }
            })
            .build();
        Self { sessions, by_user }
    }
}

impl Default for InMemorySessionStore {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for InMemorySessionStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InMemorySessionStore")
            .field("sessions", &self.sessions.entry_count())
            .finish()
    }
}

fn forget(index: &UserIndex, user: UserId, id: SessionId) {
    let mut index = index.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(ids) = index.get_mut(&user) {
        ids.remove(&id);
        if ids.is_empty() {
            index.remove(&user);
        }
    }
}

/// Each entry lives until its session's `expires_at`.
struct UntilExpiresAt;

impl Expiry<SessionId, Session> for UntilExpiresAt {
    fn expire_after_create(
        &self,
        _id: &SessionId,
        session: &Session,
        _now: Instant,
    ) -> Option<Duration> {
        Some(
            (session.expires_at - Utc::now())
                .to_std()
                .unwrap_or(Duration::ZERO),
        )
    }
}

#[async_trait]
impl SessionStore for InMemorySessionStore {
    async fn create(&self, session: Session) -> Result<(), SessionError> {
        let (id, user) = (session.id, session.user_id);
        self.sessions.insert(id, session);
        self.by_user
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(user)
            .or_default()
            .insert(id);
        Ok(())
    }

    async fn get(&self, id: SessionId) -> Result<Option<Session>, SessionError> {
        // moka's expiry is exact on reads, but the clock it uses is not the wall clock the
        // token was issued against: check `expires_at` as well.
        Ok(self
            .sessions
            .get(&id)
            .filter(|session| session.expires_at > Utc::now()))
    }

    async fn delete(&self, id: SessionId) -> Result<bool, SessionError> {
        Ok(self
            .sessions
            .remove(&id)
            .is_some_and(|session| session.expires_at > Utc::now()))
    }

    async fn delete_for_user(&self, user: UserId) -> Result<(), SessionError> {
        let ids = self
            .by_user
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&user)
            .unwrap_or_default();
        for id in ids {
            self.sessions.invalidate(&id);
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use chrono::TimeDelta;
    use domain::user::Role;
    use domain::OrgId;

    fn session(user: UserId, lifetime: TimeDelta) -> Session {
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

    #[tokio::test]
    async fn a_session_can_be_read_back_until_it_is_deleted() {
        let store = InMemorySessionStore::new();
        let s = session(UserId::new(), TimeDelta::hours(24));
        store.create(s.clone()).await.unwrap();
        assert_eq!(store.get(s.id).await.unwrap(), Some(s.clone()));
        assert!(store.delete(s.id).await.unwrap());
        assert_eq!(store.get(s.id).await.unwrap(), None);
        assert!(!store.delete(s.id).await.unwrap());
    }

    #[tokio::test]
    async fn deleting_a_users_sessions_revokes_all_of_them_and_no_others() {
        let store = InMemorySessionStore::new();
        let (alice, bob) = (UserId::new(), UserId::new());
        let a1 = session(alice, TimeDelta::hours(1));
        let a2 = session(alice, TimeDelta::hours(1));
        let b1 = session(bob, TimeDelta::hours(1));
        for s in [&a1, &a2, &b1] {
            store.create(s.clone()).await.unwrap();
        }
        store.delete_for_user(alice).await.unwrap();
        assert_eq!(store.get(a1.id).await.unwrap(), None);
        assert_eq!(store.get(a2.id).await.unwrap(), None);
        assert_eq!(store.get(b1.id).await.unwrap(), Some(b1.clone()));
        store.delete_for_user(alice).await.unwrap();
        let a3 = session(alice, TimeDelta::hours(1));
        store.create(a3.clone()).await.unwrap();
        assert_eq!(store.get(a3.id).await.unwrap(), Some(a3));
    }

    #[tokio::test]
    async fn an_expired_session_is_gone() {
        let store = InMemorySessionStore::new();
        let past = session(UserId::new(), TimeDelta::seconds(-1));
        store.create(past.clone()).await.unwrap();
        assert_eq!(store.get(past.id).await.unwrap(), None);

        let short = session(UserId::new(), TimeDelta::milliseconds(50));
        store.create(short.clone()).await.unwrap();
        assert!(store.get(short.id).await.unwrap().is_some());
        tokio::time::sleep(std::time::Duration::from_millis(120)).await;
        assert_eq!(store.get(short.id).await.unwrap(), None);
    }

    #[tokio::test]
    async fn the_user_index_forgets_removed_sessions() {
        let store = InMemorySessionStore::new();
        let user = UserId::new();
        let s = session(user, TimeDelta::hours(1));
        store.create(s.clone()).await.unwrap();
        store.delete(s.id).await.unwrap();
        store.sessions.run_pending_tasks();
        assert!(!store.by_user.lock().unwrap().contains_key(&user));
    }
}
