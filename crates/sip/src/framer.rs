//! Stream framing for TCP/TLS (RFC 3261 §18.3): Content-Length is mandatory, CRLF keep-alives
//! (RFC 5626 §3.5.1) are recognised, and the buffer never grows past the message limit.

use bytes::{Buf, Bytes, BytesMut};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// One complete message, ready for [`crate::Message::parse`] with `Framing::Stream`.
    Message(Bytes),
    /// A double-CRLF ping; answer with a single CRLF pong.
    Ping,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FramingError {
    #[error("message exceeds the size limit")]
    TooLarge,
    #[error("Content-Length missing or invalid on a stream")]
    BadContentLength,
}

/// Accumulates stream bytes and yields whole messages.
#[derive(Debug)]
pub struct Framer {
    buf: BytesMut,
    max: usize,
}

impl Framer {
    pub fn new(max: usize) -> Framer {
        Framer {
            buf: BytesMut::with_capacity(4096),
            max,
        }
    }

    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The next frame, `Ok(None)` if more bytes are needed. After an error the stream cannot be
    /// resynchronised and should be closed.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, FramingError> {
        if self.buf.starts_with(b"\r\n\r\n") {
            self.buf.advance(4);
            return Ok(Some(Frame::Ping));
        }
        while self.buf.starts_with(b"\r\n") && !self.buf.starts_with(b"\r\n\r") {
            self.buf.advance(2);
        }
        if self.buf.starts_with(b"\r\n") || self.buf.first() == Some(&b'\n') {
            // Wait for the rest of a possible ping; a lone LF is skipped.
            if self.buf.first() == Some(&b'\n') {
                self.buf.advance(1);
            } else if self.buf.len() < 4 {
                return Ok(None);
            }
        }
        let Some(head_end) = find(&self.buf, b"\r\n\r\n") else {
            if self.buf.len() > self.max {
                return Err(FramingError::TooLarge);
            }
            return Ok(None);
        };
        let body_start = head_end + 4;
        let cl = content_length(self.buf.get(..head_end).unwrap_or_default())
            .ok_or(FramingError::BadContentLength)?;
        let total = body_start
            .checked_add(cl)
            .filter(|t| *t <= self.max)
            .ok_or(FramingError::TooLarge)?;
        if self.buf.len() < total {
            return Ok(None);
        }
        Ok(Some(Frame::Message(self.buf.split_to(total).freeze())))
    }

    /// Bytes buffered but not yet framed.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }
}

fn find(h: &[u8], n: &[u8]) -> Option<usize> {
    h.windows(n.len()).position(|w| w == n)
}

fn content_length(head: &[u8]) -> Option<usize> {
    let text = std::str::from_utf8(head).ok()?;
    let mut found = None;
    for line in text.split("\r\n").skip(1) {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim_end_matches([' ', '\t']);
        if name.eq_ignore_ascii_case("content-length") || name.eq_ignore_ascii_case("l") {
            let v = value.trim_matches([' ', '\t']);
            if v.is_empty() || !v.bytes().all(|c| c.is_ascii_digit()) || found.is_some() {
                return None;
            }
            found = Some(v.parse().ok()?);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSG: &[u8] =
        b"MESSAGE sip:b@x SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\nl: 5\r\n\r\nhello";

    #[test]
    fn frames_split_and_joined_input() {
        let mut f = Framer::new(65535);
        let mut all = b"\r\n\r\n".to_vec();
        all.extend_from_slice(MSG);
        all.extend_from_slice(MSG);
        for chunk in all.chunks(7) {
            f.push(chunk);
        }
        assert_eq!(f.next_frame().unwrap(), Some(Frame::Ping));
        assert_eq!(
            f.next_frame().unwrap(),
            Some(Frame::Message(Bytes::from_static(MSG)))
        );
        assert_eq!(
            f.next_frame().unwrap(),
            Some(Frame::Message(Bytes::from_static(MSG)))
        );
        assert_eq!(f.next_frame().unwrap(), None);
    }

    #[test]
    fn missing_length_and_oversize() {
        let mut f = Framer::new(65535);
        f.push(b"OPTIONS sip:x SIP/2.0\r\nVia: x\r\n\r\n");
        assert_eq!(f.next_frame(), Err(FramingError::BadContentLength));
        let mut f = Framer::new(100);
        f.push(&[b'a'; 200]);
        assert_eq!(f.next_frame(), Err(FramingError::TooLarge));
        let mut f = Framer::new(100);
        f.push(b"OPTIONS sip:x SIP/2.0\r\nContent-Length: 99999999999999999999999\r\n\r\n");
        assert!(f.next_frame().is_err());
    }
}
