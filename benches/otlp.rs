//! OTLP ingest throughput (work in progress).
fn main() {}
