//! Header field names, including compact forms (RFC 3261 §7.3.3, §20).

/// The header fields the stack interprets. Everything else is `Other` and kept verbatim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HeaderName {
    Accept,
    Allow,
    Authorization,
    CallId,
    Contact,
    ContentEncoding,
    ContentLength,
    ContentType,
    CSeq,
    Date,
    Event,
    Expires,
    From,
    MaxForwards,
    MinExpires,
    ProxyAuthenticate,
    ProxyAuthorization,
    ProxyRequire,
    RecordRoute,
    Require,
    Route,
    Supported,
    Subject,
    To,
    Unsupported,
    UserAgent,
    Via,
    WwwAuthenticate,
    Other,
}

impl HeaderName {
    /// Looks a name up case-insensitively, compact forms included.
    pub fn parse(name: &str) -> HeaderName {
        use HeaderName::*;
        if name.len() == 1 {
            return match name.as_bytes().first().map(u8::to_ascii_lowercase) {
                Some(b'i') => CallId,
                Some(b'm') => Contact,
                Some(b'e') => ContentEncoding,
                Some(b'l') => ContentLength,
                Some(b'c') => ContentType,
                Some(b'f') => From,
                Some(b's') => Subject,
                Some(b'k') => Supported,
                Some(b't') => To,
                Some(b'v') => Via,
                Some(b'o') => Event,
                _ => Other,
            };
        }
        const TABLE: &[(&str, HeaderName)] = &[
            ("via", Via),
            ("from", From),
            ("to", To),
            ("call-id", CallId),
            ("cseq", CSeq),
            ("contact", Contact),
            ("max-forwards", MaxForwards),
            ("content-length", ContentLength),
            ("content-type", ContentType),
            ("expires", Expires),
            ("authorization", Authorization),
            ("proxy-authorization", ProxyAuthorization),
            ("www-authenticate", WwwAuthenticate),
            ("proxy-authenticate", ProxyAuthenticate),
            ("route", Route),
            ("record-route", RecordRoute),
            ("require", Require),
            ("proxy-require", ProxyRequire),
            ("supported", Supported),
            ("unsupported", Unsupported),
            ("allow", Allow),
            ("accept", Accept),
            ("content-encoding", ContentEncoding),
            ("min-expires", MinExpires),
            ("user-agent", UserAgent),
            ("event", Event),
            ("date", Date),
            ("subject", Subject),
        ];
        TABLE
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map_or(Other, |(_, h)| *h)
    }

    /// The long name of a compact form the stack does not interpret (RFC 3515 `r`, RFC 3892
    /// `b`, RFC 6665 `u`, RFC 4028 `x`, RFC 3841 `a` `j` `d`, RFC 8224 `y`, RFC 4474 `n`), so
    /// that [`crate::Message::header_named`] finds `r:` when asked for `Refer-To`.
    pub fn expand_compact(name: &str) -> Option<&'static str> {
        if name.len() != 1 {
            return None;
        }
        Some(match name.as_bytes().first().map(u8::to_ascii_lowercase)? {
            b'r' => "Refer-To",
            b'b' => "Referred-By",
            b'u' => "Allow-Events",
            b'x' => "Session-Expires",
            b'a' => "Accept-Contact",
            b'j' => "Reject-Contact",
            b'd' => "Request-Disposition",
            b'y' => "Identity",
            b'n' => "Identity-Info",
            _ => return None,
        })
    }

    /// The canonical long form used when printing.
    pub fn as_str(self) -> &'static str {
        use HeaderName::*;
        match self {
            Accept => "Accept",
            Allow => "Allow",
            Authorization => "Authorization",
            CallId => "Call-ID",
            Contact => "Contact",
            ContentEncoding => "Content-Encoding",
            ContentLength => "Content-Length",
            ContentType => "Content-Type",
            CSeq => "CSeq",
            Date => "Date",
            Event => "Event",
            Expires => "Expires",
            From => "From",
            MaxForwards => "Max-Forwards",
            MinExpires => "Min-Expires",
            ProxyAuthenticate => "Proxy-Authenticate",
            ProxyAuthorization => "Proxy-Authorization",
            ProxyRequire => "Proxy-Require",
            RecordRoute => "Record-Route",
            Require => "Require",
            Route => "Route",
            Supported => "Supported",
            Subject => "Subject",
            To => "To",
            Unsupported => "Unsupported",
            UserAgent => "User-Agent",
            Via => "Via",
            WwwAuthenticate => "WWW-Authenticate",
            Other => "",
        }
    }

    /// Headers whose grammar is a comma-separated list, so one row may carry several values.
    pub fn is_list(self) -> bool {
        use HeaderName::*;
        matches!(
            self,
            Via | Contact
                | Route
                | RecordRoute
                | Require
                | ProxyRequire
                | Supported
                | Unsupported
                | Allow
                | Accept
                | ContentEncoding
        )
    }

    /// Headers that may appear at most once (RFC 3261 §7.3.1; RFC 4475 §3.3.8).
    pub fn is_single(self) -> bool {
        use HeaderName::*;
        matches!(
            self,
            CallId | CSeq | From | To | MaxForwards | ContentLength | ContentType | Expires
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_and_case() {
        assert_eq!(HeaderName::parse("v"), HeaderName::Via);
        assert_eq!(HeaderName::parse("MaX-fOrWaRdS"), HeaderName::MaxForwards);
        assert_eq!(HeaderName::parse("l"), HeaderName::ContentLength);
        assert_eq!(HeaderName::parse("X-Foo"), HeaderName::Other);
    }
}
