//! One IVR endpoint: an RTP/RTCP socket pair driving a `media::Session` with real time
//! (GUIDE rule 2: one input, drain the outputs, sleep until the next timeout).
//!
//! The task turns the session's outputs into I/O: datagrams are sent without waiting (a full
//! socket buffer drops, as a network would), PCM goes to the WAV writer (which checkpoints
//! every second; its periodic fsync runs on a blocking thread), and events go to the
//! engine's event channel. A recording's file is finished (header, fsync) on a blocking
//! thread before `Recorded` is reported. Until our offer is answered there is no session:
//! media is ignored and commands wait. With an inactivity timeout, no RTP accepted from the
//! peer for that long (counted from the answer or the last peer change) is reported once as
//! `MediaTimeout`, except while the peer's description holds the stream (RFC 3264 §8.4).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use media::{
    CodecFactory, Command, EndpointConfig, Event, Input, Output, PlayId, RecordConfig, Session,
};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tracing::{debug, warn};

use crate::negotiate::Negotiated;
use crate::pool::Lease;
use crate::prompts::Prompts;
use crate::wav::{self, Writer};
use crate::{Clip, EndpointCmd, EndpointId, MediaEvent};

pub(crate) struct Ctx {
    pub id: EndpointId,
    pub events: mpsc::UnboundedSender<MediaEvent>,
    pub prompts: Arc<Prompts>,
    pub inactivity: Option<Duration>,
}

struct State {
    ctx: Ctx,
    session: Option<Session>,
    /// Commands given before the peer's answer.
    waiting: Vec<EndpointCmd>,
    play: u64,
    recording: Option<(Writer, PathBuf)>,
    /// A recording asked for while another was still being finished.
    next_recording: Option<(PathBuf, Duration)>,
    closing: bool,
    /// Last RTP accepted from the peer (or the answer / peer change); `None` once reported.
    heard: Option<Instant>,
    /// The peer's latest description holds the stream: silence is expected.
    held: bool,
}

fn config(n: &Negotiated) -> EndpointConfig {
    let ssrc: u32 = rand::random();
    let mut cfg = EndpointConfig::new(n.peer.rtp, n.codec, ssrc);
    cfg.remote_rtcp = n.peer.rtcp;
    cfg.payload_type = n.payload_type;
    cfg.dtmf_payload_type = n.dtmf_pt;
    cfg.initial_seq = rand::random();
    cfg.initial_ts = rand::random();
    cfg.wallclock = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .ok();
    cfg
}

/// The session for a negotiated leg: G.711 built in, Opus through libopus (feature `opus`).
fn session(now: Instant, n: &Negotiated) -> Session {
    Session::with_codecs(now, config(n), codecs())
}

#[cfg(feature = "opus")]
fn codecs() -> Arc<dyn CodecFactory> {
    Arc::new(crate::opus_codec::OpusCodecs)
}

/// Without the feature `negotiate` never agrees on Opus, so G.711 is all a leg needs.
#[cfg(not(feature = "opus"))]
fn codecs() -> Arc<dyn CodecFactory> {
    Arc::new(media::G711Codecs)
}

