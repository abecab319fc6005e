//! How many live streams may be open at once: per principal and per organisation, on this
//! replica. A stream holds a [`StreamSlot`] while it runs; dropping it gives the slot back.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use domain::OrgId;

#[derive(Debug, Default)]
struct Open {
    by_principal: HashMap<String, usize>,
    by_org: HashMap<OrgId, usize>,
}

/// The open-stream counts and their bounds.
#[derive(Debug)]
pub struct StreamLimits {
    per_principal: usize,
    per_org: usize,
    open: Mutex<Open>,
}

/// Which bound a new stream would exceed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamRefusal {
    Principal(usize),
    Organisation(usize),
}

impl StreamLimits {
    pub fn new(per_principal: usize, per_org: usize) -> Self {
        Self {
            per_principal,
            per_org,
            open: Mutex::default(),
        }
    }

    /// A slot for one more stream of `principal` in `org`, unless a bound is reached.
    pub fn open(
        self: &Arc<Self>,
        principal: String,
        org: OrgId,
    ) -> Result<StreamSlot, StreamRefusal> {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let mine = open.by_principal.get(&principal).copied().unwrap_or(0);
        if mine >= self.per_principal {
            return Err(StreamRefusal::Principal(self.per_principal));
        }
        let org_open = open.by_org.get(&org).copied().unwrap_or(0);
        if org_open >= self.per_org {
            return Err(StreamRefusal::Organisation(self.per_org));
        }
        *open.by_principal.entry(principal.clone()).or_default() += 1;
        *open.by_org.entry(org).or_default() += 1;
        Ok(StreamSlot {
            limits: self.clone(),
            principal,
            org,
        })
    }

    /// Streams open now, over every organisation.
    pub fn open_streams(&self) -> usize {
        let open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        open.by_org.values().sum()
    }
}

/// One open stream's place; given back when dropped.
#[derive(Debug)]
pub struct StreamSlot {
    limits: Arc<StreamLimits>,
    principal: String,
    org: OrgId,
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut open = self
            .limits
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = open.by_principal.get_mut(&self.principal) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.by_principal.remove(&self.principal);
            }
        }
        if let Some(n) = open.by_org.get_mut(&self.org) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.by_org.remove(&self.org);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_bounded_per_principal_and_per_organisation_and_slots_come_back() {
        let limits = Arc::new(StreamLimits::new(2, 3));
        let (org, other) = (OrgId::new(), OrgId::new());
        let a1 = limits.open("a".into(), org).unwrap();
        let _a2 = limits.open("a".into(), org).unwrap();
        assert_eq!(
            limits.open("a".into(), org).unwrap_err(),
            StreamRefusal::Principal(2)
        );
        let _b1 = limits.open("b".into(), org).unwrap();
        assert_eq!(
            limits.open("c".into(), org).unwrap_err(),
            StreamRefusal::Organisation(3)
        );
        let _c_elsewhere = limits
            .open("c".into(), other)
            .expect("another organisation");
        drop(a1);
        let _c = limits.open("c".into(), org).expect("a slot came back");
        assert_eq!(limits.open_streams(), 4);
    }
}
