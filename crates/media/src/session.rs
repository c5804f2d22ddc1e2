//! One IVR call leg as a single sans-IO state machine: an [`Endpoint`] with a [`Player`], a
//! [`Recorder`] and a [`DtmfCollector`] (voicemail deposit: greeting → beep → record until
//! `#`, hang-up or the limit; mailbox menus: play clips, collect digits).
//!
//! Drive it the one way (GUIDE rule 2): [`Session::handle_input`] with the current time, then
//! [`Session::poll_output`] until `None`, then sleep until [`Session::poll_timeout`] and feed
//! [`Input::Tick`]. Outputs are RTP/RTCP datagrams to send, PCM chunks for the recording file,
//! and [`Event`]s for the IVR logic.
//!
//! Does not: decide anything about the call (the voicemail state machine does), open files or
//! sockets, or send DTMF in band.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::codec::{self, CodecFactory, Decoder, G711Codecs};
use crate::dtmf::{DtmfCollector, DtmfQueue};
use crate::endpoint::{Endpoint, EndpointConfig, Received};
use crate::filter::DropReason;
use crate::player::{PlayId, Played, Player};
use crate::recorder::{RecordConfig, RecordStop, Recorded, Recorder};
use crate::{Clip, FRAME_SAMPLES, SAMPLE_RATE};

/// How late a playback frame may still be sent.
const MAX_LATE: Duration = Duration::from_millis(200);

/// Something that happened to the session.
#[derive(Debug)]
pub enum Input<'a> {
    /// A datagram received on the leg's RTP socket.
    RtpIn {
        /// Its source address.
        from: SocketAddr,
        /// Its bytes (borrowed: nothing is copied unless recorded).
        bytes: &'a [u8],
    },
    /// A datagram received on the leg's RTCP socket.
    RtcpIn {
        /// Its source address.
        from: SocketAddr,
        /// Its bytes.
        bytes: &'a [u8],
    },
    /// Time passed (the instant from [`Session::poll_timeout`] was reached).
    Tick,
    /// An order from the IVR logic.
    Command(Command),
}

/// Orders from the IVR logic.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Play `clips` back to back now, replacing any current playback (which then reports
    /// [`Event::PlaybackStopped`]).
    Play {
        /// Echoed in [`Event::PlaybackDone`] / [`Event::PlaybackStopped`].
        id: PlayId,
        /// 8 kHz PCM clips (prompt, message, prompt …).
        clips: Vec<Clip>,
    },
    /// Stop the current playback.
    StopPlayback,
    /// Start recording the caller now (a running recording is stopped first).
    Record(RecordConfig),
    /// Stop the recording, keeping what was received.
    StopRecording,
    /// The call ended: stop playing, finish any recording (keeping what was said), go quiet.
    Hangup,
    /// Send a DTMF digit as RFC 4733 telephone-events (ignored when none was negotiated or
    /// `digit` is not `0`–`9`, `*`, `#`, `A`–`D`); digits queue up back to back.
    SendDtmf {
        /// The digit.
        digit: char,
        /// How long the key is held (100 ms is typical).
        duration: Duration,
    },
    /// The peer's media address changed (re-INVITE).
    Peer {
        /// New RTP address.
        rtp: SocketAddr,
        /// New RTCP address (`None` with rtcp-mux).
        rtcp: Option<SocketAddr>,
    },
}

/// What the session produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Send `bytes` from the leg's RTP socket to `to`.
    RtpOut {
        /// Destination.
        to: SocketAddr,
        /// Datagram.
        bytes: Vec<u8>,
    },
    /// Send `bytes` from the leg's RTCP socket to `to`.
    RtcpOut {
        /// Destination.
        to: SocketAddr,
        /// Datagram.
        bytes: Vec<u8>,
    },
    /// Append these 8 kHz samples to the recording.
    Record {
        /// The next chunk of PCM.
        pcm: Vec<i16>,
    },
    /// Something the IVR logic wants to know.
    Event(Event),
}

