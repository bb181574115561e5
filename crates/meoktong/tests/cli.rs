//! The binary as an operator uses it: exit codes, one-line errors, nothing half-written.
use std::path::Path;
use std::process::{Command, Output};

const KEY: &str = "KioqKioqKioqKioqKioqKioqKioqKioqKioqKioqKio="; // base64 of 32 × '*'

fn meoktong(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_meoktong"))
        .args(args)
        .current_dir(dir)
        .env("MEOKTONG_DATA_KEY", KEY)
        .env_remove("RUST_LOG")
        .output()
        .expect("run meoktong")
}

fn write_config(dir: &Path, db_url: &str) {
    let text = format!(
        r#"[database]
url = "{db_url}"

[probe]
canaries = [] # tests never contact a public address

[[dependency]]
slug = "kakao-login"
name = "카카오 로그인"
name_en = "Kakao Login"
category = "login"

[[dependency]]
slug = "kakaopay"
name = "카카오페이"
category = "payment"
"#
    );
    std::fs::write(dir.join("meoktong.toml"), text).expect("write config");
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn sqlite_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    write_config(dir.path(), "sqlite://m.db?mode=rwc");
    dir
}

#[test]
fn help_exists_for_every_command() {
    let dir = sqlite_dir();
    for args in [
        vec!["--help"],
        vec!["serve", "--help"],
        vec!["demo", "--help"],
        vec!["migrate", "--help"],
        vec!["check", "--help"],
        vec!["merchant", "import", "--help"],
        vec!["merchant", "list", "--help"],
        vec!["user", "create", "--help"],
    ] {
        let o = meoktong(dir.path(), &args);
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
        assert!(stdout(&o).contains("Usage"), "{args:?}");
    }
}

#[test]
fn migrate_is_idempotent_on_sqlite() {
    let dir = sqlite_dir();
    let first = meoktong(dir.path(), &["migrate"]);
    assert!(first.status.success(), "{}", stderr(&first));
    let second = meoktong(dir.path(), &["migrate"]);
    assert!(second.status.success(), "{}", stderr(&second));
    assert_first_migrates_second_has_nothing(&first, &second);
}

