use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{get, web, HttpResponse};
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use domain::telemetry::{TelemetryPoint, TimeRange};
use domain::{DroneId, OrgId};
use uuid::Uuid;

use super::read::time_range;
use crate::auth::Principal;
use crate::dto::{ExportFormat, ExportQuery, Problem, TrackCollection};
use crate::error::ApiError;
use crate::services::{PointPage, TelemetryService};

/// Rows fetched per page while streaming an export.
const PAGE: u32 = 2000;

fn rfc3339(ts: DateTime<Utc>) -> String {
    ts.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn opt(v: Option<f64>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

impl ExportFormat {
    fn content_type(self) -> &'static str {
        match self {
            Self::Geojson => "application/geo+json",
            Self::Csv => "text/csv; charset=utf-8",
            Self::Gpx => "application/gpx+xml",
        }
    }

    fn extension(self) -> &'static str {
        match self {
            Self::Geojson => "geojson",
            Self::Csv => "csv",
            Self::Gpx => "gpx",
        }
    }

    fn header(self, drone: DroneId) -> String {
        match self {
            Self::Geojson => r#"{"type":"FeatureCollection","features":["#.to_owned(),
            Self::Csv => "ts,lat,lon,alt_m,speed_mps,heading_deg,battery_pct,vertical_speed_mps,satellites,link_quality_pct\n".to_owned(),
            Self::Gpx => format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<gpx version=\"1.1\" creator=\"NimbusFleet\" xmlns=\"http://www.topografix.com/GPX/1/1\">\n<trk><name>{drone}</name><trkseg>\n"
            ),
        }
    }

    fn row(self, p: &TelemetryPoint, first: bool) -> String {
        match self {
            Self::Geojson => {
                let feature = serde_json::json!({
                    "type": "Feature",
                    "geometry": {"type": "Point", "coordinates": [p.lon, p.lat, p.alt_m]},
                    "properties": {
                        "ts": rfc3339(p.ts), "speed_mps": p.speed_mps, "heading_deg": p.heading_deg,
                        "battery_pct": p.battery_pct, "vertical_speed_mps": p.vertical_speed_mps,
                        "satellites": p.satellites, "link_quality_pct": p.link_quality_pct,
                    }
                });
                format!("{}{feature}", if first { "" } else { "," })
            }
            Self::Csv => format!(
                "{},{},{},{},{},{},{},{},{},{}\n",
                rfc3339(p.ts),
                p.lat,
                p.lon,
                p.alt_m,
                p.speed_mps,
                p.heading_deg,
                p.battery_pct,
                opt(p.vertical_speed_mps),
                p.satellites.map(|s| s.to_string()).unwrap_or_default(),
                opt(p.link_quality_pct),
            ),
            Self::Gpx => format!(
                "<trkpt lat=\"{}\" lon=\"{}\"><ele>{}</ele><time>{}</time></trkpt>\n",
                p.lat,
                p.lon,
                p.alt_m,
                rfc3339(p.ts)
            ),
        }
    }

    fn footer(self) -> &'static str {
        match self {
            Self::Geojson => "]}\n",
            Self::Csv => "",
            Self::Gpx => "</trkseg></trk>\n</gpx>\n",
        }
    }
}

enum Stage {
    Header,
    Rows {
        after: Option<DateTime<Utc>>,
        first: bool,
    },
    Footer,
    Done,
}

struct Export {
    telemetry: web::Data<TelemetryService>,
    org: OrgId,
    drone: DroneId,
    range: TimeRange,
    format: ExportFormat,
    stage: Stage,
}

/// The next chunk of the document: a page of rows at a time, never the whole track.
async fn next_chunk(mut e: Export) -> Option<(Result<Bytes, actix_web::Error>, Export)> {
    let chunk = match std::mem::replace(&mut e.stage, Stage::Done) {
        Stage::Header => {
            e.stage = Stage::Rows {
                after: None,
                first: true,
            };
            e.format.header(e.drone)
        }
        Stage::Rows { after, first } => {
            let page = PointPage::OldestAfter { after, limit: PAGE };
            let page = match e.telemetry.points(e.org, e.drone, e.range, page).await {
                Ok(page) => page,
                Err(error) => {
                    // The status line is gone; all we can do is end the stream early, and log.
                    tracing::error!(?error, "telemetry export failed mid-stream");
                    return Some((Err(error.into()), e));
                }
            };
            let mut out = String::with_capacity(page.len() * 120);
            for (i, p) in page.iter().enumerate() {
                out.push_str(&e.format.row(p, first && i == 0));
            }
            e.stage = match page.last() {
                Some(last) if page.len() == PAGE as usize => Stage::Rows {
                    after: Some(last.ts),
                    first: false,
                },
                _ => Stage::Footer,
            };
            out
        }
        Stage::Footer => e.format.footer().to_owned(),
        Stage::Done => return None,
    };
    Some((Ok(Bytes::from(chunk)), e))
}

/// The drone's track in `[from, to)` as GeoJSON (a FeatureCollection of points), CSV (with
/// a header) or GPX 1.1, oldest first, streamed page by page.
#[utoipa::path(context_path = "/api/v1", tag = "telemetry", security(("bearer" = []), ("api_key" = [])),
    params(("id" = Uuid, Path, description = "drone id"), ExportQuery), responses(
    (status = 200, description = "the track", headers(
        ("archived-before" = String, description = "When the range reaches into archived days: the instant before which the points were read from the archive (Parquet)"),
    ), content(
        (TrackCollection = "application/geo+json"), (String = "text/csv"), (String = "application/gpx+xml"),
    )),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[get("/drones/{id}/telemetry/export")]
pub async fn export_telemetry(
    telemetry: web::Data<TelemetryService>,
    principal: Principal,
    id: web::Path<Uuid>,
    query: web::Query<ExportQuery>,
) -> Result<HttpResponse, ApiError> {
    let (org, drone) = telemetry
        .readable_drone(&principal, DroneId::from_uuid(*id))
        .await?;
    let range = time_range(query.from, query.to, Duration::hours(24))?;
    let format = query.format.unwrap_or(ExportFormat::Geojson);
    let filename = format!("drone-{drone}.{}", format.extension());
    let archived = telemetry.archive_header(drone, range).await?;
    let export = Export {
        telemetry,
        org,
        drone,
        range,
        format,
        stage: Stage::Header,
    };
    let mut answer = HttpResponse::Ok();
    if let Some(header) = archived {
        answer.insert_header(header);
    }
    Ok(answer
        .content_type(format.content_type())
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{filename}\""),
        ))
        .streaming(futures::stream::unfold(export, next_chunk)))
}
