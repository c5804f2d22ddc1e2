//! A small namespace-resolved element tree built with quick-xml (skeleton).
use super::{Limits, PidfError};

/// An element with its resolved namespace.
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

pub(super) fn build(_input: &[u8], _limits: &Limits) -> Result<Element, PidfError> {
    Err(PidfError::Xml("not implemented yet".into()))
}
