//! Fences in and out as documents: a GeoJSON FeatureCollection (what export writes), and the
//! EUROCAE ED-269 UAS-zone JSON that aviation authorities publish, mapped field by field.
//! Whatever an input holds that a fence cannot represent is reported, never dropped
//! silently.

use domain::airspace::{
    Circle, Datum, FenceKind, Geofence, GeofenceInput, RawGeometry, RawSchedule, RawWindow, Weekday,
};
use domain::{FieldCode, FieldError, ValidationErrors};
use serde_json::{json, Map, Value};

use crate::dto::UnsupportedField;

/// Most features one import may hold.
pub const MAX_FEATURES: usize = 10_000;

const FT_TO_M: f64 = 0.3048;

/// What an import document holds: the fences to create, by feature index, and what could
/// not be represented.
#[derive(Debug, Default)]
pub struct Imported {
    pub fences: Vec<(usize, GeofenceInput)>,
    pub unsupported: Vec<UnsupportedField>,
}

/// Reads a FeatureCollection or an ED-269 document. Errors name `features[i].…`.
pub fn parse_import(doc: &Value) -> Result<Imported, ValidationErrors> {
    let Some(features) = doc.get("features").and_then(Value::as_array) else {
        return Err(FieldError::new(
            "features",
            FieldCode::Required,
            "expected a GeoJSON FeatureCollection or an ED-269 document with `features`",
        )
        .into());
    };
    if features.len() > MAX_FEATURES {
        return Err(FieldError::new(
            "features",
            FieldCode::Length,
            format!("at most {MAX_FEATURES} features per import"),
        )
        .into());
    }
    let geojson = doc.get("type").and_then(Value::as_str) == Some("FeatureCollection");
    let mut out = Imported::default();
    let mut errors = ValidationErrors::default();
    if !geojson {
        for key in doc.as_object().into_iter().flat_map(Map::keys) {
            if key != "features" {
                out.unsupported.push(UnsupportedField {
                    feature: 0,
                    field: format!("/{key}"),
                    reason: "document-level ED-269 fields are not kept".into(),
                });
            }
        }
    }
    for (i, feature) in features.iter().enumerate() {
        let mut report = |field: &str, reason: &str| {
            out.unsupported.push(UnsupportedField {
                feature: i,
                field: field.to_owned(),
                reason: reason.to_owned(),
            })
        };
        let parsed = if geojson {
            from_geojson(feature, &mut report).map(|f| vec![f])
        } else {
            from_ed269(feature, &mut report)
        };
        match parsed {
            Ok(fences) => out.fences.extend(fences.into_iter().map(|f| (i, f))),
            Err(e) => errors
                .0
                .extend(e.0.into_iter().map(|e| e.under(&format!("features[{i}]")))),
        }
    }
    errors.into_result().map(|()| out)
}

fn field<T: serde::de::DeserializeOwned>(
    object: &Map<String, Value>,
    name: &str,
    errors: &mut ValidationErrors,
) -> Option<T> {
    let value = object.get(name).filter(|v| !v.is_null())?;
    match serde_json::from_value(value.clone()) {
        Ok(v) => Some(v),
        Err(e) => {
            errors.push(FieldError::new(name, FieldCode::InvalidType, e.to_string()));
            None
        }
    }
}

fn required<T>(value: Option<T>, name: &str, errors: &mut ValidationErrors) -> Option<T> {
    if value.is_none() && !errors.0.iter().any(|e| e.field == name) {
        errors.push(FieldError::new(name, FieldCode::Required, "is required"));
    }
    value
}

