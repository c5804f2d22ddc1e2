//! A small CSV reader (RFC 4180: quoted fields with `""` escapes, commas and line breaks
//! inside quotes, CRLF or LF) for contact files with a header row naming the columns:
//! name, first, last, company, phone, email, sip, notes (and a few common spellings such as
//! "First Name" or "E-mail"). Unknown columns are ignored; a phone or e-mail cell may hold
//! several values separated by `;`.
//!
//! Pure: text in, records out. Nothing here panics on any input.

use super::contact::Contact;
use super::import::Parsed;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Column {
    Name,
    First,
    Last,
    Company,
    Phone,
    Email,
    Sip,
    Notes,
    Ignored,
}

fn column(header: &str) -> Column {
    let h: String = header
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric())
        .collect();
    match h.as_str() {
        "name" | "fullname" | "displayname" | "fn" => Column::Name,
        "first" | "firstname" | "givenname" => Column::First,
        "last" | "lastname" | "surname" | "familyname" => Column::Last,
        "company" | "organization" | "organisation" | "org" => Column::Company,
        "phone" | "phones" | "telephone" | "tel" | "mobile" | "workphone" | "homephone"
        | "mobilephone" => Column::Phone,
        "email" | "emails" | "emailaddress" | "mail" => Column::Email,
        "sip" | "sipuri" | "sipaddress" => Column::Sip,
        "notes" | "note" => Column::Notes,
        _ => Column::Ignored,
    }
}

/// A record: the line it starts on, and its fields or why it could not be read.
type Record = (usize, Result<Vec<String>, String>);

pub fn parse(data: &str) -> Parsed {
    let mut out = Parsed::default();
    let mut records = records(data.strip_prefix('\u{feff}').unwrap_or(data)).into_iter();
    let header = match records.next() {
        None => return out,
        Some((line, Err(e))) => {
            out.errors.push((line, e));
            return out;
        }
        Some((line, Ok(fields))) => (line, fields),
    };
    let columns: Vec<Column> = header.1.iter().map(|h| column(h)).collect();
    let named = [Column::Name, Column::First, Column::Last, Column::Company];
    if !columns.iter().any(|c| named.contains(c)) {
        out.errors.push((
            header.0,
            "the header row must name a 'name', 'first', 'last' or 'company' column".to_owned(),
        ));
        return out;
    }
    for (line, fields) in records {
        let fields = match fields {
            Ok(f) if f.len() > columns.len() => {
                let msg = format!("{} fields, but the header has {}", f.len(), columns.len());
                out.errors.push((line, msg));
                continue;
            }
            Ok(f) => f,
            Err(e) => {
                out.errors.push((line, e));
                continue;
            }
        };
        let mut c = Contact::default();
        // A short row leaves the last columns empty, as spreadsheets write them.
        for (col, value) in columns.iter().zip(fields) {
            let multi = || {
                value
                    .split(';')
                    .map(|v| v.trim().to_owned())
                    .filter(|v| !v.is_empty())
            };
            match col {
                Column::Name => c.name = value.clone(),
                Column::First => c.first = value.clone(),
                Column::Last => c.last = value.clone(),
                Column::Company => c.company = value.clone(),
                Column::Phone => c.phones.extend(multi()),
                Column::Email => c.emails.extend(multi()),
                Column::Sip => c.sip = value.clone(),
                Column::Notes => c.notes = value.clone(),
                Column::Ignored => {}
            }
        }
        out.contacts.push((line, c));
    }
    out
}

