//! Every stored execution's id → its sequence number, in memory.
//!
//! Execution ids are random (W3C trace ids, UUIDs), so a b-tree index on them took every new
//! execution into a random page: each commit rewrote a page of that index per new execution,
//! about half the bytes the writer put in the WAL (the OTLP bench ran about a fifth faster
//! without it). Here the ids of the common forms are kept as 128-bit numbers, so a million
//! executions take 30 to 50 MB (the hash table doubles as it grows). The table keeps the
//! ids, with a narrow index by `seq` to load them from at start-up, and the single writer
//! keeps them unique.

use parking_lot::RwLock;
use std::collections::HashMap;

#[derive(Default)]
pub struct Directory {
    inner: RwLock<Maps>,
}

/// One map per form of id, so that a 32-digit hex id and the UUID of the same 128 bits stay
/// distinct.
#[derive(Default)]
struct Maps {
    hex: HashMap<Bits, i64>,
    uuid: HashMap<Bits, i64>,
    other: HashMap<Box<str>, i64>,
}

/// 128 bits as two words: 8-byte aligned, so an entry takes 24 bytes, not 32 as with `u128`.
type Bits = [u64; 2];

enum Key<'a> {
    Hex(Bits),
    Uuid(Bits),
    Other(&'a str),
}

/// The id as a number when it is 32 lowercase hex digits, or a lowercase UUID in its
/// canonical 8-4-4-4-12 form (both print back to the same string, so the number is exact).
fn key(id: &str) -> Key<'_> {
    let b = id.as_bytes();
    let lower_hex = |c: &u8| c.is_ascii_digit() || (b'a'..=b'f').contains(c);
    if b.len() == 32 && b.iter().all(lower_hex) {
        return Key::Hex(bits(b.iter()));
    }
    let dashes = [8, 13, 18, 23];
    if b.len() == 36
        && b.iter()
            .enumerate()
            .all(|(i, c)| if dashes.contains(&i) { *c == b'-' } else { lower_hex(c) })
    {
        return Key::Uuid(bits(b.iter().filter(|c| **c != b'-')));
    }
    Key::Other(id)
}

/// 32 hex digits as a number.
fn bits<'a>(digits: impl Iterator<Item = &'a u8>) -> Bits {
    let n = digits.fold(0u128, |n, c| (n << 4) | (*c as char).to_digit(16).unwrap_or(0) as u128);
    [(n >> 64) as u64, n as u64]
}

impl Maps {
    fn get(&self, id: &str) -> Option<i64> {
        match key(id) {
            Key::Hex(k) => self.hex.get(&k),
            Key::Uuid(k) => self.uuid.get(&k),
            Key::Other(k) => self.other.get(k),
        }
        .copied()
    }

    fn insert(&mut self, id: &str, seq: i64) {
        match key(id) {
            Key::Hex(k) => self.hex.insert(k, seq),
            Key::Uuid(k) => self.uuid.insert(k, seq),
            Key::Other(k) => self.other.insert(k.into(), seq),
        };
    }

    fn remove(&mut self, id: &str) {
        match key(id) {
            Key::Hex(k) => self.hex.remove(&k),
            Key::Uuid(k) => self.uuid.remove(&k),
            Key::Other(k) => self.other.remove(k),
        };
    }
}

impl Directory {
    pub fn get(&self, id: &str) -> Option<i64> {
        self.inner.read().get(id)
    }

    /// Adds one id while the directory is being built (no lock to take).
    pub fn add(&mut self, id: &str, seq: i64) {
        self.inner.get_mut().insert(id, seq);
    }

    pub fn insert<'a>(&self, entries: impl IntoIterator<Item = (&'a str, i64)>) {
        let mut m = self.inner.write();
        for (id, seq) in entries {
            m.insert(id, seq);
        }
    }

    pub fn remove<'a>(&self, ids: impl IntoIterator<Item = &'a str>) {
        let mut m = self.inner.write();
        for id in ids {
            m.remove(id);
        }
    }

    pub fn len(&self) -> usize {
        let m = self.inner.read();
        m.hex.len() + m.uuid.len() + m.other.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_of_every_form_map_to_their_own_sequence_numbers() {
        let d = Directory::default();
        let hex = "4bf92f3577b34da6a3ce929d0e0e4736";
        let uuid = "4bf92f35-77b3-4da6-a3ce-929d0e0e4736";
        let upper = "4BF92F3577B34DA6A3CE929D0E0E4736";
        let short = "run-1";
        d.insert([(hex, 1), (uuid, 2), (upper, 3), (short, 4)]);
        assert_eq!(
            [hex, uuid, upper, short].map(|id| d.get(id)),
            [Some(1), Some(2), Some(3), Some(4)]
        );
        assert_eq!(d.get("4bf92f3577b34da6a3ce929d0e0e4737"), None);
        assert_eq!(d.get("4bf92f35-77b3-4da6-a3ce-929d0e0e4737"), None);
        // Near misses of the numeric forms are ids of their own.
        let g = "g".repeat(32);
        let near = [
            "4bf92f3577b34da6a3ce929d0e0e473",
            "4bf92f35-77b34-da6-a3ce-929d0e0e4736",
            &g,
        ];
        for id in near {
            assert_eq!(d.get(id), None, "{id}");
        }
        d.remove([uuid, short]);
        assert_eq!([hex, uuid, short].map(|id| d.get(id)), [Some(1), None, None]);
        assert_eq!(d.len(), 2);
    }
}
