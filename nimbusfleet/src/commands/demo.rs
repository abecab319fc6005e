//! `serve --demo`: a ready-made organisation so a newcomer can log in at once.

use anyhow::Context;
use chrono::Utc;
use domain::drone::{DroneStatus, Limits, NewDrone, Serial};
use domain::org::Plan;
use domain::page::PageRequest;
use domain::platform::SessionStore;
use domain::position::Position;
use domain::user::{Email, NewUser, Password, Role, User, UserPatch};
use domain::DroneId;

use api::state::Repos;

pub const ORG_NAME: &str = "Demo Aviation";

/// (role, email, password). Demo credentials are public by design: never use `--demo` on
/// an installation reachable by others.
pub const USERS: [(Role, &str, &str); 3] = [
    (
        Role::Admin,
        "admin@demo.nimbusfleet.local",
        "demo-admin-password",
    ),
    (
        Role::Operator,
        "operator@demo.nimbusfleet.local",
        "demo-operator-password",
    ),
    (
        Role::Viewer,
        "viewer@demo.nimbusfleet.local",
        "demo-viewer-password",
    ),
];

const DRONES: [(&str, &str, &str, f64, f64); 5] = [
    (
        "DEMO-0001",
        "Survey Alpha",
        "Matrice 300 RTK",
        47.3769,
        8.5417,
    ),
    (
        "DEMO-0002",
        "Survey Bravo",
        "Matrice 300 RTK",
        47.3810,
        8.5350,
    ),
    (
        "DEMO-0003",
        "Inspector Charlie",
        "Mavic 3 Enterprise",
        47.3700,
        8.5500,
    ),
    (
        "DEMO-0004",
        "Courier Delta",
        "Wingcopter 198",
        47.3650,
        8.5300,
    ),
    ("DEMO-0005", "Mapper Echo", "eBee X", 47.3900, 8.5150),
];

/// Without `--demo`, the demo accounts must not keep their well-known passwords: each one
/// that still has its demo password gets a random one it never learns (so nobody can log
/// in with it), its sessions end, and the log says so. `serve --demo` sets them back.
pub async fn lock_out(state: &Repos, sessions: &dyn SessionStore) -> anyhow::Result<()> {
    for (_, email, password) in USERS {
        let Some((user, true)) = demo_account(state, email, password).await? else {
            continue;
        };
        set_password(state, &user, &random_password()).await?;
        sessions.delete_for_user(user.id).await?;
        tracing::warn!(
            email = user.email.as_str(),
            "demo account disabled: started without --demo, so its well-known password no longer works (serve --demo restores it)"
        );
    }
    Ok(())
}

/// The demo account of `email`, if it exists, and whether its password is still the
/// well-known `password`.
async fn demo_account(
    state: &Repos,
    email: &str,
    password: &str,
) -> anyhow::Result<Option<(User, bool)>> {
    let email = Email::parse(email).map_err(|e| anyhow::anyhow!(e.message))?;
    // The demo organisation's account of the address (others may use it too).
    let Some(org) = state.orgs.find_org_by_name(ORG_NAME).await? else {
        return Ok(None);
    };
    let Some((user, hash)) = state
        .users
        .find_credentials(&email, api::services::MAX_ACCOUNTS_PER_EMAIL)
        .await?
        .into_iter()
        .find(|(user, _)| user.org_id == org.id)
    else {
        return Ok(None);
    };
    let known = password.to_owned();
    let still_demo =
        tokio::task::spawn_blocking(move || infra::secrets::verify_password(&known, &hash)).await?;
    Ok(Some((user, still_demo)))
}

fn random_password() -> String {
    use rand::distributions::{Alphanumeric, DistString};
    Alphanumeric.sample_string(&mut rand::thread_rng(), 40)
}

async fn set_password(state: &Repos, user: &User, password: &str) -> anyhow::Result<()> {
    let password = Password::parse(password.to_owned()).map_err(|e| anyhow::anyhow!(e.message))?;
    let password_hash =
        tokio::task::spawn_blocking(move || infra::secrets::hash_password(&password)).await??;
    state
        .users
        .update_user(
            user.org_id,
            user.id,
            UserPatch {
                name: None,
                role: None,
                password_hash: Some(password_hash),
            },
            None,
        )
        .await?;
    Ok(())
}

/// Creates the demo organisation, users and drones unless they exist, gives the demo users
/// their well-known passwords back if a start without `--demo` took them away, then prints
/// the credentials.
pub async fn ensure(state: &Repos, base_url: &str) -> anyhow::Result<()> {
    let org = match state.orgs.find_org_by_name(ORG_NAME).await? {
        Some(org) => org.id,
        None => {
            let (_, email, password) = USERS[0];
            let admin = super::create_org(
                state.orgs.as_ref(),
                ORG_NAME,
                Plan::Professional,
                email,
                "Demo Admin",
                password.to_owned(),
            )
            .await
            .context("failed to create the demo organisation")?;
            for (role, email, password) in &USERS[1..] {
                let password = Password::parse((*password).to_owned())
                    .map_err(|e| anyhow::anyhow!(e.message))?;
                let password_hash =
                    tokio::task::spawn_blocking(move || infra::secrets::hash_password(&password))
                        .await??;
                state
                    .users
                    .create_user(NewUser {
                        org_id: admin.org_id,
                        email: Email::parse(email).map_err(|e| anyhow::anyhow!(e.message))?,
                        name: format!("Demo {}", role.as_str()),
                        role: *role,
                        password_hash,
                    })
                    .await?;
            }
            admin.org_id
        }
    };
    for (_, email, password) in USERS {
        if let Some((user, false)) = demo_account(state, email, password).await? {
            set_password(state, &user, password).await?;
        }
    }
    let existing = state
        .drones
        .list_drones(org, &Default::default(), PageRequest::first(1))
        .await?;
    if existing.items.is_empty() {
        for (serial, name, model, lat, lon) in DRONES {
            let drone = NewDrone {
                org_id: org,
                serial: Serial::parse(serial).map_err(|e| anyhow::anyhow!(e.message))?,
                name: name.to_owned(),
                model: model.to_owned(),
                manufacturer: None,
                status: DroneStatus::Active,
                limits: Limits {
                    max_altitude_m: 120.0,
                    max_speed_mps: 20.0,
                    endurance_min: 40,
                },
                firmware_version: Some("1.0.0".to_owned()),
                home: Some(Position::parse(lat, lon, 0.0).map_err(|e| anyhow::anyhow!("{e}"))?),
                link_timeout_s: None,
            };
            state
                .drones
                .create_drone(drone.into_drone(DroneId::new(), Utc::now()))
                .await?;
        }
    }
    println!("Demo organisation {ORG_NAME:?} is ready. Log in with:");
    for (role, email, password) in USERS {
        println!("  {:<9} {email:<34} password: {password}", role.as_str());
    }
    println!("  e.g. curl -s -X POST {base_url}/api/v1/auth/login -H 'content-type: application/json' \\\n       -d '{{\"email\":\"{}\",\"password\":\"{}\"}}'", USERS[0].1, USERS[0].2);
    Ok(())
}
