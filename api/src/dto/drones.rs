use chrono::{DateTime, Utc};
use domain::drone::{
    all_ok, parse_link_timeout, parse_text, Drone, DronePatch, DroneStatus, Limits, NewDrone,
    Serial, NAME_MAX_LEN, TEXT_MAX_LEN,
};
use domain::position::Position;
use domain::{FieldCode, FieldError, OrgId, ValidationErrors};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use validator::Validate;

use super::double_option;

/// A position: WGS 84 degrees and metres above the take-off point.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"lat": 47.3769, "lon": 8.5417, "alt_m": 0.0}))]
pub struct PositionDto {
    /// Degrees north, −90…90.
    pub lat: f64,
    /// Degrees east, −180…180.
    pub lon: f64,
    /// Metres above the take-off point.
    pub alt_m: f64,
}

impl From<Position> for PositionDto {
    fn from(p: Position) -> Self {
        Self {
            lat: p.lat.get(),
            lon: p.lon.get(),
            alt_m: p.alt_m.get(),
        }
    }
}

fn parse_position(dto: PositionDto, field: &str) -> Result<Position, ValidationErrors> {
    Position::parse(dto.lat, dto.lon, dto.alt_m)
        .map_err(|e| ValidationErrors(e.0.into_iter().map(|f| f.under(field)).collect()))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DroneResponse {
    pub id: Uuid,
    #[schema(example = "M300-0042")]
    pub serial: String,
    #[schema(example = "Survey 1")]
    pub name: String,
    #[schema(example = "Matrice 300 RTK")]
    pub model: String,
    #[schema(example = "DJI")]
    pub manufacturer: Option<String>,
    #[schema(schema_with = super::enums::drone_status, example = "active")]
    pub status: DroneStatus,
    #[schema(example = 120.0)]
    pub max_altitude_m: f64,
    #[schema(example = 23.0)]
    pub max_speed_mps: f64,
    #[schema(example = 45)]
    pub endurance_min: u32,
    #[schema(example = "v04.01.0000")]
    pub firmware_version: Option<String>,
    pub home: Option<PositionDto>,
    /// Seconds the drone may stay silent in flight before `link_lost`, when it has its
    /// own (else the installation's `monitoring.link_timeout_s`).
    #[schema(example = 120.0)]
    pub link_timeout_s: Option<f64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Incremented on every change; also the `ETag`.
    pub version: i64,
}

impl From<Drone> for DroneResponse {
    fn from(d: Drone) -> Self {
        Self {
            id: d.id.as_uuid(),
            serial: d.serial.as_str().to_owned(),
            name: d.name,
            model: d.model,
            manufacturer: d.manufacturer,
            status: d.status,
            max_altitude_m: d.limits.max_altitude_m,
            max_speed_mps: d.limits.max_speed_mps,
            endurance_min: d.limits.endurance_min,
            firmware_version: d.firmware_version,
            home: d.home.map(Into::into),
            link_timeout_s: d.link_timeout_s,
            created_at: d.created_at,
            updated_at: d.updated_at,
            version: d.version,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DroneList {
    pub items: Vec<DroneResponse>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
    /// True when a shard could not be read and its drones are missing from this page.
    pub incomplete: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, Validate, ToSchema)]
#[schema(example = json!({
    "serial": "M300-0042", "name": "Survey 1", "model": "Matrice 300 RTK", "manufacturer": "DJI",
    "max_altitude_m": 120.0, "max_speed_mps": 23.0, "endurance_min": 45,
    "home": {"lat": 47.3769, "lon": 8.5417, "alt_m": 0.0}
}))]
#[serde(deny_unknown_fields)]
pub struct CreateDroneRequest {
    /// Unique within the organisation; 1–64 of `A–Z a–z 0–9 - _ . /`.
    pub serial: String,
    pub name: String,
    pub model: String,
    pub manufacturer: Option<String>,
    /// Defaults to `active`.
    #[schema(schema_with = super::enums::drone_status)]
    pub status: Option<DroneStatus>,
    pub max_altitude_m: f64,
    pub max_speed_mps: f64,
    pub endurance_min: u32,
    pub firmware_version: Option<String>,
    pub home: Option<PositionDto>,
    /// The drone's own link timeout, 1–3600 s (e.g. 120 for a satellite link); absent:
    /// the installation's `monitoring.link_timeout_s`.
    pub link_timeout_s: Option<f64>,
}

fn optional_text(
    errors: &mut ValidationErrors,
    field: &'static str,
    value: Option<&str>,
) -> Option<String> {
    value.and_then(|v| errors.collect(parse_text(field, v, TEXT_MAX_LEN)))
}

