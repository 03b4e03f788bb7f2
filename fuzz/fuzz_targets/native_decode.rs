//! `POST /api/v1/events`: the native decoder on arbitrary bytes. The first byte picks the
//! format (even: JSON, odd: NDJSON), the rest is the body.
#![no_main]

use libfuzzer_sys::fuzz_target;
use observatory::model::Limits;
use observatory::server::ingest::native::{decode, Format};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let format = if selector % 2 == 0 {
        Format::Json
    } else {
        Format::Ndjson
    };
    // The server's defaults (config `max_batch_events`, `limits`).
    let _ = decode(body, format, &Limits::default(), 10_000);
});
