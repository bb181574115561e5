//! Helpers shared by the heartbeat, agent and replica tests.
#![allow(dead_code)]

use meoktong_config::DependencySettings;
use meoktong_probe::presets::{PresetBases, catalog};
use meoktong_storage::entity::{notices, outbox, probe_locations, probe_results};
use meoktong_storage::merchants::{self, MerchantRecord};
use meoktong_storage::sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use meoktong_storage::{Db, now_ms};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

/// Long enough for anything that is going to happen on a loaded CI machine.
pub const PATIENCE: Duration = Duration::from_secs(60);
/// How long to keep watching for something that must NOT happen (a duplicate).
pub const SETTLE: Duration = Duration::from_secs(3);

/// Polls `check` until it yields a value; panics naming `what` after `timeout`.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(start.elapsed() < timeout, "gave up waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A merchant with one contact (SMS and email) subscribed to `deps`; `phone` in E.164.
pub fn shop(name: &str, phone: &str, email: &str, deps: &[&str]) -> MerchantRecord {
    MerchantRecord {
        business_name: name.into(),
        phone: phone.into(),
        email: Some(email.into()),
        email_platform: None,
        dependencies: deps.iter().map(|d| d.to_string()).collect(),
        locale: None,
        region: None,
        trade: None,
        backup_phone: None,
        backup_email: None,
        backup_email_platform: None,
    }
}

pub async fn import(
    db: &Db,
    crypto: &meoktong_storage::Crypto,
    shops: &[MerchantRecord],
) -> Vec<i64> {
    merchants::import(db, crypto, shops, now_ms())
        .await
        .expect("import merchants");
    let all = merchants::list(db, crypto).await.expect("list merchants");
    shops
        .iter()
        .map(|s| {
            all.iter()
                .find(|m| m.business_name == s.business_name)
                .expect("imported")
                .id
        })
        .collect()
}

/// A simulated preset dependency with one check probed every `interval`.
pub fn simulated(sim_base: &str, slug: &str, interval: Duration) -> DependencySettings {
    let mut dep = catalog(&PresetBases::all(sim_base))
        .into_iter()
        .find(|d| d.slug == slug)
        .expect("preset");
    dep.check.truncate(1);
    dep.check[0].interval = Some(interval);
    dep.check[0].schedule = None;
    dep
}

pub async fn notices_of(db: &Db, merchant_id: i64, kind: &str) -> Vec<notices::Model> {
    notices::Entity::find()
        .filter(notices::Column::MerchantId.eq(merchant_id))
        .filter(notices::Column::Kind.eq(kind))
        .all(&db.conn)
        .await
        .expect("read notices")
}

pub async fn messages_of(db: &Db, notice_id: i64, channel: &str) -> Vec<outbox::Model> {
    outbox::Entity::find()
        .filter(outbox::Column::NoticeId.eq(notice_id))
        .filter(outbox::Column::Channel.eq(channel))
        .all(&db.conn)
        .await
        .expect("read outbox")
}

/// The SMS of a merchant's only notice of `kind`, once the provider took it.
pub async fn sent_sms(db: &Db, merchant_id: i64, kind: &str) -> Option<outbox::Model> {
    let n = notices_of(db, merchant_id, kind).await.into_iter().next()?;
    messages_of(db, n.id, "sms")
        .await
        .into_iter()
        .find(|m| matches!(m.state.as_str(), "accepted" | "delivered"))
}

pub async fn location(db: &Db, name: &str) -> Option<probe_locations::Model> {
    probe_locations::Entity::find()
        .filter(probe_locations::Column::Name.eq(name))
        .one(&db.conn)
        .await
        .expect("read locations")
}

/// Every stored result of one location, oldest slot first.
pub async fn results_at(db: &Db, location_id: i64) -> Vec<probe_results::Model> {
    probe_results::Entity::find()
        .filter(probe_results::Column::LocationId.eq(location_id))
        .order_by_asc(probe_results::Column::SlotAt)
        .all(&db.conn)
        .await
        .expect("read results")
}

/// A TCP proxy the test can cut (open connections too) and restore.
pub struct Proxy {
    pub addr: SocketAddr,
    up: Arc<AtomicBool>,
    cut: Arc<std::sync::Mutex<CancellationToken>>,
}

impl Proxy {
    pub async fn start(target: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy addr");
        let up = Arc::new(AtomicBool::new(true));
        let cut = Arc::new(std::sync::Mutex::new(CancellationToken::new()));
        let (up2, cut2) = (up.clone(), cut.clone());
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !up2.load(Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                let cancelled = cut2.lock().expect("lock").clone();
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = cancelled.cancelled() => {}
                    }
                });
            }
        });
        Proxy { addr, up, cut }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Cut (`false`: open connections dropped, new ones refused) or restored.
    pub fn set_up(&self, up: bool) {
        self.up.store(up, Ordering::SeqCst);
        if !up {
            let mut cut = self.cut.lock().expect("lock");
            cut.cancel();
            *cut = CancellationToken::new();
        }
    }
}
