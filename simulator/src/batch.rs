//! Packs points into `POST /api/v1/telemetry` bodies within the endpoint's limits. Points
//! are serialised once, as they are generated, so a resend reuses the same bytes.

use serde::Serialize;

/// Most points the endpoint takes in one batch.
pub const MAX_POINTS: usize = 5_000;
/// The endpoint takes at most 1 MiB (1,048,576 bytes); stay a little under it.
pub const MAX_BYTES: usize = 1_000_000;

const HEAD: &[u8] = br#"{"points":["#;
const TAIL: &[u8] = b"]}";

/// A complete request body and the number of points in it.
#[derive(Debug, Clone)]
pub struct Batch {
    pub body: Vec<u8>,
    pub points: usize,
}

/// Collects points and cuts them into batches of at most `max_points` points and
/// `max_bytes` bytes.
#[derive(Debug)]
pub struct Batcher {
    max_points: usize,
    max_bytes: usize,
    current: Vec<u8>,
    points: usize,
    sealed: Vec<Batch>,
}

impl Default for Batcher {
    fn default() -> Self {
        Self::new(MAX_POINTS, MAX_BYTES)
    }
}

impl Batcher {
    pub fn new(max_points: usize, max_bytes: usize) -> Self {
        Self {
            max_points: max_points.max(1),
            max_bytes,
            current: Vec::new(),
            points: 0,
            sealed: Vec::new(),
        }
    }

    pub fn push(&mut self, point: &impl Serialize) -> serde_json::Result<()> {
        let json = serde_json::to_vec(point)?;
        let full = self.points == self.max_points
            || self.current.len() + 1 + json.len() + TAIL.len() > self.max_bytes;
        if self.points > 0 && full {
            self.seal();
        }
        if self.points == 0 {
            self.current.extend_from_slice(HEAD);
        } else {
            self.current.push(b',');
        }
        self.current.extend_from_slice(&json);
        self.points += 1;
        Ok(())
    }

    /// Every point pushed since the last call, as batches.
    pub fn take(&mut self) -> Vec<Batch> {
        self.seal();
        std::mem::take(&mut self.sealed)
    }

    fn seal(&mut self) {
        if self.points == 0 {
            return;
        }
        self.current.extend_from_slice(TAIL);
        self.sealed.push(Batch {
            body: std::mem::take(&mut self.current),
            points: self.points,
        });
        self.points = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn points_of(batch: &Batch) -> Vec<Value> {
        let body: Value = serde_json::from_slice(&batch.body).unwrap();
        body["points"].as_array().unwrap().clone()
    }

    #[test]
    fn nothing_pushed_gives_no_batch() {
        assert!(Batcher::default().take().is_empty());
    }

    #[test]
    fn a_batch_is_a_json_object_with_the_points_in_order() {
        let mut batcher = Batcher::default();
        for i in 0..3 {
            batcher.push(&json!({ "i": i })).unwrap();
        }
        let batches = batcher.take();
        assert_eq!(batches.len(), 1);
        assert_eq!(batches[0].points, 3);
        assert_eq!(
            points_of(&batches[0]),
            [json!({"i": 0}), json!({"i": 1}), json!({"i": 2})]
        );
        assert!(batcher.take().is_empty());
    }

    #[test]
    fn more_than_5000_points_are_split_into_batches_of_at_most_5000() {
        let mut batcher = Batcher::default();
        for i in 0..12_001 {
            batcher.push(&json!({ "i": i })).unwrap();
        }
        let batches = batcher.take();
        let sizes: Vec<_> = batches.iter().map(|b| b.points).collect();
        assert_eq!(sizes, [5_000, 5_000, 2_001]);
        assert!(batches.iter().all(|b| points_of(b).len() == b.points));
    }

    #[test]
    fn batches_stay_under_the_byte_limit() {
        let mut batcher = Batcher::default();
        let padding = "x".repeat(300);
        for i in 0..5_000 {
            batcher.push(&json!({ "i": i, "pad": padding })).unwrap();
        }
        let batches = batcher.take();
        assert!(batches.len() > 1);
        assert!(batches.iter().all(|b| b.body.len() <= MAX_BYTES));
        assert_eq!(batches.iter().map(|b| b.points).sum::<usize>(), 5_000);
        assert!(batches.iter().all(|b| points_of(b).len() == b.points));
    }
}
