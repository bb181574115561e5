//! The configuration files under `deploy/` load with the service's own strict loader (an
//! unknown key or a bad duration there would stop every replica at start-up).
use std::path::{Path, PathBuf};

fn deploy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy")
}

fn load(text: &str, name: &str) -> meoktong_config::Settings {
    let s = meoktong_config::load_str(text, Some(Path::new(name)))
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    // The presets it enables are usable as configured (e.g. `kakaotalk-channel` names its
    // channel), or start-up would fail.
    meoktong::app::enabled_presets(&s).unwrap_or_else(|e| panic!("{name}: {e:#}"));
    s
}

#[test]
fn the_compose_configuration_loads() {
    let path = deploy().join("compose/meoktong.toml");
    let s = load(
        &std::fs::read_to_string(&path).expect("read"),
        "deploy/compose/meoktong.toml",
    );
    assert_eq!(s.server.listen, "0.0.0.0:8080");
    assert!(s.email.is_some());
}

#[test]
fn the_kubernetes_configmap_configuration_loads() {
    let yaml = std::fs::read_to_string(deploy().join("kubernetes/configmap.yaml")).expect("read");
    // The block scalar under `meoktong.toml: |`, indented four spaces.
    let toml: String = yaml
        .lines()
        .skip_while(|l| !l.trim_start().starts_with("meoktong.toml: |"))
        .skip(1)
        .take_while(|l| l.is_empty() || l.starts_with("    "))
        .map(|l| format!("{}\n", l.strip_prefix("    ").unwrap_or(l)))
        .collect();
    assert!(toml.contains("[server]"), "found the embedded file");
    let s = load(&toml, "deploy/kubernetes/configmap.yaml");
    assert_eq!(s.sms.len(), 1);
    assert_eq!(s.sms[0].auth_token_env, "TWILIO_AUTH_TOKEN");
    assert!(!s.catalog.enable.is_empty());
}
