//! Users, in the catalog. An email is unique within its organisation; the same address may
//! have an account in several.

use async_trait::async_trait;
use domain::page::{Page, PageRequest};
use domain::ports::UserRepository;
use domain::user::{Email, NewUser, PasswordHash, Role, User, UserPatch};
use domain::ConflictKind;
use domain::{OrgId, StoreError, UserId};
use sea_orm::sea_query::Expr;
use sea_orm::ActiveValue::Set;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseTransaction, DbBackend, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
};

use super::entities::users;
use super::error::{is_foreign_key_violation, CorruptRow};
use super::{now, Db, Store};

const ENTITY: &str = "user";

#[async_trait]
impl UserRepository for Store {
    #[tracing::instrument(skip_all, fields(org_id = %user.org_id))]
    async fn create_user(&self, user: NewUser) -> Result<User, StoreError> {
        insert_user(self.writable_catalog(), user).await
    }

    #[tracing::instrument(skip_all, fields(org_id = %org, user_id = %id))]
    async fn get_user(&self, org: OrgId, id: UserId) -> Result<Option<User>, StoreError> {
        users::Entity::find()
            .filter(users::Column::Id.eq(id.as_uuid()))
            .filter(users::Column::OrgId.eq(org.as_uuid()))
            .one(self.catalog())
            .await
            .map_err(|e| Db::Catalog.err(e))?
            .map(|row| from_row(row).map(|(user, _)| user))
            .transpose()
    }

    #[tracing::instrument(skip_all)]
    async fn find_credentials(
        &self,
        email: &Email,
        limit: u64,
    ) -> Result<Vec<(User, PasswordHash)>, StoreError> {
        // `Email` is lower-cased when parsed and stored that way.
        users::Entity::find()
            .filter(users::Column::Email.eq(email.as_str().to_lowercase()))
            .order_by_asc(users::Column::Id)
            .limit(limit)
            .all(self.catalog())
            .await
            .map_err(|e| Db::Catalog.err(e))?
            .into_iter()
            .map(from_row)
            .collect()
    }

    #[tracing::instrument(skip_all, fields(org_id = %org))]
    async fn list_users(
        &self,
        org: OrgId,
        role: Option<Role>,
        page: PageRequest,
    ) -> Result<Page<User>, StoreError> {
        let mut query = users::Entity::find().filter(users::Column::OrgId.eq(org.as_uuid()));
        if let Some(role) = role {
            query = query.filter(users::Column::Role.eq(role.as_str()));
        }
        if let Some(after) = page.after {
            query = query.filter(users::Column::Id.gt(after));
        }
        let rows = query
            .order_by_asc(users::Column::Id)
            .limit(u64::from(page.limit) + 1)
            .all(self.readable_catalog())
            .await
            .map_err(|e| Db::Catalog.err(e))?
            .into_iter()
            .map(|row| from_row(row).map(|(user, _)| user))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_sorted(rows, page.limit, |u| u.id.as_uuid()))
    }

    /// Applies `patch`. A demotion runs in one transaction with the organisation's admin
    /// rows locked (and, in this process, after any other admin change), and is refused
    /// when it would leave no admin, so two admins demoting each other cannot both succeed.
    #[tracing::instrument(skip_all, fields(org_id = %org, user_id = %id))]
    async fn update_user(
        &self,
        org: OrgId,
        id: UserId,
        patch: UserPatch,
        expected_version: Option<i64>,
    ) -> Result<User, StoreError> {
        let demotes = patch.role.is_some_and(|role| role != Role::Admin);
        let _one_at_a_time = match demotes {
            true => Some(self.admin_changes().lock().await),
            false => None,
        };
        let txn = self
            .writable_catalog()
            .begin()
            .await
            .map_err(|e| Db::Catalog.err(e))?;
        if demotes {
            keeps_an_admin(&txn, org, id).await?;
        }
        let mut update = users::Entity::update_many()
            .col_expr(
                users::Column::Version,
                Expr::col(users::Column::Version).add(1),
            )
            .col_expr(users::Column::UpdatedAt, Expr::value(now()))
            .filter(users::Column::Id.eq(id.as_uuid()))
            .filter(users::Column::OrgId.eq(org.as_uuid()));
        if let Some(name) = patch.name {
            update = update.col_expr(users::Column::Name, Expr::value(name));
        }
        if let Some(role) = patch.role {
            update = update.col_expr(users::Column::Role, Expr::value(role.as_str()));
        }
        if let Some(hash) = patch.password_hash {
            update = update.col_expr(users::Column::PasswordHash, Expr::value(hash.0));
        }
        if let Some(version) = expected_version {
            update = update.filter(users::Column::Version.eq(version));
        }
        let result = update.exec(&txn).await.map_err(|e| Db::Catalog.err(e))?;
        txn.commit().await.map_err(|e| Db::Catalog.err(e))?;
        let stored = self.get_user(org, id).await?;
        match (result.rows_affected, stored) {
            (0, Some(_)) => Err(StoreError::VersionMismatch { entity: ENTITY }),
            (_, Some(user)) => Ok(user),
            (_, None) => Err(StoreError::NotFound { entity: ENTITY }),
        }
    }

    /// Deletes the user; like a demotion, refused when it would leave no admin.
    #[tracing::instrument(skip_all, fields(org_id = %org, user_id = %id))]
    async fn delete_user(&self, org: OrgId, id: UserId) -> Result<(), StoreError> {
        let _one_at_a_time = self.admin_changes().lock().await;
        let txn = self
            .writable_catalog()
            .begin()
            .await
            .map_err(|e| Db::Catalog.err(e))?;
        keeps_an_admin(&txn, org, id).await?;
        let result = users::Entity::delete_many()
            .filter(users::Column::Id.eq(id.as_uuid()))
            .filter(users::Column::OrgId.eq(org.as_uuid()))
            .exec(&txn)
            .await
            .map_err(|e| Db::Catalog.err(e))?;
        txn.commit().await.map_err(|e| Db::Catalog.err(e))?;
        if result.rows_affected == 0 {
            return Err(StoreError::NotFound { entity: ENTITY });
        }
        Ok(())
    }

    #[tracing::instrument(skip_all, fields(org_id = %org))]
    async fn count_admins(&self, org: OrgId) -> Result<u64, StoreError> {
        users::Entity::find()
            .filter(users::Column::OrgId.eq(org.as_uuid()))
            .filter(users::Column::Role.eq(Role::Admin.as_str()))
            .count(self.catalog())
            .await
            .map_err(|e| Db::Catalog.err(e))
    }
}

