use chrono::Utc;
use domain::org::{Organization, Plan};
use domain::page::PageRequest;
use domain::ports::{OrgRepository, UserRepository};
use domain::user::{Email, PasswordHash, Role, UserPatch};
use domain::{OrgId, StoreError, UserId};
use infra::Store;

use crate::helpers::{new_org, new_user};

fn organization(name: &str) -> Organization {
    Organization {
        id: OrgId::new(),
        name: name.to_owned(),
        plan: Plan::Professional,
        custom_quota: None,
        battery: Default::default(),
        created_at: Utc::now(),
    }
}

pub async fn creating_an_org_makes_its_admin_atomically(store: &Store) {
    let name = format!("Skyline {}", OrgId::new());
    let first = organization(&name);
    let admin_email = format!("Chief-{}@Skyline.example", first.id);
    let admin = store
        .create_org(
            first.clone(),
            new_user(OrgId::new(), &admin_email, Role::Admin),
        )
        .await
        .unwrap();
    assert_eq!(
        admin.org_id, first.id,
        "the admin joins the new organisation"
    );
    assert_eq!(admin.role, Role::Admin);
    assert_eq!(admin.version, 1);
    let stored = store.get_org(first.id).await.unwrap().unwrap();
    assert_eq!(stored.name, name);
    assert_eq!(stored.plan, Plan::Professional);
    assert_eq!(store.find_org_by_name(&name).await.unwrap(), Some(stored));
    assert_eq!(store.get_org(OrgId::new()).await.unwrap(), None);

    let same_name = organization(&name);
    let fresh_email = format!("other-{}@example.com", same_name.id);
    let err = store
        .create_org(
            same_name.clone(),
            new_user(same_name.id, &fresh_email, Role::Admin),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict(domain::ConflictKind::OrgName)),
        "{err:?}"
    );
    let fresh = Email::parse(&fresh_email).unwrap();
    assert!(store.find_credentials(&fresh, 5).await.unwrap().is_empty());

    // An address is unique within its organisation only: another organisation may have an
    // account with it (an admin must not learn that it exists elsewhere).
    let new_name = format!("Skyline 2 {}", OrgId::new());
    let second = organization(&new_name);
    let elsewhere = store
        .create_org(
            second.clone(),
            new_user(second.id, &admin_email.to_uppercase(), Role::Admin),
        )
        .await
        .unwrap();
    assert_eq!(elsewhere.org_id, second.id);
    let err = store
        .create_user(new_user(second.id, &admin_email, Role::Viewer))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict(domain::ConflictKind::Email)),
        "twice in one organisation: {err:?}"
    );

    let accounts = store
        .find_credentials(&Email::parse(&admin_email).unwrap(), 5)
        .await
        .unwrap();
    assert_eq!(accounts.len(), 2, "one account per organisation");
    let (user, hash) = accounts
        .into_iter()
        .find(|(u, _)| u.org_id == first.id)
        .unwrap();
    assert_eq!(user, admin);
    assert!(hash.0.starts_with("$argon2id$"));
    assert_eq!(store.count_admins(first.id).await.unwrap(), 1);
}

pub async fn users_are_listed_updated_and_deleted_within_their_org(store: &Store) {
    let (org_a, admin) = new_org(store).await;
    let (org_b, _) = new_org(store).await;
    let mut created = vec![admin.id];
    for (i, role) in [Role::Operator; 5]
        .into_iter()
        .chain([Role::Viewer; 2])
        .enumerate()
    {
        let email = format!("u{i}-{org_a}@example.com");
        created.push(
            store
                .create_user(new_user(org_a, &email, role))
                .await
                .unwrap()
                .id,
        );
    }
    // Taken in organisation A: refused there, free in B.
    let taken = format!("u0-{org_a}@example.com");
    let err = store
        .create_user(new_user(org_a, &taken, Role::Viewer))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict(domain::ConflictKind::Email)),
        "{err:?}"
    );
    let in_b = store
        .create_user(new_user(org_b, &taken, Role::Viewer))
        .await
        .unwrap();
    store.delete_user(org_b, in_b.id).await.unwrap();
    let err = store
        .create_user(new_user(OrgId::new(), "nobody@example.com", Role::Viewer))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }), "{err:?}");

    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .list_users(org_a, None, PageRequest { limit: 3, after })
            .await
            .unwrap();
        seen.extend(page.items.iter().map(|u| u.id));
        after = page.next_after;
        if after.is_none() {
            break;
        }
    }
    created.sort();
    assert_eq!(seen, created);
    let viewers = store
        .list_users(org_a, Some(Role::Viewer), PageRequest::first(50))
        .await
        .unwrap();
    assert_eq!(viewers.items.len(), 2);
    assert!(viewers.items.iter().all(|u| u.role == Role::Viewer));

    let target = viewers.items[0].id;
    let rename = UserPatch {
        name: Some("Grace".to_owned()),
        ..Default::default()
    };
    let renamed = store
        .update_user(org_a, target, rename.clone(), Some(1))
        .await
        .unwrap();
    assert_eq!((renamed.name.as_str(), renamed.version), ("Grace", 2));
    let err = store
        .update_user(org_a, target, rename.clone(), Some(1))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::VersionMismatch { .. }), "{err:?}");
    let err = store
        .update_user(org_b, target, rename, None)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }), "{err:?}");
    let err = store
        .update_user(org_a, UserId::new(), UserPatch::default(), Some(1))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }), "{err:?}");

    let promote = UserPatch {
        role: Some(Role::Admin),
        password_hash: Some(PasswordHash("$argon2id$new".to_owned())),
        ..Default::default()
    };
    let promoted = store
        .update_user(org_a, target, promote, None)
        .await
        .unwrap();
    assert_eq!(
        (promoted.role, promoted.version, promoted.name.as_str()),
        (Role::Admin, 3, "Grace")
    );
    assert_eq!(store.count_admins(org_a).await.unwrap(), 2);
    assert_eq!(store.count_admins(org_b).await.unwrap(), 1);
    let (_, hash) = store
        .find_credentials(&promoted.email, 5)
        .await
        .unwrap()
        .remove(0);
    assert_eq!(hash, PasswordHash("$argon2id$new".to_owned()));

    assert_eq!(store.get_user(org_b, target).await.unwrap(), None);
    let err = store.delete_user(org_b, target).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }), "{err:?}");
    store.delete_user(org_a, target).await.unwrap();
    assert_eq!(store.get_user(org_a, target).await.unwrap(), None);
    let err = store.delete_user(org_a, target).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }), "{err:?}");
}
