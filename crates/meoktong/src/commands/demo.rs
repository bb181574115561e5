//! `meoktong demo`: everything on loopback — simulated Kakao-like dependencies, demo merchants,
//! an association account, the scripted "1015 fire" — with SMS and email going to `/dev/outbox`.
use super::{CmdResult, Failure};
use crate::app::{Application, BuildOptions, shutdown_signal};
use crate::cli::DemoArgs;
use meoktong_config::{DependencySettings, Settings, SmsProviderKind, SmsProviderSettings};
use meoktong_probe::presets::{PresetBases, catalog};
use meoktong_probe::simulator::{Mode, Service, Simulator, SimulatorHandle};
use meoktong_storage::merchants::MerchantRecord;
use meoktong_storage::{catalog as store_catalog, merchants, now_ms, users};
use std::time::Duration;

/// How often the scripted outage repeats (when it starts and how long it lasts are
/// `--outage-after` and `--outage-length`, 60 s and 3 minutes by default).
pub const OUTAGE_PERIOD: Duration = Duration::from_secs(600);
/// The services that went dark together on 15 October 2022.
pub const FIRE: [Service; 4] = [
    Service::KakaoTalkChannel,
    Service::KakaoLogin,
    Service::KakaoPay,
    Service::KakaoMap,
];

pub const DEMO_ASSOCIATION: &str = "소상공인연합회 (데모)";
pub const DEMO_ASSOCIATION_EMAIL: &str = "association@meoktong.example";
pub const DEMO_PASSWORD: &str = "meoktong-demo-1015";
pub const DEMO_MERCHANT_EMAIL: &str = "owner@happy-bunsik.example";

/// The demo's settings: loopback, SQLite in `data`, `log` providers.
pub fn demo_settings(mut settings: Settings, args: &DemoArgs) -> Settings {
    settings.server.listen = args.listen.clone();
    settings.server.public_url = format!("http://{}", args.listen);
    let db = args.data.join("meoktong.db");
    settings.database.url = format!("sqlite://{}?mode=rwc", db.display());
    settings.sms = vec![SmsProviderSettings {
        provider: SmsProviderKind::Log,
        ..SmsProviderSettings::default()
    }];
    settings.email = None;
    // The default detection settings and the presets' own intervals (10 s to 5 min): the
    // demo shows what a merchant gets under real conditions. A failing check re-checks its
    // whole platform at once, so the fire is one SMS naming all four services.
    // Everything stays on loopback: `demo` sets the simulator as its canary once it runs.
    settings.probe.canaries = Vec::new();
    settings
}

/// The simulated dependencies: the built-in presets, pointed at the simulator, with the
/// presets' own intervals.
pub fn demo_dependencies(sim_base: &str) -> Vec<DependencySettings> {
    catalog(&PresetBases::all(sim_base))
}

pub async fn demo(settings: Settings, args: &DemoArgs) -> CmdResult {
    std::fs::create_dir_all(&args.data)
        .map_err(|e| Failure::usage(format!("--data {}: {e}", args.data.display())))?;
    let sim = Simulator::start("127.0.0.1:0".parse()?).await?;
    let mut settings = demo_settings(settings, args);
    settings.probe.canaries = vec![format!("{}/__sim", sim.base_url())];
    let deps = demo_dependencies(&sim.base_url());
    let app = Application::build(
        settings,
        BuildOptions {
            dev_mode: true,
            extra_dependencies: deps,
            run_workers: true,
            data_key: None,
        },
    )
    .await?;
    seed(&app).await?;
    let url = app.state().settings.server.public_url.clone();
    println!("Meoktong demo is running.");
    println!("  status page:   {url}/status");
    println!("  sent messages: {url}/dev/outbox");
    println!("  sign in:       {url}/login");
    println!("    merchant     {DEMO_MERCHANT_EMAIL} / {DEMO_PASSWORD}  (행복분식)");
    println!("    association  {DEMO_ASSOCIATION_EMAIL} / {DEMO_PASSWORD}");
    println!("  simulator:     {}/__sim", sim.base_url());
    println!(
        "The \"1015 fire\" (KakaoTalk channel, Kakao Login, KakaoPay, Kakao Map dark together) starts in {} s, lasts {} s and repeats every {} min.",
        args.outage_after.as_secs(),
        args.outage_length.as_secs(),
        OUTAGE_PERIOD.as_secs() / 60
    );
    let mut app = app;
    let stop = app.stop_token();
    app.spawn_worker(play_fire(sim, args.outage_after, args.outage_length, stop));
    app.run_until_stopped(shutdown_signal()).await?;
    Ok(())
}

