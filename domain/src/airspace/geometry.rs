//! A fence's horizontal shape: GeoJSON polygons or a circle, parsed with every problem named
//! by its ring and vertex, and the exact part of a straight leg that lies inside it.

use geo::coordinate_position::CoordPos;
use geo::dimensions::Dimensions;
use geo::{BoundingRect, Coord, Intersects, LineString, MultiPolygon, Polygon, Relate};
use rstar::{RTree, RTreeObject, AABB};

use super::{Local, MAX_VERTICES};
use crate::error::{FieldCode, FieldError, ValidationErrors};

/// A GeoJSON geometry as received: `[lon, lat]` positions (a third number, an altitude, is
/// allowed and ignored; the band gives the heights).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "type")]
pub enum RawGeometry {
    Polygon {
        coordinates: Vec<Vec<Vec<f64>>>,
    },
    MultiPolygon {
        coordinates: Vec<Vec<Vec<Vec<f64>>>>,
    },
}

/// A circle: its centre and radius on the ground.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Circle {
    pub lat: f64,
    pub lon: f64,
    pub radius_m: f64,
}

impl Circle {
    pub const MAX_RADIUS_M: f64 = 100_000.0;
}

/// A validated shape.
#[derive(Debug, Clone, PartialEq)]
pub enum FenceShape {
    /// One or more polygons with holes, in degrees (x = lon, y = lat).
    Polygons(MultiPolygon<f64>),
    Circle(Circle),
}

impl FenceShape {
    /// Parses a GeoJSON Polygon or MultiPolygon. Errors name `geometry.coordinates[r][v]`
    /// (ring r, vertex v), with the polygon first for a MultiPolygon.
    pub fn parse_geometry(raw: &RawGeometry) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::default();
        let (polygons, nested): (Vec<&Vec<Vec<Vec<f64>>>>, bool) = match raw {
            RawGeometry::Polygon { coordinates } => (vec![coordinates], false),
            RawGeometry::MultiPolygon { coordinates } => (coordinates.iter().collect(), true),
        };
        if polygons.is_empty() {
            return Err(FieldError::new(
                "geometry.coordinates",
                FieldCode::Empty,
                "a MultiPolygon needs at least one polygon",
            )
            .into());
        }
        let vertices: usize = polygons.iter().flat_map(|p| p.iter()).map(Vec::len).sum();
        if vertices > MAX_VERTICES {
            return Err(FieldError::new(
                "geometry.coordinates",
                FieldCode::TooManyVertices,
                format!("a geofence may have at most {MAX_VERTICES} vertices, got {vertices}"),
            )
            .into());
        }
        let mut parsed = Vec::with_capacity(polygons.len());
        for (p, rings) in polygons.iter().enumerate() {
            let path = if nested {
                format!("geometry.coordinates[{p}]")
            } else {
                "geometry.coordinates".to_owned()
            };
            if let Some(polygon) = parse_polygon(&path, rings, &mut errors) {
                parsed.push(polygon);
            }
        }
        errors.clone().into_result()?;
        let shape = MultiPolygon(parsed);
        if let Some(error) = overlapping_members(&shape) {
            errors.push(error);
        }
        errors.into_result().map(|()| Self::Polygons(shape))
    }

    pub fn parse_circle(raw: &Circle) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::default();
        errors.collect(crate::position::Latitude::parse(raw.lat).map_err(|e| e.under("circle")));
        errors.collect(crate::position::Longitude::parse(raw.lon).map_err(|e| e.under("circle")));
        if !(raw.radius_m.is_finite() && raw.radius_m > 0.0 && raw.radius_m <= Circle::MAX_RADIUS_M)
        {
            errors.push(FieldError::new(
                "circle.radius_m",
                FieldCode::OutOfRange,
                format!("must be more than 0 and at most {} m", Circle::MAX_RADIUS_M),
            ));
        }
        // A circle near a pole would wrap in longitude.
        if raw.lat.abs() > 85.0 {
            errors.push(FieldError::new(
                "circle.lat",
                FieldCode::OutOfRange,
                "circles must lie between 85° S and 85° N",
            ));
        }
        errors.into_result().map(|()| Self::Circle(*raw))
    }

    /// The shape as the API shows it: a geometry or a circle.
    pub fn to_raw(&self) -> (Option<RawGeometry>, Option<Circle>) {
        match self {
            Self::Circle(circle) => (None, Some(*circle)),
            Self::Polygons(shape) => {
                let polygon = |p: &Polygon<f64>| {
                    std::iter::once(p.exterior())
                        .chain(p.interiors())
                        .map(|ring| ring.coords().map(|c| vec![c.x, c.y]).collect())
                        .collect::<Vec<Vec<Vec<f64>>>>()
                };
                let raw = match &shape.0[..] {
                    [one] => RawGeometry::Polygon {
                        coordinates: polygon(one),
                    },
                    many => RawGeometry::MultiPolygon {
                        coordinates: many.iter().map(polygon).collect(),
                    },
                };
                (Some(raw), None)
            }
        }
    }

    /// `[min_lon, min_lat, max_lon, max_lat]`.
    pub fn bbox(&self) -> [f64; 4] {
        match self {
            Self::Circle(c) => {
                let (dlon, dlat) = Local::at(c.lat).degrees(c.radius_m);
                [c.lon - dlon, c.lat - dlat, c.lon + dlon, c.lat + dlat]
            }
            Self::Polygons(shape) => match shape.bounding_rect() {
                Some(r) => [r.min().x, r.min().y, r.max().x, r.max().y],
                None => [0.0; 4],
            },
        }
    }

    pub fn vertex_count(&self) -> usize {
        match self {
            Self::Circle(_) => 1,
            Self::Polygons(shape) => shape
                .0
                .iter()
                .map(|p| {
                    p.exterior().0.len() + p.interiors().iter().map(|r| r.0.len()).sum::<usize>()
                })
                .sum(),
        }
    }

    /// Whether the point lies inside or on the boundary.
    pub fn contains(&self, lon: f64, lat: f64) -> bool {
        match self {
            Self::Circle(c) => {
                let local = Local::at(c.lat);
                let (x, y) = local.xy(lon - c.lon, lat - c.lat);
                x * x + y * y <= c.radius_m * c.radius_m
            }
            Self::Polygons(shape) => shape.intersects(&Coord { x: lon, y: lat }),
        }
    }

    /// How far outside the shape the point is, in metres on the ground: 0 inside or on the
    /// boundary.
    pub fn distance_outside_m(&self, lon: f64, lat: f64) -> f64 {
        if self.contains(lon, lat) {
            return 0.0;
        }
        match self {
            Self::Circle(c) => {
                let (x, y) = Local::at(c.lat).xy(lon - c.lon, lat - c.lat);
                (x.hypot(y) - c.radius_m).max(0.0)
            }
            Self::Polygons(shape) => {
                let local = Local::at(lat);
                let mut best = f64::INFINITY;
                for polygon in &shape.0 {
                    for ring in std::iter::once(polygon.exterior()).chain(polygon.interiors()) {
                        for edge in ring.lines() {
                            let a = local.xy(edge.start.x - lon, edge.start.y - lat);
                            let b = local.xy(edge.end.x - lon, edge.end.y - lat);
                            best = best.min(distance_to_segment((0.0, 0.0), a, b));
                        }
                    }
                }
                best
            }
        }
    }

    /// The parameters `t ∈ [0, 1]` of the segment `a → b` (`(lon, lat)`) that lie inside
    /// the shape, as sorted, disjoint closed intervals. Exact for both shapes: a polygon's
    /// edges are cut where they cross the segment and each piece tested at its middle; a
    /// circle is a quadratic in `t`.
    pub(crate) fn inside_intervals(&self, a: (f64, f64), b: (f64, f64)) -> Vec<(f64, f64)> {
        match self {
            Self::Circle(c) => circle_intervals(c, a, b),
            Self::Polygons(shape) => {
                polygon_intervals(shape, a, b, |lon, lat| self.contains(lon, lat))
            }
        }
    }
}

