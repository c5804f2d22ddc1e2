//! A personal contact: validation and normalisation (the one gate every contact passes,
//! whether typed by a client or imported), its stored form (a JSON card) and its wire form.

use cas_proto::Object;
use serde_json::{Value, json};

use super::lookup::Field;

/// Longest name, number, address or URI, in characters.
const MAX_TEXT: usize = 256;
/// Longest note, in characters.
const MAX_NOTES: usize = 4000;
/// Most phone numbers or e-mail addresses on one contact.
const MAX_VALUES: usize = 10;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Contact {
    pub name: String,
    pub first: String,
    pub last: String,
    pub company: String,
    pub phones: Vec<String>,
    pub emails: Vec<String>,
    /// `sip:` or `sips:` URI.
    pub sip: String,
    pub notes: String,
}

impl Contact {
    /// Trims, checks and normalises every field; an empty name is derived from the first
    /// and last names or the company. The error names the field.
    pub fn normalized(mut self) -> Result<Contact, String> {
        for (field, v) in [
            ("name", &mut self.name),
            ("first", &mut self.first),
            ("last", &mut self.last),
            ("company", &mut self.company),
        ] {
            *v = line(field, v)?;
        }
        if self.name.is_empty() {
            self.name = [self.first.as_str(), self.last.as_str()]
                .iter()
                .filter(|s| !s.is_empty())
                .copied()
                .collect::<Vec<_>>()
                .join(" ");
        }
        if self.name.is_empty() {
            self.name.clone_from(&self.company);
        }
        if self.name.is_empty() {
            return Err("a contact needs a name (or a first name, last name or company)".into());
        }
        self.phones = values("phone", &self.phones, phone)?;
        self.emails = values("email", &self.emails, email)?;
        self.sip = if self.sip.trim().is_empty() {
            String::new()
        } else {
            sip_uri(&line("sip", &self.sip)?)?
        };
        self.notes = self.notes.trim().to_owned();
        if self.notes.chars().count() > MAX_NOTES {
            return Err(format!("notes are longer than {MAX_NOTES} characters"));
        }
        if self
            .notes
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t')
        {
            return Err("notes contain control characters".into());
        }
        Ok(self)
    }

    /// Applies the contact fields present in a request (`null` or `""` clears one).
    pub fn apply(&mut self, fields: &Object) -> Result<(), String> {
        for (key, slot) in [
            ("name", &mut self.name),
            ("first", &mut self.first),
            ("last", &mut self.last),
            ("company", &mut self.company),
            ("sip", &mut self.sip),
            ("notes", &mut self.notes),
        ] {
            match fields.get(key) {
                None => {}
                Some(Value::Null) => slot.clear(),
                Some(Value::String(s)) => slot.clone_from(s),
                Some(_) => return Err(format!("field '{key}' must be a string")),
            }
        }
        for (key, slot) in [("phones", &mut self.phones), ("emails", &mut self.emails)] {
            match fields.get(key) {
                None => {}
                Some(Value::Null) => slot.clear(),
                Some(v) => *slot = strings(key, v)?,
            }
        }
        Ok(())
    }

    /// The stored form.
    pub fn card(&self) -> String {
        Value::Object(self.object(Field::ALL)).to_string()
    }

    /// Reads a stored card; `None` if it is not a card (logged by the caller).
    pub fn from_card(card: &str) -> Option<Contact> {
        let Ok(Value::Object(o)) = serde_json::from_str::<Value>(card) else {
            return None;
        };
        let mut c = Contact::default();
        c.apply(&o).ok()?;
        Some(c)
    }

    /// The wire form with the selected fields (the name always, as the entry's label);
    /// empty fields are left out.
    pub fn object(&self, fields: &[Field]) -> Object {
        let mut o = Object::new();
        o.insert("name".into(), json!(self.name));
        for f in fields {
            let (key, v) = match f {
                Field::Name => continue,
                Field::First => ("first", json!(self.first)),
                Field::Last => ("last", json!(self.last)),
                Field::Company => ("company", json!(self.company)),
                Field::Phone => ("phones", json!(self.phones)),
                Field::Email => ("emails", json!(self.emails)),
                Field::Sip => ("sip", json!(self.sip)),
                Field::Notes => ("notes", json!(self.notes)),
            };
            let empty =
                v.as_str().is_some_and(str::is_empty) || v.as_array().is_some_and(Vec::is_empty);
            if !empty {
                o.insert(key.into(), v);
            }
        }
        o
    }
}

fn strings(key: &str, v: &Value) -> Result<Vec<String>, String> {
    match v {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(items) => items
            .iter()
            .map(|i| {
                i.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| format!("field '{key}' must be a list of strings"))
            })
            .collect(),
        _ => Err(format!("field '{key}' must be a list of strings")),
    }
}

/// One line of text: trimmed, bounded, without control characters.
fn line(field: &str, v: &str) -> Result<String, String> {
    let v = v.trim();
    if v.chars().count() > MAX_TEXT {
        return Err(format!("{field} is longer than {MAX_TEXT} characters"));
    }
    if v.chars().any(char::is_control) {
        return Err(format!("{field} contains control characters"));
    }
    Ok(v.to_owned())
}

fn values(
    field: &str,
    vs: &[String],
    check: fn(&str) -> Result<String, String>,
) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::new();
    for v in vs {
        let v = line(field, v)?;
        if v.is_empty() {
            continue;
        }
        let v = check(&v)?;
        if !out.contains(&v) {
            out.push(v);
        }
    }
    if out.len() > MAX_VALUES {
        return Err(format!("more than {MAX_VALUES} {field} values"));
    }
    Ok(out)
}

