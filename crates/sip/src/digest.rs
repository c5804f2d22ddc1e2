//! Digest access authentication arithmetic (RFC 2617, RFC 7616, RFC 8760 for SIP).
//!
//! Only the hashing: which nonce to issue, when it expires and how often it may be used is the
//! registrar's business (`services::auth`).

use md5::Md5;
use sha2::Sha256;

/// Digest hash algorithm (RFC 7616 §6.1, RFC 8760).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    Md5,
    Sha256,
}

impl Algorithm {
    /// Both algorithms, strongest first (RFC 8760 §2.4: the UAS lists challenges by preference).
    pub const ALL: [Algorithm; 2] = [Algorithm::Sha256, Algorithm::Md5];

    /// The token used in `algorithm=` (RFC 7616 §3.3).
    pub fn token(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Sha256 => "SHA-256",
        }
    }

    /// Parses an `algorithm=` value; an absent value means MD5 (RFC 3261 §22.4).
    pub fn from_token(token: &str) -> Option<Algorithm> {
        if token.eq_ignore_ascii_case("MD5") {
            Some(Algorithm::Md5)
        } else if token.eq_ignore_ascii_case("SHA-256") {
            Some(Algorithm::Sha256)
        } else {
            None
        }
    }

    /// Lower-case hex digest of the given parts joined by `:`.
    pub fn hash_parts(self, parts: &[&[u8]]) -> String {
        match self {
            Algorithm::Md5 => hex(&hash_with::<Md5>(parts)),
            Algorithm::Sha256 => hex(&hash_with::<Sha256>(parts)),
        }
    }
}

fn hash_with<D: md5::Digest>(parts: &[&[u8]]) -> Vec<u8> {
    let mut d = D::new();
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            d.update(b":");
        }
        d.update(p);
    }
    d.finalize().to_vec()
}

/// Lower-case hexadecimal.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        for nibble in [b >> 4, b & 0x0f] {
            s.push(char::from(
                *DIGITS.get(usize::from(nibble)).unwrap_or(&b'0'),
            ));
        }
    }
    s
}

/// HA1 = H(username ":" realm ":" password) (RFC 7616 §3.4.2). This is what is stored, never
/// the password.
pub fn ha1(alg: Algorithm, username: &str, realm: &str, password: &str) -> String {
    alg.hash_parts(&[username.as_bytes(), realm.as_bytes(), password.as_bytes()])
}

/// The inputs of a digest `response` besides HA1.
#[derive(Debug, Clone, Copy)]
pub struct ResponseInput<'a> {
    pub method: &'a str,
    pub uri: &'a str,
    pub nonce: &'a str,
    /// `Some((nc, cnonce))` when `qop=auth`; `None` for the RFC 2069 form.
    pub qop_auth: Option<(&'a str, &'a str)>,
}

/// The expected `response` value for `qop=auth` or no qop (RFC 7616 §3.4.1, RFC 2617 §3.2.2.1).
pub fn response(alg: Algorithm, ha1: &str, input: &ResponseInput<'_>) -> String {
    let ha2 = alg.hash_parts(&[input.method.as_bytes(), input.uri.as_bytes()]);
    match input.qop_auth {
        Some((nc, cnonce)) => alg.hash_parts(&[
            ha1.as_bytes(),
            input.nonce.as_bytes(),
            nc.as_bytes(),
            cnonce.as_bytes(),
            b"auth",
            ha2.as_bytes(),
        ]),
        None => alg.hash_parts(&[ha1.as_bytes(), input.nonce.as_bytes(), ha2.as_bytes()]),
    }
}

/// Constant-time comparison of two digests, so a response's timing reveals nothing.
pub fn digest_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 2617 §3.5 example ("Mufasa").
    #[test]
    fn rfc2617_example() {
        let h = ha1(
            Algorithm::Md5,
            "Mufasa",
            "testrealm@host.com",
            "Circle Of Life",
        );
        let r = response(
            Algorithm::Md5,
            &h,
            &ResponseInput {
                method: "GET",
                uri: "/dir/index.html",
                nonce: "dcd98b7102dd2f0e8b11d0f600bfb0c093",
                qop_auth: Some(("00000001", "0a4f113b")),
            },
        );
        assert_eq!(r, "6629fae49393a05397450978507c4ef1");
    }

    /// RFC 7616 §3.9.1 example with SHA-256.
    #[test]
    fn rfc7616_sha256_example() {
        let h = ha1(
            Algorithm::Sha256,
            "Mufasa",
            "http-auth@example.org",
            "Circle of Life",
        );
        let r = response(
            Algorithm::Sha256,
            &h,
            &ResponseInput {
                method: "GET",
                uri: "/dir/index.html",
                nonce: "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
                qop_auth: Some(("00000001", "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ")),
            },
        );
        assert_eq!(
            r,
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
        );
    }
}
