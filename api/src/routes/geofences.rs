//! `/geofences`: the organisation's airspace restrictions. Viewers read; operators and
//! admins write.

use actix_web::http::header;
use actix_web::{delete, get, patch, post, web, HttpRequest, HttpResponse};
use domain::airspace::GeofenceFilter;
use domain::telemetry::BBox;
use domain::user::Role;
use domain::GeofenceId;
use uuid::Uuid;

use super::location;
use crate::auth::{Operator, Principal};
use crate::dto::{
    CreateGeofenceRequest, GeofenceList, GeofenceQuery, GeofenceResponse, ImportDocument,
    ImportResponse, Problem, UpdateGeofenceRequest,
};
use crate::error::ApiError;
use crate::extract::{encode_cursor, Pagination, ValidJson};
use crate::services::{etag, GeofenceService, Precondition};

pub fn configure(cfg: &mut web::ServiceConfig) {
    // The fixed paths before `{id}`.
    cfg.service(export_geofences)
        .service(import_geofences)
        .service(list_geofences)
        .service(create_geofence)
        .service(get_geofence)
        .service(update_geofence)
        .service(delete_geofence);
}

/// The organisation's geofences in creation order, optionally by kind and bounding box.
#[utoipa::path(context_path = "/api/v1", tag = "geofences", security(("bearer" = [])), params(Pagination, GeofenceQuery),
    responses(
        (status = 200, body = GeofenceList),
        (status = 422, description = "bad bbox", body = Problem, content_type = "application/problem+json"),
    ))]
#[get("/geofences")]
pub async fn list_geofences(
    fences: web::Data<GeofenceService>,
    principal: Principal,
    page: web::Query<Pagination>,
    query: web::Query<GeofenceQuery>,
) -> Result<HttpResponse, ApiError> {
    let caller = principal.require(Role::Viewer)?;
    let filter = GeofenceFilter {
        kind: query.kind,
        bbox: query.bbox.as_deref().map(BBox::parse).transpose()?,
    };
    let page = fences
        .list(caller.org_id, &filter, page.page_request()?)
        .await?;
    Ok(HttpResponse::Ok().json(GeofenceList {
        items: page.items.iter().map(Into::into).collect(),
        next_cursor: page.next_after.map(encode_cursor),
    }))
}

/// Creates a geofence (operators and admins): a GeoJSON Polygon or MultiPolygon as
/// `geometry` (at most 10,000 vertices, rings closed and not self-intersecting; a 422
/// names the ring and vertex), or a `circle`; an altitude band; optionally a schedule.
/// Plans are checked against it from now on; pending plans it crosses show up in
/// `GET /flight-plans?conflicts=true`.
#[utoipa::path(context_path = "/api/v1", tag = "geofences", security(("bearer" = [])), request_body = CreateGeofenceRequest, responses(
    (status = 201, body = GeofenceResponse, headers(("ETag" = String), ("Location" = String))),
    (status = 422, body = Problem, content_type = "application/problem+json"),
))]
#[post("/geofences")]
pub async fn create_geofence(
    req: HttpRequest,
    fences: web::Data<GeofenceService>,
    Operator(caller): Operator,
    body: ValidJson<CreateGeofenceRequest>,
) -> Result<HttpResponse, ApiError> {
    let fence = fences.create(&caller, &body.0.into()).await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, location(&req, fence.id)))
        .insert_header(header::ETag(etag(fence.version)))
        .json(GeofenceResponse::from(&fence)))
}

/// One geofence.
#[utoipa::path(context_path = "/api/v1", tag = "geofences", security(("bearer" = [])), params(("id" = Uuid, Path)), responses(
    (status = 200, body = GeofenceResponse, headers(("ETag" = String))),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[get("/geofences/{id}")]
pub async fn get_geofence(
    fences: web::Data<GeofenceService>,
    principal: Principal,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let caller = principal.require(Role::Viewer)?;
    let fence = fences
        .get(caller.org_id, GeofenceId::from_uuid(*id))
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header(header::ETag(etag(fence.version)))
        .json(GeofenceResponse::from(&fence)))
}