fn parse_polygon(
    path: &str,
    rings: &[Vec<Vec<f64>>],
    errors: &mut ValidationErrors,
) -> Option<Polygon<f64>> {
    if rings.is_empty() {
        errors.push(FieldError::new(
            path,
            FieldCode::Empty,
            "a polygon needs an exterior ring",
        ));
        return None;
    }
    let before = errors.0.len();
    let parsed: Vec<LineString<f64>> = rings
        .iter()
        .enumerate()
        .filter_map(|(r, ring)| parse_ring(&format!("{path}[{r}]"), ring, errors))
        .collect();
    if errors.0.len() > before || parsed.len() != rings.len() {
        return None;
    }
    let mut parsed = parsed.into_iter();
    let exterior = parsed.next()?;
    let interiors: Vec<LineString<f64>> = parsed.collect();
    let outline = Polygon::new(exterior.clone(), vec![]);
    for (h, hole) in interiors.iter().enumerate() {
        if !outline.relate(hole).is_contains() {
            errors.push(FieldError::new(
                format!("{path}[{}]", h + 1),
                FieldCode::InvalidGeometry,
                format!("interior ring {} is not inside the exterior ring", h + 1),
            ));
        }
    }
    Some(Polygon::new(exterior, interiors))
}

/// A ring: at least 4 positions, each `[lon, lat]` in range, the last equal to the first,
/// and no edge crossing another.
fn parse_ring(
    path: &str,
    ring: &[Vec<f64>],
    errors: &mut ValidationErrors,
) -> Option<LineString<f64>> {
    if ring.len() < 4 {
        errors.push(FieldError::new(
            path,
            FieldCode::Length,
            format!(
                "a ring needs at least 4 positions (3 corners and the first again), got {}",
                ring.len()
            ),
        ));
        return None;
    }
    let before = errors.0.len();
    let mut coords = Vec::with_capacity(ring.len());
    for (v, position) in ring.iter().enumerate() {
        let at = format!("{path}[{v}]");
        let (lon, lat) = match position[..] {
            [lon, lat] | [lon, lat, _] => (lon, lat),
            _ => {
                errors.push(FieldError::new(
                    at,
                    FieldCode::InvalidType,
                    "a position is [lon, lat] or [lon, lat, alt]",
                ));
                continue;
            }
        };
        if !(lon.is_finite() && lat.is_finite()) {
            errors.push(FieldError::new(
                at,
                FieldCode::NotFinite,
                "must be finite numbers",
            ));
        } else if !(-180.0..=180.0).contains(&lon) || !(-90.0..=90.0).contains(&lat) {
            errors.push(FieldError::new(
                at,
                FieldCode::OutOfRange,
                format!("[{lon}, {lat}] is not a longitude in -180..180 and a latitude in -90..90"),
            ));
        } else {
            coords.push(Coord { x: lon, y: lat });
        }
    }
    if errors.0.len() > before {
        return None;
    }
    if coords.first() != coords.last() {
        errors.push(FieldError::new(
            path,
            FieldCode::UnclosedRing,
            "the last position must repeat the first",
        ));
        return None;
    }
    coords.dedup();
    if coords.len() < 4 {
        errors.push(FieldError::new(
            path,
            FieldCode::Length,
            "a ring needs at least 3 distinct corners",
        ));
        return None;
    }
    if let Some((i, j)) = self_intersection(&coords) {
        errors.push(FieldError::new(
            format!("{path}[{i}]"),
            FieldCode::SelfIntersection,
            format!(
                "the edge from vertex {i} to {} crosses the edge from vertex {j} to {}",
                i + 1,
                j + 1
            ),
        ));
        return None;
    }
    Some(LineString(coords))
}

