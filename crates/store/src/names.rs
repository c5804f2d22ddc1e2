//! Validation of user and domain names before they reach the database.
//!
//! Names end up inside SIP URIs and digest realms, so anything that would need escaping or
//! could be mistaken for URI structure (`@`, `:`, spaces) is refused up front rather than
//! escaped later.

use std::net::{IpAddr, Ipv6Addr};

use crate::StoreError;

/// Longest user name accepted; far beyond real use, short enough to keep rows small.
const MAX_USER_LEN: usize = 128;
/// RFC 1035 §2.3.4 limits.
const MAX_HOST_LEN: usize = 253;
const MAX_LABEL_LEN: usize = 63;

/// Accepts a SIP `user` token made of unreserved and user-unreserved characters
/// (RFC 3261 §25.1), without `%` escapes.
pub fn validate_user(name: &str) -> Result<(), StoreError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_USER_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.!~*'()&=+$,;?/".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(StoreError::InvalidName(name.to_owned()))
    }
}

/// Accepts a host name (RFC 1123 §2.1), an IPv4 address, or an IPv6 address with or without
/// brackets.
pub fn validate_domain(name: &str) -> Result<(), StoreError> {
    if is_ip_literal(name) || is_hostname(name) {
        Ok(())
    } else {
        Err(StoreError::InvalidDomain(name.to_owned()))
    }
}

fn is_ip_literal(name: &str) -> bool {
    if let Some(inner) = name.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
        return inner.parse::<Ipv6Addr>().is_ok();
    }
    name.parse::<IpAddr>().is_ok()
}

fn is_hostname(name: &str) -> bool {
    // A single trailing dot is the DNS root; SIP URIs do not use it, so it is refused.
    if name.is_empty() || name.len() > MAX_HOST_LEN {
        return false;
    }
    name.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= MAX_LABEL_LEN
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_names() {
        for ok in ["alice", "bob.smith", "a-b_c", "+4930123", "x!~*'()&=+$,;?/"] {
            assert!(validate_user(ok).is_ok(), "{ok}");
        }
        let long = "a".repeat(MAX_USER_LEN + 1);
        for bad in [
            "",
            "al ice",
            "a@b",
            "a:b",
            "a%20b",
            "é",
            "a\"b",
            "<a>",
            long.as_str(),
        ] {
            assert!(validate_user(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn domain_names() {
        for ok in [
            "localhost",
            "example.com",
            "a-b.example.org",
            "192.0.2.1",
            "::1",
            "[::1]",
        ] {
            assert!(validate_domain(ok).is_ok(), "{ok}");
        }
        let long_label = format!("{}.com", "a".repeat(MAX_LABEL_LEN + 1));
        for bad in [
            "",
            "exa mple.com",
            "-a.com",
            "a-.com",
            "a..com",
            "example.com.",
            "a_b.com",
            "user@example.com",
            "[192.0.2.1]",
            long_label.as_str(),
        ] {
            assert!(validate_domain(bad).is_err(), "{bad}");
        }
    }
}
