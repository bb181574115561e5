//! The notification hub's stages — planner, dispatcher, timers — built by hand on a test
//! app's database, with Twilio stand-ins and a real SMTP server, and driven one step at a
//! time with the time given as an argument. Nothing sleeps on the real clock to make a
//! deadline pass: a test says "it is now ten minutes later" and runs a sweep.
//!
//! The app itself runs without workers (so nothing moves unless the test moves it) but
//! serves its routes: status callbacks, SMS replies and the alert page reach the same
//! database. The Twilio auth token is `MEOKTONG_TEST_TWILIO_TOKEN`, set for every process
//! cargo runs by `.cargo/config.toml`.
#![allow(dead_code)]

use meoktong::workers::{Providers, compose_config, planner_config};
use meoktong_config::{
    DependencySettings, EmailSettings, Secret, Settings, SmsProviderKind, SmsProviderSettings,
};
use meoktong_domain::Category;
use meoktong_metrics::Metrics;
use meoktong_notify::compose::Composer;
use meoktong_notify::dispatcher::{Dispatcher, DispatcherConfig, SmsRoute};
use meoktong_notify::planner::Planner;
use meoktong_notify::timers::Timers;
use meoktong_notify::{EmailProvider, SmsProvider, SmtpEmail, TwilioSms};
use meoktong_storage::contact_book::{self, NewContact};
use meoktong_storage::entity::{contacts, notices, outbox as outbox_entity};
use meoktong_storage::merchants::{self, MerchantRecord};
use meoktong_storage::{catalog, incidents, now_ms};
use meoktong_testkit::{SmtpServer, TwilioStandIn};
use meoktong_tests::{Backend, TestApp, spawn_app_with};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use std::sync::Arc;
use std::time::Duration;

pub const TOKEN_ENV: &str = "MEOKTONG_TEST_TWILIO_TOKEN";
pub const ACCOUNT_SID: &str = "AC00000000000000000000000000000000";
pub const SECOND: i64 = 1000;
pub const MINUTE: i64 = 60 * SECOND;
pub const SMS_DELIVERY_TIMEOUT: Duration = Duration::from_secs(120);
pub const SMS_QUEUE_BUDGET: Duration = Duration::from_secs(60);
pub const ACK_TIMEOUT: Duration = Duration::from_secs(600);
/// `notify.voice_after`'s default: a call to the same contact after this.
pub const VOICE_AFTER: Duration = Duration::from_secs(180);
pub const PATIENCE: Duration = Duration::from_secs(30);
/// The group window of most hub tests: short, so a test needs few planner passes.
pub const LAB_GROUP_WINDOW: Duration = Duration::from_millis(300);

pub const TALK: &str = "kakaotalk";
pub const PAY: &str = "kakaopay";
pub const NAVER: &str = "naver-login";
pub const LOGIN: &str = "kakao-login";
pub const MAP: &str = "kakao-map";

pub fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).expect("a short duration")
}

/// `.cargo/config.toml` sets it; without it the tests fail, never skip.
pub fn twilio_token() -> String {
    match std::env::var(TOKEN_ENV) {
        Ok(t) if !t.is_empty() => t,
        _ => panic!("{TOKEN_ENV} is not set: run the tests through cargo"),
    }
}

fn dep(
    slug: &str,
    name: &str,
    name_en: &str,
    category: Category,
    platform: &str,
) -> DependencySettings {
    DependencySettings {
        slug: slug.into(),
        name: name.into(),
        name_en: Some(name_en.into()),
        category,
        platform: Some(platform.into()),
        description: None,
        check: Vec::new(),
    }
}

pub fn twilio_settings(base_url: String) -> SmsProviderSettings {
    SmsProviderSettings {
        provider: SmsProviderKind::Twilio,
        base_url,
        account_sid: ACCOUNT_SID.into(),
        auth_token_env: TOKEN_ENV.into(),
        from: "+15005550006".into(),
        rate_per_second: 0,
        validity: Duration::from_secs(15 * 60),
        ..SmsProviderSettings::default()
    }
}

pub struct Hub {
    pub app: TestApp,
    /// The `[[sms]]` providers in order.
    pub twilio: Vec<TwilioStandIn>,
    pub smtp: SmtpServer,
    pub composer: Arc<Composer>,
    pub planner: Arc<Planner>,
    pub dispatcher: Dispatcher,
    pub timers: Timers,
    /// The test's "now" at the start; incidents are confirmed just before it.
    pub t0: i64,
}

impl Hub {
    /// One Twilio stand-in as the SMS provider.
    pub async fn start() -> Hub {
        Self::with_twilios(1).await
    }

