//! A small namespace-resolved element tree built with quick-xml's namespace-aware reader,
//! bounded by [`Limits`]. Comments, processing instructions and the XML declaration are
//! skipped; a DOCTYPE is refused (PIDF needs none, and entity tricks start there).
//! Undeclared prefixes resolve to a namespace that matches nothing, so such elements are
//! treated as unknown extensions rather than failing the document.

use quick_xml::NsReader;
use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;

use super::{Limits, PidfError};

/// The namespace bound to the `xml` prefix (XML Namespaces §3).
pub(super) const NS_XML: &str = "http://www.w3.org/XML/1998/namespace";

/// An element with its resolved namespace and its text (concatenated, not trimmed).
#[derive(Debug, Default)]
pub(super) struct Element {
    pub ns: String,
    pub local: String,
    pub attrs: Vec<Attr>,
    pub children: Vec<Element>,
    pub text: String,
}

/// An attribute with its resolved namespace (empty for unqualified).
#[derive(Debug)]
pub(super) struct Attr {
    pub ns: String,
    pub local: String,
    pub value: String,
}

impl Element {
    /// Whether this element is `local` in namespace `ns`.
    pub fn is(&self, ns: &str, local: &str) -> bool {
        self.ns == ns && self.local == local
    }

    /// The value of the attribute `local` in namespace `ns` ("" = unqualified).
    pub fn attr(&self, ns: &str, local: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|a| a.ns == ns && a.local == local)
            .map(|a| a.value.as_str())
    }
}

fn xml_err(e: impl std::fmt::Display) -> PidfError {
    PidfError::Xml(e.to_string())
}

fn ns_of(r: ResolveResult<'_>) -> String {
    match r {
        ResolveResult::Bound(ns) => String::from_utf8_lossy(ns.0).into_owned(),
        ResolveResult::Unbound => String::new(),
        ResolveResult::Unknown(p) if p == b"xml" => NS_XML.to_owned(),
        ResolveResult::Unknown(p) => format!("?{}", String::from_utf8_lossy(&p)),
    }
}

fn start(reader: &NsReader<&[u8]>, ns: String, e: &BytesStart<'_>) -> Result<Element, PidfError> {
    let (_, local) = reader.resolve_element(e.name());
    let local = std::str::from_utf8(local.as_ref())
        .map_err(xml_err)?
        .to_owned();
    let mut attrs = Vec::new();
    for a in e.attributes() {
        let a = a.map_err(xml_err)?;
        let key = a.key;
        if key.as_namespace_binding().is_some() {
            continue;
        }
        let (ar, alocal) = reader.resolve_attribute(key);
        let value = a.unescape_value().map_err(xml_err)?.into_owned();
        attrs.push(Attr {
            ns: ns_of(ar),
            local: std::str::from_utf8(alocal.as_ref())
                .map_err(xml_err)?
                .to_owned(),
            value,
        });
    }
    Ok(Element {
        ns,
        local,
        attrs,
        ..Element::default()
    })
}

/// Parses `input` into its root element.
pub(super) fn build(input: &[u8], limits: &Limits) -> Result<Element, PidfError> {
    if input.len() > limits.max_bytes {
        return Err(PidfError::TooLarge("bytes"));
    }
    let mut reader = NsReader::from_reader(input);
    reader.config_mut().expand_empty_elements = true;
    let mut stack: Vec<Element> = Vec::new();
    let mut root = None;
    let mut count = 0usize;
    loop {
        let (r, event) = reader.read_resolved_event().map_err(xml_err)?;
        let ns = match event {
            Event::Start(_) => ns_of(r),
            _ => String::new(),
        };
        match event {
            Event::Start(e) => {
                if root.is_some() {
                    return Err(PidfError::Xml("content after the root element".into()));
                }
                count += 1;
                if count > limits.max_elements {
                    return Err(PidfError::TooLarge("elements"));
                }
                if stack.len() >= limits.max_depth {
                    return Err(PidfError::TooLarge("depth"));
                }
                let el = start(&reader, ns, &e)?;
                stack.push(el);
            }
            Event::End(_) => {
                let Some(done) = stack.pop() else {
                    return Err(PidfError::Xml("unbalanced end tag".into()));
                };
                match stack.last_mut() {
                    Some(parent) => parent.children.push(done),
                    None => root = Some(done),
                }
            }
            Event::Text(t) => {
                let text = t.unescape().map_err(xml_err)?;
                match stack.last_mut() {
                    Some(top) => top.text.push_str(&text),
                    None if text.trim().is_empty() => {}
                    None => return Err(PidfError::Xml("text outside the root element".into())),
                }
            }
            Event::CData(c) => {
                let text = std::str::from_utf8(&c).map_err(xml_err)?;
                match stack.last_mut() {
                    Some(top) => top.text.push_str(text),
                    None => return Err(PidfError::Xml("text outside the root element".into())),
                }
            }
            Event::DocType(_) => return Err(PidfError::Xml("DOCTYPE not allowed".into())),
            Event::Empty(_) => return Err(PidfError::Xml("unexpanded empty element".into())),
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err(PidfError::Xml("unclosed element".into()));
    }
    root.ok_or_else(|| PidfError::Xml("no root element".into()))
}
