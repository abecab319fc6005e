//! `nimbusfleet admin …`: organisations, plans and Kafka topics, for scripts and operators.

use anyhow::Context;
use chrono::Utc;
use domain::drone::{parse_text, NAME_MAX_LEN};
use domain::org::{Organization, Plan};
use domain::ports::OrgRepository;
use domain::user::{Email, NewUser, Password, Role, User};
use domain::{ConflictKind, OrgId, StoreError};
use infra::kafka::KafkaTopic;

use crate::application::open_store;
use crate::cli::{AdminCommand, SetPlanArgs};
use crate::settings::Settings;

pub async fn run(settings: &Settings, command: AdminCommand) -> anyhow::Result<()> {
    match command {
        AdminCommand::CreateTopics(args) => {
            if settings.kafka.brokers.is_none() {
                anyhow::bail!("kafka.brokers is not set (NIMBUS__KAFKA__BROKERS=host:9092)");
            }
            infra::kafka::create_topics(&settings.kafka, args.partitions, args.replication).await?;
            println!(
                "topics {} ({} partitions) and {} exist on {}",
                settings.kafka.topic(KafkaTopic::Telemetry),
                args.partitions,
                settings.kafka.topic(KafkaTopic::DeadLetter),
                settings.kafka.brokers.as_deref().unwrap_or_default()
            );
            Ok(())
        }
        AdminCommand::Archive(args) => archive(settings, args.before).await,
        AdminCommand::MoveSlots(args) => super::shards::move_slots(settings, args).await,
        AdminCommand::Rebalance(args) => super::shards::rebalance(settings, args.shards).await,
        AdminCommand::AddShard(args) => super::shards::add_shard(settings, &args.url).await,
        AdminCommand::Shards => super::shards::show(settings).await,
        AdminCommand::CreateOrg(args) => {
            let store = open_store(settings, settings.storage.migrate_on_start).await?;
            let admin = create_org(
                &store,
                &args.name,
                args.plan.into(),
                &args.admin_email,
                &args.admin_name,
                args.admin_password,
            )
            .await?;
            println!(
                "created organisation {:?} ({}) with admin {}",
                args.name,
                admin.org_id,
                admin.email.as_str()
            );
            Ok(())
        }
        AdminCommand::SetPlan(args) => {
            let store = open_store(settings, settings.storage.migrate_on_start).await?;
            let org = set_plan(&store, &args).await?;
            let quota = org.quota();
            println!(
                "organisation {:?} is on the {} plan: {} requests/s, burst {} (replicas apply it within 30 s)",
                org.name,
                org.plan.as_str(),
                quota.per_second,
                quota.burst
            );
            Ok(())
        }
    }
}

/// `admin archive --before DATE`: one progress bar per day (rows written), then a summary.
async fn archive(settings: &Settings, before: chrono::NaiveDate) -> anyhow::Result<()> {
    if settings.telemetry.archive_url.is_empty() {
        anyhow::bail!(
            "telemetry.archive_url is not set (NIMBUS__TELEMETRY__ARCHIVE_URL=/var/lib/nimbusfleet/archive)"
        );
    }
    let store = open_store(settings, settings.storage.migrate_on_start).await?;
    let since = Utc::now() - settings.telemetry.retention();
    let bars = indicatif::MultiProgress::new();
    let style = indicatif::ProgressStyle::with_template(
        "{prefix:>24} {spinner} {pos:>12} rows  {per_sec:>14}  {elapsed_precise} {msg}",
    )
    .context("progress bar template")?;
    let current: std::sync::Mutex<Option<(usize, chrono::NaiveDate, indicatif::ProgressBar)>> =
        std::sync::Mutex::new(None);
    let started = std::time::Instant::now();
    let done = store
        .archive_before(before, since, &|p| {
            let mut current = current.lock().unwrap_or_else(|e| e.into_inner());
            let fresh =
                !matches!(&*current, Some((shard, day, _)) if *shard == p.shard && *day == p.day);
            if fresh {
                let bar = bars.add(indicatif::ProgressBar::new_spinner());
                bar.set_style(style.clone());
                bar.set_prefix(format!("shard {} {}", p.shard, p.day));
                *current = Some((p.shard, p.day, bar));
            }
            if let Some((_, _, bar)) = &*current {
                bar.set_position(p.rows);
                if p.done {
                    bar.finish_with_message(format!("archived, {} bytes, verified", p.bytes));
                }
            }
        })
        .await?;
    let rows: u64 = done.iter().map(|d| d.rows).sum();
    let bytes: u64 = done.iter().map(|d| d.bytes).sum();
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "archived {} shard-days, {rows} rows ({bytes} bytes of Parquet, {:.1} bytes a point) in {seconds:.1} s ({:.0} rows/s) to {}",
        done.len(),
        if rows > 0 { bytes as f64 / rows as f64 } else { 0.0 },
        rows as f64 / seconds.max(1e-9),
        settings.telemetry.archive_url
    );
    Ok(())
}

