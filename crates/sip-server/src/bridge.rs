//! The SIP face's side of the bus: requests other services make of SIP devices (e.g. an
//! instant message from a CAS client to a user's phones, RFC 3428).

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
        if let BusEvent::SipMessageOut {
            from,
            to,
            content_type,
            body,
        } = ev
        {
            self.message_to_devices(&from, &to, &content_type, &body);
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