/// A dialable number as people write it: digits with the usual punctuation, letters for
/// vanity numbers and extensions; a `tel:` prefix is dropped.
fn phone(v: &str) -> Result<String, String> {
    let v = strip_prefix_ci(v, "tel:").unwrap_or(v).trim();
    let allowed = |c: char| c.is_ascii_alphanumeric() || " +-().*#/,;=".contains(c);
    if !v.chars().any(|c| c.is_ascii_digit()) || !v.chars().all(allowed) {
        return Err(format!("{v:?} is not a phone number"));
    }
    Ok(v.to_owned())
}

fn email(v: &str) -> Result<String, String> {
    let v = strip_prefix_ci(v, "mailto:").unwrap_or(v).trim();
    match v.split_once('@') {
        Some((local, host))
            if !local.is_empty()
                && !host.is_empty()
                && !host.contains('@')
                && !v.contains(char::is_whitespace) =>
        {
            Ok(v.to_owned())
        }
        _ => Err(format!("{v:?} is not an e-mail address")),
    }
}

/// `sip:`/`sips:` URI; a bare `user@host` gets `sip:`, angle brackets are dropped.
pub fn sip_uri(v: &str) -> Result<String, String> {
    let v = v
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .trim();
    let (scheme, rest) = if let Some(r) = strip_prefix_ci(v, "sips:") {
        ("sips:", r)
    } else if let Some(r) = strip_prefix_ci(v, "sip:") {
        ("sip:", r)
    } else if v.contains(':') && !v.contains('@') {
        return Err(format!("{v:?} is not a SIP URI"));
    } else {
        ("sip:", v)
    };
    if rest.is_empty() || rest.contains(char::is_whitespace) || rest.contains(['<', '>', '"']) {
        return Err(format!("{v:?} is not a SIP URI"));
    }
    Ok(format!("{scheme}{rest}"))
}

/// The local user a SIP URI names, as `user@domain`, if its host is `domain`.
pub fn local_aor(uri: &str, domain: &str) -> Option<String> {
    let rest = strip_prefix_ci(uri, "sips:").or_else(|| strip_prefix_ci(uri, "sip:"))?;
    let (user, host) = rest.split_once('@')?;
    let host = host.split([';', '?', ':']).next().unwrap_or(host);
    (!user.is_empty() && host.eq_ignore_ascii_case(domain))
        .then(|| crate::registrar::aor_key(user, domain))
}

fn strip_prefix_ci<'a>(v: &'a str, prefix: &str) -> Option<&'a str> {
    let head = v.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| v.get(prefix.len()..))
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(name: &str) -> Contact {
        Contact {
            name: name.into(),
            ..Contact::default()
        }
    }

    #[test]
    fn normalises_and_names_the_bad_field() {
        let c = Contact {
            first: " Vincent ".into(),
            last: "van Gogh".into(),
            phones: vec!["tel:+31 20 570 5200".into(), String::new()],
            emails: vec!["mailto:vincent@example.nl".into()],
            sip: "<vincent@example.nl>".into(),
            ..Contact::default()
        }
        .normalized()
        .unwrap();
        assert_eq!(c.name, "Vincent van Gogh");
        assert_eq!(c.phones, ["+31 20 570 5200"]);
        assert_eq!(c.emails, ["vincent@example.nl"]);
        assert_eq!(c.sip, "sip:vincent@example.nl");
        for (bad, needle) in [
            (Contact::default(), "needs a name"),
            (named("a\u{0}b"), "name contains control"),
            (named(&"x".repeat(300)), "longer than"),
            (
                Contact {
                    phones: vec!["call me".into()],
                    ..named("x")
                },
                "not a phone number",
            ),
            (
                Contact {
                    emails: vec!["a@b@c".into()],
                    ..named("x")
                },
                "not an e-mail",
            ),
            (
                Contact {
                    sip: "http://x".into(),
                    ..named("x")
                },
                "not a SIP URI",
            ),
            (
                Contact {
                    phones: (0..11).map(|i| format!("{i}")).collect(),
                    ..named("x")
                },
                "more than 10 phone",
            ),
        ] {
            let e = bad.normalized().unwrap_err();
            assert!(e.contains(needle), "{e}");
        }
    }

    #[test]
    fn card_round_trip_and_partial_update() {
        let c = Contact {
            phones: vec!["100".into()],
            notes: "line 1\nline 2".into(),
            ..named("Bob")
        };
        assert_eq!(Contact::from_card(&c.card()), Some(c.clone()));
        assert_eq!(Contact::from_card("[1]"), None);
        assert_eq!(Contact::from_card("{\"name\": 5}"), None);
        let mut u = c.clone();
        let patch = serde_json::json!({"company": "ACME", "phones": null, "notes": ""});
        u.apply(patch.as_object().unwrap()).unwrap();
        assert_eq!(u.company, "ACME");
        assert!(u.phones.is_empty() && u.notes.is_empty());
        assert_eq!(u.name, "Bob");
    }

    #[test]
    fn local_users_by_sip_uri() {
        assert_eq!(
            local_aor("sip:bob@Example.Test;transport=tcp", "example.test").as_deref(),
            Some("bob@example.test")
        );
        assert_eq!(local_aor("sip:bob@other.test", "example.test"), None);
        assert_eq!(local_aor("tel:+1", "example.test"), None);
        assert_eq!(local_aor("sip:@example.test", "example.test"), None);
    }
}