/// Creates an organisation and its first admin (used by `admin create-org` and `--demo`).
pub async fn create_org(
    orgs: &dyn OrgRepository,
    name: &str,
    plan: Plan,
    admin_email: &str,
    admin_name: &str,
    admin_password: String,
) -> anyhow::Result<User> {
    let name = parse_text("name", name, NAME_MAX_LEN)
        .map_err(|e| anyhow::anyhow!("--name {}", e.message))?;
    let email =
        Email::parse(admin_email).map_err(|e| anyhow::anyhow!("--admin-email {}", e.message))?;
    let admin_name = parse_text("admin_name", admin_name, NAME_MAX_LEN)
        .map_err(|e| anyhow::anyhow!("--admin-name {}", e.message))?;
    let password = Password::parse(admin_password)
        .map_err(|e| anyhow::anyhow!("--admin-password {}", e.message))?;
    let password_hash =
        tokio::task::spawn_blocking(move || infra::secrets::hash_password(&password))
            .await
            .context("password hashing failed")??;
    let org = Organization {
        id: OrgId::new(),
        name,
        plan,
        custom_quota: None,
        battery: Default::default(),
        created_at: Utc::now(),
    };
    let admin = NewUser {
        org_id: org.id,
        email,
        name: admin_name,
        role: Role::Admin,
        password_hash,
    };
    orgs.create_org(org, admin).await.map_err(|e| match e {
        StoreError::Conflict(ConflictKind::OrgName) => {
            anyhow::anyhow!("an organisation with this name already exists")
        }
        StoreError::Conflict(ConflictKind::Email) => {
            anyhow::anyhow!("a user with this email already exists")
        }
        other => anyhow::Error::new(other).context("failed to create the organisation"),
    })
}

/// `admin set-plan`: Enterprise takes `--rate` and `--burst`; other plans refuse them.
pub async fn set_plan(
    orgs: &dyn OrgRepository,
    args: &SetPlanArgs,
) -> anyhow::Result<Organization> {
    let plan: Plan = args.plan.into();
    let quota = match (plan, args.rate, args.burst) {
        (Plan::Enterprise, Some(per_second), Some(burst)) if per_second > 0 && burst > 0 => {
            Some(domain::limits::Quota {
                per_second,
                burst,
                period_s: 1,
            })
        }
        (Plan::Enterprise, Some(_), Some(_)) => {
            anyhow::bail!("--rate and --burst must be at least 1")
        }
        (Plan::Enterprise, _, _) => anyhow::bail!("the enterprise plan needs --rate and --burst"),
        (_, None, None) => None,
        _ => anyhow::bail!("--rate and --burst apply to the enterprise plan only"),
    };
    let org = orgs
        .find_org_by_name(&args.org)
        .await?
        .with_context(|| format!("no organisation is named {:?}", args.org))?;
    Ok(orgs.set_plan(org.id, plan, quota).await?)
}
