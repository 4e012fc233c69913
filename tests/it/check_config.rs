//! `edigate check-config`: broken configurations, each expected problem with its location, and
//! the command's exit codes.

use std::path::{Path, PathBuf};
use std::process::Command;

use edigate::config::check::{Problem, check_all};

const GATEWAY: &str = "[paths]\nspool = \"spool\"\nstate = \"state\"\npartners = \"partners\"\n";

const PARTNER: &str =
    "id = \"acme\"\nname = \"Acme\"\n\n[x12]\nsender = \"ZZ:ACME\"\nreceiver = \"ZZ:US\"\n";

/// A configuration folder: `edigate.toml` with `gateway`, and `partners/<name>` for each file.
fn setup(gateway: &str, partners: &[(&str, &str)]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir(dir.path().join("partners")).expect("partners dir");
    for (name, text) in partners {
        std::fs::write(dir.path().join("partners").join(name), text).expect("partner file");
    }
    let config = dir.path().join("edigate.toml");
    std::fs::write(&config, gateway).expect("gateway file");
    (dir, config)
}

fn problems(config: &Path) -> Vec<Problem> {
    check_all(Some(config), Path::new(".")).expect_err("the configuration is broken")
}

/// `(file name, line, column)` of each problem, and its message.
fn located(problems: &[Problem]) -> Vec<(String, usize, usize, String)> {
    problems
        .iter()
        .map(|p| {
            let name = Path::new(&p.error.file)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            (name, p.error.line, p.error.column, p.error.message.clone())
        })
        .collect()
}

#[test]
fn a_good_configuration_passes() {
    let (_dir, config) = setup(GATEWAY, &[("acme.toml", PARTNER)]);
    let checked = check_all(Some(&config), Path::new(".")).expect("good");
    assert_eq!(checked.partners.len(), 1);
}

#[test]
fn the_repository_example_partners_pass() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let gateway = format!(
        "[paths]\nspool = \"spool\"\nstate = \"state\"\npartners = {:?}\n",
        root.join("partners")
    );
    let (_dir, config) = setup(&gateway, &[]);
    let checked = check_all(Some(&config), Path::new(".")).expect("good");
    assert_eq!(checked.partners.len(), 4);
}

#[test]
fn an_unknown_key_in_the_gateway_file_is_located_with_a_hint() {
    let (_dir, config) = setup(&format!("{GATEWAY}[spool]\nquiet = \"1s\"\n"), &[]);
    let p = problems(&config);
    let l = located(&p);
    assert_eq!(l.len(), 1, "{l:?}");
    assert_eq!((l[0].0.as_str(), l[0].1, l[0].2), ("edigate.toml", 6, 1));
    assert!(l[0].3.contains("unknown field"), "{l:?}");
    assert!(p[0].hint.is_some());
    assert!(p[0].to_string().contains("hint:"));
}

#[test]
fn a_wrong_type_is_located() {
    let (_dir, config) = setup(
        &format!("{GATEWAY}[forwarder]\nconcurrency = \"many\"\n"),
        &[],
    );
    let l = located(&problems(&config));
    assert_eq!((l[0].1, l[0].2), (6, 15), "{l:?}");
    assert!(l[0].3.contains("invalid type"), "{l:?}");
}

#[test]
fn unreadable_token_files_and_a_missing_partner_directory_are_all_reported() {
    let gateway = "[paths]\nspool = \"spool\"\nstate = \"state\"\npartners = \"nowhere\"\n\
                   [erp]\nurl = \"http://127.0.0.1:1/edi\"\ntoken_file = \"erp-token\"\n\
                   [api]\ntoken_file = \"api-token\"\n";
    let (dir, config) = setup(gateway, &[]);
    std::fs::write(dir.path().join("api-token"), "  \n").expect("empty token");
    let l = located(&problems(&config));
    let at: Vec<(usize, usize)> = l.iter().map(|e| (e.1, e.2)).collect();
    assert_eq!(at, vec![(4, 1), (7, 1), (9, 1)], "{l:?}");
    assert!(l[0].3.contains("partners directory"), "{l:?}");
    assert!(l[1].3.contains("erp-token cannot be read"), "{l:?}");
    assert!(l[2].3.contains("is empty"), "{l:?}");
}

