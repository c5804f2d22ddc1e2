//! The user import format: `name,password` per line, an optional `name,password` header, and
//! double quotes for passwords that contain commas or surrounding spaces.
//!
//! Every row is checked before anything is imported, so the operator gets all the bad line
//! numbers in one go.

use std::collections::HashMap;

/// A row that cannot be imported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BadRow {
    /// 1-based.
    pub line: usize,
    pub reason: String,
}

/// Parses the whole file; `existing` are users already in the domain, which count as bad rows.
pub(crate) fn parse_users(
    text: &str,
    existing: &[String],
) -> Result<Vec<(String, String)>, Vec<BadRow>> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut users = Vec::new();
    let mut bad = Vec::new();
    // Where each name was first seen: 0 for "already in the database".
    let mut first_line: HashMap<String, usize> = existing.iter().map(|n| (n.clone(), 0)).collect();
    let rows = text
        .lines()
        .enumerate()
        .map(|(index, raw)| (index + 1, raw))
        .filter(|(_, raw)| !raw.trim().is_empty());
    for (position, (line, raw)) in rows.enumerate() {
        match row(raw) {
            Ok((name, _)) if position == 0 && is_header(&name, raw) => {}
            Ok((name, password)) => match first_line.get(&name) {
                Some(0) => bad.push(BadRow {
                    line,
                    reason: format!("user {name} already exists"),
                }),
                Some(first) => bad.push(BadRow {
                    line,
                    reason: format!("user {name} is also on line {first}"),
                }),
                None => {
                    first_line.insert(name.clone(), line);
                    users.push((name, password));
                }
            },
            Err(reason) => bad.push(BadRow { line, reason }),
        }
    }
    if bad.is_empty() { Ok(users) } else { Err(bad) }
}

fn is_header(name: &str, raw: &str) -> bool {
    name.eq_ignore_ascii_case("name")
        && fields(raw).is_ok_and(|f| f.get(1).is_some_and(|p| p.eq_ignore_ascii_case("password")))
}

/// One `name,password` row, checked. The header's `name` passes as a user name, so it is
/// recognised by the caller.
fn row(raw: &str) -> Result<(String, String), String> {
    let mut fields = fields(raw)?.into_iter();
    let (Some(name), Some(password), None) = (fields.next(), fields.next(), fields.next()) else {
        return Err("expected two fields: name,password".to_owned());
    };
    store::validate_user(&name).map_err(|e| e.to_string())?;
    if password.is_empty() {
        return Err(format!("empty password for user {name}"));
    }
    Ok((name, password))
}

/// Splits one line at commas. Unquoted fields are trimmed; quoted fields are kept exactly,
/// with `""` standing for one quote.
fn fields(line: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.next_if(|c| *c == ' ' || *c == '\t').is_some() {}
        let mut field = String::new();
        if chars.next_if_eq(&'"').is_some() {
            loop {
                match chars.next() {
                    Some('"') if chars.next_if_eq(&'"').is_some() => field.push('"'),
                    Some('"') => break,
                    Some(c) => field.push(c),
                    None => return Err("unterminated quote".to_owned()),
                }
            }
            while chars.next_if(|c| *c == ' ' || *c == '\t').is_some() {}
            if !matches!(chars.peek(), None | Some(',')) {
                return Err("text after a closing quote".to_owned());
            }
        } else {
            while let Some(c) = chars.next_if(|c| *c != ',') {
                field.push(c);
            }
            field.truncate(field.trim_end().len());
        }
        out.push(field);
        if chars.next().is_none() {
            return Ok(out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(users: &[(String, String)]) -> Vec<&str> {
        users.iter().map(|(n, _)| n.as_str()).collect()
    }

    #[test]
    fn header_blank_lines_and_quotes() {
        let text = "\u{feff}Name,Password\r\nalice, secret \n\n\"bob\",\"a, \"\"quoted\"\" pw \"\n";
        let users = parse_users(text, &[]).unwrap();
        assert_eq!(
            users,
            [
                ("alice".to_owned(), "secret".to_owned()),
                ("bob".to_owned(), "a, \"quoted\" pw ".to_owned())
            ]
        );
    }

    #[test]
    fn header_only_on_first_row() {
        let ok = parse_users("alice,pw\nname,password\n", &[]);
        // A user literally called "name" is allowed after the first row.
        assert_eq!(names(&ok.unwrap()), ["alice", "name"]);
    }

    #[test]
    fn reports_every_bad_line() {
        let text = "alice,pw\nb@d,pw\ncarol\ndave,\nalice,again\n\"eve,pw\nbob,pw\nzed,pw,extra\n";
        let bad = parse_users(text, &["bob".to_owned()]).unwrap_err();
        let lines: Vec<usize> = bad.iter().map(|b| b.line).collect();
        assert_eq!(lines, [2, 3, 4, 5, 6, 7, 8]);
        assert!(bad[3].reason.contains("line 1"), "{:?}", bad[3]);
        assert!(bad[5].reason.contains("already exists"), "{:?}", bad[5]);
    }
}
