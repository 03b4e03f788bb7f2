//! The browser app.
pub fn mount() {}
