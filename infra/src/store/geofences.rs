//! Geofences, in the catalog. The shape is stored as JSON (a GeoJSON geometry or a circle)
//! beside its bounding box, which the `bbox` filter compares in SQL.

use async_trait::async_trait;
use domain::airspace::{
    AltitudeBand, Circle, Datum, FenceKind, FenceShape, Geofence, GeofenceFilter, RawGeometry,
    RawSchedule, Schedule,
};
use domain::page::{Page, PageRequest};
use domain::ports::GeofenceRepository;
use domain::{GeofenceId, OrgId, StoreError, UserId};
use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, TransactionTrait};

use super::entities::geofences;
use super::error::CorruptRow;
use super::{db_time, Db, Store};

const ENTITY: &str = "geofence";

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
enum StoredShape {
    Geometry(RawGeometry),
    Circle(Circle),
}

#[async_trait]
impl GeofenceRepository for Store {
    #[tracing::instrument(skip_all, fields(org_id = %fence.org_id, geofence_id = %fence.id))]
    async fn create_geofence(&self, fence: Geofence) -> Result<Geofence, StoreError> {
        let fence = stored_times(fence);
        geofences::Entity::insert(to_row(&fence)?)
            .exec_without_returning(self.writable_catalog())
            .await
            .map_err(|e| Db::Catalog.err(e))?;
        Ok(fence)
    }

    #[tracing::instrument(skip_all, fields(count = fences.len()))]
    async fn create_geofences(&self, fences: Vec<Geofence>) -> Result<(), StoreError> {
        if fences.is_empty() {
            return Ok(());
        }
        let rows = fences
            .into_iter()
            .map(|f| to_row(&stored_times(f)))
            .collect::<Result<Vec<_>, _>>()?;
        let txn = self
            .writable_catalog()
            .begin()
            .await
            .map_err(|e| Db::Catalog.err(e))?;
        // Bounded statements: SQLite allows at most 32,766 bound values in one.
        for chunk in rows.chunks(500) {
            geofences::Entity::insert_many(chunk.to_vec())
                .exec_without_returning(&txn)
                .await
                .map_err(|e| Db::Catalog.err(e))?;
        }
        txn.commit().await.map_err(|e| Db::Catalog.err(e))
    }

    #[tracing::instrument(skip_all, fields(org_id = %org, geofence_id = %id))]
    async fn get_geofence(
        &self,
        org: OrgId,
        id: GeofenceId,
    ) -> Result<Option<Geofence>, StoreError> {
        geofences::Entity::find()
            .filter(geofences::Column::Id.eq(id.as_uuid()))
            .filter(geofences::Column::OrgId.eq(org.as_uuid()))
            .one(self.readable_catalog())
            .await
            .map_err(|e| Db::Catalog.err(e))?
            .map(from_row)
            .transpose()
    }

    #[tracing::instrument(skip_all, fields(org_id = %org))]
    async fn list_geofences(
        &self,
        org: OrgId,
        filter: &GeofenceFilter,
        page: PageRequest,
    ) -> Result<Page<Geofence>, StoreError> {
        let mut query =
            geofences::Entity::find().filter(geofences::Column::OrgId.eq(org.as_uuid()));
        if let Some(kind) = filter.kind {
            query = query.filter(geofences::Column::Kind.eq(kind.as_str()));
        }
        if let Some(b) = &filter.bbox {
            query = query
                .filter(geofences::Column::MinLon.lte(b.max_lon))
                .filter(geofences::Column::MaxLon.gte(b.min_lon))
                .filter(geofences::Column::MinLat.lte(b.max_lat))
                .filter(geofences::Column::MaxLat.gte(b.min_lat));
        }
        if let Some(after) = page.after {
            query = query.filter(geofences::Column::Id.gt(after));
        }
        let rows = query
            .order_by_asc(geofences::Column::Id)
            .limit(u64::from(page.limit) + 1)
            .all(self.readable_catalog())
            .await
            .map_err(|e| Db::Catalog.err(e))?
            .into_iter()
            .map(from_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_sorted(rows, page.limit, |f| f.id.as_uuid()))
    }

