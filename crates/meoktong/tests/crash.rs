//! Crash safety of the notification hub: `meoktong serve` killed with SIGKILL in the middle of
//! a fan-out and started again. Every merchant still gets the alert, and the only duplicates
//! are requests that were in flight when the process died (at most `dispatch_concurrency`).
//!
//! The database (SQLite in a temp dir) is prepared by the test with the storage crate — the
//! catalog, 250 subscribed merchants, an open incident — as the detector and an import would
//! leave it; the stand-in for Twilio lives in the test process and is rate-limited by the
//! provider's `rate_per_second`, so the kill lands mid-fan-out.
use meoktong_config::DependencySettings;
use meoktong_domain::Category;
use meoktong_storage::merchants::{self, MerchantRecord};
use meoktong_storage::{Crypto, Db, catalog, incidents, now_ms};
use meoktong_testkit::TwilioStandIn;
use std::collections::HashMap;
use std::fs::File;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const KEY: &str = "KioqKioqKioqKioqKioqKioqKioqKioqKioqKioqKio="; // base64 of 32 × '*'
const RAW_KEY: [u8; 32] = [b'*'; 32];
const ACCOUNT_SID: &str = "AC00000000000000000000000000000000";
/// The child reads its Twilio token from this variable (set on the child only).
const TOKEN_ENV: &str = "MEOKTONG_CRASH_TWILIO_TOKEN";
const TOKEN: &str = "crash-test-token";
const MERCHANTS: usize = 250;
const CONCURRENCY: usize = 16;
const RATE: u32 = 20;

fn kakaotalk() -> DependencySettings {
    DependencySettings {
        slug: "kakaotalk".into(),
        name: "카카오톡".into(),
        name_en: Some("KakaoTalk".into()),
        category: Category::Messenger,
        platform: Some("kakao".into()),
        description: None,
        check: Vec::new(),
    }
}

fn write_config(dir: &Path, twilio_url: &str) {
    let text = format!(
        r#"[server]
listen = "127.0.0.1:0"
public_url = "http://127.0.0.1:9"

[database]
url = "sqlite://{db}?mode=rwc"

[probe]
enabled = false

[detection]
group_window = "200ms"

[notify]
dispatch_concurrency = {CONCURRENCY}

[[sms]]
provider = "twilio"
base_url = "{twilio_url}"
account_sid = "{ACCOUNT_SID}"
auth_token_env = "{TOKEN_ENV}"
from = "+15005550006"
rate_per_second = {RATE}
validity = "15m"

[[dependency]]
slug = "kakaotalk"
name = "카카오톡"
name_en = "KakaoTalk"
category = "messenger"
platform = "kakao"
"#,
        db = dir.join("m.db").display(),
    );
    std::fs::write(dir.join("meoktong.toml"), text).expect("write config");
}

fn phone(i: usize) -> String {
    format!("+82105{i:07}")
}

/// What the detector and an import would have left: the catalog, the merchants, one open
/// incident confirmed now. The connection is closed before `serve` starts.
async fn prepare_database(dir: &Path) {
    let db = Db::connect(
        &format!("sqlite://{}?mode=rwc", dir.join("m.db").display()),
        2,
    )
    .await
    .expect("open the database");
    db.migrate().await.expect("migrate");
    catalog::sync_dependencies(&db, &[kakaotalk()], "config")
        .await
        .expect("catalog");
    let crypto = Crypto::from_key(&RAW_KEY);
    let records: Vec<MerchantRecord> = (0..MERCHANTS)
        .map(|i| MerchantRecord {
            business_name: format!("가게 {i}"),
            phone: phone(i),
            email: None,
            email_platform: None,
            dependencies: vec!["kakaotalk".into()],
            locale: None,
            region: None,
            trade: None,
            backup_phone: None,
            backup_email: None,
            backup_email_platform: None,
        })
        .collect();
    merchants::import(&db, &crypto, &records, now_ms())
        .await
        .expect("import");
    let dep = catalog::dependency_by_slug(&db, "kakaotalk")
        .await
        .expect("catalog")
        .expect("kakaotalk");
    let now = now_ms();
    incidents::open(
        &db.conn,
        dep.id,
        "down",
        now - 30_000,
        now,
        &serde_json::json!({}),
    )
    .await
    .expect("open incident");
    db.conn.close().await.expect("close");
}

/// `meoktong serve` as a child process; killed (SIGKILL) when dropped.
struct Serve(Child);

impl Serve {
    fn start(dir: &Path, run: usize) -> Serve {
        let log = File::create(dir.join(format!("serve-{run}.log"))).expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_meoktong"))
            .arg("serve")
            .current_dir(dir)
            .env("MEOKTONG_DATA_KEY", KEY)
            .env(TOKEN_ENV, TOKEN)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log file"))
            .stderr(log)
            .spawn()
            .expect("start meoktong serve");
        Serve(child)
    }

