//! When a fence applies: an optional validity range and weekly windows in a time zone.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

use crate::error::{FieldCode, FieldError, ValidationErrors};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Weekday {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

impl Weekday {
    fn of(day: chrono::Weekday) -> Self {
        match day {
            chrono::Weekday::Mon => Self::Mon,
            chrono::Weekday::Tue => Self::Tue,
            chrono::Weekday::Wed => Self::Wed,
            chrono::Weekday::Thu => Self::Thu,
            chrono::Weekday::Fri => Self::Fri,
            chrono::Weekday::Sat => Self::Sat,
            chrono::Weekday::Sun => Self::Sun,
        }
    }
}

/// A weekly window as received: `start` and `end` as `HH:MM` local time.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RawWindow {
    pub days: Vec<Weekday>,
    pub start: String,
    pub end: String,
}

/// A schedule as received.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RawSchedule {
    #[serde(default)]
    pub valid_from: Option<DateTime<Utc>>,
    #[serde(default)]
    pub valid_to: Option<DateTime<Utc>>,
    /// IANA name; UTC when absent.
    #[serde(default)]
    pub time_zone: Option<String>,
    #[serde(default)]
    pub weekly: Vec<RawWindow>,
}

/// On the listed days from `start` to `end` local time. An `end` at or before `start`
/// ends on the next day (a night window), so `22:00`–`06:00` on Friday runs into Saturday;
/// `00:00`–`00:00` is the whole day.
#[derive(Debug, Clone, PartialEq)]
pub struct WeeklyWindow {
    pub days: Vec<Weekday>,
    pub start: NaiveTime,
    pub end: NaiveTime,
}

/// A validated schedule. With no weekly windows the fence applies all the time between
/// `valid_from` and `valid_to` (either open-ended when absent).
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    pub valid_from: Option<DateTime<Utc>>,
    pub valid_to: Option<DateTime<Utc>>,
    pub time_zone: Tz,
    pub weekly: Vec<WeeklyWindow>,
}

const MAX_WINDOWS: usize = 50;

impl Schedule {
    /// Errors name `schedule.<field>`.
    pub fn parse(raw: &RawSchedule) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::default();
        if let (Some(from), Some(to)) = (raw.valid_from, raw.valid_to) {
            if to <= from {
                errors.push(FieldError::new(
                    "schedule.valid_to",
                    FieldCode::EndBeforeStart,
                    "must be after valid_from",
                ));
            }
        }
        let time_zone = match raw.time_zone.as_deref() {
            None => Some(Tz::UTC),
            Some(name) => errors.collect(name.parse::<Tz>().map_err(|_| {
                FieldError::new(
                    "schedule.time_zone",
                    FieldCode::UnknownTimeZone,
                    format!("`{name}` is not an IANA time zone such as Europe/Berlin"),
                )
            })),
        };
        if raw.weekly.len() > MAX_WINDOWS {
            errors.push(FieldError::new(
                "schedule.weekly",
                FieldCode::Length,
                format!("at most {MAX_WINDOWS} windows"),
            ));
        }
        let mut weekly = Vec::with_capacity(raw.weekly.len());
        for (i, window) in raw.weekly.iter().enumerate() {
            let path = format!("schedule.weekly[{i}]");
            if window.days.is_empty() {
                errors.push(FieldError::new(
                    format!("{path}.days"),
                    FieldCode::Empty,
                    "name at least one day",
                ));
            }
            let start = errors.collect(parse_time(&format!("{path}.start"), &window.start));
            let end = errors.collect(parse_time(&format!("{path}.end"), &window.end));
            if let (Some(start), Some(end)) = (start, end) {
                weekly.push(WeeklyWindow {
                    days: window.days.clone(),
                    start,
                    end,
                });
            }
        }
        match time_zone {
            Some(time_zone) if errors.is_empty() => Ok(Self {
                valid_from: raw.valid_from,
                valid_to: raw.valid_to,
                time_zone,
                weekly,
            }),
            _ => Err(errors),
        }
    }

    pub fn to_raw(&self) -> RawSchedule {
        RawSchedule {
            valid_from: self.valid_from,
            valid_to: self.valid_to,
            time_zone: Some(self.time_zone.name().to_owned()),
            weekly: self
                .weekly
                .iter()
                .map(|w| RawWindow {
                    days: w.days.clone(),
                    start: w.start.format("%H:%M").to_string(),
                    end: w.end.format("%H:%M").to_string(),
                })
                .collect(),
        }
    }

    pub fn active_at(&self, t: DateTime<Utc>) -> bool {
        self.active_during(t, t)
    }

    /// Whether the fence applies at any instant of `[from, to]`.
    pub fn active_during(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> bool {
        let from = self.valid_from.map_or(from, |v| from.max(v));
        let to = match self.valid_to {
            // `valid_to` is exclusive.
            Some(v) if to >= v => v - Duration::nanoseconds(1),
            _ => to,
        };
        if from > to {
            return false;
        }
        if self.weekly.is_empty() {
            return true;
        }
        // Over eight days every weekday occurs, and with it every window.
        if to - from >= Duration::days(8) {
            return true;
        }
        let first = from.with_timezone(&self.time_zone).date_naive() - Duration::days(1);
        let last = to.with_timezone(&self.time_zone).date_naive();
        let mut day = first;
        while day <= last {
            let weekday = Weekday::of(day.weekday());
            for window in self.weekly.iter().filter(|w| w.days.contains(&weekday)) {
                let (start, end) = self.window_on(day, window);
                if start <= to && end > from {
                    return true;
                }
            }
            day += Duration::days(1);
        }
        false
    }

    /// The window that opens on local `day`, in UTC. A local time that a daylight-saving
    /// change skips is taken as the first valid instant after it; one that occurs twice,
    /// as the earlier (for the start) or the later (for the end), so the window is never
    /// shortened.
    fn window_on(&self, day: NaiveDate, window: &WeeklyWindow) -> (DateTime<Utc>, DateTime<Utc>) {
        let end_day = if window.end <= window.start {
            day + Duration::days(1)
        } else {
            day
        };
        let start = self.instant(day.and_time(window.start), true);
        let end = self.instant(end_day.and_time(window.end), false);
        (start, end)
    }

    fn instant(&self, local: chrono::NaiveDateTime, earliest: bool) -> DateTime<Utc> {
        let mut probe = local;
        // A skipped hour lasts at most an hour or two; step forward until valid.
        for _ in 0..12 {
            let found = self.time_zone.from_local_datetime(&probe);
            let pick = if earliest {
                found.earliest()
            } else {
                found.latest()
            };
            if let Some(t) = pick {
                return t.with_timezone(&Utc);
            }
            probe += Duration::minutes(15);
        }
        Utc.from_utc_datetime(&local)
    }
}

fn parse_time(field: &str, raw: &str) -> Result<NaiveTime, FieldError> {
    NaiveTime::parse_from_str(raw, "%H:%M").map_err(|_| {
        FieldError::new(
            field,
            FieldCode::Invalid,
            "must be a local time HH:MM, such as 08:30",
        )
    })
}
