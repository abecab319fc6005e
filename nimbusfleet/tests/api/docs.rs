//! The README's reference tables are produced from the code: they must not drift from it.

fn readme() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
        .expect("README.md")
}

#[test]
fn the_readme_error_table_is_the_one_the_code_declares() {
    let readme = readme();
    let start = readme
        .find("<!-- error-codes:start -->\n")
        .expect("README.md lacks the error-codes markers");
    let end = readme.find("<!-- error-codes:end -->").expect("end marker");
    let table = &readme[start + "<!-- error-codes:start -->\n".len()..end];
    assert!(
        table == api::error::markdown_table(),
        "README.md's error table is out of date: replace it with `nimbusfleet error-codes`"
    );
}

#[test]
fn every_setting_is_documented_in_the_readme() {
    let readme = readme();
    let defaults: toml::Table = toml::from_str(nimbusfleet::settings::DEFAULTS).unwrap();
    let mut missing = Vec::new();
    for (section, table) in &defaults {
        for (key, value) in table.as_table().unwrap() {
            let mut keys = vec![format!("{section}.{key}")];
            if let Some(nested) = value.as_table().filter(|t| !t.is_empty()) {
                keys = nested
                    .keys()
                    .map(|k| format!("{section}.{key}.{k}"))
                    .collect();
            }
            missing.extend(
                keys.into_iter()
                    .filter(|k| !readme.contains(&format!("| `{k}` |"))),
            );
        }
    }
    assert!(
        missing.is_empty(),
        "settings missing from README.md: {missing:?}"
    );
}