impl CreateDroneRequest {
    /// Parses into a domain drone, reporting every invalid field.
    pub fn into_new_drone(self, org_id: OrgId) -> Result<NewDrone, ValidationErrors> {
        let mut errors = ValidationErrors::default();
        let serial = errors.collect(Serial::parse(&self.serial));
        let name = errors.collect(parse_text("name", &self.name, NAME_MAX_LEN));
        let model = errors.collect(parse_text("model", &self.model, TEXT_MAX_LEN));
        let manufacturer = optional_text(&mut errors, "manufacturer", self.manufacturer.as_deref());
        let firmware_version = optional_text(
            &mut errors,
            "firmware_version",
            self.firmware_version.as_deref(),
        );
        let max_altitude_m = errors.collect(Limits::parse_altitude(self.max_altitude_m));
        let max_speed_mps = errors.collect(Limits::parse_speed(self.max_speed_mps));
        let endurance_min = errors.collect(Limits::parse_endurance(self.endurance_min));
        let home = match self.home.map(|h| parse_position(h, "home")) {
            Some(Err(e)) => {
                errors.0.extend(e.0);
                None
            }
            Some(Ok(p)) => Some(p),
            None => None,
        };
        let link_timeout_s = self
            .link_timeout_s
            .and_then(|v| errors.collect(parse_link_timeout(v)));
        let drone = (|| {
            Some(NewDrone {
                org_id,
                serial: serial?,
                name: name?,
                model: model?,
                manufacturer,
                status: self.status.unwrap_or(DroneStatus::Active),
                limits: Limits {
                    max_altitude_m: max_altitude_m?,
                    max_speed_mps: max_speed_mps?,
                    endurance_min: endurance_min?,
                },
                firmware_version,
                home,
                link_timeout_s,
            })
        })();
        all_ok(errors, drone)
    }
}

/// A partial update: absent fields stay as they are; `null` clears an optional field.
#[derive(Debug, Default, Serialize, Deserialize, Validate, ToSchema)]
#[schema(example = json!({"status": "maintenance", "firmware_version": "v04.02.0000"}))]
#[serde(deny_unknown_fields)]
pub struct UpdateDroneRequest {
    pub serial: Option<String>,
    pub name: Option<String>,
    pub model: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, nullable)]
    pub manufacturer: Option<Option<String>>,
    #[schema(schema_with = super::enums::drone_status)]
    pub status: Option<DroneStatus>,
    pub max_altitude_m: Option<f64>,
    pub max_speed_mps: Option<f64>,
    pub endurance_min: Option<u32>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, nullable)]
    pub firmware_version: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<PositionDto>, nullable)]
    pub home: Option<Option<PositionDto>>,
    /// The drone's own link timeout, 1–3600 s; `null` goes back to the installation's.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<f64>, nullable)]
    pub link_timeout_s: Option<Option<f64>>,
}

impl UpdateDroneRequest {
    pub fn into_patch(self) -> Result<DronePatch, ValidationErrors> {
        let mut errors = ValidationErrors::default();
        let mut collect_text = |field: &'static str, value: Option<String>, max: usize| {
            value.and_then(|v| errors.collect(parse_text(field, &v, max)))
        };
        let name = collect_text("name", self.name, NAME_MAX_LEN);
        let model = collect_text("model", self.model, TEXT_MAX_LEN);
        let manufacturer = self
            .manufacturer
            .map(|m| m.and_then(|v| errors.collect(parse_text("manufacturer", &v, TEXT_MAX_LEN))));
        let firmware_version = self.firmware_version.map(|f| {
            f.and_then(|v| errors.collect(parse_text("firmware_version", &v, TEXT_MAX_LEN)))
        });
        let serial = self.serial.and_then(|s| errors.collect(Serial::parse(&s)));
        let max_altitude_m = self
            .max_altitude_m
            .and_then(|v| errors.collect(Limits::parse_altitude(v)));
        let max_speed_mps = self
            .max_speed_mps
            .and_then(|v| errors.collect(Limits::parse_speed(v)));
        let endurance_min = self
            .endurance_min
            .and_then(|v| errors.collect(Limits::parse_endurance(v)));
        let home = match self.home {
            Some(Some(dto)) => match parse_position(dto, "home") {
                Ok(p) => Some(Some(p)),
                Err(e) => {
                    errors.0.extend(e.0);
                    None
                }
            },
            Some(None) => Some(None),
            None => None,
        };
        let link_timeout_s = self
            .link_timeout_s
            .map(|t| t.and_then(|v| errors.collect(parse_link_timeout(v))));
        let patch = DronePatch {
            serial,
            name,
            model,
            manufacturer,
            status: self.status,
            max_altitude_m,
            max_speed_mps,
            endurance_min,
            firmware_version,
            home,
            link_timeout_s,
        };
        all_ok(errors, Some(patch))
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DroneQuery {
    /// Only drones with this status.
    #[param(schema_with = super::enums::drone_status, example = "active")]
    pub status: Option<DroneStatus>,
    /// Only drones of this model (exact match).
    pub model: Option<String>,
    /// Case-insensitive search in name and serial.
    pub q: Option<String>,
}

impl DroneQuery {
    pub fn filter(&self) -> Result<domain::drone::DroneFilter, FieldError> {
        let q = self.q.as_deref().map(str::trim).filter(|q| !q.is_empty());
        if q.is_some_and(|q| q.chars().count() > 100) {
            return Err(FieldError::new(
                "q",
                FieldCode::Length,
                "must be at most 100 characters",
            ));
        }
        Ok(domain::drone::DroneFilter {
            status: self.status,
            model: self.model.clone(),
            q: q.map(str::to_owned),
        })
    }
}
