use std::fmt;

/// Declares [`FieldCode`]: one line per code with its wire name and what it means. The API's
/// problem documents, the OpenAPI schema and the README's error table are all produced from
/// this list, so a code cannot exist in one place and not the others.
macro_rules! field_codes {
    ($($variant:ident => $name:literal, $doc:literal;)+) => {
        /// Why one input field was refused (`errors[].code` of a `validation_failed` problem
        /// and of a telemetry batch's per-point errors).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum FieldCode {
            $(#[doc = $doc] $variant,)+
        }

        impl FieldCode {
            pub const ALL: &'static [FieldCode] = &[$(FieldCode::$variant),+];

            /// The stable snake_case name clients match on.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(FieldCode::$variant => $name,)+
                }
            }

            /// One line saying when the code is given.
            pub fn doc(self) -> &'static str {
                match self {
                    $(FieldCode::$variant => $doc,)+
                }
            }
        }
    };
}

field_codes! {
    Required => "required", "A required field is missing.";
    InvalidType => "invalid_type", "The value has the wrong JSON type or shape.";
    Invalid => "invalid", "The value breaks a rule of its field.";
    Empty => "empty", "A list that must hold at least one item is empty.";
    Length => "length", "Text or a list is shorter or longer than allowed.";
    InvalidCharacters => "invalid_characters", "Text holds characters the field does not allow.";
    InvalidEmail => "invalid_email", "Not an email address.";
    OutOfRange => "out_of_range", "A number is outside its allowed range.";
    NotFinite => "not_finite", "A number is NaN or infinite.";
    NotPositive => "not_positive", "A number must be greater than zero.";
    Negative => "negative", "A number must not be negative.";
    BelowGround => "below_ground", "A waypoint is below the take-off point.";
    AboveCeiling => "above_ceiling", "A waypoint is above the installation's altitude ceiling.";
    AboveDroneMaxAltitude => "above_drone_max_altitude", "A waypoint is above the drone's maximum altitude.";
    AboveDroneMaxSpeed => "above_drone_max_speed", "A leg is faster than the drone's maximum speed.";
    HoldTooLong => "hold_too_long", "A hover is longer than allowed.";
    TooFewWaypoints => "too_few_waypoints", "A plan has fewer than 2 waypoints.";
    TooManyWaypoints => "too_many_waypoints", "A plan has more waypoints than `flight_plans.max_waypoints`.";
    StartInPast => "start_in_past", "A plan's start is not in the future.";
    EndBeforeStart => "end_before_start", "A plan's end is not after its start.";
    ExceedsEndurance => "exceeds_endurance", "The flight needs more than the drone's endurance less the reserve.";
    WindowTooShort => "window_too_short", "The planned window is shorter than the flight.";
    InFuture => "in_future", "A point's time is further ahead than `telemetry.max_future_skew_s`.";
    TooOld => "too_old", "A point's time is older than the retention window.";
    InvalidBbox => "invalid_bbox", "A bounding box is not `minLon,minLat,maxLon,maxLat` within range.";
    InvalidInterval => "invalid_interval", "A bucket width is not a duration such as `10s`, `1m` or `1h` within 1 s to 1 day.";
    UnknownDrone => "unknown_drone", "No such drone in the organisation.";
    ForbiddenDrone => "forbidden_drone", "An API key may only act for its own drone.";
    DroneRetired => "drone_retired", "The drone is retired and takes no telemetry.";
    DuplicateInBatch => "duplicate_in_batch", "The batch holds another point of the same drone at the same `ts`; only the first is taken.";
    UnknownPlan => "unknown_plan", "No such flight plan for this drone.";
    ShardUnavailable => "shard_unavailable", "The shard holding the drone cannot take points now; send the point again later (it is safe).";
    SelfIntersection => "self_intersection", "A geofence ring crosses itself; `field` names the vertex where the crossing edge starts.";
    UnclosedRing => "unclosed_ring", "A polygon ring's last position is not its first.";
    TooManyVertices => "too_many_vertices", "A geofence has more vertices than allowed (10,000).";
    InvalidGeometry => "invalid_geometry", "A geometry is not a valid GeoJSON Polygon or MultiPolygon, or its rings overlap.";
    InvertedBand => "inverted_band", "An altitude band's `lower_m` is not below its `upper_m`.";
    UnknownTimeZone => "unknown_time_zone", "Not an IANA time zone name such as `Europe/Berlin`.";
    IdempotencyKeyReused => "idempotency_key_reused", "The `Idempotency-Key` was used with a different request.";
}