/// The number in "database is up to date (N migration(s) were pending)".
fn pending_reported(o: &Output) -> usize {
    let text = stdout(o);
    text.split_once('(')
        .and_then(|(_, rest)| rest.split_once(" migration(s) were pending"))
        .and_then(|(n, _)| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no pending count in {text:?}"))
}

fn assert_first_migrates_second_has_nothing(first: &Output, second: &Output) {
    assert!(
        pending_reported(first) > 0,
        "a fresh database has migrations pending: {}",
        stdout(first)
    );
    assert_eq!(pending_reported(second), 0, "{}", stdout(second));
}

#[test]
fn migrate_is_idempotent_on_postgres() {
    let Ok(admin) = std::env::var("TEST_DATABASE_URL") else {
        return;
    };
    let name = format!("meoktong_cli_{}", std::process::id());
    let psql = |sql: &str| {
        Command::new("psql")
            .args([admin.as_str(), "-qc", sql])
            .output()
            .expect("psql")
    };
    psql(&format!("DROP DATABASE IF EXISTS {name}"));
    assert!(psql(&format!("CREATE DATABASE {name}")).status.success());
    let mut url = url::Url::parse(&admin).expect("url");
    url.set_path(&format!("/{name}"));
    let dir = tempfile::tempdir().expect("tempdir");
    write_config(dir.path(), url.as_str());
    let first = meoktong(dir.path(), &["migrate"]);
    let second = meoktong(dir.path(), &["migrate"]);
    psql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
    assert!(first.status.success(), "{}", stderr(&first));
    assert!(second.status.success(), "{}", stderr(&second));
    assert_first_migrates_second_has_nothing(&first, &second);
}

#[test]
fn import_with_a_bad_phone_on_line_3_names_it_and_writes_nothing() {
    let dir = sqlite_dir();
    let csv = "business_name,phone,email,dependencies,locale,region,trade\n\
               행복분식,010-1234-5678,kim@example.com,kakao-login;kakaopay,ko,서울 마포구,분식\n\
               판교 치킨,010-12,park@example.com,kakaopay,ko,경기 성남시,치킨\n";
    std::fs::write(dir.path().join("m.csv"), csv).expect("csv");
    let o = meoktong(dir.path(), &["merchant", "import", "m.csv"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).lines().any(|l| l.starts_with("line 3: phone:")),
        "{}",
        stderr(&o)
    );
    let list = meoktong(dir.path(), &["merchant", "list", "--format", "json"]);
    assert!(list.status.success(), "{}", stderr(&list));
    let rows: serde_json::Value = serde_json::from_str(&stdout(&list)).expect("json");
    assert_eq!(rows.as_array().map(Vec::len), Some(0), "nothing imported");
}

/// Excel saves CSV with CRLF line endings (and Korean spreadsheet programs in CP949): the
/// bad phone on line 3 is still `line 3`.
#[test]
fn a_crlf_cp949_import_names_the_physical_line() {
    let dir = sqlite_dir();
    let csv = "business_name,phone,email,dependencies,locale,region,trade\r\n\
               행복분식,010-1234-5678,kim@example.com,kakao-login,ko,서울 마포구,분식\r\n\
               판교 치킨,010-12,park@example.com,kakao-login,ko,경기 성남시,치킨\r\n";
    let (cp949, _, _) = encoding_rs::EUC_KR.encode(csv);
    std::fs::write(dir.path().join("m.csv"), &cp949).expect("csv");
    let o = meoktong(dir.path(), &["merchant", "import", "m.csv"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).lines().any(|l| l.starts_with("line 3: phone:")),
        "{}",
        stderr(&o)
    );
    assert!(!stderr(&o).contains("line 2"), "{}", stderr(&o));
    // An association that does not exist is refused before anything is read into the database.
    std::fs::write(
        dir.path().join("ok.csv"),
        csv.replace("010-12,", "010-1234-5679,"),
    )
    .expect("csv");
    let o = meoktong(
        dir.path(),
        &["merchant", "import", "ok.csv", "--association", "없는단체"],
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("unknown association"), "{}", stderr(&o));
    let list = meoktong(dir.path(), &["merchant", "list", "--format", "json"]);
    let rows: serde_json::Value = serde_json::from_str(&stdout(&list)).expect("json");
    assert_eq!(rows.as_array().map(Vec::len), Some(0), "nothing imported");
}

#[test]
fn merchant_list_csv_writes_formulas_as_text() {
    let dir = sqlite_dir();
    let csv = "business_name,phone,email,dependencies,locale,region,trade\n\
               \"=cmd|' /C calc'!A0\",010-1234-5678,,kakao-login,ko,@SUM(1+1),-분식\n";
    std::fs::write(dir.path().join("m.csv"), csv).expect("csv");
    let o = meoktong(dir.path(), &["merchant", "import", "m.csv"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let list = meoktong(dir.path(), &["merchant", "list", "--format", "csv"]);
    assert!(list.status.success(), "{}", stderr(&list));
    let text = stdout(&list);
    let row = text.lines().nth(1).expect("a row");
    assert_eq!(
        row, "1,'=cmd|' /C calc'!A0,'+821012345678,,kakao-login,ko,'@SUM(1+1),'-분식",
        "{text}"
    );
    // The JSON list keeps the values as they are.
    let json = meoktong(dir.path(), &["merchant", "list", "--format", "json"]);
    let rows: serde_json::Value = serde_json::from_str(&stdout(&json)).expect("json");
    assert_eq!(rows[0]["business_name"], "=cmd|' /C calc'!A0");
}

#[test]
fn import_refuses_bytes_that_are_not_text_naming_line_and_field() {
    let dir = sqlite_dir();
    let mut bytes = b"business_name,phone,email,dependencies,locale,region,trade\n".to_vec();
    bytes.extend_from_slice(b"Nul\0Shop,010-1234-5678,,kakao-login,ko,,\n");
    bytes.extend_from_slice(b"Bad \xff bytes,010-1234-5679,,kakao-login,ko,,\n");
    bytes.extend_from_slice("photo\u{202E}gnp.exe,010-1234-5670,,kakao-login,ko,,\n".as_bytes());
    std::fs::write(dir.path().join("m.csv"), bytes).expect("csv");
    let o = meoktong(dir.path(), &["merchant", "import", "m.csv"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    for want in [
        "line 2: business_name: contains a NUL byte",
        "line 3: business_name: is not valid UTF-8 (nor CP949) text",
        "line 4: business_name: contains an invisible formatting character (U+202E)",
    ] {
        assert!(err.lines().any(|l| l == want), "{want}: {err}");
    }
    let list = meoktong(dir.path(), &["merchant", "list", "--format", "json"]);
    let rows: serde_json::Value = serde_json::from_str(&stdout(&list)).expect("json");
    assert_eq!(rows.as_array().map(Vec::len), Some(0), "nothing imported");
}

#[tokio::test]
async fn a_rejected_import_leaves_the_catalog_of_a_fresh_database_untouched() {
    let dir = sqlite_dir();
    let csv = "business_name,phone,email,dependencies,locale,region,trade\n\
               행복분식,010-1234-5678,kim@example.com,kakao-login;no-such-dependency,ko,,\n";
    std::fs::write(dir.path().join("m.csv"), csv).expect("csv");
    let o = meoktong(dir.path(), &["merchant", "import", "m.csv"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o)
            .lines()
            .any(|l| l.starts_with("line 2: dependencies:")),
        "{}",
        stderr(&o)
    );
    use meoktong_storage::entity::{checks, dependencies, dependency_states, merchants};
    use meoktong_storage::sea_orm::{EntityTrait, PaginatorTrait};
    let url = format!("sqlite://{}?mode=rw", dir.path().join("m.db").display());
    let db = meoktong_storage::Db::connect(&url, 1)
        .await
        .expect("open the database");
    let conn = &db.conn;
    assert_eq!(
        dependencies::Entity::find().count(conn).await.expect("q"),
        0
    );
    assert_eq!(checks::Entity::find().count(conn).await.expect("q"), 0);
    assert_eq!(
        dependency_states::Entity::find()
            .count(conn)
            .await
            .expect("q"),
        0
    );
    assert_eq!(merchants::Entity::find().count(conn).await.expect("q"), 0);
    conn.clone().close().await.expect("close");

    // The same file without the bad slug imports, and the catalog is synced then.
    let csv = "business_name,phone,email,dependencies,locale,region,trade\n\
               행복분식,010-1234-5678,kim@example.com,kakao-login,ko,,\n";
    std::fs::write(dir.path().join("m.csv"), csv).expect("csv");
    let o = meoktong(dir.path(), &["merchant", "import", "m.csv"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o).trim(), "1 created, 0 updated");
}

#[test]
fn the_kakaotalk_channel_preset_needs_its_channel_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("meoktong.toml"),
        "[database]\nurl = \"sqlite://m.db?mode=rwc\"\n\n[catalog]\nenable = [\"kakaotalk-channel\"]\n",
    )
    .expect("config");
    let csv = "business_name,phone,email,dependencies,locale,region,trade\n\
               행복분식,010-1234-5678,,kakaotalk-channel,ko,,\n";
    std::fs::write(dir.path().join("m.csv"), csv).expect("csv");
    let o = meoktong(dir.path(), &["merchant", "import", "m.csv"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("catalog.kakaotalk_channel"),
        "the error names the key: {}",
        stderr(&o)
    );
    // Given by the environment (or the file), the preset is usable.
    let o = Command::new(env!("CARGO_BIN_EXE_meoktong"))
        .args(["merchant", "import", "m.csv"])
        .current_dir(dir.path())
        .env("MEOKTONG_DATA_KEY", KEY)
        .env("MEOKTONG_CATALOG__KAKAOTALK_CHANNEL", "_AbCdE")
        .env_remove("RUST_LOG")
        .output()
        .expect("run meoktong");
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o).trim(), "1 created, 0 updated");
}

#[test]
fn import_then_reimport_updates_and_lists_e164() {
    let dir = sqlite_dir();
    let csv = "business_name,phone,email,dependencies,locale,region,trade,backup_phone,backup_email\n\
               행복분식,010-1234-5678,kim@example.com,kakao-login,ko,서울 마포구,분식,010 9999 0000,\n";
    std::fs::write(dir.path().join("m.csv"), csv).expect("csv");
    let o = meoktong(dir.path(), &["merchant", "import", "m.csv"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o).trim(), "1 created, 0 updated");
    let csv2 = csv.replace("kakao-login,ko", "kakao-login;kakaopay,en");
    std::fs::write(dir.path().join("m.csv"), csv2).expect("csv");
    let o = meoktong(dir.path(), &["merchant", "import", "m.csv"]);
    assert_eq!(stdout(&o).trim(), "0 created, 1 updated", "{}", stderr(&o));
    let list = meoktong(dir.path(), &["merchant", "list", "--format", "json"]);
    let rows: serde_json::Value = serde_json::from_str(&stdout(&list)).expect("json");
    assert_eq!(rows[0]["phone"], "+821012345678");
    assert_eq!(rows[0]["locale"], "en");
    assert_eq!(
        rows[0]["dependencies"],
        serde_json::json!(["kakao-login", "kakaopay"])
    );
}

#[test]
fn cp949_csv_is_read() {
    let dir = sqlite_dir();
    let text = "business_name,phone,email,dependencies,locale,region,trade\n행복분식,01012345678,,kakaopay,,서울,분식\n";
    let (bytes, _, _) = encoding_rs::EUC_KR.encode(text);
    std::fs::write(dir.path().join("k.csv"), &bytes).expect("csv");
    let o = meoktong(
        dir.path(),
        &["--config", "meoktong.toml", "merchant", "import", "k.csv"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let list = meoktong(dir.path(), &["merchant", "list", "--format", "csv"]);
    assert!(stdout(&list).contains("행복분식"), "{}", stdout(&list));
}

#[test]
fn config_errors_are_one_line_with_the_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("meoktong.toml"),
        "[server]\nlisten = \"127.0.0.1:8080\"\nlisen = \"x\"\n",
    )
    .expect("w");
    let o = meoktong(dir.path(), &["migrate"]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("line 3") && err.contains("lisen"), "{err}");
}

#[test]
fn user_create_reads_the_password_from_the_environment() {
    let dir = sqlite_dir();
    let o = Command::new(env!("CARGO_BIN_EXE_meoktong"))
        .args([
            "user",
            "create",
            "--role",
            "association",
            "--email",
            "staff@assoc.example",
            "--association",
            "소상공인연합회",
        ])
        .current_dir(dir.path())
        .env("MEOKTONG_DATA_KEY", KEY)
        .env("MEOKTONG_NEW_PASSWORD", "a long enough password")
        .output()
        .expect("run");
    assert!(o.status.success(), "{}", stderr(&o));
    let again = Command::new(env!("CARGO_BIN_EXE_meoktong"))
        .args([
            "user",
            "create",
            "--role",
            "operator",
            "--email",
            "staff@assoc.example",
        ])
        .current_dir(dir.path())
        .env("MEOKTONG_DATA_KEY", KEY)
        .env("MEOKTONG_NEW_PASSWORD", "a long enough password")
        .output()
        .expect("run");
    assert!(!again.status.success());
    assert!(stderr(&again).contains("already exists"));
    let no_pw = meoktong(
        dir.path(),
        &[
            "user",
            "create",
            "--role",
            "operator",
            "--email",
            "op@x.example",
        ],
    );
    assert_eq!(no_pw.status.code(), Some(2));
    assert!(stderr(&no_pw).contains("MEOKTONG_NEW_PASSWORD"));
}

#[test]
fn postgres_without_a_data_key_fails_naming_the_variable() {
    let Ok(admin) = std::env::var("TEST_DATABASE_URL") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    write_config(dir.path(), &admin);
    let o = Command::new(env!("CARGO_BIN_EXE_meoktong"))
        .args(["migrate"])
        .current_dir(dir.path())
        .env_remove("MEOKTONG_DATA_KEY")
        .output()
        .expect("run");
    assert!(!o.status.success());
    assert!(stderr(&o).contains("MEOKTONG_DATA_KEY"), "{}", stderr(&o));
}

#[test]
fn check_prints_a_verdict_and_timings_and_exits_by_health() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let sim = rt
        .block_on(meoktong_probe::simulator::Simulator::start(
            "127.0.0.1:0".parse().expect("addr"),
        ))
        .expect("simulator");
    let dir = sqlite_dir();
    let url = format!("{}/.well-known/openid-configuration", sim.base_url());
    let ok = meoktong(
        dir.path(),
        &[
            "check",
            &url,
            "--expect-status",
            "200",
            "--expect-json-exists",
            "issuer",
        ],
    );
    assert_eq!(ok.status.code(), Some(0), "{}{}", stdout(&ok), stderr(&ok));
    let out = stdout(&ok);
    assert!(out.contains("200"), "{out}");
    assert!(
        out.to_lowercase().contains("connect") && out.to_lowercase().contains("total"),
        "timing breakdown: {out}"
    );
    let json = meoktong(dir.path(), &["check", &url, "--json"]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&json)).expect("json");
    assert_eq!(v["outcome"], "ok");
    sim.set_mode(
        meoktong_probe::simulator::Service::KakaoLogin,
        meoktong_probe::simulator::Mode::Down,
    );
    let down = meoktong(dir.path(), &["check", &url]);
    assert_eq!(down.status.code(), Some(1), "{}", stdout(&down));
    let usage = meoktong(dir.path(), &["check", &url, "--timeout", "soon"]);
    assert_eq!(usage.status.code(), Some(2));
}

