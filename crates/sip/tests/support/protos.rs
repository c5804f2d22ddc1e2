//! Filling PROTOS c07-sip test-case templates, shared by the parser-level test
//! (crates/sip/tests/protos.rs) and the over-the-wire test
//! (crates/switchboard/tests/wire_torture.rs, which includes this file by path).

/// Who the filled messages name: `to`/`from` are `user@host`, `ip` the tester's address.
pub struct Addrs<'a> {
    pub to: &'a str,
    pub from: &'a str,
    pub ip: &'a str,
    pub port: u16,
}

/// The two length-prefixed records of a case file (the INVITE, then the teardown).
pub fn records(file: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let mut rest = file;
    let mut take = || {
        let sp = rest.iter().position(|c| *c == b' ').unwrap();
        let len: usize = std::str::from_utf8(&rest[..sp]).unwrap().parse().unwrap();
        let rec = rest[sp + 1..sp + 1 + len].to_vec();
        rest = &rest[sp + 1 + len..];
        rec
    };
    (take(), take())
}

/// Replaces every `<Name>` placeholder found in `subst`, in one pass.
fn replace(hay: &[u8], subst: &[(&[u8], &[u8])]) -> Vec<u8> {
    let mut out = Vec::with_capacity(hay.len() + 64);
    let mut rest = hay;
    while let Some(lt) = rest.iter().position(|c| *c == b'<') {
        out.extend_from_slice(&rest[..lt]);
        rest = &rest[lt..];
        match subst.iter().find(|(k, _)| rest.starts_with(k)) {
            Some((k, v)) => {
                out.extend_from_slice(v);
                rest = &rest[k.len()..];
            }
            None => {
                out.push(b'<');
                rest = &rest[1..];
            }
        }
    }
    out.extend_from_slice(rest);
    out
}

/// Fills the placeholders as the PROTOS jar did: addresses of the tester and the target,
/// per-case Call-ID, branch and CSeq, and Content-Length = octets after the first CRLFCRLF.
pub fn fill(template: &[u8], case: usize, addrs: &Addrs) -> Vec<u8> {
    let n = case.to_string();
    let port = addrs.port.to_string();
    let m = replace(
        template,
        &[
            (b"<To>", addrs.to.as_bytes()),
            (b"<From>", addrs.from.as_bytes()),
            (b"<From-Address>", addrs.ip.as_bytes()),
            (b"<From-IP>", addrs.ip.as_bytes()),
            (b"<Local-Port>", port.as_bytes()),
            (b"<Branch-ID>", n.as_bytes()),
            (b"<Call-ID>", n.as_bytes()),
            (b"<CSeq>", n.as_bytes()),
            (b"<Teardown-Method>", b"CANCEL"),
        ],
    );
    let body = m
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(0, |p| m.len() - p - 4);
    replace(&m, &[(b"<Content-Length>", body.to_string().as_bytes())])
}
