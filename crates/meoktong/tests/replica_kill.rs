//! Two `meoktong serve` replicas on one fresh PostgreSQL database, sharing one probe location,
//! and one of them killed with SIGKILL in the middle of an outage's notice fan-out.
//!
//! Real processes, real parts: a simulated Kakao Login in this test process counts every
//! request that reaches it, and the Twilio stand-in records every SMS. The test shows that:
//! - while the dependency is up, and while it is down, the two replicas cost it about one
//!   request per check interval between them, not two;
//! - after the kill the survivor takes over the dead replica's checks within two intervals;
//! - the outage is one incident, and each merchant gets exactly one down SMS — the only
//!   repeats being requests in flight at the kill (at most `dispatch_concurrency`).
//!
//! Needs PostgreSQL: `TEST_DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`);
//! the test is skipped, saying why, only when that server cannot be reached.
use meoktong_probe::simulator::{Mode, Service, Simulator, SimulatorHandle};
use meoktong_storage::entity::{check_slots, incidents, notices, outbox};
use meoktong_storage::sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
};
use meoktong_storage::{Db, catalog, now_ms};
use meoktong_testkit::TwilioStandIn;
use std::collections::HashMap;
use std::fs::File;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const KEY: &str = "KioqKioqKioqKioqKioqKioqKioqKioqKioqKioqKio="; // base64 of 32 × '*'
const ACCOUNT_SID: &str = "AC00000000000000000000000000000000";
/// The children read their Twilio token from this variable (set on the children only).
const TOKEN_ENV: &str = "MEOKTONG_REPLICA_KILL_TWILIO_TOKEN";
const TOKEN: &str = "replica-kill-token";
const LOCATION: &str = "seoul-kt";
const INTERVAL_MS: i64 = 1_000;
const MERCHANTS: usize = 30;
/// SMS per second per replica: slow enough that the kill lands mid-fan-out.
const RATE: u32 = 1;
const CONCURRENCY: usize = 4;
const REPLICAS: [&str; 2] = ["replica-a", "replica-b"];
/// Generous: the machine may be busy, and rows the dead replica had claimed wait for their
/// lease (60 s) to expire.
const PATIENCE: Duration = Duration::from_secs(300);

fn admin_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|u| u.starts_with("postgres"))
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A fresh database, dropped (with psql, so it also happens when the test panics) afterwards.
struct FreshDatabase {
    admin: String,
    name: String,
    url: String,
}

impl FreshDatabase {
    /// `Err` says why PostgreSQL cannot be used.
    async fn create() -> Result<FreshDatabase, String> {
        let admin = admin_url();
        let parsed = url::Url::parse(&admin).map_err(|e| format!("{admin}: {e}"))?;
        let addr = format!(
            "{}:{}",
            parsed.host_str().unwrap_or("127.0.0.1"),
            parsed.port().unwrap_or(5432)
        );
        tokio::time::timeout(
            Duration::from_secs(5),
            tokio::net::TcpStream::connect(&addr),
        )
        .await
        .map_err(|_| format!("no answer from {addr} within 5 s"))?
        .map_err(|e| format!("cannot reach {addr}: {e}"))?;
        let db = tokio::time::timeout(Duration::from_secs(10), Db::connect(&admin, 1))
            .await
            .map_err(|_| format!("no answer from PostgreSQL at {admin} within 10 s"))?
            .map_err(|e| format!("cannot connect to PostgreSQL at {admin}: {e}"))?;
        let name = format!(
            "meoktong_replica_kill_{}_{}",
            std::process::id(),
            now_ms() % 1_000_000
        );
        db.conn
            .execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await
            .map_err(|e| format!("cannot create a database at {admin}: {e}"))?;
        db.conn.close().await.map_err(|e| e.to_string())?;
        let mut url = url::Url::parse(&admin).map_err(|e| e.to_string())?;
        url.set_path(&format!("/{name}"));
        Ok(FreshDatabase {
            admin,
            name,
            url: url.to_string(),
        })
    }
}

impl Drop for FreshDatabase {
    fn drop(&mut self) {
        let _ = Command::new("psql")
            .args([
                self.admin.as_str(),
                "-qc",
                &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
            ])
            .output();
    }
}

