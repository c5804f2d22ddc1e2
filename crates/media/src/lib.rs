//! Media graphs (PURE): relay, playback, recording, DTMF collection; time is an input.
//!
//! Everything here is a sans-IO state machine in the str0m style (GUIDE rule 2): the I/O side
//! (`media-server`) feeds one input with the current time, then drains outputs and asks for
//! the next timeout. Nothing reads a clock, a socket, a file or a random generator: SSRCs,
//! initial sequence numbers and timestamps are given by the caller; audio comes and goes as
//! 8 kHz 16-bit PCM (the I/O side reads and writes WAV files).
//!
//! - [`Session`] — one IVR call leg: an [`Endpoint`] plus a [`Player`], a [`Recorder`] and a
//!   [`DtmfCollector`]. Drive with [`Session::handle_input`], [`Session::poll_output`],
//!   [`Session::poll_timeout`].
//! - [`Relay`] — media anchoring for the B2BUA: forwards packets between two negotiated peers
//!   unchanged, dropping any other source. It is a per-packet function ([`Relay::forward`])
//!   rather than an output queue so that the hot path copies and allocates nothing.
//! - [`ToneGenerator`], [`mix`], [`goertzel`] — small DSP helpers (beep, mixing, tone power).
//!
//! Driving a voicemail deposit leg (the I/O side's loop, simplified):
//!
//! ```
//! use std::time::{Duration, Instant};
//! use media::{Codec, Command, EndpointConfig, Event, Input, Output, PlayId, RecordConfig, Session};
//!
//! let t0 = Instant::now(); // the I/O side's clock; the session never reads one
//! let peer = "192.0.2.10:40000".parse().unwrap();
//! let mut leg = Session::new(t0, EndpointConfig::new(peer, Codec::Pcmu, 0x1234_5678));
//! let greeting = vec![0i16; 8000].into(); // decoded from a WAV file by the I/O side
//! leg.handle_input(t0, Input::Command(Command::Play { id: PlayId(1), clips: vec![greeting, media::beep()] }));
//! let mut now = t0;
//! while now < t0 + Duration::from_secs(2) {
//!     while let Some(out) = leg.poll_output() {
//!         match out {
//!             Output::RtpOut { to, bytes } | Output::RtcpOut { to, bytes } => { /* socket.send_to(&bytes, to) */ }
//!             Output::Record { pcm } => { /* wav.write(&pcm) */ }
//!             Output::Event(Event::PlaybackDone { .. }) => {
//!                 leg.handle_input(now, Input::Command(Command::Record(RecordConfig::default())));
//!             }
//!             Output::Event(_) => {}
//!         }
//!     }
//!     // Sleep until the timeout or a datagram (then `Input::RtpIn { from, bytes }`).
//!     now = leg.poll_timeout().unwrap_or(now + Duration::from_millis(20));
//!     leg.handle_input(now, Input::Tick);
//! }
//! ```
//!
//! Codecs: G.711 built in; Opus through a [`CodecFactory`] the I/O side provides
//! ([`Session::with_codecs`]), because libopus is C and this crate links nothing.
//!
//! Does not: negotiate SDP (crate `sdp`), parse RTP (crate `rtp`), encrypt (no SRTP yet),
//! transcode between codecs in the relay.

mod codec;
mod dtmf;
mod endpoint;
mod filter;
mod player;
mod recorder;
mod relay;
mod rtcp;
mod session;
mod tone;

pub use codec::{Codec, CodecFactory, Decoder, Encoder, G711Codecs};
pub use dtmf::{Digit, DtmfCollector};
pub use endpoint::{Endpoint, EndpointConfig, EndpointStats, Received};
pub use filter::{DropReason, Latching, SourceFilter};
pub use player::{PlayId, Played, Player};
pub use recorder::{RecordConfig, RecordStop, Recorded, Recorder};
pub use relay::{Channel, Forward, Leg, Relay, RelayPeer, RelayStats};
pub use session::{Command, Event, Input, Output, Session};
pub use tone::{ToneGenerator, beep, goertzel, mix};

/// A clip of 8 kHz mono 16-bit PCM, shared without copying (prompts are reused by many calls).
pub type Clip = std::sync::Arc<[i16]>;

/// Audio sample rate of every PCM buffer in this crate (G.711, RFC 3551 §4.5.14).
pub const SAMPLE_RATE: u32 = 8000;

/// Samples in one 20 ms frame at 8 kHz (the only packetisation time we send).
pub const FRAME_SAMPLES: usize = 160;

/// Packetisation time of what we send (`a=ptime:20`).
pub const PTIME: std::time::Duration = std::time::Duration::from_millis(20);
