//! The `observatory` binary itself: its own logs, refusing to expose itself unauthenticated,
//! and the token helper.

mod common;

use common::free_port;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_observatory");

#[test]
fn bound_beyond_loopback_without_tokens_it_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args(["--listen", "0.0.0.0:0", "--otlp-grpc-listen", "off", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--insecure") && err.contains("0.0.0.0:0"), "{err}");
}

#[test]
fn token_new_prints_a_token_once_and_the_toml_that_accepts_it() {
    let out = Command::new(BIN)
        .args(["token", "new", "--name", "ci", "--role", "ingest"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let token = text.lines().nth(1).unwrap().trim_start_matches("# ").to_string();
    assert!(token.starts_with("obs_") && token.len() > 40, "{text}");
    let toml: String = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n");
    let config: observatory::server::Config = toml::from_str(&toml).unwrap();
    assert_eq!(
        config.auth.tokens[0].sha256,
        observatory::server::auth::hash_token(&token)
    );
    assert!(!toml.contains(&token), "the TOML holds only the hash");

    let mut hash = Command::new(BIN)
        .args(["token", "hash"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    hash.stdin
        .take()
        .unwrap()
        .write_all(format!("{token}\n").as_bytes())
        .unwrap();
    let out = hash.wait_with_output().unwrap();
    assert_eq!(
        String::from_utf8(out.stdout).unwrap().trim(),
        config.auth.tokens[0].sha256
    );
}

#[test]
fn json_logs_carry_request_ids_and_never_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let secret = "sup3r-secret-token-value";
    std::fs::write(
        dir.path().join("o.toml"),
        format!(
            "[[auth.tokens]]\nname = \"ops\"\nrole = \"admin\"\nsha256 = \"{}\"\n",
            observatory::server::auth::hash_token(secret)
        ),
    )
    .unwrap();
    let mut child = Command::new(BIN)
        .args([
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--otlp-grpc-listen",
            "off",
            "--log-format",
            "json",
        ])
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .arg("--config")
        .arg(dir.path().join("o.toml"))
        .env("OBSERVATORY_LOG", "info,tower_http=debug")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let sink = lines.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            sink.lock().unwrap().push(line);
        }
    });
    let rt = tokio::runtime::Runtime::new().unwrap();
    let result = rt.block_on(async {
        let client = reqwest::Client::new();
        for _ in 0..100 {
            if client
                .get(format!("http://127.0.0.1:{port}/health/live"))
                .send()
                .await
                .is_ok()
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let resp = client
            .get(format!("http://127.0.0.1:{port}/api/agents?token={secret}"))
            .bearer_auth(secret)
            .header("x-request-id", "req-4242")
            .send()
            .await
            .unwrap();
        let echoed = resp.headers()["x-request-id"].to_str().unwrap().to_string();
        let login = client
            .post(format!("http://127.0.0.1:{port}/api/auth/login"))
            .json(&serde_json::json!({ "token": secret }))
            .send()
            .await
            .unwrap();
        (resp.status(), echoed, login.status())
    });
    std::thread::sleep(Duration::from_millis(300));
    child.kill().unwrap();
    let _ = child.wait();
    assert_eq!(result.0, 200);
    assert_eq!(result.1, "req-4242");
    assert_eq!(result.2, 200);
    let lines = lines.lock().unwrap();
    let json: Vec<serde_json::Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .collect();
    assert!(
        json.iter()
            .any(|v| v["span"]["request_id"] == "req-4242" && v["span"]["path"] == "/api/agents"),
        "{lines:#?}"
    );
    assert!(json
        .iter()
        .any(|v| v["fields"]["message"] == "signed in" && v["fields"]["name"] == "ops"));
    assert!(
        !lines.iter().any(|l| l.contains(secret)),
        "a token reached the log: {lines:#?}"
    );
}