    /// `n` Twilio stand-ins as `[[sms]]`, in order.
    pub async fn with_twilios(n: usize) -> Hub {
        Self::with_twilios_on(Backend::default_for_tests(), n, LAB_GROUP_WINDOW).await
    }

    /// One Twilio stand-in, on the given backend.
    pub async fn start_on(backend: Backend) -> Hub {
        Self::with_twilios_on(backend, 1, LAB_GROUP_WINDOW).await
    }

    /// One Twilio stand-in, and the default settings' group window (5 s) rather than the
    /// short one most hub tests use to keep their passes few.
    pub async fn with_default_windows_on(backend: Backend) -> Hub {
        let window = Settings::default().detection.group_window;
        Self::with_twilios_on(backend, 1, window).await
    }

    async fn with_twilios_on(backend: Backend, n: usize, group_window: Duration) -> Hub {
        let token = twilio_token();
        let mut twilio = Vec::new();
        for _ in 0..n {
            twilio.push(TwilioStandIn::start(ACCOUNT_SID, &token).await);
        }
        let providers: Vec<Arc<dyn SmsProvider>> = twilio
            .iter()
            .map(|t| {
                let p = TwilioSms::new(
                    &twilio_settings(t.base_url()),
                    Secret::new(token.clone()),
                    reqwest::Client::new(),
                )
                .expect("twilio settings");
                Arc::new(p) as Arc<dyn SmsProvider>
            })
            .collect();
        Self::with_providers_on(backend, twilio, providers, group_window).await
    }

    /// The given SMS providers (stand-ins listed in `twilio` only for the test to inspect).
    pub async fn with_providers(twilio: Vec<TwilioStandIn>, sms: Vec<Arc<dyn SmsProvider>>) -> Hub {
        Self::with_providers_on(Backend::default_for_tests(), twilio, sms, LAB_GROUP_WINDOW).await
    }

    pub async fn with_providers_on(
        backend: Backend,
        twilio: Vec<TwilioStandIn>,
        sms: Vec<Arc<dyn SmsProvider>>,
        group_window: Duration,
    ) -> Hub {
        let smtp = SmtpServer::start().await;
        let sms_settings: Vec<SmsProviderSettings> = twilio
            .iter()
            .map(|t| twilio_settings(t.base_url()))
            .collect();
        let deps = vec![
            dep(TALK, "카카오톡", "KakaoTalk", Category::Messenger, "kakao"),
            dep(PAY, "카카오페이", "KakaoPay", Category::Payment, "kakao"),
            dep(
                LOGIN,
                "카카오 로그인",
                "Kakao Login",
                Category::Login,
                "kakao",
            ),
            dep(MAP, "카카오맵", "Kakao Map", Category::Map, "kakao"),
            dep(
                NAVER,
                "네이버 로그인",
                "Naver Login",
                Category::Login,
                "naver",
            ),
        ];
        let app_deps = deps.clone();
        let app_sms = sms_settings.clone();
        let app = spawn_app_with(
            backend,
            move |s| {
                s.dependency = app_deps;
                s.probe.enabled = false;
                // The app checks the signatures of callbacks and replies with this account.
                s.sms = if app_sms.is_empty() {
                    vec![twilio_settings("http://127.0.0.1:9".into())]
                } else {
                    app_sms
                };
            },
            Default::default(),
        )
        .await;
        let mut settings = Settings::default();
        settings.probe.canaries = Vec::new(); // never a public address in tests
        settings.server.public_url = app.address.clone();
        settings.detection.group_window = group_window;
        settings.notify.sms_delivery_timeout = SMS_DELIVERY_TIMEOUT;
        settings.notify.sms_queue_budget = SMS_QUEUE_BUDGET;
        settings.notify.ack_timeout = ACK_TIMEOUT;
        settings.sms = sms_settings;
        settings.dependency = deps;
        let email = SmtpEmail::from_settings(&EmailSettings {
            smtp_url: smtp.url(),
            password_env: None,
            from: "Meoktong <alerts@meoktong.example>".into(),
        })
        .expect("smtp settings");
        let providers = Providers {
            sms: sms.into_iter().map(|p| SmsRoute::new(p, 0)).collect(),
            sms_platform: Some("twilio".into()),
            email: Some(Arc::new(email) as Arc<dyn EmailProvider>),
        };
        let composer = Arc::new(Composer::new(
            app.db.clone(),
            app.crypto.clone(),
            compose_config(&settings, &providers),
        ));
        let planner = Arc::new(Planner::new(
            app.db.clone(),
            composer.clone(),
            planner_config(&settings),
        ));
        let dispatcher = Dispatcher::new(
            app.db.clone(),
            app.crypto.clone(),
            Metrics::new(),
            providers.sms,
            providers.email,
            DispatcherConfig {
                holder: "hub-test".into(),
                status_callback: Some(format!("{}/hooks/twilio/status", app.address)),
                ..DispatcherConfig::default()
            },
        )
        .with_renderer(composer.clone());
        let timers = Timers::new(
            app.db.clone(),
            composer.clone(),
            SMS_DELIVERY_TIMEOUT,
            SMS_QUEUE_BUDGET,
            ACK_TIMEOUT,
        );
        Hub {
            app,
            twilio,
            smtp,
            composer,
            planner,
            dispatcher,
            timers,
            t0: now_ms(),
        }
    }