/// Changes a geofence (operators and admins); honours `If-Match`. Every rule is checked
/// again.
#[utoipa::path(context_path = "/api/v1", tag = "geofences", security(("bearer" = [])), params(("id" = Uuid, Path), ("If-Match" = Option<String>, Header)),
    request_body = UpdateGeofenceRequest, responses(
    (status = 200, body = GeofenceResponse, headers(("ETag" = String))),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 409, description = "changed concurrently", body = Problem, content_type = "application/problem+json"),
    (status = 412, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
))]
#[patch("/geofences/{id}")]
pub async fn update_geofence(
    req: HttpRequest,
    fences: web::Data<GeofenceService>,
    Operator(caller): Operator,
    id: web::Path<Uuid>,
    body: ValidJson<UpdateGeofenceRequest>,
) -> Result<HttpResponse, ApiError> {
    let precondition = Precondition::from_request(&req)?;
    let fence = fences
        .update(
            caller.org_id,
            GeofenceId::from_uuid(*id),
            &precondition,
            body.0.into(),
        )
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header(header::ETag(etag(fence.version)))
        .json(GeofenceResponse::from(&fence)))
}

/// Deletes a geofence (operators and admins).
#[utoipa::path(context_path = "/api/v1", tag = "geofences", security(("bearer" = [])), params(("id" = Uuid, Path)), responses(
    (status = 204, description = "deleted"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[delete("/geofences/{id}")]
pub async fn delete_geofence(
    fences: web::Data<GeofenceService>,
    Operator(caller): Operator,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    fences
        .delete(caller.org_id, GeofenceId::from_uuid(*id))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Every geofence as a GeoJSON FeatureCollection: polygons as they are, circles as a
/// `Point` with `properties.radius_m`; the other fields in `properties`. `POST
/// /geofences/import` reads it back.
#[utoipa::path(context_path = "/api/v1", tag = "geofences", security(("bearer" = [])), responses(
    (status = 200, description = "a GeoJSON FeatureCollection", content_type = "application/geo+json", body = Object),
))]
#[get("/geofences/export")]
pub async fn export_geofences(
    fences: web::Data<GeofenceService>,
    principal: Principal,
) -> Result<HttpResponse, ApiError> {
    let caller = principal.require(Role::Viewer)?;
    let collection = fences.export(caller.org_id).await?;
    Ok(HttpResponse::Ok()
        .content_type("application/geo+json")
        .insert_header((
            header::CONTENT_DISPOSITION,
            "attachment; filename=\"geofences.geojson\"",
        ))
        .json(collection))
}

/// Creates geofences from a GeoJSON FeatureCollection (as export writes it) or from an
/// EUROCAE ED-269 UAS-zone document (operators and admins). ED-269 zones map onto fences:
/// `restriction` PROHIBITED → prohibited, REQ_AUTHORISATION and CONDITIONAL → restricted,
/// NO_RESTRICTION → advisory; each `geometry` entry with its limits (FT converted to
/// metres; AGL → agl, AMSL and WGS84 → amsl) becomes one fence named after the zone and its
/// identifier; the first `applicability` entry becomes the schedule (UTC). Every field that
/// has no counterpart is listed in `unsupported`. All features are stored, or none: a 422
/// names each bad one as `features[i].…`.
#[utoipa::path(context_path = "/api/v1", tag = "geofences", security(("bearer" = [])), request_body(content = Object, description = "a GeoJSON FeatureCollection or an ED-269 document"), responses(
    (status = 200, body = ImportResponse),
    (status = 422, body = Problem, content_type = "application/problem+json"),
))]
#[post("/geofences/import")]
pub async fn import_geofences(
    fences: web::Data<GeofenceService>,
    Operator(caller): Operator,
    body: ValidJson<ImportDocument>,
) -> Result<HttpResponse, ApiError> {
    let imported: ImportResponse = fences.import(&caller, &body.0 .0).await?;
    Ok(HttpResponse::Ok().json(imported))
}
