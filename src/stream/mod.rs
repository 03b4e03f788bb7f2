//! The live protocol and the browser's live state, shared so both ends use one definition
//! and the state's single mutator, [`state::apply`], is tested natively.

pub mod protocol;
pub mod state;