pub(crate) async fn run(
    ctx: Ctx,
    lease: Lease,
    neg: Option<Negotiated>,
    mut cmds: mpsc::UnboundedReceiver<EndpointCmd>,
) {
    let conv = |s: &std::net::UdpSocket| s.try_clone().and_then(UdpSocket::from_std);
    let (rtp, rtcp) = match (conv(&lease.rtp), conv(&lease.rtcp)) {
        (Ok(a), Ok(b)) => (a, b),
        _ => {
            warn!("endpoint sockets unusable");
            return;
        }
    };
    let mut st = State {
        session: neg.as_ref().map(|n| session(Instant::now(), n)),
        ctx,
        waiting: Vec::new(),
        play: 0,
        recording: None,
        next_recording: None,
        closing: false,
        heard: Some(Instant::now()),
        held: neg.as_ref().is_some_and(|n| n.peer.held),
    };
    let mut rtp_buf = [0u8; 2048];
    let mut rtcp_buf = [0u8; 2048];
    loop {
        let timeout = st.session.as_ref().and_then(Session::poll_timeout);
        let silent_at = match (st.ctx.inactivity, st.heard, &st.session) {
            (Some(t), Some(heard), Some(_)) if !st.held => Some(heard + t),
            _ => None,
        };
        let sleep_to = [timeout, silent_at]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
        tokio::select! {
            r = rtp.recv_from(&mut rtp_buf) => {
                if let (Ok((n, from)), Some(s)) = (r, st.session.as_mut())
                    && let Some(bytes) = rtp_buf.get(..n)
                {
                    let before = s.endpoint().stats().received;
                    let now = Instant::now();
                    s.handle_input(now, Input::RtpIn { from, bytes });
                    if s.endpoint().stats().received > before {
                        st.heard = Some(now);
                    }
                }
            }
            r = rtcp.recv_from(&mut rtcp_buf) => {
                if let (Ok((n, from)), Some(s)) = (r, st.session.as_mut())
                    && let Some(bytes) = rtcp_buf.get(..n)
                {
                    s.handle_input(Instant::now(), Input::RtcpIn { from, bytes });
                }
            }
            cmd = cmds.recv() => match cmd {
                Some(cmd) => st.command(cmd).await,
                None => st.command(EndpointCmd::Close).await,
            },
            _ = tokio::time::sleep_until(sleep_to.into()) => {
                let now = Instant::now();
                if let Some(s) = st.session.as_mut() {
                    s.handle_input(now, Input::Tick);
                }
                if silent_at.is_some_and(|at| at <= now) {
                    debug!(ep = st.ctx.id.0, "no RTP from the peer");
                    st.heard = None;
                    let _ = st.ctx.events.send(MediaEvent::MediaTimeout { ep: st.ctx.id });
                }
            }
        }
        st.drain(&rtp, &rtcp).await;
        if st.closing && st.recording.is_none() {
            break;
        }
    }
    debug!(ep = st.ctx.id.0, "endpoint closed");
    drop(lease);
}

impl State {
    async fn command(&mut self, cmd: EndpointCmd) {
        let now = Instant::now();
        if let EndpointCmd::Peer(p) = &cmd {
            if let Some(s) = self.session.as_mut() {
                s.handle_input(
                    now,
                    Input::Command(Command::Peer {
                        rtp: p.rtp,
                        rtcp: p.rtcp,
                    }),
                );
                self.heard = Some(now);
                self.held = p.held;
            }
            return;
        }
        if let EndpointCmd::RemoteAnswer(n) = &cmd {
            self.heard = Some(now);
            self.held = n.peer.held;
            match self.session.as_mut() {
                Some(s) => s.handle_input(
                    now,
                    Input::Command(Command::Peer {
                        rtp: n.peer.rtp,
                        rtcp: n.peer.rtcp,
                    }),
                ),
                None => {
                    self.session = Some(session(now, n));
                    for c in std::mem::take(&mut self.waiting) {
                        Box::pin(self.command(c)).await;
                    }
                }
            }
            return;
        }
        if self.session.is_none() && !matches!(cmd, EndpointCmd::Close) {
            self.waiting.push(cmd);
            return;
        }
        let input = match cmd {
            EndpointCmd::RemoteAnswer(_) | EndpointCmd::Peer(_) => return,
            EndpointCmd::Play(clips) => {
                let clips = load(self.ctx.prompts.clone(), clips).await;
                self.play += 1;
                if clips.is_empty() {
                    let _ = self
                        .ctx
                        .events
                        .send(MediaEvent::PlayDone { ep: self.ctx.id });
                    return;
                }
                Command::Play {
                    id: PlayId(self.play),
                    clips,
                }
            }
            EndpointCmd::StopPlay => Command::StopPlayback,
            EndpointCmd::Record { path, max } => {
                if self.recording.is_some() {
                    // Finish the current one first; this one starts once it is written.
                    self.next_recording = Some((path, max));
                    Command::StopRecording
                } else {
                    match Writer::create(&path) {
                        Ok(w) => self.recording = Some((w, path)),
                        Err(e) => {
                            warn!(error = %e, "cannot create the recording file");
                            let _ = self.ctx.events.send(MediaEvent::Recorded {
                                ep: self.ctx.id,
                                path,
                                duration_ms: 0,
                                ok: false,
                            });
                            return;
                        }
                    }
                    Command::Record(RecordConfig {
                        max,
                        ..RecordConfig::default()
                    })
                }
            }
            EndpointCmd::StopRecord => Command::StopRecording,
            EndpointCmd::Close => {
                self.closing = true;
                Command::Hangup
            }
        };
        if let Some(s) = self.session.as_mut() {
            s.handle_input(now, Input::Command(input));
        }
    }

