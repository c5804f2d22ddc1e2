//! Every example configuration in the repository must load.

use std::path::PathBuf;

use switchboard::Config;

fn examples_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

#[test]
fn every_example_config_loads() {
    let mut checked = 0;
    for entry in std::fs::read_dir(examples_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            if let Err(problems) = Config::load(&path) {
                panic!("{}: {problems:#?}", path.display());
            }
            checked += 1;
        }
    }
    assert!(checked >= 1, "no example configs found");
}

/// The example documents every key with its default, so it must equal `Config::default()`,
/// and must spell out every key the schema knows (no key silently undocumented).
#[test]
fn switchboard_example_is_the_default() {
    let path = examples_dir().join("switchboard.toml");
    assert_eq!(Config::load(&path).unwrap(), Config::default());
    let text = std::fs::read_to_string(&path).unwrap();
    let table: toml::Table = text.parse().unwrap();
    // Keys per section (the schema's list, config/schema.rs), so a stale count names its section.
    let mut counts: Vec<(&str, usize)> = table
        .iter()
        .map(|(name, section)| (name.as_str(), section.as_table().unwrap().len()))
        .collect();
    counts.sort();
    let mut expected = vec![
        ("server", 4),
        ("sip", 3),
        ("registrar", 4),
        ("auth", 7),
        ("calls", 2),
        ("http", 4),
        ("presence", 5),
        ("media", 7),
        ("voicemail", 7),
        ("mwi", 3),
    ];
    expected.sort();
    assert_eq!(counts, expected, "sections and their key counts");
}
