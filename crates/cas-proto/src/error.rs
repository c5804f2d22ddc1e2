//! Error codes carried in `response` and `error.code`, and their HTTP status: mapped here
//! once.

use serde_json::{Value, json};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// Malformed message, missing or mistyped field.
    BadRequest,
    /// No session, or the session expired.
    NotLoggedIn,
    /// Outside the caller's permissions.
    NotPermitted,
    /// Unknown topic, message or object.
    NotFound,
    /// A plug-in or intermediary did not answer in time.
    Timeout,
    /// The object changed or already exists.
    Conflict,
    /// Body too large or too deeply nested.
    TooLarge,
    /// Neither JSON nor XML.
    UnsupportedFormat,
    /// Too many requests from this session.
    RateLimited,
    /// A bug or a store failure; details are logged, not sent.
    Internal,
    /// The provider (e.g. a plug-in) is gone.
    Unavailable,
}

impl ErrorCode {
    /// The number sent in `response` and `error.code`; HTTP-like so clients can reuse
    /// their HTTP knowledge.
    pub fn code(self) -> u16 {
        match self {
            ErrorCode::BadRequest => 400,
            ErrorCode::NotLoggedIn => 401,
            ErrorCode::NotPermitted => 403,
            ErrorCode::NotFound => 404,
            ErrorCode::Timeout => 408,
            ErrorCode::Conflict => 409,
            ErrorCode::TooLarge => 413,
            ErrorCode::UnsupportedFormat => 415,
            ErrorCode::RateLimited => 429,
            ErrorCode::Internal => 500,
            ErrorCode::Unavailable => 503,
        }
    }

    /// A stable machine-readable name.
    pub fn name(self) -> &'static str {
        match self {
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::NotLoggedIn => "not_logged_in",
            ErrorCode::NotPermitted => "not_permitted",
            ErrorCode::NotFound => "not_found",
            ErrorCode::Timeout => "timeout",
            ErrorCode::Conflict => "conflict",
            ErrorCode::TooLarge => "too_large",
            ErrorCode::UnsupportedFormat => "unsupported_format",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::Internal => "internal",
            ErrorCode::Unavailable => "unavailable",
        }
    }

    pub fn from_code(code: u64) -> Option<ErrorCode> {
        use ErrorCode::*;
        [
            BadRequest,
            NotLoggedIn,
            NotPermitted,
            NotFound,
            Timeout,
            Conflict,
            TooLarge,
            UnsupportedFormat,
            RateLimited,
            Internal,
            Unavailable,
        ]
        .into_iter()
        .find(|c| u64::from(c.code()) == code)
    }
}

/// An error with a human-readable message naming the problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct CasError {
    pub code: ErrorCode,
    pub message: String,
}

impl CasError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> CasError {
        CasError {
            code,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> CasError {
        CasError::new(ErrorCode::BadRequest, message)
    }

    pub fn not_found(message: impl Into<String>) -> CasError {
        CasError::new(ErrorCode::NotFound, message)
    }

    pub fn not_permitted(message: impl Into<String>) -> CasError {
        CasError::new(ErrorCode::NotPermitted, message)
    }

    pub fn internal() -> CasError {
        CasError::new(ErrorCode::Internal, "internal error")
    }

    /// The `error` object of a reply.
    pub fn to_value(&self) -> Value {
        json!({"code": self.code.code(), "name": self.code.name(), "message": self.message})
    }
}