    /// The same hub with `[voice]`: a Twilio Calls stand-in, the dispatcher placing calls
    /// through it and the timers calling after [`VOICE_AFTER`].
    pub async fn with_voice(self) -> (Hub, meoktong_testkit::TwilioVoiceStandIn) {
        let token = twilio_token();
        let voice = meoktong_testkit::TwilioVoiceStandIn::start(ACCOUNT_SID, &token).await;
        let settings = meoktong_config::VoiceSettings {
            base_url: voice.base_url(),
            account_sid: ACCOUNT_SID.into(),
            auth_token_env: TOKEN_ENV.into(),
            from: "+15005550006".into(),
            ..Default::default()
        };
        let client = meoktong_notify::TwilioVoice::new(
            &settings,
            Secret::new(token),
            reqwest::Client::new(),
        )
        .expect("voice settings");
        let Hub {
            app,
            twilio,
            smtp,
            composer,
            planner,
            dispatcher,
            timers,
            t0,
        } = self;
        let status = format!(
            "{}{}",
            app.address,
            meoktong_notify::compose::VOICE_STATUS_PATH
        );
        let hub = Hub {
            dispatcher: dispatcher.with_voice(Arc::new(client), status),
            timers: timers.with_voice(VOICE_AFTER),
            app,
            twilio,
            smtp,
            composer,
            planner,
            t0,
        };
        (hub, voice)
    }

    pub async fn plan(&self, now: i64) {
        self.planner.plan_once(now).await.expect("plan");
    }

    /// Sends everything due at `now` (a transient failure waits for a later `now`).
    pub async fn dispatch(&self, now: i64) {
        while self.dispatcher.run_once(now).await.expect("dispatch") > 0 {}
    }

    pub async fn sweep(&self, now: i64) -> meoktong_notify::timers::SweepStats {
        self.timers.sweep_once(now).await.expect("sweep")
    }

    /// Resolves an incident at `resolved_at` (its first good probe).
    pub async fn resolve(&self, incident_id: i64, resolved_at: i64) {
        incidents::resolve(&self.app.db.conn, incident_id, resolved_at, resolved_at)
            .await
            .expect("resolve incident");
    }

    /// Opens a `down` (or `degraded`) incident confirmed at `confirmed_at`.
    pub async fn open(&self, slug: &str, severity: &str, confirmed_at: i64) -> i64 {
        let d = catalog::dependency_by_slug(&self.app.db, slug)
            .await
            .expect("catalog")
            .expect("configured");
        incidents::open(
            &self.app.db.conn,
            d.id,
            severity,
            confirmed_at - 20 * SECOND,
            confirmed_at,
            &serde_json::json!({}),
        )
        .await
        .expect("open incident")
    }

    pub async fn notices(&self, merchant_id: i64) -> Vec<notices::Model> {
        notices::Entity::find()
            .filter(notices::Column::MerchantId.eq(merchant_id))
            .order_by_asc(notices::Column::Id)
            .all(&self.app.db.conn)
            .await
            .expect("notices")
    }

    pub async fn rows(&self, merchant_id: i64) -> Vec<outbox_entity::Model> {
        outbox_entity::Entity::find()
            .filter(outbox_entity::Column::MerchantId.eq(merchant_id))
            .order_by_asc(outbox_entity::Column::Id)
            .all(&self.app.db.conn)
            .await
            .expect("outbox")
    }