/// An edge of a ring, indexed by its first vertex, for the R-tree of edges.
#[derive(Clone, Copy)]
struct Edge {
    index: usize,
    a: Coord<f64>,
    b: Coord<f64>,
}

impl RTreeObject for Edge {
    type Envelope = AABB<[f64; 2]>;
    fn envelope(&self) -> Self::Envelope {
        AABB::from_corners([self.a.x, self.a.y], [self.b.x, self.b.y])
    }
}

/// The first pair of non-adjacent edges of a closed ring that touch or cross, found with an
/// R-tree of the edges (O(n log n), so a 10,000-vertex ring is checked quickly).
fn self_intersection(coords: &[Coord<f64>]) -> Option<(usize, usize)> {
    let edges: Vec<Edge> = coords
        .windows(2)
        .enumerate()
        .map(|(index, w)| Edge {
            index,
            a: w[0],
            b: w[1],
        })
        .collect();
    let n = edges.len();
    let tree = RTree::bulk_load(edges.clone());
    for edge in &edges {
        for other in tree.locate_in_envelope_intersecting(&edge.envelope()) {
            let (i, j) = (edge.index, other.index);
            if j <= i {
                continue;
            }
            let adjacent = j == i + 1 || (i == 0 && j == n - 1);
            if adjacent {
                // Neighbours share a vertex; they are wrong only when they fold back onto
                // each other (collinear and overlapping beyond that vertex).
                if collinear_overlap(edge, other) {
                    return Some((i, j));
                }
                continue;
            }
            let a = geo::Line::new(edge.a, edge.b);
            let b = geo::Line::new(other.a, other.b);
            if a.intersects(&b) {
                return Some((i, j));
            }
        }
    }
    None
}

fn collinear_overlap(e: &Edge, f: &Edge) -> bool {
    let cross = |o: Coord<f64>, p: Coord<f64>, q: Coord<f64>| {
        (p.x - o.x) * (q.y - o.y) - (p.y - o.y) * (q.x - o.x)
    };
    let (shared, e_far, f_far) = if e.b == f.a {
        (e.b, e.a, f.b)
    } else if e.a == f.b {
        (e.a, e.b, f.a)
    } else {
        return false;
    };
    let dot =
        (e_far.x - shared.x) * (f_far.x - shared.x) + (e_far.y - shared.y) * (f_far.y - shared.y);
    cross(shared, e_far, f_far) == 0.0 && dot > 0.0
}