#[test]
fn bad_api_settings_are_located() {
    let (_dir, config) = setup(
        &format!("{GATEWAY}[api]\nlisten = \"localhost\"\nmin_free_disk = \"lots\"\n"),
        &[],
    );
    let l = located(&problems(&config));
    let at: Vec<(usize, usize)> = l.iter().map(|e| (e.1, e.2)).collect();
    assert_eq!(at, vec![(6, 10), (7, 17)], "{l:?}");
}

#[test]
fn every_broken_partner_file_is_reported_in_one_pass() {
    let unknown = "id = \"one\"\nname = \"One\"\ncolour = \"red\"\n";
    let wrong_type = "id = \"two\"\nname = 2\n";
    let bad_tz = "id = \"three\"\nname = \"Three\"\ntimezone = \"Mars/Olympus\"\n";
    let (_dir, config) = setup(
        GATEWAY,
        &[
            ("a.toml", unknown),
            ("b.toml", wrong_type),
            ("c.toml", bad_tz),
            ("good.toml", PARTNER),
        ],
    );
    let p = problems(&config);
    let l = located(&p);
    let at: Vec<(&str, usize, usize)> = l.iter().map(|e| (e.0.as_str(), e.1, e.2)).collect();
    assert_eq!(
        at,
        vec![("a.toml", 3, 1), ("b.toml", 2, 8), ("c.toml", 3, 12)],
        "{l:?}"
    );
    assert!(p.iter().all(|p| p.hint.is_some()), "{p:?}");
}

#[test]
fn duplicate_partner_ids_and_senders_are_reported_at_the_later_file() {
    let same_id = PARTNER.replace("ZZ:ACME", "ZZ:OTHER");
    let same_sender = PARTNER.replace("\"acme\"", "\"acme2\"");
    let (_dir, config) = setup(
        GATEWAY,
        &[
            ("a.toml", PARTNER),
            ("b.toml", &same_id),
            ("c.toml", &same_sender),
        ],
    );
    let l = located(&problems(&config));
    let at: Vec<(&str, usize, usize)> = l.iter().map(|e| (e.0.as_str(), e.1, e.2)).collect();
    assert_eq!(at, vec![("b.toml", 1, 1), ("c.toml", 5, 1)], "{l:?}");
    assert!(l[0].3.contains("also used by"), "{l:?}");
}

#[test]
fn a_missing_grammar_file_is_reported_at_its_reference() {
    let partner = format!("{PARTNER}grammars = [\"grammars/940.toml\"]\n");
    let (_dir, config) = setup(GATEWAY, &[("acme.toml", &partner)]);
    let l = located(&problems(&config));
    assert_eq!(
        (l[0].0.as_str(), l[0].1, l[0].2),
        ("acme.toml", 7, 13),
        "{l:?}"
    );
    assert!(l[0].3.contains("grammar file"), "{l:?}");
}

#[test]
fn a_broken_grammar_file_is_reported_in_the_grammar_file() {
    let partner = format!("{PARTNER}grammars = [\"../g/940.toml\"]\n");
    let (dir, config) = setup(GATEWAY, &[("acme.toml", &partner)]);
    std::fs::create_dir(dir.path().join("g")).expect("dir");
    std::fs::write(dir.path().join("g/940.toml"), "set = 940\n").expect("grammar");
    let l = located(&problems(&config));
    assert!(l.iter().any(|e| e.0 == "940.toml"), "{l:?}");
}

fn edigate(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_edigate"))
        .args(args)
        .output()
        .expect("run edigate")
}