    /// `kill -9`: no chance to finish or release anything.
    fn kill(mut self) {
        self.0.kill().expect("SIGKILL");
        self.0.wait().expect("reap");
    }

    fn assert_running(&mut self, dir: &Path) {
        if let Ok(Some(status)) = self.0.try_wait() {
            panic!("serve exited early ({status}):\n{}", logs(dir));
        }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The tail of every run's log, for failure messages.
fn logs(dir: &Path) -> String {
    let mut out = String::new();
    for run in 1..=2 {
        if let Ok(text) = std::fs::read_to_string(dir.join(format!("serve-{run}.log"))) {
            let lines: Vec<&str> = text.lines().collect();
            out.push_str(&format!("--- serve-{run}.log (last 30 lines)\n"));
            out.push_str(&lines[lines.len().saturating_sub(30)..].join("\n"));
            out.push('\n');
        }
    }
    out
}

/// How many SMS rows are in each state, read straight from the database.
async fn outbox_states(dir: &Path) -> HashMap<String, usize> {
    use meoktong_storage::entity::outbox;
    use meoktong_storage::sea_orm::EntityTrait;
    let db = Db::connect(
        &format!("sqlite://{}?mode=rwc", dir.join("m.db").display()),
        1,
    )
    .await
    .expect("open the database");
    let mut map = HashMap::new();
    for row in outbox::Entity::find().all(&db.conn).await.expect("outbox") {
        *map.entry(row.state).or_insert(0) += 1;
    }
    db.conn.close().await.expect("close");
    map
}

fn counts(twilio: &TwilioStandIn) -> HashMap<String, usize> {
    let mut map = HashMap::new();
    for m in twilio.messages() {
        *map.entry(m.to).or_insert(0) += 1;
    }
    map
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_fan_out_then_restart_alerts_everyone_with_bounded_duplicates() {
    let dir = tempfile::tempdir().expect("tempdir");
    let twilio = TwilioStandIn::start(ACCOUNT_SID, TOKEN).await;
    write_config(dir.path(), &twilio.base_url());
    prepare_database(dir.path()).await;

    let mut first = Serve::start(dir.path(), 1);
    let start = Instant::now();
    // Kill once the fan-out is well under way (it needs MERCHANTS / RATE ≈ 12 s).
    while twilio.messages().len() < 60 {
        first.assert_running(dir.path());
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "the fan-out did not start: {} SMS\n{}",
            twilio.messages().len(),
            logs(dir.path())
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    first.kill();
    let before = counts(&twilio);
    assert!(
        before.len() < MERCHANTS,
        "the kill landed mid-fan-out ({} of {MERCHANTS} reached)",
        before.len()
    );

    let states = outbox_states(dir.path()).await;
    eprintln!("outbox after the kill: {states:?}");
    assert_eq!(
        states.values().sum::<usize>(),
        MERCHANTS,
        "one SMS row per merchant: {states:?}"
    );

    let mut second = Serve::start(dir.path(), 2);
    // Rows the dead process had claimed are taken over when their lease (60 s) expires.
    let start = Instant::now();
    while counts(&twilio).len() < MERCHANTS {
        second.assert_running(dir.path());
        assert!(
            start.elapsed() < Duration::from_secs(300),
            "only {} of {MERCHANTS} merchants got their SMS after the restart\n{}",
            counts(&twilio).len(),
            logs(dir.path())
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Nothing more is coming: a few dispatcher and timer passes later, the counts hold.
    tokio::time::sleep(Duration::from_secs(5)).await;
    second.assert_running(dir.path());
    let after = counts(&twilio);
    assert_eq!(after.len(), MERCHANTS, "every merchant has its alert");
    let duplicates: usize = after.values().map(|n| n - 1).sum();
    eprintln!(
        "reached before the kill: {}; after the restart: {}; duplicates: {duplicates}",
        before.len(),
        after.len()
    );
    assert!(
        duplicates <= CONCURRENCY,
        "{duplicates} duplicate SMS; at most the {CONCURRENCY} requests in flight at the kill may repeat"
    );
    assert!(
        after.values().all(|&n| n <= 2),
        "no merchant got more than one repeat: {after:?}"
    );
    // A merchant reached before the kill is only repeated if its request was in flight then.
    let repeated_from_before: usize = before
        .iter()
        .filter(|(to, n)| after.get(*to).copied().unwrap_or(0) > **n)
        .count();
    assert!(
        repeated_from_before <= CONCURRENCY,
        "{repeated_from_before}"
    );
    assert!(twilio.requests().iter().all(|r| r.authorized));
    second.kill();
}