/// Events for the IVR logic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// A playback reached its end (all audio played out).
    PlaybackDone {
        /// The playback's id.
        id: PlayId,
    },
    /// A playback was stopped or replaced before its end.
    PlaybackStopped {
        /// The playback's id.
        id: PlayId,
    },
    /// A DTMF digit (`0`–`9`, `*`, `#`, `A`–`D`), once per key press.
    Dtmf {
        /// The digit.
        digit: char,
    },
    /// The recording ended; every [`Output::Record`] chunk of it has been emitted before.
    RecordingFinished {
        /// Samples recorded.
        samples: u64,
        /// The same as a duration.
        duration: Duration,
        /// Why it ended.
        reason: RecordStop,
    },
    /// Media arrived from an address other than the negotiated peer and was dropped
    /// (reported once per distinct source in a row, not per packet).
    SourceRejected {
        /// The offending source.
        from: SocketAddr,
    },
}

/// One IVR call leg; see the module doc.
#[derive(Debug)]
pub struct Session {
    endpoint: Endpoint,
    codecs: Arc<dyn CodecFactory>,
    /// The in-band DTMF detector's own decoder (when no telephone-event was negotiated).
    inband: Option<Box<dyn Decoder>>,
    player: Player,
    recorder: Option<Recorder>,
    dtmf: DtmfCollector,
    dtmf_out: DtmfQueue,
    out: VecDeque<Output>,
    frame: Box<[i16; FRAME_SAMPLES]>,
    decoded: Vec<i16>,
    last_rejected: Option<SocketAddr>,
    hung_up: bool,
}

impl Session {
    /// A leg starting at `now` with the built-in (G.711) codecs. In-band DTMF detection is on
    /// when no telephone-event payload type was negotiated.
    pub fn new(now: Instant, cfg: EndpointConfig) -> Self {
        Self::with_codecs(now, cfg, Arc::new(G711Codecs))
    }

    /// A leg whose encoder and decoders come from `codecs` (Opus, provided by the I/O side).
    pub fn with_codecs(now: Instant, cfg: EndpointConfig, codecs: Arc<dyn CodecFactory>) -> Self {
        let inband = cfg.dtmf_payload_type.is_none();
        Session {
            inband: inband.then(|| codec::decoder(codecs.as_ref(), cfg.codec)),
            endpoint: Endpoint::with_codecs(now, cfg, codecs.as_ref()),
            codecs,
            player: Player::new(),
            recorder: None,
            dtmf: DtmfCollector::new(inband),
            dtmf_out: DtmfQueue::default(),
            out: VecDeque::new(),
            frame: Box::new([0; FRAME_SAMPLES]),
            decoded: Vec::with_capacity(FRAME_SAMPLES),
            last_rejected: None,
            hung_up: false,
        }
    }

    /// The underlying RTP leg (statistics, peer address).
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// Whether the session has hung up and finished everything.
    pub fn is_closed(&self) -> bool {
        self.hung_up && self.out.is_empty()
    }

    /// Feeds one input at `now`.
    pub fn handle_input(&mut self, now: Instant, input: Input<'_>) {
        if self.hung_up {
            return;
        }
        match input {
            Input::RtpIn { from, bytes } => self.on_rtp(now, from, bytes),
            Input::RtcpIn { from, bytes } => {
                if self.endpoint.receive_rtcp(now, from, bytes).is_err() {
                    self.rejected(from);
                }
            }
            Input::Tick => {}
            Input::Command(cmd) => self.on_command(now, cmd),
        }
        self.advance(now);
    }

