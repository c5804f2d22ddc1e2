//! Byte-level work on the header section (RFC 3261 §7, §7.3.1, §25.1): finding its end,
//! checking its characters, removing line folding, and splitting it into lines.
//!
//! Shared by [`crate::Message::parse`] and the stream [`crate::Framer`], so both agree on where
//! a header section ends.

use std::ops::Range;

use bytes::Bytes;

/// Incremental search for the empty line that ends a header section. Lines may end in CRLF or
/// a bare LF. Resuming after more bytes arrive costs only the new bytes, so a peer trickling a
/// header one byte at a time cannot make the search quadratic.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct HeadScan {
    scanned: usize,
    line_start: usize,
}

impl HeadScan {
    /// (end of the header section excluding the empty line, start of the body), or `None`
    /// when `raw` holds no complete header section yet.
    pub(crate) fn find(&mut self, raw: &[u8]) -> Option<(usize, usize)> {
        let from = self.scanned.min(raw.len());
        for (off, c) in raw.get(from..)?.iter().enumerate() {
            if *c != b'\n' {
                continue;
            }
            let nl = from + off;
            let line = raw.get(self.line_start..nl).unwrap_or_default();
            if self.line_start > 0 && (line.is_empty() || line == b"\r") {
                // Asked again (the body is still arriving), the answer must be the same.
                self.scanned = nl;
                return Some((self.line_start, nl + 1));
            }
            self.line_start = nl + 1;
        }
        self.scanned = raw.len();
        None
    }
}

/// One-shot form of [`HeadScan::find`].
pub(crate) fn find_head_end(raw: &[u8]) -> Option<(usize, usize)> {
    HeadScan::default().find(raw)
}

/// True when `head` holds a control character that is not the escaped character of a
/// quoted-pair. Outside quoted-pair (§25.1) only HTAB, CR and LF may appear; NUL, BEL, DEL and
/// friends are legal only after a backslash (RFC 4475 §3.1.1.2).
pub(crate) fn has_bare_control(head: &[u8]) -> bool {
    let mut backslashes = 0usize;
    for c in head {
        let ctl = (*c < 0x20 && !matches!(c, b'\t' | b'\r' | b'\n')) || *c == 0x7f;
        if ctl && backslashes.is_multiple_of(2) {
            return true;
        }
        backslashes = if *c == b'\\' { backslashes + 1 } else { 0 };
    }
    false
}

/// Replaces each line folding (CRLF or LF followed by SP/HTAB) inside the head with spaces,
/// keeping all offsets unchanged.
pub(crate) fn unfold(raw: &Bytes, head_end: usize) -> Bytes {
    let head = raw.get(..head_end).unwrap_or_default();
    let folded = head
        .windows(2)
        .any(|w| matches!(w, [b'\n', b' '] | [b'\n', b'\t']));
    if !folded {
        return raw.clone();
    }
    let mut v = raw.to_vec();
    let mut i = 0;
    while i + 1 < head_end {
        if v.get(i) == Some(&b'\n') && matches!(v.get(i + 1), Some(b' ' | b'\t')) {
            if let Some(c) = v.get_mut(i) {
                *c = b' ';
            }
            if i > 0
                && v.get(i - 1) == Some(&b'\r')
                && let Some(c) = v.get_mut(i - 1)
            {
                *c = b' ';
            }
        }
        i += 1;
    }
    Bytes::from(v)
}

/// Lines of the head, without line terminators.
pub(crate) struct LineIter<'a> {
    s: &'a [u8],
    pos: usize,
}

impl<'a> LineIter<'a> {
    pub(crate) fn new(s: &'a [u8]) -> Self {
        LineIter { s, pos: 0 }
    }
}

impl Iterator for LineIter<'_> {
    type Item = Range<usize>;
    fn next(&mut self) -> Option<Range<usize>> {
        if self.pos >= self.s.len() {
            return None;
        }
        let start = self.pos;
        let rest = self.s.get(start..)?;
        let (end, next) = match rest.iter().position(|c| *c == b'\n') {
            Some(n) => (start + n, start + n + 1),
            None => (self.s.len(), self.s.len()),
        };
        self.pos = next;
        let end = if end > start && self.s.get(end - 1) == Some(&b'\r') {
            end - 1
        } else {
            end
        };
        Some(start..end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_end_resumes() {
        let msg = b"OPTIONS sip:x SIP/2.0\r\nVia: a\r\n\r\nbody";
        let mut scan = HeadScan::default();
        for n in 0..msg.len() {
            let got = scan.find(&msg[..n]);
            assert_eq!(got, (n >= 33).then_some((31, 33)), "{n}");
            if got.is_some() {
                assert_eq!(scan.find(msg), got, "asked again");
                break;
            }
        }
        assert_eq!(find_head_end(b"A\n\nB"), Some((2, 3)));
        assert_eq!(find_head_end(b"A\r\n\nB"), Some((3, 4)));
        assert_eq!(find_head_end(b"\r\nA"), None);
    }

    #[test]
    fn controls_only_escaped() {
        assert!(!has_bare_control(
            b"To: \"a\\\x00b\\\x07\\\x7f\" <sip:x>\r\n\tfolded"
        ));
        assert!(has_bare_control(b"To: a\x00b"));
        assert!(has_bare_control(b"To: \"a\\\\\x00\""));
        assert!(has_bare_control(b"To: \x1b[0m"));
    }
}
