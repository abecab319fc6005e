//! `nimbusfleet admin move-slots | rebalance | add-shard | shards`: growing the number of
//! shards while the service runs (see `infra`'s store `moves` module for the protocol).

use std::sync::Mutex;
use std::time::Instant;

use anyhow::{bail, Context};
use domain::shard::{MoveProgress, ShardId, SlotMove, SlotRange};
use indicatif::{ProgressBar, ProgressStyle};
use infra::{MoveObserver, Store};

use crate::application::open_store;
use crate::cli::MoveSlotsArgs;
use crate::settings::Settings;

/// The store, announcing its moves to the running processes through Redis when configured.
async fn mover_store(settings: &Settings) -> anyhow::Result<Store> {
    let store = open_store(settings, settings.storage.migrate_on_start).await?;
    let platform = infra::platform::Platform::new(
        &settings.redis,
        std::sync::Arc::new(infra::redis::NoopObserver),
    )?;
    Ok(platform.announcing_slot_moves(store))
}

pub async fn move_slots(settings: &Settings, args: MoveSlotsArgs) -> anyhow::Result<()> {
    let store = mover_store(settings).await?;
    let start = match (args.resume, args.slots, args.to) {
        (true, _, _) => match store.active_move().await? {
            Some(m) => m,
            None => {
                println!("no slot move is unfinished; nothing to resume");
                return Ok(());
            }
        },
        (false, Some(slots), Some(to)) => {
            let range = SlotRange::parse(&slots).map_err(|e| anyhow::anyhow!("--slots {e}"))?;
            store.start_move(range, ShardId(to)).await?
        }
        _ => bail!("give --slots and --to, or --resume"),
    };
    let done = run(&store, start).await?;
    report(&done);
    Ok(())
}

pub async fn rebalance(settings: &Settings, shards: u16) -> anyhow::Result<()> {
    let store = mover_store(settings).await?;
    if let Some(m) = store.active_move().await? {
        println!("finishing the interrupted move {} first", m.id);
        report(&run(&store, m).await?);
    }
    let plan = store.slot_map().rebalance(shards)?;
    if plan.is_empty() {
        println!("the slots are already spread evenly over {shards} shard(s)");
        return Ok(());
    }
    println!(
        "{} move(s) to spread the slots over {shards} shards:",
        plan.len()
    );
    for m in &plan {
        println!(
            "  slots {} from shard {} to shard {}",
            m.range, m.from, m.to
        );
    }
    for planned in plan {
        let m = store.start_move(planned.range, planned.to).await?;
        report(&run(&store, m).await?);
    }
    println!("slot map now: {}", store.slot_map().to_spec());
    Ok(())
}

pub async fn add_shard(settings: &Settings, url: &str) -> anyhow::Result<()> {
    let drones = migrations::prepare_shard(url)
        .await
        .context("failed to prepare the new shard database")?;
    if drones > 0 {
        bail!("that database already holds {drones} drone(s): a new shard must be empty");
    }
    let index = settings.storage.shard_urls.len();
    println!(
        "the database is ready to be shard {index}. Next:\n\
         1. add its URL as the last entry of storage.shard_urls on every process \
         (NIMBUS__STORAGE__SHARD_URLS, comma-separated) and restart them one at a time; \
         it owns no slots yet, so nothing changes;\n\
         2. move slots to it: `nimbusfleet admin rebalance --shards {}` (an even spread), or \
         `nimbusfleet admin move-slots --slots FIRST-LAST --to {index}`.",
        index + 1
    );
    Ok(())
}

pub async fn show(settings: &Settings) -> anyhow::Result<()> {
    let store = open_store(settings, settings.storage.migrate_on_start).await?;
    let map = store.slot_map();
    println!("slot map version {}: {}", map.version(), map.to_spec());
    for rows in store.shard_rows().await {
        println!(
            "  shard {}: {} slots, {} drones, ~{} points{}",
            rows.shard,
            map.slots_of(rows.shard),
            rows.drones.map_or("?".to_owned(), |n| n.to_string()),
            rows.points_estimate
                .map_or("?".to_owned(), |n| n.to_string()),
            rows.error.map(|e| format!(" ({e})")).unwrap_or_default()
        );
    }
    for m in store.recent_moves(10).await? {
        println!(
            "  move {}: slots {} shard {} → {}, {}, {} rows copied, fence {}",
            m.id,
            m.range,
            m.source,
            m.target,
            m.state,
            m.progress.rows_copied(),
            m.fence_ms.map_or("-".to_owned(), |ms| format!("{ms} ms"))
        );
    }
    Ok(())
}

async fn run(store: &Store, m: SlotMove) -> anyhow::Result<SlotMove> {
    println!(
        "moving slots {} from shard {} to shard {} (move {}, {})",
        m.range, m.source, m.target, m.id, m.state
    );
    let bar = Bar::new()?;
    let done = store.run_move(m, &bar).await?;
    bar.bar.finish();
    Ok(done)
}

fn report(m: &SlotMove) {
    let p = &m.progress;
    let seconds = (m.finished_at.unwrap_or(m.updated_at) - m.created_at)
        .num_milliseconds()
        .max(1) as f64
        / 1000.0;
    let tables: Vec<String> = p.rows.iter().map(|(t, n)| format!("{t} {n}")).collect();
    println!(
        "move {} done: {} drones, {} rows copied ({}) in {:.1} s ({:.0} rows/s), {} changes \
         caught up, {} source rows deleted; fenced {} ms; {seconds:.1} s in all",
        m.id,
        p.drones_copied,
        p.rows_copied(),
        tables.join(", "),
        p.copy_ms as f64 / 1000.0,
        p.rows_copied() as f64 * 1000.0 / p.copy_ms.max(1) as f64,
        p.changes,
        p.deleted,
        m.fence_ms.unwrap_or(0),
    );
}

/// A progress bar over the drones copied, with the rows, their rate and the step.
struct Bar {
    bar: ProgressBar,
    started: Mutex<Option<(Instant, u64)>>,
}

impl Bar {
    fn new() -> anyhow::Result<Self> {
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix:>12} [{bar:30}] {pos}/{len} drones, {msg} (ETA {eta})",
            )
            .context("progress bar template")?
            .progress_chars("=> "),
        );
        Ok(Self {
            bar,
            started: Mutex::new(None),
        })
    }
}

impl MoveObserver for Bar {
    fn phase(&self, step: &str) {
        self.bar.set_prefix(step.to_owned());
        if step == "done" {
            self.bar.set_position(self.bar.length().unwrap_or(0));
        }
    }

    fn progress(&self, p: &MoveProgress) {
        self.bar.set_length(p.drones_total);
        self.bar.set_position(p.drones_copied);
        let rows = p.rows_copied();
        let mut started = self.started.lock().unwrap_or_else(|e| e.into_inner());
        let (at, from) = *started.get_or_insert((Instant::now(), rows));
        let rate = (rows - from.min(rows)) as f64 / at.elapsed().as_secs_f64().max(1e-3);
        let tables: Vec<String> = p
            .rows
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(t, n)| format!("{t} {n}"))
            .collect();
        self.bar.set_message(format!(
            "{rows} rows at {rate:.0}/s [{}], {} changes, {} deleted",
            tables.join(", "),
            p.changes,
            p.deleted
        ));
    }
}
