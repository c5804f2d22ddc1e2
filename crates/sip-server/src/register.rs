//! REGISTER (RFC 3261 §10.3): authenticate the To identity, apply the bindings, persist,
//! answer with the current contact set.

use services::registrar::{Origin, RegisterOutcome, aor_key};
use sip::Message;
use sip_txn::ServerTxnId;
use tracing::info;

use crate::core::Core;
use crate::persist::Persist;
use crate::transport::Target;
use crate::util::unix_now;

impl Core {
    pub fn on_register(&mut self, txn: ServerTxnId, msg: Message, source: Target) {
        let served = msg
            .uri()
            .and_then(|u| u.as_sip().map(|s| s.host_text.to_owned()))
            .is_some_and(|h| self.dir.local_domain(&h).is_some());
        if !served {
            self.respond(txn, &msg, 403, "Domain Not Served Here", &[]);
            return;
        }
        let Some((user, domain)) = self.authenticate(txn, &msg, source) else {
            return;
        };
        let aor = aor_key(&user, &domain);
        let now = unix_now();
        let src = source.addr.to_string();
        let origin = Origin {
            transport: source.transport.as_str(),
            source: &src,
        };
        match self.location.register(&aor, &msg, origin, now) {
            RegisterOutcome::Ok {
                bindings,
                changed,
                devices_changed,
            } => {
                let classes_changed = self.classes.learn(&aor, &msg);
                if devices_changed || classes_changed {
                    self.devices_changed(&aor);
                }
                if changed {
                    // Other services care about which devices exist, not about refreshes.
                    if devices_changed {
                        info!(aor = %aor, contacts = bindings.len(), "registration changed");
                        self.deps
                            .bus
                            .publish(services::bus::BusEvent::Registration {
                                aor: aor.clone(),
                                contacts: bindings.len(),
                            });
                    }
                    let _ = self.persist.send(Persist::Bindings {
                        aor: aor.clone(),
                        bindings: self.classes.stamp(bindings.clone()),
                    });
                }
                let mut rows: Vec<(&str, String)> = bindings
                    .iter()
                    .map(|b| {
                        (
                            "Contact",
                            format!("<{}>;expires={}", b.contact, (b.expires_at - now).max(0)),
                        )
                    })
                    .collect();
                rows.push(("Date", http_date(now)));
                self.respond(txn, &msg, 200, "OK", &rows);
            }
            RegisterOutcome::IntervalTooBrief(min) => {
                self.respond(
                    txn,
                    &msg,
                    423,
                    "Interval Too Brief",
                    &[("Min-Expires", min.to_string())],
                );
            }
            RegisterOutcome::Invalid(why) => self.respond(txn, &msg, 400, why, &[]),
            RegisterOutcome::TooManyContacts => {
                self.respond(txn, &msg, 403, "Too Many Contacts", &[])
            }
        }
    }
}

/// RFC 1123 date in GMT (RFC 3261 §20.17).
pub fn http_date(unix: i64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    let weekday = DAYS
        .get(usize::try_from(days.rem_euclid(7)).unwrap_or(0))
        .unwrap_or(&"Thu");
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let mname = MONTHS
        .get(usize::try_from(month - 1).unwrap_or(0))
        .unwrap_or(&"Jan");
    format!(
        "{weekday}, {day:02} {mname} {year} {:02}:{:02}:{:02} GMT",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn dates() {
        assert_eq!(super::http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(
            super::http_date(1_795_392_000),
            "Mon, 23 Nov 2026 00:00:00 GMT"
        );
    }
}
