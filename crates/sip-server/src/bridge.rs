//! The SIP face's side of the bus: requests other services make of SIP devices.
//!
//! `SipMessageOut` is the only way an instant message (RFC 3428) reaches a phone, whether it
//! was written on a CAS client or on another phone (`options.rs` hands those to the IM
//! service instead of relaying them), so each device gets exactly one copy. The From is the
//! sender's AOR, so the phone shows who wrote; the MESSAGE is sent without waiting for its
//! answer: the IM service has already stored it.

use services::bus::BusEvent;
use services::registrar::aor_key;
use sip::Builder;
use tracing::debug;

use crate::core::Core;
use crate::dialog::via;
use crate::transport::{Target, Transport};
use crate::util::{random_token, unix_now};

impl Core {
    pub fn on_bus(&mut self, ev: BusEvent) {
        match ev {
            BusEvent::SipMessageOut {
                from,
                to,
                content_type,
                body,
            } => self.message_to_devices(&from, &to, &content_type, &body),
            BusEvent::VmPlayOnPhone {
                request_id,
                aor,
                device,
                file,
                ..
            } => self.play_on_phone(request_id, &aor, device.as_deref(), file),
            BusEvent::SessionStarted { user } => *self.cas_sessions.entry(user).or_default() += 1,
            BusEvent::SessionEnded { user, .. } => {
                if let Some(n) = self.cas_sessions.get_mut(&user) {
                    *n = n.saturating_sub(1);
                    if *n == 0 {
                        self.cas_sessions.remove(&user);
                    }
                }
            }
            BusEvent::SessionsSnapshot { sessions } => {
                self.cas_sessions = sessions
                    .into_iter()
                    .filter(|(_, ids)| !ids.is_empty())
                    .map(|(user, ids)| (user, ids.len()))
                    .collect();
            }
            BusEvent::PresenceChanged { aor, version } => self.presence_changed(&aor, version),
            BusEvent::PresenceAuthChanged {
                presentity,
                watcher,
            } => self.presence_auth_changed(&presentity, &watcher),
            BusEvent::MwiChanged { aor } => {
                self.mwi_changed(&aor);
                self.mwi_unsolicited(&aor);
            }
            _ => {}
        }
    }

    /// Sends a MESSAGE to every registered device of `to` (`user@domain`).
    fn message_to_devices(&mut self, from: &str, to: &str, content_type: &str, body: &str) {
        let Some((user, domain)) = to.split_once('@') else {
            return;
        };
        let bindings = self.location.lookup(&aor_key(user, domain), unix_now());
        debug!(to = %to, devices = bindings.len(), "instant message to devices");
        for b in bindings {
            let (Some(transport), Ok(addr)) =
                (Transport::from_token(&b.transport), b.source.parse())
            else {
                continue;
            };
            let target = Target { transport, addr };
            let local = self.transports.local_addr(transport, addr.ip());
            let mut m = Builder::request("MESSAGE", &b.contact);
            m.header("Via", &via(local, transport));
            m.header("Max-Forwards", "70");
            m.header_fmt(
                "From",
                format_args!("<sip:{from}>;tag={}", random_token(10)),
            );
            m.header_fmt("To", format_args!("<sip:{to}>"));
            m.header_fmt("Call-ID", format_args!("{}@switchboard", random_token(20)));
            m.header("CSeq", "1 MESSAGE");
            let bytes = m.finish(Some(content_type), body.as_bytes());
            self.fire_and_forget(target, bytes);
        }
    }
}