fn write_config(dir: &Path, db_url: &str, twilio_url: &str, sim_url: &str) {
    let text = format!(
        r#"[server]
listen = "127.0.0.1:0"
public_url = "http://127.0.0.1:9"

[database]
url = "{db_url}"

[probe]
location = "{LOCATION}"
canaries = []

[detection]
confirm_after = ["300ms"]
group_window = "500ms"

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
slug = "kakao-login"
name = "카카오 로그인"
name_en = "Kakao Login"
category = "login"
platform = "kakao"

  [[dependency.check]]
  name = "oidc-discovery"
  type = "http"
  url = "{sim_url}/.well-known/openid-configuration"
  expect_status = [200]
  interval = "1s"
  timeout = "800ms"
"#
    );
    std::fs::write(dir.join("meoktong.toml"), text).expect("write config");
}

/// `010-5000-0000` … as an import file takes them; the stand-in sees E.164.
fn phone(i: usize) -> (String, String) {
    let (a, b) = (5000 + i, i);
    (format!("010-{a:04}-{b:04}"), format!("+8210{a:04}{b:04}"))
}

fn import_merchants(dir: &Path) {
    let mut csv = String::from("business_name,phone,email,dependencies,locale,region,trade\n");
    for i in 0..MERCHANTS {
        csv.push_str(&format!("가게 {i},{},,kakao-login,ko,,\n", phone(i).0));
    }
    std::fs::write(dir.join("merchants.csv"), csv).expect("csv");
    let out = Command::new(env!("CARGO_BIN_EXE_meoktong"))
        .args(["merchant", "import", "merchants.csv"])
        .current_dir(dir)
        .env("MEOKTONG_DATA_KEY", KEY)
        .env_remove("RUST_LOG")
        .output()
        .expect("run meoktong merchant import");
    assert!(
        out.status.success(),
        "import: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `meoktong serve` as a child process; killed (SIGKILL) when dropped.
struct Replica {
    name: &'static str,
    child: Child,
}

impl Replica {
    fn start(dir: &Path, name: &'static str) -> Replica {
        let log = File::create(dir.join(format!("{name}.log"))).expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_meoktong"))
            .arg("serve")
            .current_dir(dir)
            // Slot and outbox claims are held in the name `{HOSTNAME}-{pid}-…`.
            .env("HOSTNAME", name)
            .env("MEOKTONG_DATA_KEY", KEY)
            .env(TOKEN_ENV, TOKEN)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log file"))
            .stderr(log)
            .spawn()
            .expect("start meoktong serve");
        Replica { name, child }
    }

    /// `kill -9`: no chance to finish or release anything.
    fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reap");
    }

    fn assert_running(&mut self, dir: &Path) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!("{} exited early ({status}):\n{}", self.name, logs(dir));
        }
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The tail of every replica's log, for failure messages.
fn logs(dir: &Path) -> String {
    let mut out = String::new();
    for name in REPLICAS {
        if let Ok(text) = std::fs::read_to_string(dir.join(format!("{name}.log"))) {
            let lines: Vec<&str> = text.lines().collect();
            out.push_str(&format!("--- {name}.log (last 30 lines)\n"));
            out.push_str(&lines[lines.len().saturating_sub(30)..].join("\n"));
            out.push('\n');
        }
    }
    out
}

/// Polls `probe` every 50 ms until it gives a value; panics with the logs after `PATIENCE`.
async fn eventually<T, F, Fut>(what: &str, dir: &Path, replicas: &mut [Replica], mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        for r in replicas.iter_mut() {
            r.assert_running(dir);
        }
        assert!(
            start.elapsed() < PATIENCE,
            "timed out waiting for {what}\n{}",
            logs(dir)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn dependency_state(db: &Db) -> Option<String> {
    let dep = catalog::dependency_by_slug(db, "kakao-login")
        .await
        .ok()??;
    meoktong_storage::incidents::dependency_state(&db.conn, dep.id)
        .await
        .ok()?
        .map(|s| s.state)
}

/// Every claimed scheduled slot, oldest first.
async fn slots(db: &Db) -> Vec<check_slots::Model> {
    check_slots::Entity::find()
        .order_by_asc(check_slots::Column::SlotAt)
        .all(&db.conn)
        .await
        .expect("read slot claims")
}

fn sms_per_phone(twilio: &TwilioStandIn) -> HashMap<String, usize> {
    let mut map = HashMap::new();
    for m in twilio.messages() {
        *map.entry(m.to).or_insert(0) += 1;
    }
    map
}

/// Requests reaching the dependency over `window`, and the number of check intervals in it.
async fn cost_over(sim: &SimulatorHandle, window: Duration) -> (u64, u64) {
    let login = Service::KakaoLogin;
    let (before, start) = (sim.requests(login), Instant::now());
    tokio::time::sleep(window).await;
    let requests = sim.requests(login) - before;
    let intervals = start.elapsed().as_millis() as u64 / INTERVAL_MS as u64;
    (requests, intervals)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_killed_mid_outage_hands_over_its_checks_and_alerts_stay_single() {
    let fresh = match FreshDatabase::create().await {
        Ok(f) => f,
        Err(why) => {
            eprintln!("skipped: PostgreSQL is not reachable: {why}");
            return;
        }
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let sim = Simulator::start("127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("simulator");
    let twilio = TwilioStandIn::start(ACCOUNT_SID, TOKEN).await;
    write_config(dir.path(), &fresh.url, &twilio.base_url(), &sim.base_url());
    import_merchants(dir.path());
    let db = Db::connect(&fresh.url, 2).await.expect("open the database");
    let d = dir.path();

    let mut replicas: Vec<Replica> = REPLICAS.iter().map(|n| Replica::start(d, n)).collect();
    eventually("the dependency up", d, &mut replicas, || async {
        (dependency_state(&db).await.as_deref() == Some("up")).then_some(())
    })
    .await;

    // Up: the two replicas share each slot, one request per interval between them.
    let (requests, intervals) = cost_over(&sim, Duration::from_secs(8)).await;
    eprintln!("up: {requests} requests in {intervals} intervals");
    assert!(
        requests <= intervals + 2,
        "two replicas cost {requests} requests in {intervals} intervals while up (one per interval expected, not two)"
    );
    assert!(requests * 2 >= intervals, "probing goes on: {requests}");
    let holders: Vec<String> = slots(&db).await.into_iter().map(|s| s.holder).collect();
    eprintln!(
        "slots claimed while up: {} by replica-a, {} by replica-b",
        holders
            .iter()
            .filter(|h| h.starts_with("replica-a-"))
            .count(),
        holders
            .iter()
            .filter(|h| h.starts_with("replica-b-"))
            .count()
    );

    // Down: detected, then still one request per interval between them.
    sim.set_mode(Service::KakaoLogin, Mode::Down);
    eventually("the dependency down", d, &mut replicas, || async {
        (dependency_state(&db).await.as_deref() == Some("down")).then_some(())
    })
    .await;
    let (requests, intervals) = cost_over(&sim, Duration::from_secs(5)).await;
    eprintln!("down: {requests} requests in {intervals} intervals");
    assert!(
        requests <= intervals + 2,
        "two replicas cost {requests} requests in {intervals} intervals while down (one per interval expected, not two)"
    );

    // The fan-out is under way (MERCHANTS at RATE per replica take ~15 s): kill the replica
    // that ran the latest slot.
    eventually("the fan-out under way", d, &mut replicas, || async {
        (twilio.messages().len() >= 3).then_some(())
    })
    .await;
    let latest = slots(&db).await.pop().expect("a claimed slot");
    let victim = replicas
        .iter()
        .position(|r| latest.holder.starts_with(&format!("{}-", r.name)))
        .unwrap_or_else(|| panic!("no replica holds {}", latest.holder));
    let victim = replicas.remove(victim);
    let (victim_name, survivor_name) = (victim.name, replicas[0].name);
    let killed_at = now_ms();
    victim.kill();
    // Requests the victim had already written reach the stand-in a moment later.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let reached_before = sms_per_phone(&twilio);
    eprintln!(
        "killed {victim_name} at slot {} with {} of {MERCHANTS} merchants reached",
        latest.slot_at,
        reached_before.len()
    );
    assert!(
        reached_before.len() < MERCHANTS,
        "the kill landed mid-fan-out ({} of {MERCHANTS} reached)",
        reached_before.len()
    );

    // The survivor takes over: the first slot after the kill within two intervals, and from
    // then on every slot (by scheduled time, so a busy machine's lateness does not count).
    let requests_at_kill = sim.requests(Service::KakaoLogin);
    let after: Vec<i64> = eventually("slots after the kill", d, &mut replicas, || async {
        let after: Vec<i64> = slots(&db)
            .await
            .into_iter()
            .filter(|s| s.slot_at > killed_at)
            .map(|s| s.slot_at)
            .collect();
        (after.len() >= 5).then_some(after)
    })
    .await;
    let survivor_slots = slots(&db)
        .await
        .into_iter()
        .filter(|s| s.slot_at > killed_at)
        .all(|s| s.holder.starts_with(&format!("{survivor_name}-")));
    assert!(
        survivor_slots,
        "only {survivor_name} claims slots after the kill"
    );
    assert!(
        after[0] - killed_at <= 2 * INTERVAL_MS,
        "first slot {} ms after the kill",
        after[0] - killed_at
    );
    for w in after.windows(2) {
        assert!(
            w[1] - w[0] <= 2 * INTERVAL_MS,
            "no gap over two intervals after the kill: {after:?}"
        );
    }
    assert!(
        sim.requests(Service::KakaoLogin) > requests_at_kill,
        "the dependency is still probed after the kill"
    );

    // Everyone is alerted; rows the dead replica had claimed go out once their lease expires.
    eventually("every merchant's SMS", d, &mut replicas, || async {
        (sms_per_phone(&twilio).len() >= MERCHANTS).then_some(())
    })
    .await;
    // Nothing more is coming: a few dispatcher and timer passes later the counts hold.
    tokio::time::sleep(Duration::from_secs(5)).await;
    replicas[0].assert_running(d);
    let after_all = sms_per_phone(&twilio);
    for i in 0..MERCHANTS {
        assert!(after_all.contains_key(&phone(i).1), "merchant {i} alerted");
    }
    let duplicates: usize = after_all.values().map(|n| n - 1).sum();
    eprintln!("duplicates: {duplicates}");
    assert!(
        duplicates <= CONCURRENCY,
        "{duplicates} duplicate SMS; only the {CONCURRENCY} requests in flight at the kill may repeat"
    );
    let repeated_unreached: Vec<&String> = after_all
        .iter()
        .filter(|(to, n)| **n > 1 && !reached_before.contains_key(*to))
        .map(|(to, _)| to)
        .collect();
    assert!(
        after_all.values().all(|n| *n <= 2),
        "nobody more than one repeat: {after_all:?}"
    );
    // A repeat is a request that reached the provider around the kill and went again after.
    assert!(
        repeated_unreached.is_empty(),
        "repeated without a first send at the kill: {repeated_unreached:?}"
    );
    assert!(twilio.requests().iter().all(|r| r.authorized));

    // One incident; one down notice and one SMS row per merchant.
    let dep = catalog::dependency_by_slug(&db, "kakao-login")
        .await
        .expect("q")
        .expect("dependency");
    let incidents = incidents::Entity::find()
        .filter(incidents::Column::DependencyId.eq(dep.id))
        .all(&db.conn)
        .await
        .expect("incidents");
    assert_eq!(incidents.len(), 1, "one incident for one outage");
    let downs = notices::Entity::find()
        .filter(notices::Column::Kind.eq("down"))
        .all(&db.conn)
        .await
        .expect("notices");
    assert_eq!(downs.len(), MERCHANTS, "one down notice per merchant");
    let mut per_merchant: HashMap<i64, usize> = HashMap::new();
    for n in &downs {
        *per_merchant.entry(n.merchant_id).or_insert(0) += 1;
    }
    assert!(per_merchant.values().all(|n| *n == 1), "{per_merchant:?}");
    let sms_rows = outbox::Entity::find()
        .filter(outbox::Column::Channel.eq("sms"))
        .all(&db.conn)
        .await
        .expect("outbox");
    assert_eq!(sms_rows.len(), MERCHANTS, "one SMS row per merchant");
    db.conn.close().await.expect("close");
    drop(replicas);
    drop(fresh);
}
