//! The README's first command, as a newcomer runs it: `meoktong demo` on a fresh directory
//! serves the status page, the sign-in page and the dev outbox, plays the "1015 fire" (here
//! after 1 s instead of 60 s, for 25 s instead of 3 minutes), and the outbox shows the one
//! `[장애]` SMS per merchant naming the Kakao services, then the `[복구]` SMS.
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Demo(Child);

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A plain HTTP/1.1 GET: (status, body), or None while nothing answers.
fn get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).ok()?;
    let text = String::from_utf8_lossy(&raw).to_string();
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string())?;
    Some((status, body))
}

/// Polls until `check` holds, for at most `secs` seconds.
fn wait_for(what: &str, secs: u64, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if check() {
            return;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    panic!("gave up waiting for {what}");
}

#[test]
fn the_demo_plays_the_fire_from_a_fresh_directory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_meoktong"))
        .current_dir(dir.path())
        .args([
            "demo",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data",
            "demo-data",
            "--outage-after",
            "1s",
            "--outage-length",
            "25s",
        ])
        .env_remove("MEOKTONG_DATA_KEY")
        .env_remove("MEOKTONG_DATABASE__URL")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start meoktong demo");
    let _demo = Demo(child);
    wait_for("the status page", 60, || {
        get(port, "/status").is_some_and(|(s, _)| s == 200)
    });
    let (status, login) = get(port, "/login").expect("the sign-in page");
    assert_eq!(status, 200);
    assert!(login.contains("name=\"password\""), "{login}");
    assert!(
        dir.path().join("demo-data/meoktong.db").exists(),
        "SQLite in --data"
    );

    // The fire: the four Kakao services go down, and the merchants hear it once each.
    wait_for("the [장애] SMS in the dev outbox", 120, || {
        get(port, "/dev/outbox").is_some_and(|(_, b)| b.contains("[장애]"))
    });
    let (_, status_json) = get(port, "/status.json").expect("status.json");
    for slug in ["kakao-login", "kakao-map", "kakaopay", "kakaotalk-channel"] {
        let at = status_json
            .find(&format!("\"slug\":\"{slug}\""))
            .unwrap_or_else(|| panic!("{slug} listed: {status_json}"));
        let entry = &status_json[at..];
        let entry = &entry[..entry.find('}').unwrap_or(entry.len())];
        assert!(entry.contains("\"state\":\"down\""), "{entry}");
    }
    let (_, outbox) = get(port, "/dev/outbox").expect("outbox");
    assert!(
        outbox.contains("카카오톡 채널") && outbox.contains("/a/"),
        "the SMS names the services and links the alert page: {outbox}"
    );

    // Back after 25 s: the recovery SMS.
    wait_for("the [복구] SMS in the dev outbox", 120, || {
        get(port, "/dev/outbox").is_some_and(|(_, b)| b.contains("[복구]"))
    });
    // Nothing else arrives for this cycle (a straggler would have come within a few checks'
    // confirmations): exactly one down SMS and one recovery SMS per merchant.
    std::thread::sleep(Duration::from_secs(20));
    let (_, outbox) = get(port, "/dev/outbox").expect("outbox");
    let sms = sms_rows(&outbox);
    let recipients: std::collections::BTreeSet<&str> =
        sms.iter().map(|(to, _)| to.as_str()).collect();
    assert_eq!(recipients.len(), 3, "every demo merchant is told: {sms:?}");
    for to in recipients {
        let of = |tags: &[&str]| {
            sms.iter()
                .filter(|(r, body)| r == to && tags.iter().any(|t| body.starts_with(t)))
                .count()
        };
        assert_eq!(
            of(&["[장애]", "[DOWN]"]),
            1,
            "one down SMS to {to}: {sms:?}"
        );
        assert_eq!(
            of(&["[복구]", "[RECOVERED]"]),
            1,
            "one recovery SMS to {to}: {sms:?}"
        );
        assert_eq!(
            sms.iter().filter(|(r, _)| r == to).count(),
            2,
            "nothing else to {to}: {sms:?}"
        );
    }
}

/// (recipient, text) of every SMS row of the dev outbox page.
fn sms_rows(page: &str) -> Vec<(String, String)> {
    page.split("<tr>")
        .filter_map(|row| {
            // Cells may carry attributes (`<td class="nowrap">`).
            let cells: Vec<&str> = row
                .split("<td")
                .skip(1)
                .map(|c| c.split_once('>').map_or("", |(_, rest)| rest))
                .map(|c| c.split("</td>").next().unwrap_or(""))
                .collect();
            if cells.len() < 4 || cells[1] != "sms" {
                return None;
            }
            let body = cells[3]
                .split("<pre>")
                .nth(1)
                .and_then(|b| b.split("</pre>").next())
                .unwrap_or("");
            Some((cells[2].to_string(), body.to_string()))
        })
        .collect()
}
