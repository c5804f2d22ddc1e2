//! Mailbox PINs: stored as `salt$hex(sha256(salt ":" pin))` (argon2 is not in the tree;
//! a PIN is only tried over the phone with three attempts per call, so a fast hash with a
//! per-mailbox salt is enough to keep the database from revealing PINs).

use rand::Rng as _;
use sha2::{Digest as _, Sha256};

/// Shortest and longest PIN.
pub const MIN_LEN: usize = 4;
pub const MAX_LEN: usize = 12;

/// `Err(why)` unless `pin` is 4–12 decimal digits.
pub fn validate(pin: &str) -> Result<(), String> {
    if !(MIN_LEN..=MAX_LEN).contains(&pin.len()) || !pin.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("a PIN is {MIN_LEN} to {MAX_LEN} digits"));
    }
    Ok(())
}

/// A new salted hash of `pin`.
pub fn hash(pin: &str) -> String {
    let salt: [u8; 12] = rand::thread_rng().r#gen();
    let salt = sip::digest::hex(&salt);
    format!("{salt}${}", digest(&salt, pin))
}

/// Whether `pin` matches a stored hash (compared in constant time).
pub fn verify(stored: &str, pin: &str) -> bool {
    let Some((salt, want)) = stored.split_once('$') else {
        return false;
    };
    let got = digest(salt, pin);
    got.len() == want.len()
        && got
            .bytes()
            .zip(want.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

fn digest(salt: &str, pin: &str) -> String {
    let mut h = Sha256::new();
    h.update(salt.as_bytes());
    h.update(b":");
    h.update(pin.as_bytes());
    sip::digest::hex(&h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_and_verify() {
        let h = hash("1234");
        assert!(verify(&h, "1234"));
        assert!(!verify(&h, "1235"));
        assert!(!verify("garbage", "1234"));
        assert_ne!(hash("1234"), h, "salted");
        assert!(validate("0000").is_ok());
        assert!(validate("123").is_err());
        assert!(validate("12a4").is_err());
        assert!(validate("1234567890123").is_err());
    }
}
