//! Character classes and a small scanner for header values (RFC 3261 §25.1).
//!
//! Header values handed to the scanner are already unfolded (line folding replaced by spaces),
//! so linear white space is just SP and HTAB here.

/// RFC 3261 `token` characters.
pub fn is_token_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&c)
}

/// RFC 3261 `word` characters (Call-ID).
pub fn is_word_char(c: u8) -> bool {
    is_token_char(c) || b"()<>:\\\"/[]?{}".contains(&c)
}

/// `unreserved` (RFC 3261 §25.1).
pub fn is_unreserved(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&c)
}

pub fn is_ws(c: u8) -> bool {
    c == b' ' || c == b'\t'
}

/// A cursor over an unfolded header value.
#[derive(Debug, Clone)]
pub struct Scanner<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Scanner<'a> {
    pub fn new(s: &'a str) -> Self {
        Scanner { s, pos: 0 }
    }

    pub fn pos(&self) -> usize {
        self.pos
    }

    pub fn set_pos(&mut self, pos: usize) {
        self.pos = pos.min(self.s.len());
    }

    pub fn rest(&self) -> &'a str {
        self.s.get(self.pos..).unwrap_or("")
    }

    pub fn slice(&self, from: usize, to: usize) -> &'a str {
        self.s.get(from..to).unwrap_or("")
    }

    pub fn is_empty(&self) -> bool {
        self.pos >= self.s.len()
    }

    pub fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.pos).copied()
    }

    pub fn bump(&mut self) {
        if self.pos < self.s.len() {
            self.pos += 1;
        }
    }

    pub fn skip_ws(&mut self) {
        while self.peek().is_some_and(is_ws) {
            self.pos += 1;
        }
    }

    /// Consumes `c` surrounded by optional white space (SWS c SWS); false if absent.
    pub fn sep(&mut self, c: u8) -> bool {
        let save = self.pos;
        self.skip_ws();
        if self.peek() == Some(c) {
            self.pos += 1;
            self.skip_ws();
            true
        } else {
            self.pos = save;
            false
        }
    }

    /// Consumes `c` right here, without white space.
    pub fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    pub fn take_while(&mut self, f: impl Fn(u8) -> bool) -> &'a str {
        let start = self.pos;
        while self.peek().is_some_and(&f) {
            self.pos += 1;
        }
        self.slice(start, self.pos)
    }

    pub fn token(&mut self) -> Option<&'a str> {
        let t = self.take_while(is_token_char);
        (!t.is_empty()).then_some(t)
    }

    /// A quoted-string including its quotes; `None` when unterminated or not at a quote.
    pub fn quoted(&mut self) -> Option<&'a str> {
        let start = self.pos;
        if !self.eat(b'"') {
            return None;
        }
        let bytes = self.s.as_bytes();
        let mut i = self.pos;
        while let Some(&c) = bytes.get(i) {
            match c {
                b'\\' => i += 2,
                b'"' => {
                    self.pos = i + 1;
                    return Some(self.slice(start, self.pos));
                }
                b'\r' | b'\n' => break,
                _ => i += 1,
            }
        }
        self.pos = start;
        None
    }
}

/// Removes the quotes and backslash escapes of a quoted-string.
pub fn unquote(q: &str) -> String {
    let inner = q
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(q);
    let mut out = String::with_capacity(inner.len());
    let mut esc = false;
    for ch in inner.chars() {
        if esc {
            out.push(ch);
            esc = false;
        } else if ch == '\\' {
            esc = true;
        } else {
            out.push(ch);
        }
    }
    out
}

/// Splits a header value at top-level commas (outside quotes and angle brackets), for headers
/// whose grammar is a comma-separated list (RFC 3261 §7.3.1).
pub fn split_commas(v: &str) -> impl Iterator<Item = &str> {
    let bytes = v.as_bytes();
    let mut parts = Vec::new();
    let (mut start, mut i) = (0usize, 0usize);
    let (mut in_quote, mut in_angle) = (false, false);
    while let Some(&c) = bytes.get(i) {
        match c {
            b'\\' if in_quote => i += 1,
            b'"' => in_quote = !in_quote,
            b'<' if !in_quote => in_angle = true,
            b'>' if !in_quote => in_angle = false,
            b',' if !in_quote && !in_angle => {
                parts.push(v.get(start..i).unwrap_or("").trim_matches([' ', '\t']));
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    parts.push(v.get(start..).unwrap_or("").trim_matches([' ', '\t']));
    parts.into_iter()
}

/// Checks `%HH` escapes and the allowed characters of a URI component.
pub fn valid_escaped(s: &str, allowed: impl Fn(u8) -> bool) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        if c == b'%' {
            let ok = b.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit);
            if !ok {
                return false;
            }
            i += 3;
        } else if allowed(c) || c >= 0x80 {
            i += 1;
        } else {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commas_respect_quotes_and_angles() {
        let v: Vec<_> = split_commas("\"a, b\" <sip:x@y;p=1,2>;q=1 , <sip:z@w>, sip:k@l").collect();
        assert_eq!(v, ["\"a, b\" <sip:x@y;p=1,2>;q=1", "<sip:z@w>", "sip:k@l"]);
    }

    #[test]
    fn quoted_with_escapes() {
        let mut s = Scanner::new(r#""J Rosenberg \\\"" <sip:x>"#);
        assert_eq!(s.quoted(), Some(r#""J Rosenberg \\\"""#));
        assert_eq!(unquote(r#""J Rosenberg \\\"""#), r#"J Rosenberg \""#);
        assert!(Scanner::new("\"open").quoted().is_none());
    }
}
