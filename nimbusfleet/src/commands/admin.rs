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
