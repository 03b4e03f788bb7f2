//! A batch of validated events as the stream carries it: JSON, LZ4-compressed, split into
//! messages that fit the server's `max_payload`.

use crate::model::{Attributes, Event};

/// Tag of the encoding, first byte of every message (a future encoding gets another).
const JSON_LZ4: u8 = 1;
/// Largest batch a message may expand to (a corrupt length prefix is refused, not allocated).
const MAX_DECODED: usize = 512 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("a message of an unknown encoding ({0})")]
    Encoding(u8),
    #[error("an empty message")]
    Empty,
    #[error("a message that does not decompress: {0}")]
    Compression(String),
    #[error("a message whose events do not decode: {0}")]
    Json(#[from] serde_json::Error),
    #[error("one event is {size} bytes compressed, more than the bus takes in one message ({limit}: the server's `max_payload`)")]
    TooLarge { size: usize, limit: usize },
}

/// The events as messages of at most `limit` bytes each, in order. Attributes the OTLP mapper
/// kept encoded travel decoded, so every instance reads the same span.
pub fn encode(mut events: Vec<Event>, limit: usize) -> Result<Vec<Vec<u8>>, WireError> {
    for e in &mut events {
        if let Event::Span(s) = e {
            if let Some(json) = s.span.attributes_json.take() {
                s.span.attributes = serde_json::from_str::<Attributes>(&json)?;
            }
        }
    }
    let mut out = Vec::new();
    split(&events, limit, &mut out)?;
    Ok(out)
}

fn split(events: &[Event], limit: usize, out: &mut Vec<Vec<u8>>) -> Result<(), WireError> {
    let json = serde_json::to_vec(events)?;
    let mut message = vec![JSON_LZ4];
    message.extend_from_slice(&lz4_flex::compress_prepend_size(&json));
    if message.len() <= limit {
        out.push(message);
        return Ok(());
    }
    if events.len() == 1 {
        return Err(WireError::TooLarge {
            size: message.len(),
            limit,
        });
    }
    let (a, b) = events.split_at(events.len() / 2);
    split(a, limit, out)?;
    split(b, limit, out)
}

pub fn decode(message: &[u8]) -> Result<Vec<Event>, WireError> {
    let (&tag, body) = message.split_first().ok_or(WireError::Empty)?;
    if tag != JSON_LZ4 {
        return Err(WireError::Encoding(tag));
    }
    let size = body
        .get(..4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
        .ok_or(WireError::Empty)?;
    if size > MAX_DECODED {
        return Err(WireError::Compression(format!("it claims {size} bytes")));
    }
    let json = lz4_flex::decompress_size_prepended(body).map_err(|e| WireError::Compression(e.to_string()))?;
    Ok(serde_json::from_slice(&json)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{LogEvent, LogLevel};

    fn log(i: usize, text: &str) -> Event {
        Event::Log(LogEvent {
            execution_id: format!("exec-{i}"),
            level: LogLevel::Info,
            message: text.into(),
            ..Default::default()
        })
    }

    /// Letters that do not compress.
    fn noise(len: usize) -> String {
        (0..len)
            .map(|_| char::from(b'a' + rand::random_range(0..26u8)))
            .collect()
    }

    #[test]
    fn batches_round_trip_and_split_to_fit() {
        // Text that does not compress, so 200 lines of 1 KiB cannot fit 16 KiB messages.
        let events: Vec<Event> = (0..200).map(|i| log(i, &noise(1024))).collect();
        let messages = encode(events.clone(), 16 * 1024).unwrap();
        assert!(messages.len() > 1, "split into {} messages", messages.len());
        assert!(messages.iter().all(|m| m.len() <= 16 * 1024));
        let back: Vec<Event> = messages.iter().flat_map(|m| decode(m).unwrap()).collect();
        assert_eq!(back, events, "every event, in order");
    }

    #[test]
    fn an_event_larger_than_a_message_is_named_and_bad_messages_are_refused() {
        let err = encode(vec![log(0, &noise(40_000))], 4096).unwrap_err().to_string();
        assert!(err.contains("max_payload"), "{err}");
        assert!(decode(&[]).unwrap_err().to_string().contains("empty"));
        assert!(decode(&[9, 1, 2])
            .unwrap_err()
            .to_string()
            .contains("unknown encoding (9)"));
        assert!(decode(&[JSON_LZ4, 255, 255, 255, 255, 0]).is_err());
    }
}