impl fmt::Display for FieldCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for FieldCode {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl serde::Serialize for FieldCode {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// One problem with one input field. `field` is a JSON path such as `serial` or
/// `waypoints[2].alt_m`, so a client can show the message next to the input it names.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct FieldError {
    pub field: String,
    pub code: FieldCode,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, code: FieldCode, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            code,
            message: message.into(),
        }
    }

    /// The same error reported under a parent path (`alt_m` → `home.alt_m`).
    pub fn under(mut self, parent: &str) -> Self {
        self.field = if self.field.is_empty() {
            parent.to_owned()
        } else {
            format!("{parent}.{}", self.field)
        };
        self
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// Every problem found in one input, collected rather than stopping at the first.
#[derive(Debug, Clone, Default, PartialEq, thiserror::Error)]
#[error("{} validation error(s)", .0.len())]
pub struct ValidationErrors(pub Vec<FieldError>);

impl ValidationErrors {
    pub fn push(&mut self, error: FieldError) {
        self.0.push(error);
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Records the error of `result` (if any) and hands back its value.
    pub fn collect<T>(&mut self, result: Result<T, FieldError>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(error) => {
                self.0.push(error);
                None
            }
        }
    }

    /// Like [`ValidationErrors::collect`] for a result that may carry several errors.
    pub fn collect_all<T>(&mut self, result: Result<T, ValidationErrors>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(errors) => {
                self.0.extend(errors.0);
                None
            }
        }
    }

    pub fn into_result(self) -> Result<(), ValidationErrors> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(self)
        }
    }
}

impl From<FieldError> for ValidationErrors {
    fn from(error: FieldError) -> Self {
        Self(vec![error])
    }
}

/// Which uniqueness rule a write broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConflictKind {
    /// A drone with this serial is already registered in the organisation.
    Serial,
    /// A user with this email exists.
    Email,
    /// An organisation with this name exists.
    OrgName,
    /// An API key with this public prefix exists (prefixes are random: a retry succeeds).
    KeyPrefix,
    /// The change would leave the organisation without an admin.
    LastAdmin,
}

impl fmt::Display for ConflictKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Serial => "serial",
            Self::Email => "email",
            Self::OrgName => "organisation name",
            Self::KeyPrefix => "API key prefix",
            Self::LastAdmin => "last admin",
        })
    }
}

/// What a storage adapter can report. Adapters keep the underlying cause as the source so
/// the API can log the whole chain while answering with a generic message.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{entity} not found")]
    NotFound { entity: &'static str },
    /// A uniqueness rule was broken.
    #[error("{0} already exists")]
    Conflict(ConflictKind),
    /// An optimistic-concurrency check failed: the row changed since it was read.
    #[error("{entity} was modified concurrently")]
    VersionMismatch { entity: &'static str },
    #[error("shard {shard} is unavailable")]
    ShardUnavailable {
        shard: u16,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The catalog (organisations, users, keys, serial registry) cannot be reached.
    #[error("catalog database is unavailable")]
    CatalogUnavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("storage failure")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl StoreError {
    pub fn backend(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Backend(Box::new(error))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_codes_are_unique_snake_case_and_documented() {
        let mut seen = std::collections::HashSet::new();
        for code in FieldCode::ALL {
            assert!(seen.insert(code.as_str()), "{code} is listed twice");
            assert!(code
                .as_str()
                .chars()
                .all(|c| c.is_ascii_lowercase() || c == '_'));
            assert!(code.doc().ends_with('.'), "{code} needs a doc line");
        }
    }
}
