use super::*;

fn problems(text: &str) -> Vec<String> {
    Config::parse(text)
        .unwrap_err()
        .iter()
        .map(ToString::to_string)
        .collect()
}

#[test]
fn empty_text_is_the_default() {
    assert_eq!(Config::parse("").unwrap(), Config::default());
    assert!(Config::default().validate().is_empty());
}

#[test]
fn values_are_read() {
    let config = Config::parse(
        r#"
        [server]
        domain = "example.com"
        redact_personal_data = true
        [sip]
        listen = ["127.0.0.1:5070", "udp:[::1]:5080"]
        [auth]
        algorithms = ["md5"]
        trusted = ["192.0.2.1"]
        [http]
        listen = "[::1]:9000"
        "#,
    )
    .unwrap();
    assert_eq!(config.server.domain, "example.com");
    assert!(config.server.redact_personal_data);
    assert_eq!(config.auth.algorithms, [Algorithm::Md5]);
    assert_eq!(
        config.auth.trusted,
        ["192.0.2.1".parse::<IpAddr>().unwrap()]
    );
    let specs: Vec<String> = config
        .listen_specs()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        specs,
        ["udp:127.0.0.1:5070", "tcp:127.0.0.1:5070", "udp:[::1]:5080"]
    );
    assert_eq!(config.registrar, RegistrarConfig::default());
}

#[test]
fn every_problem_is_reported() {
    let found = problems(
        r#"
        colour = "blue"
        [server]
        domian = "x"
        domain = "not a domain"
        log = 3
        [sip]
        listen = ["udp:0.0.0.0", 5060, "0.0.0.0:5060", "udp:0.0.0.0:5060"]
        max_message_size = -1
        [registrar]
        min_expires = 600
        max_expires = 300
        [auth]
        algorithms = ["SHA-256", "SHA-512-256"]
        trusted = ["localhost"]
        ban_window = 0
        [calls]
        ring_timeout = 99999999999
        [http]
        listen = "8080"
        [extra]
        "#,
    );
    let expected = [
        "colour: unknown key",
        "server.domian: unknown key",
        "server.log: expected a string, found integer",
        "sip.listen[0]: invalid listen address",
        "sip.listen[1]: expected a string, found integer",
        "sip.max_message_size: must not be negative",
        "auth.algorithms[1]: unknown digest algorithm",
        "auth.trusted[0]: invalid IP address",
        "calls.ring_timeout: must be at most",
        "http.listen: invalid address",
        "extra: unknown section",
        "server.domain: invalid domain name",
        "auth.ban_window: must be greater than 0",
        "registrar.min_expires: 600 is greater than max_expires (300)",
    ];
    for e in expected {
        assert!(
            found.iter().any(|p| p.starts_with(e)),
            "missing {e:?} in {found:#?}"
        );
    }
    assert_eq!(found.len(), expected.len(), "{found:#?}");
}

#[test]
fn overlapping_listen_entries_are_reported() {
    let found = problems("[sip]\nlisten = [\"0.0.0.0:5060\", \"tcp:0.0.0.0:5060\"]\n");
    assert_eq!(found, ["sip.listen: tcp:0.0.0.0:5060 is listed twice"]);
    let found = problems("[sip]\nlisten = []\n");
    assert_eq!(found, ["sip.listen: needs at least one address"]);
}

#[test]
fn default_outside_range_is_reported() {
    let found = problems("[registrar]\ndefault_expires = 30\n");
    assert_eq!(
        found,
        ["registrar.default_expires: 30 is outside min_expires..=max_expires"]
    );
}

#[test]
fn syntax_error_is_one_problem() {
    let found = problems("[server\n");
    assert_eq!(found.len(), 1);
    assert!(found[0].contains("line 1"), "{found:?}");
}

#[test]
fn section_must_be_a_table() {
    assert_eq!(
        problems("server = 1\n"),
        ["server: expected a table, found integer"]
    );
}

#[test]
fn duplicate_algorithm_is_reported() {
    assert_eq!(
        problems("[auth]\nalgorithms = [\"MD5\", \"md5\"]\n"),
        ["auth.algorithms: MD5 is listed twice"]
    );
}
