//! What a shard needs so that slots can move off and onto it while it serves (PostgreSQL
//! only; SQLite shards are embedded and their slots do not move):
//!
//! - `nf_slot(uuid)`: a drone's slot, the same FNV-1a hash as `domain::shard::slot_of`.
//!   The slot is the hash's low 10 bits, and the low bits of a product or an XOR depend
//!   only on the low bits of their operands, so the whole hash is computed modulo 1024:
//!   `h = ((h # byte) * 435) & 1023` from `h = 805` (the offset basis and the prime,
//!   `0xcbf29ce484222325` and `0x100000001b3`, modulo 1024). It is one SQL expression, so
//!   PostgreSQL inlines it where a query or a `CHECK` constraint uses it.
//! - `nf_moved_out`: the slots that moved away from this shard. A move's cut-over adds
//!   them, and a `CHECK (NOT nf_slot(..) <@ ..)` constraint named `nf_moved_out` on every
//!   table keyed by drone, so that a process still holding the old slot map can never
//!   write a row of those slots here; the trigger `nf_delete_guard` refuses its deletes of
//!   drones, plans and alerts the same way (the mover's own deletes set `nf.mover`).
//! - `nf_move_changes` and the trigger function `nf_move_capture`: while a move copies
//!   slots away, triggers on the source log each changed drone (and point), so that the
//!   changes made during the copy are caught up.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The slot of `id` as one SQL expression (see the module documentation).
fn slot_expression() -> String {
    (0..16).fold("805".to_owned(), |h, byte| {
        format!("((({h} # get_byte(uuid_send(id), {byte})) * 435) & 1023)")
    })
}

/// Tables keyed by drone whose deletes are guarded: `(table, key kind)`.
const GUARDED: [(&str, &str); 3] = [
    ("drones", "drone"),
    ("flight_plans", "row"),
    ("alerts", "row"),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        let mut statements = vec![
            format!(
                "CREATE FUNCTION nf_slot(id uuid) RETURNS integer LANGUAGE sql IMMUTABLE \
                 STRICT PARALLEL SAFE AS $$ SELECT {} $$",
                slot_expression()
            ),
            "CREATE TABLE nf_moved_out (id integer PRIMARY KEY CHECK (id = 1), \
             slots int4multirange NOT NULL)"
                .to_owned(),
            "INSERT INTO nf_moved_out VALUES (1, '{}')".to_owned(),
            "CREATE TABLE nf_move_changes (seq bigserial PRIMARY KEY, tbl text NOT NULL, \
             drone_id uuid NOT NULL, ts timestamptz NULL)"
                .to_owned(),
            // TG_ARGV: the moving slots, the drone column (`id` or `drone_id`), the time
            // column of a table keyed by drone and time (`ts`, `bucket`, `minute`) or '',
            // and the table's name (TG_TABLE_NAME would name a partition).
            "CREATE FUNCTION nf_move_capture() RETURNS trigger LANGUAGE plpgsql AS $$
             DECLARE r record; d uuid; t timestamptz;
             BEGIN
               IF TG_OP = 'DELETE' THEN r := OLD; ELSE r := NEW; END IF;
               IF TG_ARGV[1] = 'id' THEN d := r.id; ELSE d := r.drone_id; END IF;
               IF nf_slot(d) <@ TG_ARGV[0]::int4multirange THEN
                 IF TG_ARGV[2] = 'ts' THEN t := r.ts;
                 ELSIF TG_ARGV[2] = 'bucket' THEN t := r.bucket;
                 ELSIF TG_ARGV[2] = 'minute' THEN t := r.minute;
                 END IF;
                 INSERT INTO nf_move_changes (tbl, drone_id, ts) VALUES (TG_ARGV[3], d, t);
               END IF;
               RETURN NULL;
             END $$"
                .to_owned(),
            "CREATE FUNCTION nf_delete_guard() RETURNS trigger LANGUAGE plpgsql AS $$
             DECLARE d uuid;
             BEGIN
               IF current_setting('nf.mover', true) = 'on' THEN RETURN OLD; END IF;
               IF TG_ARGV[0] = 'drone' THEN d := OLD.id; ELSE d := OLD.drone_id; END IF;
               IF nf_slot(d) <@ (SELECT slots FROM nf_moved_out WHERE id = 1) THEN
                 RAISE EXCEPTION 'slot % of drone % moved to another shard', nf_slot(d), d
                   USING ERRCODE = 'check_violation', CONSTRAINT = 'nf_moved_out';
               END IF;
               RETURN OLD;
             END $$"
                .to_owned(),
        ];
        statements.extend(GUARDED.iter().map(|(table, key)| {
            format!(
                "CREATE TRIGGER nf_delete_guard BEFORE DELETE ON {table} FOR EACH ROW \
                 EXECUTE FUNCTION nf_delete_guard('{key}')"
            )
        }));
        let db = manager.get_connection();
        for statement in statements {
            db.execute_unprepared(&statement).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        let db = manager.get_connection();
        for (table, _) in GUARDED {
            db.execute_unprepared(&format!(
                "DROP TRIGGER IF EXISTS nf_delete_guard ON {table}"
            ))
            .await?;
        }
        db.execute_unprepared(
            "DROP FUNCTION IF EXISTS nf_delete_guard(); DROP FUNCTION IF EXISTS \
             nf_move_capture(); DROP TABLE IF EXISTS nf_move_changes; \
             DROP TABLE IF EXISTS nf_moved_out; DROP FUNCTION IF EXISTS nf_slot(uuid)",
        )
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_slot_expression_is_the_fnv1a_hash_modulo_1024() {
        // The same arithmetic as the SQL, evaluated here, against the domain's hash.
        for _ in 0..1000 {
            let id = uuid::Uuid::new_v4();
            let slot = id
                .as_bytes()
                .iter()
                .fold(805u32, |h, b| ((h ^ u32::from(*b)) * 435) & 1023);
            let expected = domain::shard::fnv1a_64(id.as_bytes()) % 1024;
            assert_eq!(u64::from(slot), expected);
        }
        let sql = super::slot_expression();
        assert_eq!(sql.matches("get_byte").count(), 16);
        assert!(sql.contains("805 # get_byte(uuid_send(id), 0)"));
    }
}
