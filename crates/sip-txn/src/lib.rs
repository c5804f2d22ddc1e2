//! The SIP transaction layer (RFC 3261 §17, with the RFC 6026 corrections for INVITE).
//!
//! Pure and sans-IO: no sockets, clocks or randomness. The driver feeds one [`Input`] at a
//! time to [`Endpoint::handle_input`] with the current [`Instant`](std::time::Instant), drains
//! [`Endpoint::poll_output`], and calls `handle_input(now, Input::Timeout)` at or after
//! [`Endpoint::poll_timeout`]. Transport targets are an opaque caller type `A`.
//!
//! What it does: matching of requests and responses to transactions (§17.1.3, §17.2.3,
//! including the RFC 2543 fallback), retransmission and timeout timers (§17.1.1.2, §17.1.2.2,
//! §17.2.1, §17.2.2), the ACK for non-2xx INVITE responses (§17.1.1.3), `100 Trying`
//! (§17.2.1), 2xx retransmission by the UAS until the ACK (§13.3.1.4), absorption of
//! retransmissions, and CANCEL-to-INVITE matching (§9.2).
//!
//! What it does not do: transport selection and connection handling (§18, the caller's `A`),
//! `received`/`rport` stamping (the TU builds responses), dialogs, the ACK for 2xx (the UAC
//! core sends it with [`Input::SendStateless`]), CANCEL generation, Timer C, and answering
//! requests (the TU does, e.g. 503 on [`TxnError::Overloaded`]).
//!
//! # State machines
//!
//! ```text
//! Client INVITE (§17.1.1.2, RFC 6026 §7.2)      Client non-INVITE (§17.1.2.2)
//!   Calling --1xx--> Proceeding                   Trying --1xx--> Proceeding
//!   Calling|Proceeding --2xx--> Accepted (M)      Trying|Proceeding --final--> Completed (K)
//!   Calling|Proceeding --300-699/ACK--> Completed (D)
//!   Calling --Timer B--> ClientTimeout            Trying|Proceeding --Timer F--> ClientTimeout
//!   Timer A: T1, 2T1, 4T1, ... (no T2 cap)        Timer E: T1 doubling up to T2; T2 after 1xx
//!   Completed: final retransmission -> ACK again  Completed: responses absorbed
//!   Accepted: every 2xx goes to the TU
//!
//! Server INVITE (§17.2.1, RFC 6026 §7.1)        Server non-INVITE (§17.2.2)
//!   (new) --send 100 Trying--> Proceeding         (new) --> Trying
//!   Proceeding --2xx--> Accepted (L, 2xx rtx)     Trying|Proceeding --1xx--> Proceeding
//!   Proceeding --300-699--> Completed (G, H)      Trying|Proceeding --final--> Completed (J)
//!   Completed --ACK--> Confirmed (I)              request retransmission -> last response
//!   Completed --Timer H--> AckTimeout
//!   Accepted --Timer L, no ACK--> AckTimeout
//!   INVITE retransmission -> last response again
//! ```
//!
//! Timers with a reliable transport: A, E, G are not set; D, I, J and K are zero. The 2xx
//! retransmission of §13.3.1.4 runs over every transport, because the ACK is end to end and
//! a later hop may be unreliable. Every terminated server transaction yields
//! [`Output::ServerTerminated`].
//!
//! A non-INVITE server transaction in Completed over an unreliable transport is no longer a
//! full transaction: it shrinks to its key, final response bytes and target in a compact
//! table with a FIFO of Timer J deadlines, bounded apart from live transactions
//! ([`Endpoint::with_max_completed`]; the oldest is dropped early when it is full).

mod ack;
mod client;
mod completed;
mod endpoint;
mod error;
mod key;
mod server;
mod timer;

use std::time::Duration;

use bytes::Bytes;

pub use endpoint::{DEFAULT_MAX_COMPLETED, DEFAULT_MAX_TRANSACTIONS, Endpoint};
pub use error::TxnError;

/// The protocol timer base values (RFC 3261 §17.1.1.1, Table 4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timers {
    /// RTT estimate.
    pub t1: Duration,
    /// Maximum retransmission interval for non-INVITE requests and INVITE responses.
    pub t2: Duration,
    /// Maximum time a message stays in the network.
    pub t4: Duration,
}

impl Default for Timers {
    fn default() -> Self {
        Timers {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
        }
    }
}

/// A client transaction, named by the TU ([`Endpoint::new_client_id`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientTxnId(pub u64);

/// A server transaction, named by the layer when a request creates it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServerTxnId(pub u64);

/// What the driver feeds the layer.
#[derive(Clone, Debug)]
pub enum Input<A> {
    /// A parsed message from the transport. `source` is where responses go (§18.2.2: the
    /// caller computes it from received/rport or the connection). `reliable` = TCP/TLS/WS.
    Received {
        msg: sip::Message,
        source: A,
        reliable: bool,
    },
    /// TU starts a client transaction: `msg` is the request to send (the TU built it with
    /// its own top Via and branch).
    SendRequest {
        id: ClientTxnId,
        msg: sip::Message,
        target: A,
        reliable: bool,
    },
    /// TU answers a server transaction (e.g. built with `sip::response_to`). Provisional or
    /// final.
    SendResponse {
        txn: ServerTxnId,
        response: sip::Message,
    },
    /// Bytes to send outside any transaction (ACK for a 2xx, stateless responses).
    SendStateless { target: A, bytes: Bytes },
    /// Time advanced; fire due timers.
    Timeout,
    /// The transport could not deliver to `target` (§17.1.4, §17.2.4): transactions using it
    /// terminate.
    TransportError { target: A },
}

/// What the layer asks of the driver and tells the TU.
#[derive(Clone, Debug)]
pub enum Output<A> {
    Transmit {
        target: A,
        bytes: Bytes,
    },
    /// A new request for the TU (never a retransmission). For CANCEL, `cancels` is the server
    /// INVITE transaction it matches (§9.2), if any.
    Request {
        txn: ServerTxnId,
        msg: sip::Message,
        source: A,
        cancels: Option<ServerTxnId>,
    },
    /// An ACK that matched no server transaction in Completed or Confirmed, i.e. the ACK for
    /// a 2xx (§13.2.2.4, §17.1.1.3); it also stops the 2xx retransmission it acknowledges.
    Ack {
        msg: sip::Message,
        source: A,
    },
    /// A response for a client transaction: 1xx, every 2xx (RFC 6026 Accepted state), and a
    /// non-2xx final once (the layer sends its ACK itself, §17.1.1.3).
    Response {
        txn: ClientTxnId,
        msg: sip::Message,
    },
    /// A response that matched no client transaction.
    StrayResponse {
        msg: sip::Message,
    },
    /// Timer B/F fired, or a transport error: the TU acts as if a 408 arrived (§8.1.3.1).
    ClientTimeout {
        txn: ClientTxnId,
        transport_error: bool,
    },
    /// A server INVITE transaction got no ACK for its final response in 64*T1 (Timer H for
    /// non-2xx, Timer L for 2xx): the TU should end the dialog (§13.3.1.4).
    AckTimeout {
        txn: ServerTxnId,
    },
    /// A server transaction ended (any reason): the TU may free per-transaction state.
    ServerTerminated {
        txn: ServerTxnId,
    },
}