    async fn drain(&mut self, rtp: &UdpSocket, rtcp: &UdpSocket) {
        let Some(s) = self.session.as_mut() else {
            return;
        };
        let mut finished: Option<u64> = None;
        while let Some(out) = s.poll_output() {
            match out {
                Output::RtpOut { to, bytes } => send(rtp, &bytes, to),
                Output::RtcpOut { to, bytes } => send(rtcp, &bytes, to),
                Output::Record { pcm } => {
                    if let Some((w, _)) = self.recording.as_mut() {
                        if let Err(e) = w.write(&pcm) {
                            warn!(error = %e, "recording write failed");
                        }
                        // The periodic fsync runs on a blocking thread, never in this task.
                        if let Some(job) = w.sync_due() {
                            tokio::task::spawn_blocking(move || {
                                if let Err(e) = job.run() {
                                    warn!(error = %e, "recording fsync failed");
                                }
                            });
                        }
                    }
                }
                Output::Event(ev) => match ev {
                    Event::PlaybackDone { id } if id.0 == self.play => {
                        let _ = self
                            .ctx
                            .events
                            .send(MediaEvent::PlayDone { ep: self.ctx.id });
                    }
                    Event::PlaybackDone { .. } | Event::PlaybackStopped { .. } => {}
                    Event::Dtmf { digit } => {
                        let _ = self.ctx.events.send(MediaEvent::Digit {
                            ep: self.ctx.id,
                            digit,
                        });
                    }
                    Event::RecordingFinished { samples, .. } => finished = Some(samples),
                    Event::SourceRejected { from } => {
                        debug!(ep = self.ctx.id.0, peer = %from, "media from a foreign source dropped");
                    }
                },
            }
        }
        if finished.is_some()
            && let Some((w, path)) = self.recording.take()
        {
            let ok = tokio::task::spawn_blocking(move || w.finish()).await;
            let (duration_ms, ok) = match ok {
                Ok(Ok(ms)) => (ms, true),
                Ok(Err(e)) => {
                    warn!(error = %e, "recording could not be finished");
                    (0, false)
                }
                Err(_) => (0, false),
            };
            let _ = self.ctx.events.send(MediaEvent::Recorded {
                ep: self.ctx.id,
                path,
                duration_ms,
                ok,
            });
            if let Some((path, max)) = self.next_recording.take() {
                Box::pin(self.command(EndpointCmd::Record { path, max })).await;
            }
        }
    }
}

/// Decodes the clips (files on a blocking thread); missing ones are skipped.
/// (Holds no borrow of the endpoint's state across an await: that state need not be `Sync`.)
async fn load(prompts: Arc<Prompts>, clips: Vec<Clip>) -> Vec<media::Clip> {
    let mut out = Vec::with_capacity(clips.len());
    for c in clips {
        match c {
            Clip::Prompt(name) => match prompts.get(&name) {
                Some(s) => out.push(s),
                None => warn!(prompt = %name, "no such prompt"),
            },
            Clip::Silence(ms) => {
                let n = usize::try_from(u64::from(ms) * u64::from(wav::RATE) / 1000).unwrap_or(0);
                out.push(vec![0i16; n].into());
            }
            Clip::File(path) => {
                let p = path.clone();
                match tokio::task::spawn_blocking(move || wav::read(&p)).await {
                    Ok(Ok(s)) => out.push(s),
                    Ok(Err(e)) => warn!(error = %e, "cannot play a file"),
                    Err(_) => warn!(file = %path.display(), "file read task failed"),
                }
            }
        }
    }
    out
}

fn send(sock: &UdpSocket, bytes: &[u8], to: SocketAddr) {
    if to.ip().is_unspecified() || to.port() == 0 {
        return;
    }
    let _ = sock.try_send_to(bytes, to);
}
