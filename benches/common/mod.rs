//! Shared by the benchmarks: an Observatory serving on a loopback port, and percentiles.
#![allow(dead_code)]

pub mod otlp;

use observatory::server::{AppState, Collector, Config, DashboardServer};
use std::net::SocketAddr;

pub struct Bench {
    pub state: AppState,
    pub addr: SocketAddr,
    pub collector: Collector,
    /// The store's directory, removed when the bench ends.
    pub dir: tempfile::TempDir,
}

/// A fresh store in a temporary directory, served over HTTP on a free port (no gRPC).
pub async fn start() -> Bench {
    start_on(None).await
}

/// [`start`] on the given store: `Some(postgres://…)`, or the embedded one.
pub async fn start_on(store: Option<String>) -> Bench {
    let dir = tempfile::tempdir().unwrap();
    let state = AppState::open(Config {
        data_dir: dir.path().into(),
        store,
        otlp_grpc_listen: None,
        ..Config::default()
    })
    .await
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = DashboardServer::from_state(state.clone());
    let collector = server.collector();
    tokio::spawn(server.serve_on(listener, std::future::pending()));
    Bench {
        state,
        addr,
        collector,
        dir,
    }
}

/// Peak resident set (VmHWM) of process `pid`, in KiB.
pub fn peak_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// CPU time (user + system) of the processes, in ms.
pub fn cpu_ms(pids: &[u32]) -> f64 {
    let tick = 100.0; // USER_HZ on Linux
    pids.iter()
        .filter_map(|p| std::fs::read_to_string(format!("/proc/{p}/stat")).ok())
        .map(|stat| {
            // Fields after the command name (which may hold spaces): utime is the 12th, stime the 13th.
            let rest = &stat[stat.rfind(')').unwrap_or(0) + 2..];
            let f: Vec<&str> = rest.split(' ').collect();
            let ticks: f64 = f[11].parse::<f64>().unwrap_or(0.0) + f[12].parse::<f64>().unwrap_or(0.0);
            ticks * 1000.0 / tick
        })
        .sum()
}

/// Pids of processes whose command name is `name`.
pub fn pids_of(name: &str) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|p| std::fs::read_to_string(format!("/proc/{p}/comm")).is_ok_and(|c| c.trim() == name))
        .collect()
}

/// The value at quantile `p` of ascending `sorted`.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// A binary of Observatory running in a process of its own, on a free port with a store
/// directory of its own (no gRPC); killed when dropped.
pub struct Process {
    pub child: std::process::Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    pub dir: tempfile::TempDir,
}

impl Process {
    /// Starts `bin` with `args` beside the address and the store directory, and waits until it
    /// answers its liveness probe.
    pub async fn start(bin: &str, args: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = std::process::Command::new(bin)
            .args([
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--otlp-grpc-listen",
                "off",
                "--data-dir",
            ])
            .arg(dir.path())
            .args(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{bin} starts (run scripts/build.sh first): {e}"));
        let base = format!("http://127.0.0.1:{port}");
        for _ in 0..300 {
            if reqwest::get(format!("{base}/health/live"))
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        Self { child, base, dir }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
