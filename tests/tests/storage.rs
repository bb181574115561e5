//! Storage against every backend: migrations are idempotent, import is all-or-nothing and
//! updates instead of duplicating, personal data is encrypted at rest.
use meoktong_storage::entity::merchants;
use meoktong_storage::merchants::{MerchantRecord, import, list};
use meoktong_storage::{Crypto, catalog};
use meoktong_tests::{Backend, TEST_KEY, TestDb};
use sea_orm::{EntityTrait, PaginatorTrait};

fn record(name: &str, phone: &str, deps: &[&str]) -> MerchantRecord {
    MerchantRecord {
        business_name: name.into(),
        phone: phone.into(),
        email: Some(format!("{}@example.com", phone.trim_start_matches('+'))),
        email_platform: None,
        dependencies: deps.iter().map(|s| s.to_string()).collect(),
        locale: Some("ko".into()),
        region: Some("서울 마포구".into()),
        trade: Some("분식".into()),
        backup_phone: None,
        backup_email: None,
        backup_email_platform: None,
    }
}

async fn seed_catalog(db: &meoktong_storage::Db) {
    let s = meoktong_config::load_str(
        r#"
[[dependency]]
slug = "kakao-login"
name = "카카오 로그인"
category = "login"
[[dependency]]
slug = "kakaopay"
name = "카카오페이"
category = "payment"
"#,
        None,
    )
    .expect("config");
    catalog::sync_dependencies(db, &s.dependency, "config")
        .await
        .expect("sync");
    // Idempotent: a second sync changes nothing.
    catalog::sync_dependencies(db, &s.dependency, "config")
        .await
        .expect("sync again");
}

#[tokio::test]
async fn migrations_are_idempotent_on_every_backend() {
    for backend in Backend::each() {
        let tdb = TestDb::new(backend).await;
        let db = tdb.connect().await;
        assert_eq!(
            db.migrate().await.expect("second run"),
            0,
            "{backend:?}: nothing pending"
        );
        db.ready().await.expect("ready");
    }
}

#[tokio::test]
async fn import_creates_then_updates_and_encrypts_on_every_backend() {
    for backend in Backend::each() {
        let tdb = TestDb::new(backend).await;
        let db = tdb.connect().await;
        seed_catalog(&db).await;
        let crypto = Crypto::from_key(&TEST_KEY);
        let first = vec![
            record("행복분식", "+821012345678", &["kakao-login"]),
            record("판교 치킨", "+821011112222", &["kakaopay"]),
        ];
        let s = import(&db, &crypto, &first, 1).await.expect("import");
        assert_eq!((s.created, s.updated), (2, 0), "{backend:?}");
        let again = vec![record(
            "행복분식",
            "+821012345678",
            &["kakao-login", "kakaopay"],
        )];
        let s = import(&db, &crypto, &again, 2).await.expect("re-import");
        assert_eq!((s.created, s.updated), (0, 1), "{backend:?}");
        assert_eq!(
            merchants::Entity::find()
                .count(&db.conn)
                .await
                .expect("count"),
            2
        );
        let rows = list(&db, &crypto).await.expect("list");
        let happy = rows
            .iter()
            .find(|m| m.business_name == "행복분식")
            .expect("row");
        assert_eq!(happy.phone, "+821012345678");
        assert_eq!(happy.dependencies, vec!["kakao-login", "kakaopay"]);
        // At rest the phone is ciphertext, not the number.
        let raw = merchants::Entity::find().all(&db.conn).await.expect("raw");
        assert!(
            raw.iter()
                .all(|m| !m.phone_enc.contains("1012345678") && m.phone_enc.starts_with("k1."))
        );
    }
}

#[tokio::test]
async fn import_with_an_unknown_slug_writes_nothing_on_every_backend() {
    for backend in Backend::each() {
        let tdb = TestDb::new(backend).await;
        let db = tdb.connect().await;
        seed_catalog(&db).await;
        let crypto = Crypto::from_key(&TEST_KEY);
        let rows = vec![
            record("A", "+821012345678", &["kakao-login"]),
            record("B", "+821011112222", &["nope"]),
        ];
        assert!(import(&db, &crypto, &rows, 1).await.is_err());
        assert_eq!(
            merchants::Entity::find()
                .count(&db.conn)
                .await
                .expect("count"),
            0,
            "{backend:?}"
        );
    }
}

#[tokio::test]
async fn a_hundred_thousand_rows_import_in_one_transaction() {
    // Size, not speed: the bench crate times it. SQLite only, to keep the suite short.
    let tdb = TestDb::new(Backend::Sqlite).await;
    let db = tdb.connect().await;
    seed_catalog(&db).await;
    let crypto = Crypto::from_key(&TEST_KEY);
    let rows: Vec<MerchantRecord> = (0..100_000)
        .map(|i| {
            record(
                &format!("가게 {i}"),
                &format!("+82101{i:07}"),
                &["kakao-login"],
            )
        })
        .collect();
    let s = import(&db, &crypto, &rows, 1).await.expect("import");
    assert_eq!(s.created, 100_000);
    assert_eq!(
        merchants::Entity::find()
            .count(&db.conn)
            .await
            .expect("count"),
        100_000
    );
}

