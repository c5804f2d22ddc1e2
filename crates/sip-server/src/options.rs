//! Out-of-dialog MESSAGE (RFC 3428): authenticated, relayed to the recipient's device with
//! the highest q. Offline storage and fan-out to CAS clients come with the IM service.

use services::registrar::aor_key;
use sip::{HeaderName, Message};
use sip_txn::ServerTxnId;

use crate::core::Core;
use crate::transport::{Target, Transport};
use crate::util::unix_now;

impl Core {
    pub fn on_message(&mut self, txn: ServerTxnId, msg: Message, source: Target) {
        if self.authenticate(txn, &msg, source).is_none() {
            return;
        }
        let Some(uri) = msg.uri().and_then(|u| u.as_sip().cloned()) else {
            return;
        };
        let Some(domain) = self.dir.local_domain(uri.host_text).map(str::to_owned) else {
            self.respond(txn, &msg, 403, "Relaying Denied", &[]);
            return;
        };
        let user = uri.user_unescaped().unwrap_or_default();
        if !self.dir.user_exists(&domain, &user) {
            self.respond(txn, &msg, 404, "Not Found", &[]);
            return;
        }
        let bindings = self.location.lookup(&aor_key(&user, &domain), unix_now());
        let Some(b) = bindings.first() else {
            self.respond(txn, &msg, 480, "Temporarily Unavailable", &[]);
            return;
        };
        let (Some(transport), Ok(addr)) = (Transport::from_token(&b.transport), b.source.parse())
        else {
            self.respond(txn, &msg, 480, "Temporarily Unavailable", &[]);
            return;
        };
        let target = Target { transport, addr };
        let mut d = crate::dialog::Dialog {
            call_id: msg.call_id().unwrap_or_default().to_owned(),
            local: msg.header(HeaderName::From).unwrap_or_default().to_owned(),
            local_tag: String::new(),
            remote: msg.header(HeaderName::To).unwrap_or_default().to_owned(),
            remote_target: b.contact.clone(),
            route_set: Vec::new(),
            target,
            local_cseq: msg.cseq().map_or(1, |c| c.seq).saturating_sub(1),
        };
        let local = self.transports.local_addr(transport, addr.ip());
        let body = (!msg.body().is_empty())
            .then(|| (msg.content_type().unwrap_or("text/plain"), msg.body()));
        let bytes = d.request("MESSAGE", local, &[], body);
        self.relay_out_of_dialog(txn, msg.clone(), target, bytes);
    }
}
