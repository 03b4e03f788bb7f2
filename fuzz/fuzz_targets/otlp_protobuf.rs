//! OTLP/HTTP with `application/x-protobuf`: the first byte picks traces, logs or metrics
//! (`selector % 3`), the rest is the body.
#![no_main]

use libfuzzer_sys::fuzz_target;
use observatory::server::otlp::http::Encoding;

fuzz_target!(|data: &[u8]| observatory_fuzz::otlp(Encoding::Protobuf, data));