#[tokio::test]
async fn a_key_rotation_rewrites_every_ciphertext_and_hash() {
    for backend in Backend::each() {
        let tdb = TestDb::new(backend).await;
        let db = tdb.connect().await;
        seed_catalog(&db).await;
        let old = Crypto::from_key(&[1u8; 32]);
        import(
            &db,
            &old,
            &[record("행복분식", "+821012345678", &["kakao-login"])],
            1,
        )
        .await
        .expect("import");
        let rotating = Crypto::rotating(&[2u8; 32], &[1u8; 32]);
        let s = meoktong_storage::rekey::rekey(&db, &rotating)
            .await
            .expect("rekey");
        assert_eq!((s.merchants, s.contacts), (1, 1), "{backend:?}");
        // The new key alone now reads everything and finds the merchant by phone.
        let new = Crypto::from_key(&[2u8; 32]);
        let rows = list(&db, &new).await.expect("list with the new key only");
        assert_eq!(rows[0].phone, "+821012345678");
        let found = meoktong_storage::merchants::find_by_phone(&db, &new, "+821012345678")
            .await
            .expect("find");
        assert_eq!(found.len(), 1, "{backend:?}: look-up hash rewritten");
        let s = import(
            &db,
            &new,
            &[record("행복분식", "+821012345678", &["kakao-login"])],
            2,
        )
        .await
        .expect("re-import");
        assert_eq!(
            (s.created, s.updated),
            (0, 1),
            "same merchant after rotation"
        );
    }
}

#[tokio::test]
async fn a_relapsed_incident_counts_only_its_down_episodes() {
    let tdb = TestDb::new(Backend::Sqlite).await;
    let db = tdb.connect().await;
    seed_catalog(&db).await;
    let dep = catalog::dependency_by_slug(&db, "kakao-login")
        .await
        .expect("q")
        .expect("dep");
    let json = serde_json::json!({});
    let id = meoktong_storage::incidents::open(&db.conn, dep.id, "down", 1_000, 1_500, &json)
        .await
        .expect("open");
    meoktong_storage::incidents::resolve(&db.conn, id, 4_000, 4_000)
        .await
        .expect("resolve");
    meoktong_storage::incidents::add_event(&db.conn, id, 4_000, "recovered", None, None, &json)
        .await
        .expect("event");
    meoktong_storage::incidents::relapse(&db.conn, id, 9_000)
        .await
        .expect("relapse");
    meoktong_storage::incidents::add_event(&db.conn, id, 9_000, "relapsed", None, None, &json)
        .await
        .expect("event");
    meoktong_storage::incidents::resolve(&db.conn, id, 12_000, 12_000)
        .await
        .expect("resolve again");
    meoktong_storage::incidents::add_event(&db.conn, id, 12_000, "recovered", None, None, &json)
        .await
        .expect("event");
    let list = meoktong_storage::status::incidents_since(&db, 0)
        .await
        .expect("list");
    let eps = meoktong_storage::status::episodes(&db, &list)
        .await
        .expect("episodes");
    let spans: Vec<(i64, Option<i64>)> =
        eps.iter().map(|e| (e.started_at, e.resolved_at)).collect();
    assert_eq!(
        spans,
        vec![(1_000, Some(4_000)), (9_000, Some(12_000))],
        "the 5 s between is uptime"
    );
}

/// The database holds personal data: it, its WAL and its shared-memory file are the owner's
/// alone (0600), like the key file, whatever the umask; an older 0644 database is tightened.
#[cfg(unix)]
#[tokio::test]
async fn the_sqlite_database_wal_and_shm_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("private.db");
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let modes = || {
        ["", "-wal", "-shm"].map(|suffix| {
            let file = format!("{}{suffix}", path.display());
            let meta = std::fs::metadata(&file).unwrap_or_else(|e| panic!("{file}: {e}"));
            (suffix, meta.permissions().mode() & 0o777)
        })
    };
    let db = meoktong_storage::Db::connect(&url, 2)
        .await
        .expect("connect");
    db.migrate().await.expect("migrate");
    seed_catalog(&db).await;
    assert_eq!(modes(), [("", 0o600), ("-wal", 0o600), ("-shm", 0o600)]);
    let _ = db.conn.close().await;

    // A database made before (0644, as SQLite's default with umask 022) is tightened.
    for suffix in ["", "-wal", "-shm"] {
        let file = format!("{}{suffix}", path.display());
        if std::path::Path::new(&file).exists() {
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        }
    }
    let db = meoktong_storage::Db::connect(&url, 2)
        .await
        .expect("connect");
    db.migrate().await.expect("migrate");
    seed_catalog(&db).await;
    assert_eq!(modes(), [("", 0o600), ("-wal", 0o600), ("-shm", 0o600)]);
}
