use std::fmt;

/// One problem with one input field. `field` is a JSON path such as `serial` or
/// `waypoints[2].alt_m`, so a client can show the message next to the input it names.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct FieldError {
    pub field: String,
    pub code: &'static str,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, code: &'static str, message: impl Into<String>) -> Self {
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

/// What a storage adapter can report. Adapters keep the underlying cause as the source so
/// the API can log the whole chain while answering with a generic message.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{entity} not found")]
    NotFound { entity: &'static str },
    /// A uniqueness rule was broken; `field` names the offending input (e.g. `serial`).
    #[error("{field} already exists")]
    Conflict { field: &'static str },
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
