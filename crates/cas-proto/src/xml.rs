//! The XML form of a message: the same tree as JSON. Objects are elements with child
//! elements, arrays are `type="array"` elements with `<item>` children, numbers, booleans and
//! null carry `type="number|boolean|null"`, strings are text. The root element is `<cas>`.
//! Keys that are not XML names are written as `<field name="…">`. DTDs are refused.

use quick_xml::events::{BytesStart, Event};
use quick_xml::reader::Reader;
use serde_json::{Map, Number, Value};

use crate::error::CasError;

pub fn encode(value: &Value) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
    write_element(&mut out, "cas", value);
    out
}

fn is_xml_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        && !s.to_ascii_lowercase().starts_with("xml")
}

fn escape(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => {
                out.push_str(&format!("&#x{:x};", c as u32));
            }
            c => out.push(c),
        }
    }
}

fn open(out: &mut String, name: &str, ty: Option<&str>) {
    if is_xml_name(name) {
        out.push('<');
        out.push_str(name);
    } else {
        out.push_str("<field name=\"");
        escape(name, out);
        out.push('"');
    }
    if let Some(t) = ty {
        out.push_str(" type=\"");
        out.push_str(t);
        out.push('"');
    }
    out.push('>');
}

fn close(out: &mut String, name: &str) {
    out.push_str("</");
    out.push_str(if is_xml_name(name) { name } else { "field" });
    out.push('>');
}

fn write_element(out: &mut String, name: &str, v: &Value) {
    match v {
        Value::Null => open(out, name, Some("null")),
        Value::Bool(b) => {
            open(out, name, Some("boolean"));
            out.push_str(if *b { "true" } else { "false" });
        }
        Value::Number(n) => {
            open(out, name, Some("number"));
            out.push_str(&n.to_string());
        }
        Value::String(s) => {
            open(out, name, None);
            escape(s, out);
        }
        Value::Array(items) => {
            open(out, name, Some("array"));
            for i in items {
                write_element(out, "item", i);
            }
        }
        Value::Object(map) => {
            open(out, name, Some("object"));
            for (k, v) in map {
                write_element(out, k, v);
            }
        }
    }
    close(out, name);
}

/// One element being read: its key, declared type, children and text.
struct Frame {
    key: String,
    ty: Option<String>,
    children: Vec<(String, Value)>,
    text: String,
}

fn frame(e: &BytesStart<'_>) -> Result<Frame, CasError> {
    let bad = |what: &str| CasError::bad_request(format!("malformed XML: {what}"));
    let tag = String::from_utf8(e.name().as_ref().to_vec()).map_err(|_| bad("tag is not UTF-8"))?;
    let mut ty = None;
    let mut key = tag.clone();
    for a in e.attributes() {
        let a = a.map_err(|e| bad(&e.to_string()))?;
        let value = a
            .unescape_value()
            .map_err(|e| bad(&e.to_string()))?
            .into_owned();
        match a.key.as_ref() {
            b"type" => ty = Some(value),
            b"name" if tag == "field" => key = value,
            _ => {}
        }
    }
    Ok(Frame {
        key,
        ty,
        children: Vec::new(),
        text: String::new(),
    })
}

fn finish(f: Frame) -> Result<(String, Value), CasError> {
    let bad = |what: String| CasError::bad_request(format!("malformed XML: {what}"));
    let text = f.text.trim();
    let value = match f.ty.as_deref() {
        Some("null") => Value::Null,
        Some("boolean") => match text {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            other => return Err(bad(format!("<{}> is not a boolean: {other:?}", f.key))),
        },
        Some("number") => {
            let n: Number = serde_json::from_str(text)
                .map_err(|_| bad(format!("<{}> is not a number: {text:?}", f.key)))?;
            Value::Number(n)
        }
        Some("array") => Value::Array(f.children.into_iter().map(|(_, v)| v).collect()),
        Some("object") => Value::Object(f.children.into_iter().collect::<Map<_, _>>()),
        Some("string") => Value::String(f.text),
        None if !f.children.is_empty() => Value::Object(f.children.into_iter().collect()),
        None => Value::String(f.text),
        Some(other) => return Err(bad(format!("unknown type {other:?} on <{}>", f.key))),
    };
    Ok((f.key, value))
}

pub fn decode(bytes: &[u8], max_depth: usize) -> Result<Value, CasError> {
    let bad = |what: String| CasError::bad_request(format!("malformed XML: {what}"));
    let mut reader = Reader::from_reader(bytes);
    let mut stack: Vec<Frame> = Vec::new();
    let mut root: Option<Value> = None;
    let mut buf = Vec::new();
    loop {
        let ev = reader
            .read_event_into(&mut buf)
            .map_err(|e| bad(e.to_string()))?;
        match ev {
            Event::Start(e) => {
                if root.is_some() {
                    return Err(bad("content after the root element".into()));
                }
                if stack.len() >= max_depth {
                    return Err(CasError::new(
                        crate::ErrorCode::TooLarge,
                        format!("nesting depth exceeds the limit of {max_depth}"),
                    ));
                }
                stack.push(frame(&e)?);
            }
            Event::Empty(e) => {
                let (k, v) = finish(frame(&e)?)?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push((k, v)),
                    None => root = Some(v),
                }
            }
            Event::End(_) => {
                let f = stack
                    .pop()
                    .ok_or_else(|| bad("unbalanced end tag".into()))?;
                let (k, v) = finish(f)?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push((k, v)),
                    None => root = Some(v),
                }
            }
            Event::Text(t) => {
                let s = t.unescape().map_err(|e| bad(e.to_string()))?;
                if let Some(f) = stack.last_mut() {
                    f.text.push_str(&s);
                } else if !s.trim().is_empty() {
                    return Err(bad("text outside the root element".into()));
                }
            }
            Event::CData(c) => {
                if let Some(f) = stack.last_mut() {
                    f.text.push_str(&String::from_utf8_lossy(&c));
                }
            }
            Event::DocType(_) => return Err(bad("DTDs are not accepted".into())),
            Event::Eof => break,
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
        }
        buf.clear();
    }
    if !stack.is_empty() {
        return Err(bad("unterminated element".into()));
    }
    root.ok_or_else(|| bad("empty document".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trip() {
        let v = json!({"topic":"dir","message":"lookup_contacts","request_id":26,"max":25,
            "presence":true,"tokens":["van","<b>&"],"nested":{"x":null,"y":1.5},"empty":[],
            "odd key":"v"});
        let x = encode(&v);
        assert_eq!(decode(x.as_bytes(), 32).unwrap(), v);
    }

    #[test]
    fn hostile_documents() {
        assert!(decode(b"<!DOCTYPE x [<!ENTITY a 'b'>]><cas/>", 32).is_err());
        assert!(decode(b"<cas><a>", 32).is_err());
        assert!(decode(b"<cas><n type=\"number\">x</n></cas>", 32).is_err());
        let deep = "<a>".repeat(50) + &"</a>".repeat(50);
        assert!(decode(deep.as_bytes(), 32).is_err());
        assert!(decode(b"", 32).is_err());
        // Untyped leaf is a string; untyped element with children is an object.
        let v = decode(b"<cas><topic>dir</topic><o><k>1</k></o></cas>", 32).unwrap();
        assert_eq!(v, json!({"topic":"dir","o":{"k":"1"}}));
    }
}