/// A Feature as export writes it: a Polygon or MultiPolygon, or a Point with
/// `properties.radius_m` for a circle.
fn from_geojson(
    feature: &Value,
    report: &mut impl FnMut(&str, &str),
) -> Result<GeofenceInput, ValidationErrors> {
    let mut errors = ValidationErrors::default();
    let empty = Map::new();
    let object = feature.as_object().unwrap_or(&empty);
    for key in object.keys() {
        if !matches!(key.as_str(), "type" | "geometry" | "properties" | "id") {
            report(key, "not a GeoJSON Feature member");
        }
    }
    if object.contains_key("id") {
        report("id", "ids are assigned on import");
    }
    let properties = object
        .get("properties")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    const KNOWN: [&str; 9] = [
        "name", "kind", "lower_m", "upper_m", "datum", "schedule", "active", "radius_m", "id",
    ];
    for key in properties.keys() {
        if !KNOWN.contains(&key.as_str()) {
            report(&format!("properties.{key}"), "no such geofence field");
        } else if key == "id" {
            report("properties.id", "ids are assigned on import");
        }
    }
    let mut props = ValidationErrors::default();
    let name: Option<String> = field(properties, "name", &mut props);
    let kind: Option<FenceKind> = field(properties, "kind", &mut props);
    let lower_m: Option<f64> = field(properties, "lower_m", &mut props);
    let upper_m: Option<f64> = field(properties, "upper_m", &mut props);
    let datum: Option<Datum> = field(properties, "datum", &mut props);
    let schedule: Option<RawSchedule> = field(properties, "schedule", &mut props);
    let active: Option<bool> = field(properties, "active", &mut props);
    let radius_m: Option<f64> = field(properties, "radius_m", &mut props);
    let (name, kind, lower_m, upper_m) = (
        required(name, "name", &mut props),
        required(kind, "kind", &mut props),
        required(lower_m, "lower_m", &mut props),
        required(upper_m, "upper_m", &mut props),
    );
    errors
        .0
        .extend(props.0.into_iter().map(|e| e.under("properties")));
    let geometry = object.get("geometry").cloned().unwrap_or(Value::Null);
    let (geometry, circle) = match geometry.get("type").and_then(Value::as_str) {
        Some("Point") => {
            let at: Option<Vec<f64>> = geometry
                .get("coordinates")
                .and_then(|c| serde_json::from_value(c.clone()).ok());
            match (at.as_deref(), radius_m) {
                (Some([lon, lat, ..]), Some(radius_m)) => (
                    None,
                    Some(Circle {
                        lat: *lat,
                        lon: *lon,
                        radius_m,
                    }),
                ),
                _ => {
                    errors.push(FieldError::new(
                        "properties.radius_m",
                        FieldCode::Required,
                        "a Point is a circle: give its centre as [lon, lat] and properties.radius_m",
                    ));
                    (None, None)
                }
            }
        }
        _ => match serde_json::from_value::<RawGeometry>(geometry) {
            Ok(g) => (Some(g), None),
            Err(e) => {
                errors.push(FieldError::new(
                    "geometry",
                    FieldCode::InvalidGeometry,
                    format!("expected a Polygon, MultiPolygon or Point: {e}"),
                ));
                (None, None)
            }
        },
    };
    match (name, kind, lower_m, upper_m) {
        (Some(name), Some(kind), Some(lower_m), Some(upper_m)) if errors.is_empty() => {
            Ok(GeofenceInput {
                name,
                kind,
                geometry,
                circle,
                lower_m,
                upper_m,
                datum: datum.unwrap_or_default(),
                schedule,
                active: active.unwrap_or(true),
            })
        }
        _ => Err(errors),
    }
}

