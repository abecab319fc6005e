//! Logging: one `init`, JSON or human-readable as configured; `RUST_LOG` overrides the level.

use domain::settings::InvalidSetting;
use serde::{Deserialize, Serialize};
use tracing_subscriber::{fmt, EnvFilter};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Json,
    Pretty,
}

/// The `[log]` settings.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    pub format: LogFormat,
    /// An `EnvFilter` directive such as `info` or `info,sqlx=warn`; `RUST_LOG` wins when set.
    pub level: String,
}

impl LogSettings {
    pub fn check(&self) -> Result<(), InvalidSetting> {
        EnvFilter::try_new(&self.level)
            .map(|_| ())
            .map_err(|e| InvalidSetting::new("level", format!("is not a valid filter: {e}")))
    }
}

pub fn init(settings: &LogSettings) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&settings.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = fmt().with_env_filter(filter).with_writer(std::io::stderr);
    // A second init (tests) is harmless; ignore it.
    let _ = match settings.format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Pretty => builder.compact().try_init(),
    };
}
