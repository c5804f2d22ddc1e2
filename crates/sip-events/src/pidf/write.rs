//! Serialises a [`Document`] (skeleton).
use super::Document;

pub(super) fn document(doc: &Document) -> String {
    format!("<presence entity=\"{}\"/>", doc.entity)
}