    /// The next output, if any.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// When to feed [`Input::Tick`] next (`None`: nothing scheduled).
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.hung_up {
            return None;
        }
        let recorder = self.recorder.as_ref().and_then(Recorder::poll_timeout);
        [
            self.player.poll_timeout(),
            self.dtmf_out.poll_timeout(),
            recorder,
            self.endpoint.poll_timeout(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn on_rtp(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]) {
        match self.endpoint.receive(now, from, bytes) {
            Received::Audio(packet) => {
                self.last_rejected = None;
                if let Some(rec) = self.recorder.as_mut() {
                    rec.on_audio(now, &packet);
                }
                if let Some(decoder) = self.inband.as_mut() {
                    self.decoded.clear();
                    decoder.decode(packet.payload, &mut self.decoded);
                    let ts = packet.header.timestamp;
                    if let Some(d) = self.dtmf.on_pcm(ts, &self.decoded) {
                        self.digit(d.digit, d.timestamp);
                    }
                }
            }
            Received::Event(packet) => {
                self.last_rejected = None;
                if let Some(d) = self.dtmf.on_event(&packet) {
                    self.digit(d.digit, d.timestamp);
                }
            }
            Received::Rtcp => {}
            Received::Dropped(DropReason::WrongSource | DropReason::NoPeer) => self.rejected(from),
            Received::Dropped(DropReason::Malformed) => {}
        }
    }

    fn digit(&mut self, digit: char, timestamp: u32) {
        self.out.push_back(Output::Event(Event::Dtmf { digit }));
        if let Some(rec) = self.recorder.as_mut()
            && rec.stop_digit() == Some(digit)
        {
            rec.stop(RecordStop::Digit(digit), Some(timestamp));
        }
    }

    fn rejected(&mut self, from: SocketAddr) {
        if self.last_rejected != Some(from) {
            self.last_rejected = Some(from);
            self.out
                .push_back(Output::Event(Event::SourceRejected { from }));
        }
    }

    fn on_command(&mut self, now: Instant, cmd: Command) {
        match cmd {
            Command::Play { id, clips } => {
                if let Some(old) = self.player.play(now, id, clips) {
                    self.out
                        .push_back(Output::Event(Event::PlaybackStopped { id: old }));
                }
            }
            Command::StopPlayback => self.stop_playback(),
            Command::Record(cfg) => {
                self.finish_recording(now, RecordStop::Command);
                let codec = self.endpoint.config().codec;
                let decoder = codec::decoder(self.codecs.as_ref(), codec);
                self.recorder = Some(Recorder::with_decoder(now, codec, decoder, cfg));
            }
            Command::StopRecording => self.finish_recording(now, RecordStop::Command),
            Command::Hangup => {
                self.stop_playback();
                self.finish_recording(now, RecordStop::Hangup);
                self.hung_up = true;
            }
            Command::SendDtmf { digit, duration } => {
                if self.endpoint.config().dtmf_payload_type.is_some() {
                    let ep = &self.endpoint;
                    let rate = ep.config().codec.clock_rate();
                    self.dtmf_out
                        .push(now, digit, duration, rate, |t| ep.ts_at(t));
                }
            }
            Command::Peer { rtp, rtcp } => self.endpoint.set_peer(now, rtp, rtcp),
        }
    }

    fn stop_playback(&mut self) {
        if let Some(id) = self.player.stop() {
            self.out
                .push_back(Output::Event(Event::PlaybackStopped { id }));
        }
    }

    fn finish_recording(&mut self, now: Instant, reason: RecordStop) {
        if let Some(rec) = self.recorder.as_mut() {
            rec.stop(reason, None);
            self.drain_recorder(now);
        }
    }

    /// Runs everything that is due at `now` and queues the outputs.
    fn advance(&mut self, now: Instant) {
        if !self.hung_up {
            while let Some(played) = self.player.next(now, &mut self.frame) {
                match played {
                    // Frames the I/O side was too late for are skipped, not burst out: the
                    // peer's jitter buffer would drop them anyway.
                    Played::Frame { due, .. } if now.saturating_duration_since(due) > MAX_LATE => {}
                    Played::Frame { due, first } => {
                        if let Some((to, bytes)) =
                            self.endpoint.send_audio(due, &self.frame[..], first)
                        {
                            self.out.push_back(Output::RtpOut { to, bytes });
                        }
                    }
                    Played::Done(id) => self
                        .out
                        .push_back(Output::Event(Event::PlaybackDone { id })),
                }
            }
            if let Some(pt) = self.endpoint.config().dtmf_payload_type {
                while let Some(f) = self.dtmf_out.pop(now) {
                    let payload = f.event.to_bytes();
                    let (to, bytes) =
                        self.endpoint
                            .send_payload(pt, f.marker, f.timestamp, &payload);
                    self.out.push_back(Output::RtpOut { to, bytes });
                }
            }
            if let Some((to, bytes)) = self.endpoint.poll_rtcp(now) {
                self.out.push_back(Output::RtcpOut { to, bytes });
            }
        }
        self.drain_recorder(now);
    }

    fn drain_recorder(&mut self, now: Instant) {
        let Some(rec) = self.recorder.as_mut() else {
            return;
        };
        while let Some(recorded) = rec.poll(now) {
            match recorded {
                Recorded::Pcm(pcm) => self.out.push_back(Output::Record { pcm }),
                Recorded::Finished { samples, reason } => {
                    let duration = Duration::from_millis(samples * 1000 / u64::from(SAMPLE_RATE));
                    self.out.push_back(Output::Event(Event::RecordingFinished {
                        samples,
                        duration,
                        reason,
                    }));
                }
            }
        }
        if rec.is_finished() {
            self.recorder = None;
        }
    }
}
