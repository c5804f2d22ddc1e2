//! `lookup_contacts` as a pure function: which entries match the search tokens, in which
//! order, how many. A token matches when it is a case-insensitive prefix of a field or of
//! any word in it (words split at spaces and punctuation, so `gogh` finds "van Gogh" and
//! `example` finds `bob@example.test`); digits also match a phone number with its
//! punctuation removed. Every token must match.

use cas_proto::{CasError, Request};

use super::contact::Contact;

/// Default and largest page.
pub const DEFAULT_MAX: usize = 50;
pub const MAX_MAX: usize = 500;
/// Bounds on the search itself, so one request cannot make the server work hard.
const MAX_TOKENS: usize = 16;
const MAX_TOKEN_LEN: usize = 100;

/// A contact field that can be searched and returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Name,
    First,
    Last,
    Company,
    Phone,
    Email,
    Sip,
    Notes,
}

impl Field {
    pub const ALL: &'static [Field] = &[
        Field::Name,
        Field::First,
        Field::Last,
        Field::Company,
        Field::Phone,
        Field::Email,
        Field::Sip,
        Field::Notes,
    ];
    /// Searched when the request names no fields: notes are free text and would match too
    /// much.
    const SEARCHED: &'static [Field] = &[
        Field::Name,
        Field::First,
        Field::Last,
        Field::Company,
        Field::Phone,
        Field::Email,
        Field::Sip,
    ];

    fn parse(s: &str) -> Option<Field> {
        Some(match s.to_ascii_lowercase().as_str() {
            "name" => Field::Name,
            "first" => Field::First,
            "last" => Field::Last,
            "company" => Field::Company,
            "phone" | "phones" => Field::Phone,
            "email" | "emails" => Field::Email,
            "sip" => Field::Sip,
            "notes" => Field::Notes,
            _ => return None,
        })
    }

    /// True if `pred` holds for one of the field's values; allocation-free, since a lookup
    /// runs it for every entry of the directory.
    fn any_value(self, c: &Contact, mut pred: impl FnMut(&str) -> bool) -> bool {
        match self {
            Field::Name => pred(&c.name),
            Field::First => pred(&c.first),
            Field::Last => pred(&c.last),
            Field::Company => pred(&c.company),
            Field::Phone => c.phones.iter().any(|p| pred(p)),
            Field::Email => c.emails.iter().any(|e| pred(e)),
            Field::Sip => pred(&c.sip),
            Field::Notes => pred(&c.notes),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sort {
    Name,
    Last,
    Company,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    /// Lower-cased, non-empty.
    pub tokens: Vec<String>,
    /// Searched, and returned when `explicit_fields`.
    pub fields: Vec<Field>,
    pub explicit_fields: bool,
    pub sort: Sort,
    pub max: usize,
}

impl Query {
    pub fn from_request(req: &Request) -> Result<Query, CasError> {
        let tokens: Vec<String> = req
            .str_list("tokens")?
            .iter()
            .flat_map(|t| t.split_whitespace())
            .map(str::to_lowercase)
            .collect();
        if tokens.len() > MAX_TOKENS {
            return Err(CasError::bad_request(format!(
                "at most {MAX_TOKENS} search tokens"
            )));
        }
        if tokens.iter().any(|t| t.chars().count() > MAX_TOKEN_LEN) {
            return Err(CasError::bad_request(format!(
                "a search token is longer than {MAX_TOKEN_LEN} characters"
            )));
        }
        let mut fields = Vec::new();
        for name in req.str_list("fields")? {
            let f = Field::parse(&name).ok_or_else(|| {
                CasError::bad_request(format!(
                    "unknown field '{name}' (name, first, last, company, phone, email, sip, \
                     notes)"
                ))
            })?;
            if !fields.contains(&f) {
                fields.push(f);
            }
        }
        let explicit_fields = !fields.is_empty();
        if !explicit_fields {
            fields = Field::SEARCHED.to_vec();
        }
        let sort = match req.opt_str("sort")?.unwrap_or("name") {
            "name" => Sort::Name,
            "last" => Sort::Last,
            "company" => Sort::Company,
            other => {
                return Err(CasError::bad_request(format!(
                    "unknown sort '{other}' (name, last or company)"
                )));
            }
        };
        let max = req
            .opt_u64("max")?
            .map_or(DEFAULT_MAX, |m| usize::try_from(m).unwrap_or(MAX_MAX))
            .min(MAX_MAX);
        Ok(Query {
            tokens,
            fields,
            explicit_fields,
            sort,
            max,
        })
    }

    /// The fields a reply carries.
    pub fn returned(&self) -> &[Field] {
        if self.explicit_fields {
            &self.fields
        } else {
            Field::ALL
        }
    }

    pub fn matches(&self, c: &Contact) -> bool {
        self.tokens.iter().all(|t| {
            self.fields
                .iter()
                .any(|f| f.any_value(c, |v| token_matches(t, v, *f)))
        })
    }

    /// Filters, sorts and cuts `entries`; returns how many matched in all and the page.
    pub fn run<T>(&self, entries: Vec<(T, Contact)>) -> (usize, Vec<(T, Contact)>) {
        let mut hits: Vec<(Vec<String>, (T, Contact))> = entries
            .into_iter()
            .filter(|(_, c)| self.matches(c))
            .map(|e| (self.sort_key(&e.1), e))
            .collect();
        let total = hits.len();
        // Stable, so entries with equal keys keep the caller's order (system first).
        hits.sort_by(|a, b| a.0.cmp(&b.0));
        hits.truncate(self.max);
        (total, hits.into_iter().map(|(_, e)| e).collect())
    }

    /// Entries without the sort field sort after those with it, by name.
    fn sort_key(&self, c: &Contact) -> Vec<String> {
        let primary = match self.sort {
            Sort::Name => "",
            Sort::Last => c.last.as_str(),
            Sort::Company => c.company.as_str(),
        };
        let missing = if self.sort != Sort::Name && primary.is_empty() {
            "1"
        } else {
            "0"
        };
        vec![
            missing.to_owned(),
            primary.to_lowercase(),
            c.name.to_lowercase(),
        ]
    }
}

/// `token` (lower-case) is a prefix of `word`, ignoring ASCII case, without allocating.
fn ascii_prefix(word: &str, token: &str) -> bool {
    word.as_bytes()
        .get(..token.len())
        .is_some_and(|w| w.eq_ignore_ascii_case(token.as_bytes()))
}

fn token_matches(token: &str, value: &str, field: Field) -> bool {
    if value.is_empty() {
        return false;
    }
    // Fast path for the common all-ASCII case: no lower-cased copies per comparison (a
    // lookup scans every entry of the directory).
    if value.is_ascii() && token.is_ascii() && field != Field::Phone {
        let bare = match field {
            Field::Sip => strip_scheme(value),
            _ => value,
        };
        return ascii_prefix(bare, token)
            || bare
                .split(|c: char| !c.is_ascii_alphanumeric())
                .any(|w| ascii_prefix(w, token));
    }
    let value = value.to_lowercase();
    let bare = match field {
        Field::Sip => value
            .strip_prefix("sips:")
            .or_else(|| value.strip_prefix("sip:"))
            .unwrap_or(&value),
        _ => &value,
    };
    if bare.starts_with(token)
        || bare
            .split(|c: char| !c.is_alphanumeric())
            .any(|w| w.starts_with(token))
    {
        return true;
    }
    if field == Field::Phone {
        let digits = |s: &str| -> String { s.chars().filter(char::is_ascii_digit).collect() };
        let t = digits(token);
        let only_dialable = token
            .chars()
            .all(|c| c.is_ascii_digit() || " +-().".contains(c));
        return only_dialable && !t.is_empty() && digits(bare).starts_with(&t);
    }
    false
}

/// The part of a SIP URI after `sip:` / `sips:` (any case).
fn strip_scheme(v: &str) -> &str {
    for scheme in ["sips:", "sip:"] {
        if ascii_prefix(v, scheme) {
            return v.get(scheme.len()..).unwrap_or(v);
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn query(v: serde_json::Value) -> Result<Query, CasError> {
        let mut o = v.as_object().cloned().unwrap();
        o.insert("topic".into(), json!("dir"));
        o.insert("message".into(), json!("lookup_contacts"));
        Query::from_request(&Request::from_value(serde_json::Value::Object(o)).unwrap())
    }

    fn contact(name: &str, last: &str, company: &str, phone: &str) -> Contact {
        Contact {
            name: name.into(),
            last: last.into(),
            company: company.into(),
            phones: vec![phone.into()],
            emails: vec![format!(
                "{}@example.com",
                name.to_lowercase().replace(' ', ".")
            )],
            ..Contact::default()
        }
    }

    fn names(q: &Query, list: &[Contact]) -> (usize, Vec<String>) {
        let entries = list.iter().cloned().map(|c| ((), c)).collect();
        let (total, page) = q.run(entries);
        (total, page.into_iter().map(|(_, c)| c.name).collect())
    }

    #[test]
    fn tokens_are_word_prefixes_and_all_must_match() {
        let list = [
            contact("Vincent van Gogh", "Gogh", "Art Co", "+31 (20) 570-5200"),
            contact("Vanessa Bell", "Bell", "", "555 0100"),
            contact("Bob", "", "Vantage", "100"),
        ];
        let all = query(json!({"tokens": ["VAN"]})).unwrap();
        assert_eq!(
            names(&all, &list),
            (
                3,
                vec![
                    "Bob".into(),
                    "Vanessa Bell".into(),
                    "Vincent van Gogh".into()
                ]
            )
        );
        let two = query(json!({"tokens": "van gogh"})).unwrap();
        assert_eq!(names(&two, &list).1, ["Vincent van Gogh"]);
        let by_name = query(json!({"tokens": ["van"], "fields": ["name"]})).unwrap();
        assert_eq!(names(&by_name, &list).0, 2);
        assert_eq!(by_name.returned(), [Field::Name]);
        let digits = query(json!({"tokens": ["3120570"]})).unwrap();
        assert_eq!(names(&digits, &list).1, ["Vincent van Gogh"]);
        let mail = query(json!({"tokens": ["vanessa.bell@"]})).unwrap();
        assert_eq!(names(&mail, &list).1, ["Vanessa Bell"]);
        let none = query(json!({"tokens": ["anc"]})).unwrap();
        assert_eq!(names(&none, &list).0, 0);
        let browse = query(json!({"max": 1})).unwrap();
        assert_eq!(names(&browse, &list), (3, vec!["Bob".into()]));
    }

    #[test]
    fn sorts_with_missing_keys_last() {
        let list = [
            contact("Ann", "Zed", "", "1"),
            contact("Bob", "", "Acme", "2"),
            contact("Cid", "Alpha", "Zulu", "3"),
        ];
        let by_last = query(json!({"sort": "last"})).unwrap();
        assert_eq!(names(&by_last, &list).1, ["Cid", "Ann", "Bob"]);
        let by_company = query(json!({"sort": "company"})).unwrap();
        assert_eq!(names(&by_company, &list).1, ["Bob", "Cid", "Ann"]);
    }

    #[test]
    fn bad_queries_are_refused() {
        assert!(query(json!({"sort": "age"})).is_err());
        assert!(query(json!({"fields": ["shoe size"]})).is_err());
        assert!(query(json!({"tokens": vec!["a"; 17]})).is_err());
        assert!(query(json!({"tokens": ["x".repeat(101)]})).is_err());
        assert_eq!(query(json!({"max": 100_000})).unwrap().max, MAX_MAX);
        assert_eq!(query(json!({})).unwrap().max, DEFAULT_MAX);
    }
}
