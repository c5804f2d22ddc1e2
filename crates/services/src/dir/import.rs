//! `import` and `upload`: a vCard or CSV file becomes personal contacts. Good records are
//! kept and bad ones reported with their line number; the good ones are stored in one
//! transaction, so a failure (e.g. over the per-user limit) stores none.

use cas_proto::{CasError, ErrorCode, Object, Request};
use serde_json::{Value, json};

use super::contact::Contact;
use super::{Directory, MAX_CONTACTS, unix_now};
use crate::provider::{Caller, store_error};

/// Records one import may hold (good and bad).
pub const MAX_IMPORT: usize = 5000;
/// Characters one import may hold; the CAS body limit usually bites first.
const MAX_IMPORT_CHARS: usize = 8 * 1024 * 1024;
/// Errors listed in a reply; `rejected` counts them all.
const MAX_LISTED_ERRORS: usize = 200;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Vcard,
    Csv,
}

impl Format {
    pub fn named(name: &str) -> Result<Format, CasError> {
        match name.to_ascii_lowercase().as_str() {
            "vcard" | "vcf" => Ok(Format::Vcard),
            "csv" => Ok(Format::Csv),
            other => Err(CasError::bad_request(format!(
                "unknown format '{other}' (vcard or csv)"
            ))),
        }
    }

    /// The format of a file name's extension.
    fn of_file(filename: &str) -> Result<Format, CasError> {
        let ext = filename
            .rsplit_once('.')
            .map(|(_, e)| e.to_ascii_lowercase())
            .unwrap_or_default();
        match ext.as_str() {
            "vcf" | "vcard" => Ok(Format::Vcard),
            "csv" => Ok(Format::Csv),
            _ => Err(CasError::bad_request(format!(
                "cannot import {filename:?}: upload a vCard (.vcf) or CSV (.csv) file"
            ))),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Format::Vcard => "vcard",
            Format::Csv => "csv",
        }
    }
}

/// What a parser found: records with the line they start on, and errors by line.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Parsed {
    pub contacts: Vec<(usize, Contact)>,
    pub errors: Vec<(usize, String)>,
}

/// Parses and validates; records are in file order, errors by line.
pub fn parse(format: Format, data: &str) -> Parsed {
    let parsed = match format {
        Format::Vcard => super::vcard::parse(data),
        Format::Csv => super::csv::parse(data),
    };
    let mut out = Parsed {
        contacts: Vec::with_capacity(parsed.contacts.len()),
        errors: parsed.errors,
    };
    for (line, c) in parsed.contacts {
        match c.normalized() {
            Ok(c) => out.contacts.push((line, c)),
            Err(e) => out.errors.push((line, e)),
        }
    }
    out.errors.sort_by_key(|(line, _)| *line);
    out
}

impl Directory {
    pub(super) async fn import(
        &self,
        caller: &Caller,
        format: Format,
        data: &str,
    ) -> Result<Object, CasError> {
        if data.len() > MAX_IMPORT_CHARS {
            return Err(too_large(format!(
                "an import holds at most {MAX_IMPORT_CHARS} bytes"
            )));
        }
        let parsed = parse(format, data);
        if parsed.contacts.len() + parsed.errors.len() > MAX_IMPORT {
            return Err(too_large(format!(
                "an import holds at most {MAX_IMPORT} contacts; split the file"
            )));
        }
        let cards: Vec<String> = parsed.contacts.iter().map(|(_, c)| c.card()).collect();
        let ids = if cards.is_empty() {
            Vec::new()
        } else {
            self.store
                .add_contacts(
                    &caller.domain,
                    &caller.user,
                    &cards,
                    MAX_CONTACTS,
                    unix_now(),
                )
                .await
                .map_err(store_error)?
        };
        if !ids.is_empty() {
            self.tell_owner(
                caller,
                "contact_changed",
                json!({"change": "imported", "count": ids.len()}),
            );
        }
        let errors: Vec<Value> = parsed
            .errors
            .iter()
            .take(MAX_LISTED_ERRORS)
            .map(|(line, message)| json!({"line": line, "message": message}))
            .collect();
        let mut body = Object::new();
        body.insert("format".into(), json!(format.name()));
        body.insert("imported".into(), json!(ids.len()));
        body.insert("ids".into(), json!(ids));
        body.insert("rejected".into(), json!(parsed.errors.len()));
        body.insert("errors".into(), Value::Array(errors));
        Ok(body)
    }

    pub(super) async fn upload(&self, caller: &Caller, req: &Request) -> Result<Object, CasError> {
        let filename = req.str("filename")?;
        let format = Format::of_file(filename)?;
        let mut body = self.import(caller, format, req.str("content")?).await?;
        body.insert("filename".into(), json!(filename));
        Ok(body)
    }
}

fn too_large(message: String) -> CasError {
    CasError::new(ErrorCode::TooLarge, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_by_name_and_extension() {
        assert_eq!(Format::named("vCard").unwrap(), Format::Vcard);
        assert!(Format::named("xml").is_err());
        assert_eq!(Format::of_file("Contacts.VCF").unwrap(), Format::Vcard);
        assert_eq!(Format::of_file("a.b.csv").unwrap(), Format::Csv);
        for bad in ["contacts", "contacts.xlsx", ".", "csv"] {
            let e = Format::of_file(bad).unwrap_err();
            assert!(e.message.contains(".vcf"), "{e}");
        }
    }

    #[test]
    fn validation_errors_keep_their_line() {
        let p = parse(
            Format::Csv,
            "name,phone\nAnn,100\nBob,not a number\n,\nCid,300\n",
        );
        let names: Vec<&str> = p.contacts.iter().map(|(_, c)| c.name.as_str()).collect();
        assert_eq!(names, ["Ann", "Cid"]);
        assert_eq!(p.errors.len(), 2, "{:?}", p.errors);
        assert_eq!(p.errors[0].0, 3);
        assert!(p.errors[0].1.contains("phone"));
        assert_eq!(p.errors[1].0, 4);
    }
}
