//! `record-cost`: the CPU one recording costs in the media engine.
//!
//! Opens `--streams` endpoints with [`MediaServer::answer`] (as a voicemail deposit does),
//! feeds each a G.711 µ-law stream of 20 ms packets (a 440 Hz tone) from a generator thread,
//! and measures the CPU time of the engine's runtime thread (`/proc/self/task/<tid>/schedstat`,
//! nanoseconds) over `--secs` without recording, then over `--secs` with every endpoint
//! recording through [`MediaServer::record`]. The engine runs on a current-thread runtime on
//! the main thread, so the generator's CPU is not in the figure. Prints `key=value` lines:
//! the per-stream CPU of a terminated leg with and without a recording, the difference (what
//! one recording adds), and whether every WAV came out with the expected duration.
//!
//! Does not: record an anchored (relayed) call — the engine's relay has no recording tap.

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use media_server::{MediaEvent, MediaServer};

use crate::Opts;

/// Nanoseconds the thread `tid` of this process has run.
fn thread_cpu_ns(tid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/self/task/{tid}/schedstat")).ok()?;
    s.split_whitespace().next()?.parse().ok()
}

/// CPU seconds (user + system) of the whole process, from `/proc/self/stat` (ticks of 10 ms).
fn process_cpu_s() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/stat").ok()?;
    let rest = s.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}

fn offer(port: u16) -> String {
    format!(
        "v=0\r\no=gen 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=ptime:20\r\na=sendrecv\r\n"
    )
}

/// Sends 20 ms PCMU packets to every target until `stop`; streams are spread over the period.
fn generate(socks: Vec<(UdpSocket, SocketAddr)>, stop: Arc<AtomicBool>) {
    let tone: Vec<u8> = (0..8000)
        .map(|i| {
            let x = (f64::from(i) * 440.0 * std::f64::consts::TAU / 8000.0).sin();
            rtp::ulaw_encode((x * 8000.0) as i16)
        })
        .collect();
    let n = socks.len().max(1) as u32;
    let start = Instant::now();
    let mut pkt = [0u8; 172];
    let mut seq: u16 = 0;
    let mut period: u32 = 0;
    while !stop.load(Ordering::Relaxed) {
        seq = seq.wrapping_add(1);
        let ts = period.wrapping_mul(160);
        let off = usize::try_from(period % 50).unwrap_or(0) * 160;
        for (i, (sock, to)) in socks.iter().enumerate() {
            let due = start
                + Duration::from_millis(20) * period
                + Duration::from_millis(20) * u32::try_from(i).unwrap_or(0) / n;
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            let ssrc = 0x5eed_0000_u32 + u32::try_from(i).unwrap_or(0);
            let mut h = [0u8; 12];
            h[0] = 0x80;
            h[2..4].copy_from_slice(&seq.to_be_bytes());
            h[4..8].copy_from_slice(&ts.to_be_bytes());
            h[8..12].copy_from_slice(&ssrc.to_be_bytes());
            pkt[..12].copy_from_slice(&h);
            if let Some(src) = tone.get(off..off + 160) {
                pkt[12..].copy_from_slice(src);
            }
            let _ = sock.send_to(&pkt, to);
        }
        period += 1;
    }
}

pub fn run(o: &Opts) -> Result<(), String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let tid = std::process::id();
    rt.block_on(async {
        let ms = MediaServer::start(&o.media_config()).map_err(|e| e.to_string())?;
        let mut socks = Vec::new();
        let mut eps = Vec::new();
        for _ in 0..o.streams {
            let sock = UdpSocket::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
            let port = sock.local_addr().map_err(|e| e.to_string())?.port();
            let opened = ms
                .answer(offer(port).as_bytes())
                .map_err(|e| e.to_string())?;
            let to = media_server_addr(&opened.sdp).ok_or("no address in the answer")?;
            socks.push((sock, to));
            eps.push(opened);
        }
        let stop = Arc::new(AtomicBool::new(false));
        let gen_stop = stop.clone();
        let generator = std::thread::spawn(move || generate(socks, gen_stop));
        let secs = Duration::from_secs(o.secs.max(1));
        tokio::time::sleep(Duration::from_secs(2)).await;
        let base = measure(&ms, tid, secs).await;
        let max = secs * 3 + Duration::from_secs(30);
        for (i, ep) in eps.iter().enumerate() {
            let path = o
                .dir
                .join(format!("record-cost-{}-{i}.wav", std::process::id()));
            ms.record(ep.id, path, max).map_err(|e| e.to_string())?;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        let rec = measure(&ms, tid, secs).await;
        for ep in &eps {
            let _ = ms.stop_record(ep.id);
        }
        let (mut ok, mut total_ms, mut files) = (0usize, 0u64, Vec::new());
        for ep in &mut eps {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
            while let Ok(Some(ev)) = tokio::time::timeout_at(deadline, ep.events.recv()).await {
                if let MediaEvent::Recorded {
                    ok: good,
                    duration_ms,
                    path,
                    ..
                } = ev
                {
                    ok += usize::from(good);
                    total_ms += duration_ms;
                    files.push(path);
                    break;
                }
            }
        }
        stop.store(true, Ordering::Relaxed);
        let _ = generator.join();
        for ep in &eps {
            ms.close(ep.id);
        }
        for f in &files {
            let _ = std::fs::remove_file(f);
        }
        let k = o.streams.max(1) as f64;
        let w = secs.as_secs_f64();
        println!("streams={}", o.streams);
        println!("secs={}", o.secs);
        println!("engine_cpu_pct_no_recording={:.3}", base.0 / w * 100.0);
        println!("engine_cpu_pct_recording={:.3}", rec.0 / w * 100.0);
        println!(
            "per_stream_cpu_pct_no_recording={:.4}",
            base.0 / w * 100.0 / k
        );
        println!("per_stream_cpu_pct_recording={:.4}", rec.0 / w * 100.0 / k);
        println!(
            "per_recording_added_cpu_pct={:.4}",
            (rec.0 - base.0) / w * 100.0 / k
        );
        println!("process_cpu_s_no_recording={:.2}", base.1);
        println!("process_cpu_s_recording={:.2}", rec.1);
        println!("recordings_ok={ok}");
        println!(
            "recorded_ms_avg={}",
            total_ms / u64::try_from(o.streams.max(1)).unwrap_or(1)
        );
        Ok(())
    })
}

/// (engine thread CPU seconds, whole-process CPU seconds) over `secs` of running.
async fn measure(_ms: &MediaServer, tid: u32, secs: Duration) -> (f64, f64) {
    let t0 = thread_cpu_ns(tid).unwrap_or(0);
    let p0 = process_cpu_s().unwrap_or(0.0);
    tokio::time::sleep(secs).await;
    let t1 = thread_cpu_ns(tid).unwrap_or(0);
    let p1 = process_cpu_s().unwrap_or(0.0);
    (t1.saturating_sub(t0) as f64 / 1e9, p1 - p0)
}

/// The `c=` address and `m=audio` port of our answer.
fn media_server_addr(sdp: &str) -> Option<SocketAddr> {
    let ip = sdp
        .lines()
        .find_map(|l| l.strip_prefix("c=IN IP4 "))?
        .trim()
        .parse::<std::net::IpAddr>()
        .ok()?;
    let port = sdp
        .lines()
        .find_map(|l| l.strip_prefix("m=audio "))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(SocketAddr::new(ip, port))
}
