//! Stream framing for TCP/TLS (RFC 3261 §18.3): Content-Length is mandatory, CRLF keep-alives
//! (RFC 5626 §3.5.1) are recognised, and the buffer never grows past the message limit.

use bytes::{Buf, Bytes, BytesMut};

use crate::head::{HeadScan, LineIter};

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
    /// Progress of the header-section search in `buf`, so each byte is scanned once.
    scan: HeadScan,
}

/// The double-CRLF keep-alive ping (RFC 5626 §3.5.1).
const PING: &[u8] = b"\r\n\r\n";

impl Framer {
    pub fn new(max: usize) -> Framer {
        Framer {
            buf: BytesMut::with_capacity(4096),
            max,
            scan: HeadScan::default(),
        }
    }

    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The next frame, `Ok(None)` if more bytes are needed. After an error the stream cannot be
    /// resynchronised and should be closed.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, FramingError> {
        if !self.skip_keepalives() {
            return Ok(None);
        }
        if self.buf.starts_with(PING) {
            self.consume(PING.len());
            return Ok(Some(Frame::Ping));
        }
        let Some((head_end, body_start)) = self.scan.find(&self.buf) else {
            if self.buf.len() > self.max {
                return Err(FramingError::TooLarge);
            }
            return Ok(None);
        };
        let cl = content_length(self.buf.get(..head_end).unwrap_or_default())
            .ok_or(FramingError::BadContentLength)?;
        let total = body_start
            .checked_add(cl)
            .filter(|t| *t <= self.max)
            .ok_or(FramingError::TooLarge)?;
        if self.buf.len() < total {
            return Ok(None);
        }
        let frame = self.buf.split_to(total).freeze();
        self.scan = HeadScan::default();
        Ok(Some(Frame::Message(frame)))
    }

    /// Bytes buffered but not yet framed.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    /// Drops CRLFs before a start line (§7.5) but keeps a ping whole; false while the buffer
    /// is a proper prefix of a ping, which only the next bytes can tell apart from a CRLF.
    fn skip_keepalives(&mut self) -> bool {
        loop {
            if self.buf.starts_with(PING) {
                return true;
            }
            if PING.starts_with(&self.buf) {
                return self.buf.is_empty();
            }
            if self.buf.starts_with(b"\r\n") {
                self.consume(2);
            } else if self.buf.first() == Some(&b'\n') {
                self.consume(1);
            } else {
                return true;
            }
        }
    }

    fn consume(&mut self, n: usize) {
        self.buf.advance(n.min(self.buf.len()));
        self.scan = HeadScan::default();
    }
}

/// The Content-Length of a header section (compact form and folding included); `None` when
/// it is missing, malformed or repeated.
fn content_length(head: &[u8]) -> Option<usize> {
    let mut found = None;
    let mut lines = LineIter::new(head).skip(1).peekable();
    while let Some(line) = lines.next() {
        let line = head.get(line).unwrap_or_default();
        let Some(colon) = line.iter().position(|c| *c == b':') else {
            continue;
        };
        let name = line.get(..colon).unwrap_or_default().trim_ascii_end();
        if !name.eq_ignore_ascii_case(b"content-length") && !name.eq_ignore_ascii_case(b"l") {
            continue;
        }
        let mut value = line.get(colon + 1..).unwrap_or_default().to_vec();
        while let Some(next) =
            lines.next_if(|r| head.get(r.start).is_some_and(|c| *c == b' ' || *c == b'\t'))
        {
            value.extend_from_slice(head.get(next).unwrap_or_default());
        }
        let v = value.trim_ascii();
        if v.is_empty() || !v.iter().all(u8::is_ascii_digit) || found.is_some() {
            return None;
        }
        found = Some(std::str::from_utf8(v).ok()?.parse().ok()?);
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
    fn split_ping_lf_heads_and_folded_length() {
        // A ping split across reads is still a ping, not two ignored CRLFs.
        let mut f = Framer::new(65535);
        f.push(b"\r\n");
        assert_eq!(f.next_frame().unwrap(), None);
        f.push(b"\r");
        assert_eq!(f.next_frame().unwrap(), None);
        f.push(b"\n");
        assert_eq!(f.next_frame().unwrap(), Some(Frame::Ping));
        // Bare-LF line ends and a folded Content-Length frame as the parser reads them.
        let lf = b"MESSAGE sip:b@x SIP/2.0\nVia: SIP/2.0/TCP h\nContent-Length:\n 2\n\nhi";
        f.push(lf);
        assert_eq!(
            f.next_frame().unwrap(),
            Some(Frame::Message(Bytes::from_static(lf)))
        );
        assert_eq!(f.pending(), 0);
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
