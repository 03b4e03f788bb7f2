//! Samples the host Observatory runs on (cpu, memory, disk, network, uptime, processes)
//! with sysinfo and feeds it through the ingest pipeline like any other system event.

use super::ingest::Ingest;
use crate::model::{Event, SystemEvent};
use std::time::Duration;
use sysinfo::{Disks, Networks, ProcessesToUpdate, System};

const INTERVAL: Duration = Duration::from_secs(5);

pub fn host_name() -> String {
    System::host_name().unwrap_or_else(|| "localhost".into())
}

pub async fn sample_host(ingest: Ingest) {
    let host = host_name();
    let mut sys = System::new();
    let mut disks = Disks::new_with_refreshed_list();
    let mut networks = Networks::new_with_refreshed_list();
    // cpu usage is a difference between two refreshes
    sys.refresh_cpu_usage();
    let mut tick = tokio::time::interval(INTERVAL);
    loop {
        tick.tick().await;
        sys.refresh_cpu_usage();
        sys.refresh_memory();
        sys.refresh_processes(ProcessesToUpdate::All, true);
        disks.refresh(true);
        networks.refresh(true);
        let (disk_used, disk_total) = disks.list().iter().fold((0, 0), |(u, t), d| {
            (
                u + d.total_space().saturating_sub(d.available_space()),
                t + d.total_space(),
            )
        });
        let (rx, tx) = networks.iter().fold((0, 0), |(r, t), (_, n)| {
            (r + n.total_received(), t + n.total_transmitted())
        });
        let event = SystemEvent {
            host: host.clone(),
            cpu_percent: f64::from(sys.global_cpu_usage()).clamp(0.0, 100.0),
            memory_used_bytes: sys.used_memory().min(sys.total_memory()),
            memory_total_bytes: sys.total_memory(),
            disk_used_bytes: disk_used,
            disk_total_bytes: disk_total,
            network_rx_bytes: rx,
            network_tx_bytes: tx,
            uptime_seconds: System::uptime(),
            tasks: sys.processes().len() as u64,
            timestamp: None,
        };
        if let Err(e) = ingest.submit(vec![Event::System(event)]).await {
            tracing::debug!(error = %e, "host sample dropped");
        }
    }
}
