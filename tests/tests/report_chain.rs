//! The whole damage-report chain as a merchant lives it, with nothing written by hand: the
//! simulated KakaoTalk channel goes dark and comes back, the probes and the detector open and
//! resolve the incident, the planner's recovery SMS carries the alert link, its page links the
//! pre-filled form, the merchant files, the association verifies and exports the CSV.
mod reports_world;
mod support;

use meoktong::BuildOptions;
use meoktong_probe::simulator::{Mode, Service, Simulator};
use meoktong_storage::entity::{incidents as incident_rows, merchants};
use meoktong_storage::merchants::MerchantRecord;
use meoktong_storage::now_ms;
use meoktong_tests::{Backend, spawn_app_with};
use reports_world::*;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
use std::time::Duration;
use support::{PATIENCE, eventually, sent_sms, simulated};

const SLUG: &str = "kakaotalk-channel";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_measured_by_the_probes_becomes_an_exported_damage_report() {
    let sim = Simulator::start("127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("simulator");
    let dep = simulated(&sim.base_url(), SLUG, Duration::from_secs(1));
    let app = spawn_app_with(
        Backend::default_for_tests(),
        move |s| {
            s.dependency = vec![dep];
            s.detection.group_window = Duration::from_millis(300);
        },
        BuildOptions {
            run_workers: true,
            ..Default::default()
        },
    )
    .await;
    let assoc = meoktong_storage::users::association_by_name(&app.db, "서울소상공인연합회")
        .await
        .expect("association");
    let record = MerchantRecord {
        business_name: "먹통분식".into(),
        phone: "+821012345678".into(),
        email: None,
        email_platform: None,
        dependencies: vec![SLUG.into()],
        locale: None,
        region: Some("서울 마포구".into()),
        trade: Some("음식점".into()),
        backup_phone: None,
        backup_email: None,
        backup_email_platform: None,
    };
    meoktong_storage::merchants::import(&app.db, &app.crypto, &[record], now_ms())
        .await
        .expect("import");
    let m = merchants::Entity::find()
        .filter(merchants::Column::BusinessName.eq("먹통분식"))
        .one(&app.db.conn)
        .await
        .expect("query")
        .expect("imported");
    let mut am: merchants::ActiveModel = m.clone().into();
    am.brn_enc = Set(Some(app.crypto.encrypt(BRN)));
    am.association_id = Set(Some(assoc));
    am.update(&app.db.conn).await.expect("update merchant");
    // A member of the association (associations see only their members' reports).
    meoktong_storage::members::add(&app.db.conn, assoc, m.id, now_ms())
        .await
        .expect("membership");

    // The channel goes dark, then comes back: the detector's incident, the planner's SMS.
    let channel = Service::parse(SLUG).expect("simulated service");
    let dependency_up = || async {
        let deps = app
            .client
            .get(app.url("/status.json"))
            .send()
            .await
            .ok()?
            .json::<serde_json::Value>()
            .await
            .ok()?;
        (deps["dependencies"][0]["state"] == "up").then_some(())
    };
    eventually("the channel to be up", PATIENCE, dependency_up).await;
    sim.set_mode(channel, Mode::Down);
    let down = eventually("the down SMS", PATIENCE, || sent_sms(&app.db, m.id, "down")).await;
    assert!(down.body.starts_with("[장애]"), "{}", down.body);
    sim.set_mode(channel, Mode::Up);
    let recovery = eventually("the recovery SMS", PATIENCE, || {
        sent_sms(&app.db, m.id, "recovery")
    })
    .await;
    assert!(recovery.body.starts_with("[복구]"), "{}", recovery.body);
    let incident = incident_rows::Entity::find()
        .one(&app.db.conn)
        .await
        .expect("query")
        .expect("the detector's incident");
    let resolved_at = incident.resolved_at.expect("resolved");

    // The SMS link opens the alert page, which links the pre-filled report form.
    let at = recovery.body.find("/a/").expect("an alert link in the SMS");
    let token: String = recovery.body[at + 3..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    let alert = get(&app, &format!("/a/{token}"), "").await;
    assert_eq!(alert.status, 200);
    let link = format!("/reports/new?incident={}&token={token}", incident.id);
    assert!(
        alert
            .body
            .replace("&#38;", "&")
            .replace("&amp;", "&")
            .contains(&format!("href=\"{link}\"")),
        "the alert page links the report: {}",
        alert.body
    );
    let page = get(&app, &link, "").await;
    assert_eq!(page.status, 200);
    for expected in [
        "value=\"먹통분식\"".to_string(),
        format!("value=\"{BRN}\""),
        "value=\"서울특별시\" selected".into(),
        format!("value=\"{assoc}\" selected"),
        "카카오톡 채널".into(),
    ] {
        assert!(page.body.contains(&expected), "pre-filled: {expected}");
    }
    assert_eq!(page.hidden("token"), token);

    // Filed: the outage window is the probes' measurement, not what the form said.
    let mut fields = good(incident.id, assoc);
    set(&mut fields, "services", SLUG);
    let (status, body) = submit(&app, &page, &fields, vec![], "").await;
    assert_eq!(status, 303, "{body}");
    let report = only_report(&app).await;
    assert_eq!(report.merchant_id, Some(m.id));
    assert_eq!(
        (report.outage_start, report.outage_end),
        (incident.started_at, Some(resolved_at))
    );

    // The association verifies and exports it.
    let w = World {
        app,
        incident: incident.id,
        assoc_a: assoc,
        assoc_b: 0,
    };
    let staff = sign_in(&w, "staff@seoul.example", "association", None, Some(assoc)).await;
    assert_eq!(review(&w.app, &staff, report.id, "verify", "").await.0, 303);
    let path = format!("/association/incidents/{}/reports.csv", incident.id);
    let (status, kind, bytes) = download(&w.app, &staff.cookie, &path).await;
    assert_eq!((status, kind.as_str()), (200, "text/csv; charset=utf-8"));
    assert_eq!(&bytes[..3], b"\xef\xbb\xbf", "a BOM first");
    let text = String::from_utf8(bytes[3..].to_vec()).expect("UTF-8");
    let row = text.lines().nth(1).expect("the report's row");
    for expected in [
        "확인됨",
        "카카오톡 채널",
        "먹통분식",
        BRN,
        "서울특별시,마포구,음식점",
        "1200000,35,",
    ] {
        assert!(row.contains(expected), "the CSV row has {expected}: {row}");
    }
}