#[test]
fn serve_stops_cleanly_on_sigterm() {
    let dir = sqlite_dir();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("port")
        .local_addr()
        .expect("addr")
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_meoktong"))
        .args(["serve"])
        .current_dir(dir.path())
        .env("MEOKTONG_DATA_KEY", KEY)
        .env("MEOKTONG_SERVER__LISTEN", format!("127.0.0.1:{port}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn serve");
    // Ready when /healthz answers (generous deadline; polling, not sleeping on luck).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut up = false;
    while std::time::Instant::now() < deadline {
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            use std::io::{Read, Write};
            let _ = s.write_all(b"GET /healthz HTTP/1.0\r\n\r\n");
            let mut buf = String::new();
            let _ = s.read_to_string(&mut buf);
            if buf.contains("200") {
                up = true;
                break;
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(up, "serve did not come up");
    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(kill.success());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "serve did not stop after SIGTERM"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert_eq!(status.code(), Some(0), "exit 0 after SIGTERM");
}

#[test]
fn a_locked_sqlite_database_gives_a_clear_error_and_loses_nothing() {
    use meoktong_storage::sea_orm::{ConnectOptions, ConnectionTrait, Database};
    let dir = sqlite_dir();
    assert!(meoktong(dir.path(), &["migrate"]).status.success());
    let csv = "business_name,phone,email,dependencies,locale,region,trade\n행복분식,010-1234-5678,,kakao-login,ko,,\n";
    std::fs::write(dir.path().join("m.csv"), csv).expect("csv");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    // Another process holds the write lock (an editor, a backup tool, a stuck writer).
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("m.db").display());
    let holder = rt.block_on(async {
        let mut o = ConnectOptions::new(url);
        o.max_connections(1).min_connections(1);
        let c = Database::connect(o).await.expect("connect");
        c.execute_unprepared("BEGIN EXCLUSIVE").await.expect("lock");
        c
    });
    let locked = meoktong(dir.path(), &["merchant", "import", "m.csv"]);
    assert_eq!(locked.status.code(), Some(1), "{}", stderr(&locked));
    let err = stderr(&locked);
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(err.contains("locked"), "says why: {err}");
    rt.block_on(async {
        holder.execute_unprepared("ROLLBACK").await.expect("unlock");
        holder.close().await.expect("close");
    });
    // Nothing half-written: the same file imports cleanly once the lock is gone.
    let ok = meoktong(dir.path(), &["merchant", "import", "m.csv"]);
    assert!(ok.status.success(), "{}", stderr(&ok));
    assert_eq!(stdout(&ok).trim(), "1 created, 0 updated");
}

/// A tmpfs of `size` mounted at `dir` for the life of the value (this test needs root or an
/// unprivileged user namespace; CI runs as root).
struct SmallDisk(std::path::PathBuf);

impl SmallDisk {
    fn mount(dir: &Path, size: &str) -> SmallDisk {
        std::fs::create_dir_all(dir).expect("mount point");
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .output()
            .expect("run mount");
        assert!(
            out.status.success(),
            "this test mounts a small tmpfs to fill it (needs root): {}",
            stderr(&out)
        );
        SmallDisk(dir.to_path_buf())
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_gives_a_clear_error_and_loses_nothing() {
    use std::io::Write;
    let dir = tempfile::tempdir().expect("tempdir");
    let disk = dir.path().join("disk");
    let _mounted = SmallDisk::mount(&disk, "24m");
    write_config(dir.path(), "sqlite://disk/m.db?mode=rwc");
    assert!(meoktong(dir.path(), &["migrate"]).status.success());
    let header = "business_name,phone,email,dependencies,locale,region,trade\n";
    std::fs::write(
        dir.path().join("one.csv"),
        format!("{header}행복분식,010-1234-5678,,kakao-login,ko,,\n"),
    )
    .expect("csv");
    let mut many = String::from(header);
    for i in 0..20_000 {
        many.push_str(&format!(
            "가게 {i},010-{:04}-{:04},shop{i}@example.com,kakao-login;kakaopay,ko,서울특별시 마포구,음식점\n",
            2000 + i / 10_000,
            i % 10_000
        ));
    }
    std::fs::write(dir.path().join("many.csv"), many).expect("csv");
    let first = meoktong(dir.path(), &["merchant", "import", "one.csv"]);
    assert!(first.status.success(), "{}", stderr(&first));

    // Fill what is left of the disk.
    let filler_path = disk.join("filler");
    let mut filler = std::fs::File::create(&filler_path).expect("filler");
    let block = vec![0u8; 64 * 1024];
    while filler.write_all(&block).is_ok() {}
    drop(filler);

    let full = meoktong(dir.path(), &["merchant", "import", "many.csv"]);
    assert_eq!(full.status.code(), Some(1), "{}", stderr(&full));
    let err = stderr(&full);
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(err.contains("disk"), "says why: {err}");
    // Space freed (with the disk full even a reader fails: SQLite cannot create its WAL
    // index): what was accepted before is still there, and nothing of the failed import is.
    std::fs::remove_file(&filler_path).expect("free space");
    let list = meoktong(dir.path(), &["merchant", "list", "--format", "csv"]);
    assert!(list.status.success(), "{}", stderr(&list));
    let listed = stdout(&list);
    assert_eq!(
        listed.lines().count(),
        2,
        "header and the one merchant: {listed}"
    );
    assert!(listed.contains("행복분식"), "{listed}");

    // The same file now imports whole.
    let ok = meoktong(dir.path(), &["merchant", "import", "many.csv"]);
    assert!(ok.status.success(), "{}", stderr(&ok));
    assert_eq!(stdout(&ok).trim(), "20000 created, 0 updated");
}
