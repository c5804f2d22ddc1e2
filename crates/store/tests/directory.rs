//! Domains and users through the public `Store` API.

use std::time::Instant;

use sip::digest::{Algorithm, ha1};
use store::{Store, StoreError};

async fn store_with_domain(domain: &str) -> Result<Store, StoreError> {
    let store = Store::open_memory().await?;
    store.add_domain(domain).await?;
    Ok(store)
}

#[tokio::test]
async fn domains_are_unique_case_insensitively() {
    let store = Store::open_memory().await.unwrap();
    assert!(store.is_empty().await.unwrap());
    store.add_domain("example.com").await.unwrap();
    store.add_domain("192.0.2.1").await.unwrap();
    assert!(!store.is_empty().await.unwrap());
    assert!(matches!(
        store.add_domain("Example.COM").await,
        Err(StoreError::DomainExists(_))
    ));
    assert!(matches!(
        store.add_domain("bad domain").await,
        Err(StoreError::InvalidDomain(_))
    ));
    assert_eq!(store.domains().await.unwrap(), ["192.0.2.1", "example.com"]);
    assert!(store.domain_exists("EXAMPLE.com").await.unwrap());
    assert!(!store.domain_exists("example.org").await.unwrap());
}

#[tokio::test]
async fn add_user_stores_ha1_not_password() {
    let store = store_with_domain("example.com").await.unwrap();
    store
        .add_user("example.com", "alice", "s3cret")
        .await
        .unwrap();
    let creds = store
        .credentials("example.com", "alice")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        creds.ha1_md5,
        ha1(Algorithm::Md5, "alice", "example.com", "s3cret")
    );
    assert_eq!(
        creds.ha1_sha256,
        ha1(Algorithm::Sha256, "alice", "example.com", "s3cret")
    );
    assert_eq!(store.credentials("example.com", "bob").await.unwrap(), None);
    assert_eq!(
        store.credentials("example.org", "alice").await.unwrap(),
        None
    );
}

#[tokio::test]
async fn realm_is_the_stored_domain_spelling() {
    let store = store_with_domain("Example.com").await.unwrap();
    store.add_user("example.COM", "alice", "pw").await.unwrap();
    let creds = store
        .credentials("EXAMPLE.COM", "alice")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        creds.ha1_md5,
        ha1(Algorithm::Md5, "alice", "Example.com", "pw")
    );
}

#[tokio::test]
async fn add_user_errors() {
    let store = store_with_domain("example.com").await.unwrap();
    store.add_user("example.com", "alice", "pw").await.unwrap();
    assert!(matches!(
        store.add_user("example.org", "bob", "pw").await,
        Err(StoreError::NoSuchDomain(_))
    ));
    assert!(matches!(
        store.add_user("example.com", "alice", "other").await,
        Err(StoreError::UserExists { .. })
    ));
    for bad in ["", "a b", "a@b", "a:b"] {
        assert!(matches!(
            store.add_user("example.com", bad, "pw").await,
            Err(StoreError::InvalidName(_))
        ));
    }
    assert!(matches!(
        store.add_user("example.com", "bob", "").await,
        Err(StoreError::EmptyPassword(_))
    ));
    // User parts are case-sensitive, so this is a different user.
    store.add_user("example.com", "Alice", "pw").await.unwrap();
    assert_eq!(
        store.users("example.com").await.unwrap(),
        ["Alice", "alice"]
    );
}

#[tokio::test]
async fn set_password_and_remove() {
    let store = store_with_domain("example.com").await.unwrap();
    store.add_user("example.com", "alice", "old").await.unwrap();
    store
        .set_password("example.com", "alice", "new")
        .await
        .unwrap();
    let creds = store
        .credentials("example.com", "alice")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        creds.ha1_sha256,
        ha1(Algorithm::Sha256, "alice", "example.com", "new")
    );
    assert!(matches!(
        store.set_password("example.com", "bob", "x").await,
        Err(StoreError::NoSuchUser { .. })
    ));

    store.remove_user("example.com", "alice").await.unwrap();
    assert!(store.users("example.com").await.unwrap().is_empty());
    assert!(matches!(
        store.remove_user("example.com", "alice").await,
        Err(StoreError::NoSuchUser { .. })
    ));
    assert!(matches!(
        store.users("example.org").await,
        Err(StoreError::NoSuchDomain(_))
    ));
}

#[tokio::test]
async fn import_is_all_or_nothing() {
    let store = store_with_domain("example.com").await.unwrap();
    store.add_user("example.com", "carol", "pw").await.unwrap();
    let batch = |names: &[&str]| -> Vec<(String, String)> {
        names
            .iter()
            .map(|n| (n.to_string(), format!("pw-{n}")))
            .collect()
    };
    for bad in [
        batch(&["alice", "carol"]),
        batch(&["alice", "alice"]),
        batch(&["alice", "b@d"]),
    ] {
        assert!(store.import_users("example.com", &bad).await.is_err());
        assert_eq!(store.users("example.com").await.unwrap(), ["carol"]);
    }
    let n = store
        .import_users("example.com", &batch(&["bob", "alice"]))
        .await
        .unwrap();
    assert_eq!(n, 2);
    assert_eq!(
        store.users("example.com").await.unwrap(),
        ["alice", "bob", "carol"]
    );
}

#[tokio::test]
async fn import_10k_users_quickly() {
    let store = store_with_domain("example.com").await.unwrap();
    let users: Vec<(String, String)> = (0..10_000)
        .map(|i| (format!("user{i:05}"), format!("password-{i}")))
        .collect();
    let started = Instant::now();
    let n = store.import_users("example.com", &users).await.unwrap();
    let elapsed = started.elapsed();
    println!("imported {n} users in {elapsed:?}");
    assert_eq!(n, 10_000);
    assert!(elapsed.as_secs_f64() < 5.0, "import took {elapsed:?}");
    assert_eq!(store.all_credentials().await.unwrap().len(), 10_000);
}

#[tokio::test]
async fn all_credentials_lists_every_domain() {
    let store = store_with_domain("b.example").await.unwrap();
    store.add_domain("a.example").await.unwrap();
    store.add_user("b.example", "bob", "pw").await.unwrap();
    store.add_user("a.example", "alice", "pw").await.unwrap();
    let all = store.all_credentials().await.unwrap();
    let keys: Vec<(&str, &str)> = all
        .iter()
        .map(|(d, u, _)| (d.as_str(), u.as_str()))
        .collect();
    assert_eq!(keys, [("a.example", "alice"), ("b.example", "bob")]);
    assert_eq!(
        all[0].2.ha1_md5,
        ha1(Algorithm::Md5, "alice", "a.example", "pw")
    );
}

#[tokio::test]
async fn file_store_survives_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("nested/data");
    {
        let store = Store::open(&data).await.unwrap();
        store.add_domain("example.com").await.unwrap();
        store.add_user("example.com", "alice", "pw").await.unwrap();
    }
    assert!(data.join("switchboard.db").exists());
    let store = Store::open(&data).await.unwrap();
    assert!(!store.is_empty().await.unwrap());
    assert_eq!(store.users("example.com").await.unwrap(), ["alice"]);
    // Opening a second handle on the same file at once must work too (CLI beside the server).
    let other = Store::open(&data).await.unwrap();
    other.add_user("example.com", "bob", "pw").await.unwrap();
    assert_eq!(store.users("example.com").await.unwrap(), ["alice", "bob"]);
}