/// An ED-269 UAS zone: one fence per entry of its `geometry` (each has its own limits).
fn from_ed269(
    zone: &Value,
    report: &mut impl FnMut(&str, &str),
) -> Result<Vec<GeofenceInput>, ValidationErrors> {
    let mut errors = ValidationErrors::default();
    let empty = Map::new();
    let object = zone.as_object().unwrap_or(&empty);
    for key in object.keys() {
        match key.as_str() {
            "identifier" | "name" | "restriction" | "geometry" | "applicability" => {}
            "country"
            | "type"
            | "region"
            | "reason"
            | "otherReasonInfo"
            | "regulationExemption"
            | "uSpaceClass"
            | "message"
            | "zoneAuthority"
            | "extendedProperties"
            | "restrictionConditions" => report(
                key,
                "an ED-269 field that NimbusFleet geofences do not represent",
            ),
            _ => report(key, "not an ED-269 UAS zone field"),
        }
    }
    let identifier = object.get("identifier").and_then(Value::as_str);
    let name = object.get("name").and_then(Value::as_str);
    let name = match (name, identifier) {
        (Some(name), Some(id)) => format!("{name} [{id}]"),
        (Some(one), None) | (None, Some(one)) => one.to_owned(),
        (None, None) => {
            errors.push(FieldError::new(
                "identifier",
                FieldCode::Required,
                "a zone needs an identifier or a name",
            ));
            String::new()
        }
    };
    let kind = match object.get("restriction").and_then(Value::as_str) {
        Some("PROHIBITED") => Some(FenceKind::Prohibited),
        Some("REQ_AUTHORISATION") => Some(FenceKind::Restricted),
        Some("CONDITIONAL") => {
            report(
                "restriction",
                "CONDITIONAL is imported as restricted (an authorisation reference is needed); its conditions are not evaluated",
            );
            Some(FenceKind::Restricted)
        }
        Some("NO_RESTRICTION") => Some(FenceKind::Advisory),
        other => {
            errors.push(FieldError::new(
                "restriction",
                FieldCode::Invalid,
                format!(
                    "expected PROHIBITED, REQ_AUTHORISATION, CONDITIONAL or NO_RESTRICTION, got {}",
                    other.unwrap_or("nothing")
                ),
            ));
            None
        }
    };
    let schedule = applicability(object.get("applicability"), report, &mut errors);
    let volumes = object
        .get("geometry")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if volumes.is_empty() {
        errors.push(FieldError::new(
            "geometry",
            FieldCode::Empty,
            "a zone needs at least one geometry",
        ));
    }
    let mut fences = Vec::new();
    for (g, volume) in volumes.iter().enumerate() {
        let path = format!("geometry[{g}]");
        let mut volume_errors = ValidationErrors::default();
        let parsed = ed269_volume(volume, &path, report, &mut volume_errors);
        errors.0.extend(volume_errors.0);
        if let (Some((shape, lower_m, upper_m, datum)), Some(kind)) = (parsed, kind) {
            let (geometry, circle) = shape;
            let name = if volumes.len() > 1 {
                format!("{name} #{}", g + 1)
            } else {
                name.clone()
            };
            fences.push(GeofenceInput {
                name,
                kind,
                geometry,
                circle,
                lower_m,
                upper_m,
                datum,
                schedule: schedule.clone(),
                active: true,
            });
        }
    }
    errors.into_result().map(|()| fences)
}

type Shape = (Option<RawGeometry>, Option<Circle>);

fn ed269_volume(
    volume: &Value,
    path: &str,
    report: &mut impl FnMut(&str, &str),
    errors: &mut ValidationErrors,
) -> Option<(Shape, f64, f64, Datum)> {
    let empty = Map::new();
    let object = volume.as_object().unwrap_or(&empty);
    for key in object.keys() {
        if !matches!(
            key.as_str(),
            "uomDimensions"
                | "lowerLimit"
                | "lowerVerticalReference"
                | "upperLimit"
                | "upperVerticalReference"
                | "horizontalProjection"
        ) {
            report(&format!("{path}.{key}"), "not an ED-269 geometry field");
        }
    }
    let scale = match object.get("uomDimensions").and_then(Value::as_str) {
        None | Some("M") => 1.0,
        Some("FT") => FT_TO_M,
        Some(other) => {
            errors.push(FieldError::new(
                format!("{path}.uomDimensions"),
                FieldCode::Invalid,
                format!("expected M or FT, got {other}"),
            ));
            1.0
        }
    };
    let limit = |name: &str, errors: &mut ValidationErrors| {
        let value = object.get(name).and_then(Value::as_f64);
        if value.is_none() {
            errors.push(FieldError::new(
                format!("{path}.{name}"),
                FieldCode::Required,
                "a number is required",
            ));
        }
        value.map(|v| v * scale)
    };
    let lower = limit("lowerLimit", errors);
    let upper = limit("upperLimit", errors);
    let reference = |name: &str, report: &mut dyn FnMut(&str, &str)| match object
        .get(name)
        .and_then(Value::as_str)
    {
        None | Some("AGL") => Datum::Agl,
        Some("AMSL") => Datum::Amsl,
        Some("WGS84") => {
            report(
                &format!("{path}.{name}"),
                "WGS84 ellipsoid heights are taken as AMSL (the geoid separation is not applied)",
            );
            Datum::Amsl
        }
        Some(_) => {
            report(&format!("{path}.{name}"), "unknown reference, taken as AGL");
            Datum::Agl
        }
    };
    let lower_datum = reference("lowerVerticalReference", report);
    let upper_datum = reference("upperVerticalReference", report);
    if lower_datum != upper_datum {
        report(
            &format!("{path}.lowerVerticalReference"),
            "a band has one datum: the upper limit's reference is used for both",
        );
    }
    let projection = object
        .get("horizontalProjection")
        .cloned()
        .unwrap_or(Value::Null);
    let shape = match projection.get("type").and_then(Value::as_str) {
        Some("Circle") => {
            let center: Option<Vec<f64>> = projection
                .get("center")
                .and_then(|c| serde_json::from_value(c.clone()).ok());
            let radius = projection.get("radius").and_then(Value::as_f64);
            match (center.as_deref(), radius) {
                (Some([lon, lat, ..]), Some(radius)) => Some((
                    None,
                    Some(Circle {
                        lat: *lat,
                        lon: *lon,
                        radius_m: radius * scale,
                    }),
                )),
                _ => {
                    errors.push(FieldError::new(
                        format!("{path}.horizontalProjection"),
                        FieldCode::InvalidGeometry,
                        "a Circle needs center [lon, lat] and radius",
                    ));
                    None
                }
            }
        }
        _ => match serde_json::from_value::<RawGeometry>(projection) {
            Ok(g) => Some((Some(g), None)),
            Err(e) => {
                errors.push(FieldError::new(
                    format!("{path}.horizontalProjection"),
                    FieldCode::InvalidGeometry,
                    format!("expected a Polygon, MultiPolygon or Circle: {e}"),
                ));
                None
            }
        },
    };
    Some((shape?, lower?, upper?, upper_datum))
}

