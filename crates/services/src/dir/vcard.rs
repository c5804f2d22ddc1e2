//! A small vCard reader: vCard 3.0 (RFC 2426) and 4.0 (RFC 6350), and the 2.1 files phones
//! still export (quoted-printable values). Reads FN, N, TEL, EMAIL, ORG, NOTE, IMPP (`sip:`)
//! and X-SIP; ignores the rest. Folded lines (RFC 6350 §3.2) are unfolded; a bad card is
//! reported at the line of the problem and the reader carries on with the next card.
//!
//! Pure: text in, records out. Nothing here panics on any input.

use super::contact::Contact;
use super::import::Parsed;

/// A logical (unfolded) line and the physical line it starts on.
struct Line {
    number: usize,
    text: String,
}

/// A card being read.
struct Card {
    start: usize,
    contact: Contact,
    /// The first problem in the card, which rejects it.
    error: Option<(usize, String)>,
}

pub fn parse(data: &str) -> Parsed {
    let mut out = Parsed::default();
    let mut card: Option<Card> = None;
    // One report per run of stray lines between cards, not one per line.
    let mut stray_reported = false;
    for Line { number, text } in unfold(data.strip_prefix('\u{feff}').unwrap_or(data)) {
        if text.trim().is_empty() {
            continue;
        }
        let prop = property(&text);
        let is = |name: &str, value: &str| {
            prop.as_ref()
                .is_some_and(|p| p.name == name && p.value.trim().eq_ignore_ascii_case(value))
        };
        if is("BEGIN", "VCARD") {
            if let Some(open) = card.take() {
                out.errors
                    .push((open.start, "card not closed by END:VCARD".to_owned()));
            }
            card = Some(Card {
                start: number,
                contact: Contact::default(),
                error: None,
            });
            stray_reported = false;
            continue;
        }
        let Some(open) = card.as_mut() else {
            if !stray_reported {
                out.errors.push((number, "expected BEGIN:VCARD".to_owned()));
                stray_reported = true;
            }
            continue;
        };
        if is("END", "VCARD") {
            if let Some(done) = card.take() {
                finish(done, &mut out);
            }
            continue;
        }
        match prop {
            Some(p) => apply(&mut open.contact, &p),
            None if open.error.is_none() => {
                open.error = Some((number, "malformed line: expected NAME:value".to_owned()));
            }
            None => {}
        }
    }
    if let Some(open) = card {
        out.errors
            .push((open.start, "card not closed by END:VCARD".to_owned()));
    }
    out
}

fn finish(card: Card, out: &mut Parsed) {
    match card.error {
        Some(e) => out.errors.push(e),
        None => out.contacts.push((card.start, card.contact)),
    }
}

/// Joins folded lines: a line that starts with a space or a tab continues the previous one.
fn unfold(data: &str) -> Vec<Line> {
    let mut lines: Vec<Line> = Vec::new();
    for (i, raw) in data.split('\n').enumerate() {
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        let folded = raw.strip_prefix([' ', '\t']);
        match (folded, lines.last_mut()) {
            (Some(rest), Some(prev)) => prev.text.push_str(rest),
            _ => lines.push(Line {
                number: i + 1,
                text: raw.to_owned(),
            }),
        }
    }
    lines
}

struct Property<'a> {
    /// Upper case, without a group prefix.
    name: String,
    params: &'a str,
    value: &'a str,
}

/// `[group.]NAME[;params]:value`; the colon is the first one outside a quoted parameter.
fn property(line: &str) -> Option<Property<'_>> {
    let mut quoted = false;
    let colon = line.char_indices().find_map(|(i, c)| match c {
        '"' => {
            quoted = !quoted;
            None
        }
        ':' if !quoted => Some(i),
        _ => None,
    })?;
    let (head, value) = line.split_at(colon);
    let value = value.strip_prefix(':').unwrap_or(value);
    let (name, params) = head.split_once(';').unwrap_or((head, ""));
    let name = name.rsplit_once('.').map_or(name, |(_, n)| n).trim();
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return None;
    }
    Some(Property {
        name: name.to_ascii_uppercase(),
        params,
        value,
    })
}

fn apply(c: &mut Contact, p: &Property<'_>) {
    let quoted_printable = p.params.to_ascii_uppercase().contains("QUOTED-PRINTABLE");
    let decoded;
    let value = if quoted_printable {
        decoded = quoted_printable_decode(p.value);
        decoded.as_str()
    } else {
        p.value
    };
    let text = || unescape(value, false, false).join("");
    match p.name.as_str() {
        "FN" => c.name = text(),
        "N" => {
            let parts = unescape(value, true, true);
            // Family; Given; Additional; Prefixes; Suffixes.
            c.last = parts.first().cloned().unwrap_or_default();
            c.first = parts.get(1).cloned().unwrap_or_default();
        }
        "TEL" => c.phones.push(text()),
        "EMAIL" => c.emails.push(text()),
        "ORG" => {
            c.company = unescape(value, true, false)
                .into_iter()
                .next()
                .unwrap_or_default()
        }
        "NOTE" => {
            if !c.notes.is_empty() {
                c.notes.push('\n');
            }
            c.notes.push_str(&text());
        }
        "IMPP" | "X-SIP" | "X-SIP-URI" => {
            let v = text();
            let lower = v.to_ascii_lowercase();
            let sip_like = lower.starts_with("sip:") || lower.starts_with("sips:");
            if c.sip.is_empty() && (sip_like || p.name != "IMPP") {
                c.sip = v;
            }
        }
        _ => {}
    }
}

