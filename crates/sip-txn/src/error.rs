//! Errors of the transaction layer. None of them is fatal to the [`crate::Endpoint`]; the
//! caller maps them to a SIP status or a log line in one place.

use crate::{ClientTxnId, ServerTxnId};

#[derive(Debug, thiserror::Error)]
pub enum TxnError {
    /// The transaction table is full; the request is handed back so the server can answer
    /// it statelessly (503, RFC 3261 §21.5.4) or the TU can fail the request.
    #[error("transaction table full")]
    Overloaded(Box<sip::Message>),
    /// A received request lacks what matching needs (top Via, CSeq, Call-ID).
    #[error("request cannot be matched: {0}")]
    Malformed(&'static str),
    /// A client request needs a branch in its top Via to match responses (§17.1.3).
    #[error("request has no Via branch")]
    MissingBranch,
    /// ACK is never a transaction (§17.1.1.3): send the ACK for a 2xx with `SendStateless`.
    #[error("ACK is not sent as a client transaction")]
    AckTransaction,
    #[error("expected a request")]
    NotARequest,
    #[error("expected a response")]
    NotAResponse,
    #[error("client transaction id {0:?} is in use")]
    DuplicateId(ClientTxnId),
    #[error("a client transaction with this branch and method is live")]
    DuplicateBranch,
    /// The server transaction does not exist (never did, or it terminated).
    #[error("unknown server transaction {0:?}")]
    UnknownTransaction(ServerTxnId),
    /// The response is not allowed in the transaction's state (e.g. a second final).
    #[error("status {status} not allowed now in {txn:?}")]
    InvalidState { txn: ServerTxnId, status: u16 },
}
