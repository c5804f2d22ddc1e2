//! Placeholder: this provider is being written.