/// Unescapes a value (`\n`, `\,`, `\;`, `\\`). A structured value (`split`) is split at
/// unescaped `;`; where commas separate list values (`list`), they become spaces. Elsewhere
/// a bare `;` or `,` is kept, as many writers do not escape them.
fn unescape(value: &str, split: bool, list: bool) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut chars = value.chars();
    while let Some(ch) = chars.next() {
        let Some(cur) = parts.last_mut() else { break };
        match ch {
            '\\' => match chars.next() {
                Some('n' | 'N') => cur.push('\n'),
                Some(other) => cur.push(other),
                None => cur.push('\\'),
            },
            ';' if split => parts.push(String::new()),
            ',' if list => cur.push(' '),
            _ => cur.push(ch),
        }
    }
    parts.into_iter().map(|p| p.trim().to_owned()).collect()
}

/// `=XX` escapes (RFC 2045 §6.7) of vCard 2.1; a malformed escape is kept as it is.
fn quoted_printable_decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (b, hex) {
            (b'=', Some(v)) => {
                out.push(v);
                i += 3;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO: &str = "BEGIN:VCARD\r\nVERSION:4.0\r\nFN:Vincent van Gogh\r\n\
        N:van Gogh;Vincent;;;\r\nTEL;TYPE=work,voice;VALUE=uri:tel:+31-20-570-5200\r\n\
        EMAIL:vincent@example.nl\r\nORG:Art Co;Paintings\r\nNOTE:Sunflowers\\, irises\\n\r\n  and stars\r\n\
        IMPP;PREF=1:sip:vincent@example.nl\r\nPHOTO;MEDIATYPE=image/png:data:x\r\nEND:VCARD\r\n\
        begin:vcard\nversion:3.0\nitem1.tel;type=\"a:b\":555 0100\nn:Bell;Vanessa\nend:vcard\n";

    #[test]
    fn reads_cards_with_folding_and_escapes() {
        let p = parse(TWO);
        assert!(p.errors.is_empty(), "{:?}", p.errors);
        let (line, c) = &p.contacts[0];
        assert_eq!(*line, 1);
        assert_eq!(c.name, "Vincent van Gogh");
        assert_eq!((c.first.as_str(), c.last.as_str()), ("Vincent", "van Gogh"));
        assert_eq!(c.phones, ["tel:+31-20-570-5200"]);
        assert_eq!(c.emails, ["vincent@example.nl"]);
        assert_eq!(c.company, "Art Co");
        assert_eq!(c.notes, "Sunflowers, irises\n and stars");
        assert_eq!(c.sip, "sip:vincent@example.nl");
        let (line, c) = &p.contacts[1];
        assert_eq!(*line, 13);
        assert_eq!(c.name, "");
        assert_eq!(c.phones, ["555 0100"]);
        assert_eq!(c.last, "Bell");
    }

    #[test]
    fn bad_cards_are_reported_and_the_rest_kept() {
        let data = "junk\nmore junk\nBEGIN:VCARD\nFN:A\nno colon here\nEND:VCARD\n\
                    BEGIN:VCARD\nFN:B\nBEGIN:VCARD\nFN:C\nEND:VCARD\nEND:VCARD\nBEGIN:VCARD\nFN:D\n";
        let p = parse(data);
        let names: Vec<&str> = p.contacts.iter().map(|(_, c)| c.name.as_str()).collect();
        assert_eq!(names, ["C"]);
        let lines: Vec<usize> = p.errors.iter().map(|(l, _)| *l).collect();
        assert_eq!(lines, [1, 5, 7, 12, 13], "{:?}", p.errors);
        assert!(p.errors[1].1.contains("malformed"));
        assert!(p.errors[2].1.contains("not closed"));
    }

    #[test]
    fn bare_commas_and_semicolons_stay_in_text() {
        let p = parse("BEGIN:VCARD\nFN:Gogh, Vincent; painter\nN:Gogh;Vincent,Willem\nEND:VCARD");
        let c = &p.contacts[0].1;
        assert_eq!(c.name, "Gogh, Vincent; painter");
        assert_eq!(c.first, "Vincent Willem");
    }

    #[test]
    fn quoted_printable_values() {
        let p = parse(
            "BEGIN:VCARD\nVERSION:2.1\nFN;CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE:J=C3=B6rg=\nEND:VCARD",
        );
        assert_eq!(p.contacts[0].1.name, "Jörg=");
    }

    #[test]
    fn hostile_input_never_panics() {
        let alphabet: Vec<char> = "BEGIN:VCARD\r\n END;=\"\\,.é\u{0}\u{feff}"
            .chars()
            .collect();
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..2000 {
            let mut s = String::new();
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            let len = (seed >> 33) % 200;
            for _ in 0..len {
                seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                let i = usize::try_from(seed >> 33).unwrap() % alphabet.len();
                s.push(alphabet[i]);
            }
            let _ = parse(&s);
            let _ = parse(&format!("BEGIN:VCARD\n{s}\nEND:VCARD"));
            let _ = quoted_printable_decode(&s);
        }
    }
}
