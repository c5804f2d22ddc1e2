//! Placeholder: this part of the store is being written.
