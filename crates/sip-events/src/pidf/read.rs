//! Interprets the element tree as a PIDF document (skeleton).
use super::tree::Element;
use super::{Document, PidfError};

pub(super) fn document(_root: &Element) -> Result<Document, PidfError> {
    Err(PidfError::NotPidf)
}