/// Refuses (`Conflict(LastAdmin)`) when `user` is the organisation's only admin. The
/// admin rows stay locked (`FOR UPDATE` on PostgreSQL) until `txn` ends, so a concurrent
/// demotion waits and then counts what this one left.
async fn keeps_an_admin(
    txn: &DatabaseTransaction,
    org: OrgId,
    user: UserId,
) -> Result<(), StoreError> {
    if txn.get_database_backend() == DbBackend::Sqlite {
        // SQLite runs this transaction on a snapshot taken by its first read; if another
        // connection writes to the catalog before our write, the upgrade to a writer fails at
        // once with SQLITE_BUSY_SNAPSHOT ("database is locked", no busy wait). A write that
        // matches nothing takes the write lock first (waiting on busy_timeout like any
        // writer), so the count below and the change after it see the same database.
        txn.execute_unprepared("UPDATE users SET version = version WHERE 0")
            .await
            .map_err(|e| Db::Catalog.err(e))?;
    }
    let mut admins = users::Entity::find()
        .select_only()
        .column(users::Column::Id)
        .filter(users::Column::OrgId.eq(org.as_uuid()))
        .filter(users::Column::Role.eq(Role::Admin.as_str()));
    if txn.get_database_backend() == DbBackend::Postgres {
        admins = admins.lock_exclusive();
    }
    let admins: Vec<uuid::Uuid> = admins
        .into_tuple()
        .all(txn)
        .await
        .map_err(|e| Db::Catalog.err(e))?;
    if admins.contains(&user.as_uuid()) && admins.len() <= 1 {
        return Err(StoreError::Conflict(ConflictKind::LastAdmin));
    }
    Ok(())
}

/// Inserts a new user (version 1) on `db`, which may be a transaction. Conflict: `email`.
pub(crate) async fn insert_user(
    db: &impl ConnectionTrait,
    user: NewUser,
) -> Result<User, StoreError> {
    let now = now();
    let stored = User {
        id: UserId::new(),
        org_id: user.org_id,
        email: user.email,
        name: user.name,
        role: user.role,
        created_at: now,
        updated_at: now,
        version: 1,
    };
    let row = users::ActiveModel {
        id: Set(stored.id.as_uuid()),
        org_id: Set(stored.org_id.as_uuid()),
        email: Set(stored.email.as_str().to_owned()),
        name: Set(stored.name.clone()),
        role: Set(stored.role.as_str().to_owned()),
        password_hash: Set(user.password_hash.0),
        created_at: Set(now),
        updated_at: Set(now),
        version: Set(1),
    };
    users::Entity::insert(row)
        .exec_without_returning(db)
        .await
        .map_err(|e| {
            if is_foreign_key_violation(&e) {
                StoreError::NotFound {
                    entity: "organization",
                }
            } else {
                Db::Catalog.err_or_conflict(e, ConflictKind::Email)
            }
        })?;
    Ok(stored)
}

fn from_row(row: users::Model) -> Result<(User, PasswordHash), StoreError> {
    let corrupt = |detail: String| CorruptRow::err(ENTITY, row.id, detail);
    let email = Email::parse(&row.email).map_err(|e| corrupt(e.to_string()))?;
    let role =
        Role::parse(&row.role).ok_or_else(|| corrupt(format!("unknown role `{}`", row.role)))?;
    let user = User {
        id: UserId::from_uuid(row.id),
        org_id: OrgId::from_uuid(row.org_id),
        email,
        name: row.name,
        role,
        created_at: row.created_at,
        updated_at: row.updated_at,
        version: row.version,
    };
    Ok((user, PasswordHash(row.password_hash)))
}
