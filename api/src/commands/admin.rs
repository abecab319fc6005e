use anyhow::Context;
use chrono::Utc;
use domain::drone::{parse_text, NAME_MAX_LEN};
use domain::org::{Organization, Plan};
use domain::ports::OrgRepository;
use domain::user::{Email, NewUser, Password, Role, User};
use domain::OrgId;

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
        domain::StoreError::Conflict { field: "name" } => {
            anyhow::anyhow!("an organisation with this name already exists")
        }
        domain::StoreError::Conflict { field: "email" } => {
            anyhow::anyhow!("a user with this email already exists")
        }
        other => anyhow::Error::new(other).context("failed to create the organisation"),
    })
}

/// `admin set-plan`: Enterprise takes `--rate` and `--burst`; other plans refuse them.
pub async fn set_plan(
    orgs: &dyn OrgRepository,
    args: &crate::cli::SetPlanArgs,
) -> anyhow::Result<Organization> {
    let plan = parse_plan(&args.plan)?;
    let quota = match (plan, args.rate, args.burst) {
        (Plan::Enterprise, Some(per_second), Some(burst)) if per_second > 0 && burst > 0 => {
            Some(domain::limits::Quota { per_second, burst })
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

/// The `--plan` of the admin commands.
pub fn parse_plan(raw: &str) -> anyhow::Result<Plan> {
    Plan::parse(raw).with_context(|| {
        format!("--plan must be free, standard, professional or enterprise, not {raw}")
    })
}