    /// A dispatcher as `serve` runs it (`run_until_stopped`), over the first Twilio stand-in at
    /// `rate_per_second` with `concurrency` places, and the SMTP server.
    pub fn looping_dispatcher(&self, rate_per_second: u32, concurrency: usize) -> Arc<Dispatcher> {
        let twilio = TwilioSms::new(
            &twilio_settings(self.twilio[0].base_url()),
            Secret::new(twilio_token()),
            reqwest::Client::new(),
        )
        .expect("twilio settings");
        let email = SmtpEmail::from_settings(&EmailSettings {
            smtp_url: self.smtp.url(),
            password_env: None,
            from: "Meoktong <alerts@meoktong.example>".into(),
        })
        .expect("smtp settings");
        Arc::new(
            Dispatcher::new(
                self.app.db.clone(),
                self.app.crypto.clone(),
                Metrics::new(),
                vec![SmsRoute::new(Arc::new(twilio), rate_per_second)],
                Some(Arc::new(email) as Arc<dyn EmailProvider>),
                DispatcherConfig {
                    holder: "hub-loop".into(),
                    concurrency,
                    status_callback: Some(format!("{}/hooks/twilio/status", self.app.address)),
                    ..DispatcherConfig::default()
                },
            )
            .with_renderer(self.composer.clone()),
        )
    }

    pub async fn mails(&self, n: usize) -> Vec<meoktong_testkit::ReceivedMail> {
        self.smtp
            .wait_for(n, PATIENCE)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }
}

/// One contact of a test merchant, in order.
#[derive(Clone, Copy, Default)]
pub struct C {
    pub phone: Option<&'static str>,
    pub email: Option<&'static str>,
    /// The platform the email runs on (`kakao` for hanmail.net).
    pub email_platform: Option<&'static str>,
    /// Replied STOP.
    pub opted_out: bool,
}

pub fn phone(p: &'static str) -> C {
    C {
        phone: Some(p),
        ..C::default()
    }
}

pub fn email(e: &'static str) -> C {
    C {
        email: Some(e),
        ..C::default()
    }
}

/// A merchant subscribed to `deps` with these contacts in order. Returns its id.
pub async fn merchant(hub: &Hub, name: &str, deps: &[&str], people: &[C]) -> i64 {
    let (db, crypto) = (&hub.app.db, &hub.app.crypto);
    let first = people[0];
    // Import needs a mobile number; a first contact without one loses it afterwards.
    let placeholder = format!("+8210{:08}", rand_suffix());
    let record = MerchantRecord {
        business_name: name.into(),
        phone: first
            .phone
            .map(str::to_string)
            .unwrap_or_else(|| placeholder.clone()),
        email: first.email.map(str::to_string),
        email_platform: first.email_platform.map(str::to_string),
        dependencies: deps.iter().map(|d| d.to_string()).collect(),
        locale: None,
        region: None,
        trade: None,
        backup_phone: None,
        backup_email: None,
        backup_email_platform: None,
    };
    merchants::import(db, crypto, &[record], now_ms())
        .await
        .expect("import");
    let merchant_id = merchants::find_by_phone(db, crypto, &record_phone(first, &placeholder))
        .await
        .expect("find")
        .first()
        .expect("imported")
        .id;
    let c0 = contacts::Entity::find()
        .filter(contacts::Column::MerchantId.eq(merchant_id))
        .one(&db.conn)
        .await
        .expect("contact")
        .expect("first contact");
    if first.phone.is_none() || first.opted_out {
        let mut am: contacts::ActiveModel = c0.into();
        if first.phone.is_none() {
            am.phone_enc = sea_orm::Set(None);
            am.phone_hash = sea_orm::Set(None);
        }
        am.sms_opted_out = sea_orm::Set(first.opted_out);
        contacts::Entity::update(am)
            .exec(&db.conn)
            .await
            .expect("update first contact");
    }
    for c in &people[1..] {
        let id = contact_book::add(
            db,
            crypto,
            merchant_id,
            NewContact {
                label: None,
                phone: c.phone,
                email: c.email,
                email_platform: c.email_platform.map(str::to_string),
            },
            0,
            now_ms(),
        )
        .await
        .expect("add contact");
        if c.opted_out {
            contacts::Entity::update_many()
                .col_expr(contacts::Column::SmsOptedOut, true.into())
                .filter(contacts::Column::Id.eq(id))
                .exec(&db.conn)
                .await
                .expect("opt out");
        }
    }
    merchant_id
}

fn record_phone(first: C, placeholder: &str) -> String {
    first.phone.unwrap_or(placeholder).to_string()
}

fn rand_suffix() -> u32 {
    uuid::Uuid::new_v4().as_u128() as u32 % 100_000_000
}

/// The `/a/{token}` link in a text.
pub fn link_in(text: &str, public_url: &str) -> String {
    let at = text
        .find(&format!("{public_url}/a/"))
        .unwrap_or_else(|| panic!("no alert link in {text}"));
    text[at..]
        .split(|c: char| c.is_whitespace() || c == '"' || c == '<')
        .next()
        .expect("link")
        .to_string()
}
