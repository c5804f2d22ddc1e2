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
    let keys: usize = table
        .values()
        .map(|section| section.as_table().unwrap().len())
        .sum();
    assert_eq!(table.len(), 6, "sections");
    assert_eq!(keys, 4 + 3 + 4 + 7 + 2 + 4, "keys");
}
