//! Typed identifiers. All are UUIDs; ids of rows that are listed with cursor pagination are
//! UUIDv7 so that their byte order is their creation order on every backend.

use std::fmt;
use std::str::FromStr;

use uuid::Uuid;

macro_rules! id_type {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A new, time-ordered id.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            pub const fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            pub const fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl From<Uuid> for $name {
            fn from(uuid: Uuid) -> Self {
                Self(uuid)
            }
        }

        impl From<$name> for Uuid {
            fn from(id: $name) -> Self {
                id.0
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

id_type!(
    /// An organisation (tenant).
    OrgId
);
id_type!(UserId);
id_type!(
    /// A drone. Its slot, and so its shard, is `slot_of(drone_id)`.
    DroneId
);
id_type!(
    /// A flight plan. It lives on its drone's shard and carries that shard's slot in its
    /// last 10 bits (see [`FlightPlanId::for_slot`]), so it can be routed without a lookup.
    FlightPlanId
);
id_type!(ApiKeyId);
id_type!(
    /// A geofence, in the catalog database.
    GeofenceId
);
id_type!(SessionId);

id_type!(
    /// An alert. Like a flight plan it lives on its drone's shard and carries that shard's
    /// slot (see [`AlertId::for_slot`]).
    AlertId
);
id_type!(
    /// A webhook subscription, in the catalog database.
    WebhookId
);

/// Ids of rows that live on their drone's shard carry the drone's slot in their last 10
/// bits, so that they are routed without a lookup.
macro_rules! slotted_id {
    ($name:ident) => {
        impl $name {
            /// A new time-ordered id whose low 10 bits hold `slot`. Those bits are part of
            /// UUIDv7's random tail, so the id stays a valid UUIDv7 with 64 random bits left.
            pub fn for_slot(slot: crate::shard::Slot) -> Self {
                let mut bytes = *Uuid::now_v7().as_bytes();
                let slot = slot.get();
                bytes[14] = (bytes[14] & 0xFC) | ((slot >> 8) as u8 & 0x03);
                bytes[15] = (slot & 0xFF) as u8;
                Self(Uuid::from_bytes(bytes))
            }

            /// The slot embedded by `for_slot`.
            pub fn slot(&self) -> crate::shard::Slot {
                let bytes = self.0.as_bytes();
                let raw = (u16::from(bytes[14] & 0x03) << 8) | u16::from(bytes[15]);
                crate::shard::Slot::new(raw).unwrap_or_default()
            }
        }
    };
}

slotted_id!(FlightPlanId);
slotted_id!(AlertId);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shard::Slot;

    #[test]
    fn a_flight_plan_id_carries_the_slot_it_was_made_for() {
        for raw in [0, 1, 255, 256, 511, 1023] {
            let slot = Slot::new(raw).unwrap();
            let id = FlightPlanId::for_slot(slot);
            assert_eq!(id.slot(), slot);
            assert_eq!(id.as_uuid().get_version_num(), 7);
            assert_eq!(AlertId::for_slot(slot).slot(), slot);
        }
    }

    #[test]
    fn new_ids_sort_in_creation_order() {
        let a = DroneId::new();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = DroneId::new();
        assert!(a < b);
    }
}
