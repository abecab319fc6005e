//! The run as a picture: rate, latency and lag over time, one panel each (SVG, plotters).

use std::path::Path;

use anyhow::anyhow;
use plotters::prelude::*;

use crate::record::Second;
use crate::schedule::Phase;

const SIZE: (u32, u32) = (1100, 960);
const FONT: (&str, u32) = ("sans-serif", 16);

/// A series: its name, colour and one value per second (None where there is no sample).
type Series<'a> = (&'a str, RGBColor, Vec<(f64, f64)>);

pub fn draw(path: &Path, title: &str, timeline: &[Second], phases: &[Phase]) -> anyhow::Result<()> {
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(|e| anyhow!("{e}"))?;
    let root = root
        .titled(title, ("sans-serif", 20))
        .map_err(|e| anyhow!("{e}"))?;
    let panels = root.split_evenly((3, 1));
    let t = |s: &Second| s.t as f64;
    let rate: Vec<Series> = vec![
        (
            "target points/s",
            BLUE,
            timeline.iter().map(|s| (t(s), s.target_rate)).collect(),
        ),
        (
            "acknowledged points/s",
            GREEN,
            timeline
                .iter()
                .map(|s| (t(s), s.points_acked as f64))
                .collect(),
        ),
        (
            "failed requests/s",
            RED,
            timeline.iter().map(|s| (t(s), s.errors as f64)).collect(),
        ),
    ];
    let latency: Vec<Series> = vec![
        (
            "p50 ms",
            BLUE,
            timeline.iter().map(|s| (t(s), s.p50_ms)).collect(),
        ),
        (
            "p99 ms",
            MAGENTA,
            timeline.iter().map(|s| (t(s), s.p99_ms)).collect(),
        ),
    ];
    let backlog: Vec<Series> = vec![
        (
            "consumer lag (records)",
            RED,
            timeline
                .iter()
                .filter_map(|s| Some((t(s), s.lag_records?)))
                .collect(),
        ),
        (
            "queued points",
            BLACK,
            timeline
                .iter()
                .filter_map(|s| Some((t(s), s.queue_points?)))
                .collect(),
        ),
    ];
    let bounds = phase_bounds(phases);
    panel(&panels[0], "rate", &rate, &bounds)?;
    panel(&panels[1], "latency (by send time)", &latency, &bounds)?;
    panel(&panels[2], "backlog (scraped /metrics)", &backlog, &bounds)?;
    root.present().map_err(|e| anyhow!("{e}"))?;
    Ok(())
}

/// Where each phase starts, in seconds from the run's start, with its name.
fn phase_bounds(phases: &[Phase]) -> Vec<(f64, String)> {
    let mut at = 0.0;
    phases
        .iter()
        .map(|p| {
            let start = at;
            at += p.duration.as_secs_f64();
            (start, p.name.clone())
        })
        .collect()
}

fn panel(
    area: &DrawingArea<SVGBackend, plotters::coord::Shift>,
    caption: &str,
    series: &[Series],
    bounds: &[(f64, String)],
) -> anyhow::Result<()> {
    let x_max = series
        .iter()
        .flat_map(|(_, _, v)| v.iter().map(|p| p.0))
        .fold(1.0, f64::max);
    let y_max = series
        .iter()
        .flat_map(|(_, _, v)| v.iter().map(|p| p.1))
        .fold(1.0, f64::max)
        * 1.1;
    let mut chart = ChartBuilder::on(area)
        .caption(caption, FONT)
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..x_max, 0.0..y_max)
        .map_err(|e| anyhow!("{e}"))?;
    chart
        .configure_mesh()
        .x_desc("seconds")
        .light_line_style(WHITE)
        .draw()
        .map_err(|e| anyhow!("{e}"))?;
    for (start, name) in bounds {
        chart
            .draw_series(LineSeries::new(
                [(*start, 0.0), (*start, y_max)],
                BLACK.mix(0.25),
            ))
            .map_err(|e| anyhow!("{e}"))?;
        chart
            .draw_series([Text::new(
                name.clone(),
                (*start, y_max * 0.97),
                ("sans-serif", 12),
            )])
            .map_err(|e| anyhow!("{e}"))?;
    }
    for (name, colour, points) in series {
        let colour = *colour;
        chart
            .draw_series(LineSeries::new(
                points.iter().copied(),
                colour.stroke_width(2),
            ))
            .map_err(|e| anyhow!("{e}"))?
            .label(*name)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], colour.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(FONT)
        .draw()
        .map_err(|e| anyhow!("{e}"))?;
    Ok(())
}