#[test]
fn the_command_exits_1_with_every_problem_and_0_when_good() {
    let (_dir, config) = setup(
        &format!("{GATEWAY}[spool]\nquiet = 1\n"),
        &[("a.toml", "id = 1\n")],
    );
    let out = edigate(&["check-config", "--config", config.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("edigate.toml:6:1: unknown field"), "{err}");
    assert!(err.contains("hint:"), "{err}");

    let (_dir, config) = setup(GATEWAY, &[("acme.toml", PARTNER)]);
    let out = edigate(&["check-config", "--config", config.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("good (1 partner)"));
}

#[test]
fn the_packaged_configuration_passes_on_an_empty_install() {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("packaging/edigate.toml")).expect("packaged");
    let base = dir.path().display().to_string();
    let text = text
        .replace("/etc/edigate", &format!("{base}/etc"))
        .replace("/var/", &format!("{base}/var/"));
    std::fs::create_dir_all(dir.path().join("etc/partners")).expect("partners");
    std::fs::write(dir.path().join("etc/api-token"), "abc\n").expect("token");
    let config = dir.path().join("etc/edigate.toml");
    std::fs::write(&config, text).expect("config");
    let checked = check_all(Some(&config), Path::new(".")).expect("good");
    assert!(checked.partners.is_empty());
    let api = checked.gateway.api.expect("api");
    assert_eq!(api.listen.to_string(), "127.0.0.1:9464");
}

#[test]
fn a_token_is_read_from_the_credentials_directory_by_file_name() {
    let gateway = format!("{GATEWAY}[api]\ntoken_file = \"/nonexistent/api-token\"\n");
    let (dir, config) = setup(&gateway, &[]);
    let creds = dir.path().join("creds");
    std::fs::create_dir(&creds).expect("creds");
    std::fs::write(creds.join("api-token"), "s3cret\n").expect("credential");
    let out = Command::new(env!("CARGO_BIN_EXE_edigate"))
        .args(["check-config", "--config", config.to_str().expect("utf-8")])
        .env_remove("CREDENTIALS_DIRECTORY")
        .output()
        .expect("run");
    assert_eq!(
        out.status.code(),
        Some(1),
        "no credential: the path is read"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_edigate"))
        .args(["check-config", "--config", config.to_str().expect("utf-8")])
        .env("CREDENTIALS_DIRECTORY", &creds)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let out = Command::new(env!("CARGO_BIN_EXE_edigate"))
        .args([
            "check-config",
            "--credentials-dir",
            creds.to_str().expect("utf-8"),
            "--config",
            config.to_str().expect("utf-8"),
        ])
        .env_remove("CREDENTIALS_DIRECTORY")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
}

#[test]
fn transport_settings_are_checked_without_touching_the_network() {
    let sftp = "id = \"acme\"\nname = \"Acme\"\n\n[inbound]\nsource = \"sftp\"\nhost = \"127.0.0.1\"\nuser = \"edi\"\nkey_file = \"keys/missing\"\nhost_key = \"not-a-fingerprint\"\nremote_dir = \"/outbound\"\npattern = \"*.{edi\"\n";
    let (_dir, config) = setup(GATEWAY, &[("acme.toml", sftp)]);
    let p = problems(&config);
    let l = located(&p);
    let messages: Vec<&str> = l.iter().map(|e| e.3.as_str()).collect();
    assert!(
        messages
            .iter()
            .any(|m| m.contains("key_file") && m.contains("cannot be read")),
        "{l:?}"
    );
    assert!(messages.iter().any(|m| m.contains("host_key")), "{l:?}");
    assert!(
        l.iter().any(|e| e.0 == "acme.toml" && e.1 == 8),
        "the key file is located at its line: {l:?}"
    );
    assert!(
        messages
            .iter()
            .any(|m| m.contains("pattern") || m.contains("glob")),
        "a bad glob is reported: {l:?}"
    );
}