    #[tracing::instrument(
        skip_all,
        fields(org_id = %fence.org_id, geofence_id = %fence.id, expected_version = expected_version)
    )]
    async fn update_geofence(
        &self,
        fence: Geofence,
        expected_version: i64,
    ) -> Result<Geofence, StoreError> {
        let fence = stored_times(fence);
        let row = geofences::ActiveModel {
            id: NotSet,
            org_id: NotSet,
            created_by: NotSet,
            created_at: NotSet,
            version: Set(expected_version + 1),
            ..to_row(&fence)?
        };
        let result = geofences::Entity::update_many()
            .set(row)
            .filter(geofences::Column::Id.eq(fence.id.as_uuid()))
            .filter(geofences::Column::OrgId.eq(fence.org_id.as_uuid()))
            .filter(geofences::Column::Version.eq(expected_version))
            .exec(self.writable_catalog())
            .await
            .map_err(|e| Db::Catalog.err(e))?;
        let stored = self.get_geofence(fence.org_id, fence.id).await?;
        match (result.rows_affected, stored) {
            (0, Some(_)) => Err(StoreError::VersionMismatch { entity: ENTITY }),
            (_, Some(fence)) => Ok(fence),
            (_, None) => Err(StoreError::NotFound { entity: ENTITY }),
        }
    }

    #[tracing::instrument(skip_all, fields(org_id = %org, geofence_id = %id))]
    async fn delete_geofence(&self, org: OrgId, id: GeofenceId) -> Result<(), StoreError> {
        let result = geofences::Entity::delete_many()
            .filter(geofences::Column::Id.eq(id.as_uuid()))
            .filter(geofences::Column::OrgId.eq(org.as_uuid()))
            .exec(self.writable_catalog())
            .await
            .map_err(|e| Db::Catalog.err(e))?;
        if result.rows_affected == 0 {
            return Err(StoreError::NotFound { entity: ENTITY });
        }
        Ok(())
    }
}

fn stored_times(fence: Geofence) -> Geofence {
    Geofence {
        created_at: db_time(fence.created_at),
        updated_at: db_time(fence.updated_at),
        ..fence
    }
}

fn to_row(fence: &Geofence) -> Result<geofences::ActiveModel, StoreError> {
    let shape = match fence.shape.to_raw() {
        (_, Some(circle)) => StoredShape::Circle(circle),
        (Some(geometry), None) => StoredShape::Geometry(geometry),
        (None, None) => {
            return Err(CorruptRow::err(
                ENTITY,
                fence.id.as_uuid(),
                "a fence without a shape",
            ))
        }
    };
    let [min_lon, min_lat, max_lon, max_lat] = fence.shape.bbox();
    let schedule = fence
        .schedule
        .as_ref()
        .map(|s| serde_json::to_value(s.to_raw()))
        .transpose()
        .map_err(StoreError::backend)?;
    Ok(geofences::ActiveModel {
        id: Set(fence.id.as_uuid()),
        org_id: Set(fence.org_id.as_uuid()),
        name: Set(fence.name.clone()),
        kind: Set(fence.kind.as_str().to_owned()),
        shape: Set(serde_json::to_value(shape).map_err(StoreError::backend)?),
        min_lon: Set(min_lon),
        min_lat: Set(min_lat),
        max_lon: Set(max_lon),
        max_lat: Set(max_lat),
        lower_m: Set(fence.band.lower_m),
        upper_m: Set(fence.band.upper_m),
        datum: Set(fence.band.datum.as_str().to_owned()),
        schedule: Set(schedule),
        active: Set(fence.active),
        version: Set(fence.version),
        created_by: Set(fence.created_by.as_uuid()),
        created_at: Set(fence.created_at),
        updated_at: Set(fence.updated_at),
    })
}

fn from_row(row: geofences::Model) -> Result<Geofence, StoreError> {
    let corrupt = |detail: String| CorruptRow::err(ENTITY, row.id, detail);
    let kind =
        FenceKind::parse(&row.kind).ok_or_else(|| corrupt(format!("kind `{}`", row.kind)))?;
    let datum =
        Datum::parse(&row.datum).ok_or_else(|| corrupt(format!("datum `{}`", row.datum)))?;
    let stored: StoredShape =
        serde_json::from_value(row.shape.clone()).map_err(|e| corrupt(format!("shape: {e}")))?;
    let shape = match &stored {
        StoredShape::Geometry(geometry) => FenceShape::parse_geometry(geometry),
        StoredShape::Circle(circle) => FenceShape::parse_circle(circle),
    }
    .map_err(|e| corrupt(format!("shape: {e:?}")))?;
    let band = AltitudeBand::parse(row.lower_m, row.upper_m, datum)
        .map_err(|e| corrupt(format!("band: {e:?}")))?;
    let schedule = row
        .schedule
        .clone()
        .map(|raw| {
            let raw: RawSchedule =
                serde_json::from_value(raw).map_err(|e| corrupt(format!("schedule: {e}")))?;
            Schedule::parse(&raw).map_err(|e| corrupt(format!("schedule: {e:?}")))
        })
        .transpose()?;
    Ok(Geofence {
        id: GeofenceId::from_uuid(row.id),
        org_id: OrgId::from_uuid(row.org_id),
        name: row.name,
        kind,
        shape,
        band,
        schedule,
        active: row.active,
        version: row.version,
        created_by: UserId::from_uuid(row.created_by),
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}