/// Splits the text into records; blank lines are skipped. A record that cannot be read
/// (text after a closing quote, a quote never closed) is an error at the line it starts on.
fn records(data: &str) -> Vec<Record> {
    let mut out = Vec::new();
    let mut chars = data.chars().peekable();
    let mut line = 1;
    while chars.peek().is_some() {
        let start = line;
        let mut fields = vec![String::new()];
        let mut error: Option<String> = None;
        let mut quoted = false;
        // Whether the current field started with a quote (and the quote was closed).
        let mut was_quoted = false;
        while let Some(ch) = chars.next() {
            if ch == '\n' {
                line += 1;
            }
            let Some(field) = fields.last_mut() else {
                break;
            };
            if quoted {
                match ch {
                    '"' if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    '"' => {
                        quoted = false;
                        was_quoted = true;
                    }
                    '\r' if chars.peek() == Some(&'\n') => {}
                    _ => field.push(ch),
                }
                continue;
            }
            match ch {
                ',' => {
                    fields.push(String::new());
                    was_quoted = false;
                }
                '\n' => break,
                '\r' if chars.peek() == Some(&'\n') => {}
                '"' if field.is_empty() && !was_quoted => quoted = true,
                _ if was_quoted => {
                    if error.is_none() {
                        error = Some(format!("text after a closing quote on line {line}"));
                    }
                }
                _ => field.push(ch),
            }
        }
        if quoted {
            out.push((start, Err("quoted field never closed".to_owned())));
            break;
        }
        let blank = fields.len() == 1 && fields.first().is_some_and(|f| f.trim().is_empty());
        match error {
            Some(e) => out.push((start, Err(e))),
            None if blank && !was_quoted => {}
            None => out.push((start, Ok(fields))),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_fields_and_line_numbers() {
        let data = "\u{feff}Name,Phone,E-mail,Extra\r\n\
                    \"van Gogh, Vincent\",+31 20;555,v@example.nl,x\r\n\
                    \r\n\
                    \"Multi\nline \"\"quoted\"\"\",100\n\
                    Short\n";
        let recs = records(data);
        assert_eq!(recs.len(), 4);
        assert_eq!(recs[2].0, 4);
        assert_eq!(recs[2].1.as_ref().unwrap()[0], "Multi\nline \"quoted\"");
        let p = parse(data);
        assert!(p.errors.is_empty(), "{:?}", p.errors);
        let lines: Vec<usize> = p.contacts.iter().map(|(l, _)| *l).collect();
        assert_eq!(lines, [2, 4, 6]);
        let c = &p.contacts[0].1;
        assert_eq!(c.name, "van Gogh, Vincent");
        assert_eq!(c.phones, ["+31 20", "555"]);
        assert_eq!(c.emails, ["v@example.nl"]);
        assert_eq!(p.contacts[2].1.name, "Short");
    }

    #[test]
    fn bad_rows_are_reported_and_the_rest_kept() {
        let data = "first,last\nAnn,Lee\n\"Bob\"x,Ray\nA,B,C\nCid,Ode\n\"never closed,x\nDan,Eve\n";
        let p = parse(data);
        let names: Vec<String> = p.contacts.iter().map(|(_, c)| c.first.clone()).collect();
        assert_eq!(names, ["Ann", "Cid"]);
        let lines: Vec<usize> = p.errors.iter().map(|(l, _)| *l).collect();
        assert_eq!(lines, [3, 4, 6], "{:?}", p.errors);
        assert!(p.errors[0].1.contains("closing quote"));
        assert!(p.errors[1].1.contains("header has 2"));
        assert!(p.errors[2].1.contains("never closed"));
    }

    #[test]
    fn header_must_name_someone() {
        let p = parse("phone,email\n1,a@b\n");
        assert!(p.contacts.is_empty());
        assert_eq!(p.errors[0].0, 1);
        assert!(parse("").errors.is_empty());
        assert_eq!(parse("\"x").errors.len(), 1);
    }

    #[test]
    fn hostile_input_never_panics() {
        let alphabet: Vec<char> = "ab,\"\r\n;é\u{0}\u{feff} ".chars().collect();
        let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
        for _ in 0..3000 {
            let mut s = String::from("name,phone\n");
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            let len = (seed >> 33) % 120;
            for _ in 0..len {
                seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                let i = usize::try_from(seed >> 33).unwrap() % alphabet.len();
                s.push(alphabet[i]);
            }
            let _ = parse(&s);
            let _ = parse(s.trim_start_matches("name,phone\n"));
        }
    }
}
