//! Chart drawing: pure plotters code, generic over the backend. The browser wraps a
//! `<canvas>` in `CanvasBackend`; tests draw to `SVGBackend`.

pub mod ingest;
pub mod resources;
pub mod series;
pub mod theme;
pub mod timeline;