/// ED-269 applicability: times are UTC; the first entry is kept.
fn applicability(
    raw: Option<&Value>,
    report: &mut impl FnMut(&str, &str),
    errors: &mut ValidationErrors,
) -> Option<RawSchedule> {
    let entries = raw.and_then(Value::as_array)?;
    if entries.len() > 1 {
        report(
            "applicability[1]",
            "only the first applicability entry is kept; import the others as separate zones",
        );
    }
    let first = entries.first()?.as_object()?;
    for key in first.keys() {
        if !matches!(
            key.as_str(),
            "permanent" | "startDateTime" | "endDateTime" | "schedule"
        ) {
            report(
                &format!("applicability[0].{key}"),
                "not an ED-269 applicability field",
            );
        }
    }
    if first.get("permanent").and_then(Value::as_str) == Some("YES") {
        return None;
    }
    let time = |name: &str, errors: &mut ValidationErrors| {
        let raw = first.get(name).and_then(Value::as_str)?;
        match chrono::DateTime::parse_from_rfc3339(raw) {
            Ok(t) => Some(t.with_timezone(&chrono::Utc)),
            Err(_) => {
                errors.push(FieldError::new(
                    format!("applicability[0].{name}"),
                    FieldCode::Invalid,
                    "must be an RFC 3339 time",
                ));
                None
            }
        }
    };
    let valid_from = time("startDateTime", errors);
    let valid_to = time("endDateTime", errors);
    let mut weekly = Vec::new();
    for (w, window) in first
        .get("schedule")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let days: Vec<Weekday> = window
            .get("day")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .flat_map(|day| match day {
                "ANY" => vec![
                    Weekday::Mon,
                    Weekday::Tue,
                    Weekday::Wed,
                    Weekday::Thu,
                    Weekday::Fri,
                    Weekday::Sat,
                    Weekday::Sun,
                ],
                other => serde_json::from_value(json!(other.to_lowercase()))
                    .map(|d| vec![d])
                    .unwrap_or_default(),
            })
            .collect();
        let hhmm = |name: &str| {
            window
                .get(name)
                .and_then(Value::as_str)
                .map(|t| t.chars().take(5).collect::<String>())
                .unwrap_or_default()
        };
        if days.is_empty() {
            report(
                &format!("applicability[0].schedule[{w}].day"),
                "no day in MON…SUN or ANY; the window is skipped",
            );
            continue;
        }
        weekly.push(RawWindow {
            days,
            start: hhmm("startTime"),
            end: hhmm("endTime"),
        });
    }
    Some(RawSchedule {
        valid_from,
        valid_to,
        time_zone: Some("UTC".into()),
        weekly,
    })
}

