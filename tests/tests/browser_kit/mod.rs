//! Headless Chromium driven through chromedriver, shared by the browser tests: start a driver,
//! open a phone-sized (390×844) or desktop-sized window, fill, click, wait for a path, take a
//! screenshot, read the newest SMS. Needs `chromium` and `chromedriver` (Debian: `chromium`,
//! `chromium-driver`; `.ci/run` installs them).
#![allow(dead_code)] // each browser test uses its own part of the kit

use fantoccini::{Client, ClientBuilder, Locator};
use meoktong_storage::entity::outbox;
use meoktong_tests::TestApp;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

pub struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub async fn start_driver() -> (Driver, String) {
    let port = free_port();
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver");
    let url = format!("http://127.0.0.1:{port}");
    for _ in 0..100 {
        if reqwest::get(format!("{url}/status")).await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    (Driver(child), url)
}

/// A phone's window: 390×844, Korean first.
pub async fn browser(driver: &str, profile: &Path) -> Client {
    browser_sized(driver, profile, 390, 844).await
}

/// A desktop window (association staff and operators work at 1280 px).
pub async fn desktop(driver: &str, profile: &Path) -> Client {
    browser_sized(driver, profile, 1280, 900).await
}

pub async fn browser_sized(driver: &str, profile: &Path, width: u32, height: u32) -> Client {
    let args = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--no-first-run",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--hide-scrollbars",
        "--lang=ko-KR",
    ];
    let mut args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    args.push(format!("--user-data-dir={}", profile.display()));
    args.push(format!("--window-size={width},{height}"));
    let mut caps = serde_json::Map::new();
    caps.insert("browserName".into(), "chrome".into());
    // A phone's viewport (headless windows are never narrower than 500 px) and Korean first.
    let options = serde_json::json!({
        "binary": CHROMIUM,
        "args": args,
        "mobileEmulation": { "deviceMetrics": { "width": width, "height": height, "pixelRatio": 1.0 } },
        "prefs": { "intl.accept_languages": "ko-KR,ko" },
    });
    caps.insert("goog:chromeOptions".into(), options);
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(driver)
        .await
        .expect("a WebDriver session")
}

/// `web/screenshots/` when `MEOKTONG_UPDATE_SCREENSHOTS=1` (to refresh the README's
/// pictures), else a scratch directory, so a test run leaves the work tree clean.
pub fn shots_dir() -> PathBuf {
    let dir = if std::env::var("MEOKTONG_UPDATE_SCREENSHOTS").is_ok_and(|v| v == "1") {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../web/screenshots")
    } else {
        std::env::temp_dir().join("meoktong-screenshots")
    };
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub async fn shot(c: &Client, name: &str) {
    c.execute("window.scrollTo(0, 0)", vec![]).await.unwrap();
    let png = c.screenshot().await.unwrap();
    std::fs::write(shots_dir().join(format!("{name}.png")), png).unwrap();
}

pub async fn fill(c: &Client, css: &str, text: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .send_keys(text)
        .await
        .unwrap();
}

pub async fn click(c: &Client, css: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .click()
        .await
        .unwrap();
}

/// Clicks and waits (up to 5 s) until the page's path starts with `to`.
pub async fn click_to(c: &Client, css: &str, to: &str) {
    click(c, css).await;
    for _ in 0..50 {
        if path(c).await.starts_with(to) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{css} did not lead to {to} but to {}", path(c).await);
}

pub async fn path(c: &Client) -> String {
    let u = c.current_url().await.unwrap();
    format!(
        "{}{}",
        u.path(),
        u.query().map(|q| format!("?{q}")).unwrap_or_default()
    )
}

/// Waits up to 20 s for the newest SMS whose text starts with `prefix`.
pub async fn sms_starting(app: &TestApp, prefix: &str) -> String {
    for _ in 0..200 {
        let rows = outbox::Entity::find()
            .filter(outbox::Column::Channel.eq("sms"))
            .order_by_desc(outbox::Column::Id)
            .all(&app.db.conn)
            .await
            .unwrap();
        if let Some(m) = rows.into_iter().find(|m| m.body.starts_with(prefix)) {
            return m.body;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no SMS starting with {prefix}");
}