/// Members of a MultiPolygon may touch but not overlap.
fn overlapping_members(shape: &MultiPolygon<f64>) -> Option<FieldError> {
    for (i, a) in shape.0.iter().enumerate() {
        for (j, b) in shape.0.iter().enumerate().skip(i + 1) {
            let boxes_meet = match (a.bounding_rect(), b.bounding_rect()) {
                (Some(x), Some(y)) => x.intersects(&y),
                _ => false,
            };
            if boxes_meet
                && a.relate(b).get(CoordPos::Inside, CoordPos::Inside) != Dimensions::Empty
            {
                return Some(FieldError::new(
                    format!("geometry.coordinates[{j}]"),
                    FieldCode::InvalidGeometry,
                    format!("polygon {j} overlaps polygon {i}; merge them or make them disjoint"),
                ));
            }
        }
    }
    None
}

/// Where `a + t (b - a)` crosses the polygon's edges, then which pieces are inside.
fn polygon_intervals(
    shape: &MultiPolygon<f64>,
    a: (f64, f64),
    b: (f64, f64),
    inside: impl Fn(f64, f64) -> bool,
) -> Vec<(f64, f64)> {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let mut cuts = vec![0.0, 1.0];
    for polygon in &shape.0 {
        for ring in std::iter::once(polygon.exterior()).chain(polygon.interiors()) {
            for edge in ring.lines() {
                let (ex, ey) = (edge.end.x - edge.start.x, edge.end.y - edge.start.y);
                let denom = dx * ey - dy * ex;
                let (sx, sy) = (edge.start.x - a.0, edge.start.y - a.1);
                if denom == 0.0 {
                    // Parallel: a collinear edge bounds the inside where its ends fall.
                    if sx * dy - sy * dx == 0.0 {
                        let len2 = dx * dx + dy * dy;
                        if len2 > 0.0 {
                            for p in [edge.start, edge.end] {
                                let t = ((p.x - a.0) * dx + (p.y - a.1) * dy) / len2;
                                if (0.0..=1.0).contains(&t) {
                                    cuts.push(t);
                                }
                            }
                        }
                    }
                    continue;
                }
                let t = (sx * ey - sy * ex) / denom;
                let u = (sx * dy - sy * dx) / denom;
                if (0.0..=1.0).contains(&t) && (0.0..=1.0).contains(&u) {
                    cuts.push(t);
                }
            }
        }
    }
    cuts.sort_by(f64::total_cmp);
    cuts.dedup();
    let at = |t: f64| (a.0 + dx * t, a.1 + dy * t);
    let mut intervals: Vec<(f64, f64)> = Vec::new();
    for w in cuts.windows(2) {
        let (t0, t1) = (w[0], w[1]);
        let (lon, lat) = at((t0 + t1) / 2.0);
        if inside(lon, lat) {
            match intervals.last_mut() {
                Some(last) if last.1 >= t0 => last.1 = last.1.max(t1),
                _ => intervals.push((t0, t1)),
            }
        }
    }
    // A segment that only touches the boundary at a cut point (a vertex or a tangent).
    if intervals.is_empty() {
        if let Some(&t) = cuts.iter().find(|&&t| {
            let (lon, lat) = at(t);
            inside(lon, lat)
        }) {
            intervals.push((t, t));
        }
    }
    intervals
}

fn circle_intervals(c: &Circle, a: (f64, f64), b: (f64, f64)) -> Vec<(f64, f64)> {
    let local = Local::at(c.lat);
    let (ax, ay) = local.xy(a.0 - c.lon, a.1 - c.lat);
    let (bx, by) = local.xy(b.0 - c.lon, b.1 - c.lat);
    let (dx, dy) = (bx - ax, by - ay);
    let qa = dx * dx + dy * dy;
    let qb = 2.0 * (ax * dx + ay * dy);
    let qc = ax * ax + ay * ay - c.radius_m * c.radius_m;
    if qa == 0.0 {
        return if qc <= 0.0 { vec![(0.0, 1.0)] } else { vec![] };
    }
    let disc = qb * qb - 4.0 * qa * qc;
    if disc < 0.0 {
        return vec![];
    }
    let root = disc.sqrt();
    let t0 = ((-qb - root) / (2.0 * qa)).max(0.0);
    let t1 = ((-qb + root) / (2.0 * qa)).min(1.0);
    if t0 <= t1 {
        vec![(t0, t1)]
    } else {
        vec![]
    }
}

/// Distance from `p` to the segment `a → b` in a plane.
pub(crate) fn distance_to_segment(p: (f64, f64), a: (f64, f64), b: (f64, f64)) -> f64 {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let len2 = dx * dx + dy * dy;
    let t = if len2 == 0.0 {
        0.0
    } else {
        (((p.0 - a.0) * dx + (p.1 - a.1) * dy) / len2).clamp(0.0, 1.0)
    };
    (p.0 - (a.0 + t * dx)).hypot(p.1 - (a.1 + t * dy))
}