/// The scripted outage: dark together at +`after` (60 s) for `length` (3 minutes), every 10
/// minutes; KakaoPay then turns slow for a minute.
async fn play_fire(
    sim: SimulatorHandle,
    after: Duration,
    length: Duration,
    stop: tokio_util::sync::CancellationToken,
) {
    let start = tokio::time::Instant::now() + after;
    let mut cycle = 0u32;
    loop {
        let t0 = start + OUTAGE_PERIOD * cycle;
        if !sleep_until(t0, &stop).await {
            return;
        }
        tracing::info!(demo.cycle = cycle, "demo: the 1015 fire begins");
        for s in FIRE {
            sim.set_mode(s, Mode::Down);
        }
        if !sleep_until(t0 + length, &stop).await {
            return;
        }
        for s in FIRE {
            sim.set_mode(s, Mode::Up);
        }
        tracing::info!("demo: services recovered");
        if !sleep_until(t0 + length + Duration::from_secs(120), &stop).await {
            return;
        }
        sim.set_mode(Service::KakaoPay, Mode::Slow(Duration::from_millis(2500)));
        if !sleep_until(t0 + length + Duration::from_secs(180), &stop).await {
            return;
        }
        sim.set_mode(Service::KakaoPay, Mode::Up);
        cycle += 1;
    }
}

async fn sleep_until(t: tokio::time::Instant, stop: &tokio_util::sync::CancellationToken) -> bool {
    tokio::select! {
        _ = tokio::time::sleep_until(t) => true,
        _ = stop.cancelled() => false,
    }
}

/// Demo merchants and an association account (idempotent: reruns update, never duplicate).
async fn seed(app: &Application) -> CmdResult {
    let state = app.state();
    let known: Vec<String> = store_catalog::list_dependencies(&state.db)
        .await?
        .into_iter()
        .map(|d| d.slug)
        .collect();
    let has = |s: &str| known.iter().any(|k| k == s);
    let pick = |slugs: &[&str]| {
        slugs
            .iter()
            .filter(|s| has(s))
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
    };
    let rec = |name: &str,
               phone: &str,
               email: &str,
               deps: Vec<String>,
               locale: &str,
               region: &str,
               trade: &str| {
        MerchantRecord {
            business_name: name.into(),
            phone: phone.into(),
            email: Some(email.into()),
            email_platform: None,
            dependencies: deps,
            locale: Some(locale.into()),
            region: Some(region.into()),
            trade: Some(trade.into()),
            backup_phone: None,
            backup_email: None,
            backup_email_platform: None,
        }
    };
    let records = vec![
        rec(
            "행복분식",
            "+821020221015",
            "owner@happy-bunsik.example",
            pick(&["kakaotalk-channel", "kakaopay", "kakao-map"]),
            "ko",
            "경기 성남시",
            "분식",
        ),
        rec(
            "판교 치킨",
            "+821012340001",
            "chicken@pangyo.example",
            pick(&[
                "kakaotalk-channel",
                "kakao-login",
                "kakaopay",
                "kakao-map",
                "toss-payments",
            ]),
            "ko",
            "경기 성남시",
            "치킨",
        ),
        rec(
            "Seoul Coffee Lab",
            "+821012340002",
            "hello@coffee-lab.example",
            pick(&["kakao-login", "kakaopay", "naver-login"]),
            "en",
            "서울 마포구",
            "카페",
        ),
    ];
    // The demo merchants are the demo association's members (its members and live-reach
    // pages have someone to show).
    let association_id = users::association_by_name(&state.db, DEMO_ASSOCIATION).await?;
    let into = vec![Some(association_id); records.len()];
    merchants::import_members(
        &state.db,
        &state.crypto,
        &records,
        &into,
        merchants::ImportedBy::Cli,
        now_ms(),
    )
    .await?;
    if users::find_by_email(&state.db, &state.crypto, DEMO_ASSOCIATION_EMAIL)
        .await?
        .is_none()
    {
        let hash = meoktong_web::auth::password::hash(DEMO_PASSWORD)?;
        users::create(
            &state.db,
            &state.crypto,
            users::NewUser {
                email: DEMO_ASSOCIATION_EMAIL,
                password_hash: &hash,
                role: "association",
                merchant_id: None,
                association_id: Some(association_id),
            },
            "demo",
        )
        .await?;
    }
    if users::find_by_email(&state.db, &state.crypto, DEMO_MERCHANT_EMAIL)
        .await?
        .is_none()
    {
        let merchant = merchants::find_by_phone(&state.db, &state.crypto, "+821020221015").await?;
        if let Some(m) = merchant.first() {
            let hash = meoktong_web::auth::password::hash(DEMO_PASSWORD)?;
            users::create(
                &state.db,
                &state.crypto,
                users::NewUser {
                    email: DEMO_MERCHANT_EMAIL,
                    password_hash: &hash,
                    role: "merchant",
                    merchant_id: Some(m.id),
                    association_id: None,
                },
                "demo",
            )
            .await?;
        }
    }
    if users::find_by_email(&state.db, &state.crypto, DEMO_MERCHANT_EMAIL)
        .await?
        .is_none()
    {
        let merchant = merchants::find_by_phone(&state.db, &state.crypto, "+821020221015").await?;
        if let Some(m) = merchant.first() {
            let hash = meoktong_web::auth::password::hash(DEMO_PASSWORD)?;
            users::create(
                &state.db,
                &state.crypto,
                users::NewUser {
                    email: DEMO_MERCHANT_EMAIL,
                    password_hash: &hash,
                    role: "merchant",
                    merchant_id: Some(m.id),
                    association_id: None,
                },
                "demo",
            )
            .await?;
        }
    }
    Ok(())
}