/// The fences as a GeoJSON FeatureCollection, readable by [`parse_import`]: circles as a
/// Point with `properties.radius_m`.
pub fn export(fences: &[Geofence]) -> Value {
    let features: Vec<Value> = fences
        .iter()
        .map(|fence| {
            let (geometry, circle) = fence.shape.to_raw();
            let mut properties = json!({
                "id": fence.id,
                "name": fence.name,
                "kind": fence.kind,
                "lower_m": fence.band.lower_m,
                "upper_m": fence.band.upper_m,
                "datum": fence.band.datum,
                "schedule": fence.schedule.as_ref().map(|s| s.to_raw()),
                "active": fence.active,
            });
            let geometry = match (geometry, circle) {
                (_, Some(c)) => {
                    properties["radius_m"] = json!(c.radius_m);
                    json!({"type": "Point", "coordinates": [c.lon, c.lat]})
                }
                (Some(g), None) => serde_json::to_value(g).unwrap_or(Value::Null),
                (None, None) => Value::Null,
            };
            json!({"type": "Feature", "id": fence.id, "geometry": geometry, "properties": properties})
        })
        .collect();
    json!({"type": "FeatureCollection", "features": features})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ed269_zone_maps_onto_fences_and_reports_what_it_cannot_keep() {
        let doc = json!({
            "title": "Swiss UAS zones",
            "features": [{
                "identifier": "LSZH-1",
                "country": "CHE",
                "name": "Zurich airport",
                "type": "COMMON",
                "restriction": "REQ_AUTHORISATION",
                "zoneAuthority": [{"name": "FOCA"}],
                "applicability": [{
                    "permanent": "NO",
                    "startDateTime": "2026-01-01T00:00:00Z",
                    "schedule": [{"day": ["MON", "TUE"], "startTime": "06:00:00", "endTime": "22:00:00"}]
                }],
                "geometry": [{
                    "uomDimensions": "FT",
                    "lowerLimit": 0, "lowerVerticalReference": "AGL",
                    "upperLimit": 500, "upperVerticalReference": "AGL",
                    "horizontalProjection": {"type": "Circle", "center": [8.55, 47.45], "radius": 3280.84}
                }]
            }]
        });
        let imported = parse_import(&doc).unwrap();
        assert_eq!(imported.fences.len(), 1);
        let (feature, fence) = &imported.fences[0];
        assert_eq!(*feature, 0);
        assert_eq!(fence.name, "Zurich airport [LSZH-1]");
        assert_eq!(fence.kind, FenceKind::Restricted);
        assert!((fence.upper_m - 152.4).abs() < 1e-9);
        assert!((fence.circle.unwrap().radius_m - 1000.0).abs() < 0.01);
        let schedule = fence.schedule.as_ref().unwrap();
        assert_eq!(schedule.weekly[0].start, "06:00");
        assert_eq!(schedule.weekly[0].days, [Weekday::Mon, Weekday::Tue]);
        assert!(fence.validate().is_ok());
        let fields: Vec<_> = imported
            .unsupported
            .iter()
            .map(|u| u.field.as_str())
            .collect();
        assert_eq!(fields, ["/title", "country", "type", "zoneAuthority"]);
    }

    #[test]
    fn an_export_imports_back_to_the_same_fences() {
        let input = GeofenceInput {
            name: "Pad".into(),
            kind: FenceKind::Prohibited,
            geometry: None,
            circle: Some(Circle {
                lat: 47.0,
                lon: 8.0,
                radius_m: 250.0,
            }),
            lower_m: 0.0,
            upper_m: 100.0,
            datum: Datum::Agl,
            schedule: None,
            active: true,
        };
        let fence = Geofence::new(
            input.validate().unwrap(),
            domain::OrgId::new(),
            domain::UserId::new(),
            chrono::Utc::now(),
        );
        let back = parse_import(&export(std::slice::from_ref(&fence))).unwrap();
        assert_eq!(back.fences[0].1, input);
        let fields: Vec<_> = back.unsupported.iter().map(|u| u.field.as_str()).collect();
        assert_eq!(fields, ["id", "properties.id"]);
    }

    #[test]
    fn a_feature_without_its_required_fields_is_named_by_index() {
        let doc = json!({"type": "FeatureCollection", "features": [
            {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": []}, "properties": {"name": "x"}}
        ]});
        let errors = parse_import(&doc).unwrap_err();
        let fields: Vec<_> = errors.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "features[0].properties.kind",
                "features[0].properties.lower_m",
                "features[0].properties.upper_m"
            ]
        );
    }
}
