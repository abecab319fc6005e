//! Link deadlines: one per drone, ordered by time, so that finding the expired ones costs
//! their number, never a scan of every drone.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};

use crate::ids::DroneId;

#[derive(Debug, Clone, Default)]
pub struct Deadlines {
    by_time: BTreeSet<(DateTime<Utc>, DroneId)>,
    by_drone: HashMap<DroneId, DateTime<Utc>>,
}

impl Deadlines {
    /// Sets (or moves) the drone's deadline.
    pub fn set(&mut self, drone: DroneId, at: DateTime<Utc>) {
        if let Some(old) = self.by_drone.insert(drone, at) {
            self.by_time.remove(&(old, drone));
        }
        self.by_time.insert((at, drone));
    }

    pub fn cancel(&mut self, drone: DroneId) {
        if let Some(old) = self.by_drone.remove(&drone) {
            self.by_time.remove(&(old, drone));
        }
    }

    /// Removes and returns the drones whose deadline is at or before `now`, earliest first.
    pub fn pop_due(&mut self, now: DateTime<Utc>) -> Vec<(DroneId, DateTime<Utc>)> {
        let mut due = Vec::new();
        while let Some(&(at, drone)) = self.by_time.first() {
            if at > now {
                break;
            }
            self.by_time.pop_first();
            self.by_drone.remove(&drone);
            due.push((drone, at));
        }
        due
    }

    /// The earliest deadline, for the caller's next wake-up.
    pub fn next(&self) -> Option<DateTime<Utc>> {
        self.by_time.first().map(|(at, _)| *at)
    }

    pub fn len(&self) -> usize {
        self.by_drone.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_drone.is_empty()
    }
}
