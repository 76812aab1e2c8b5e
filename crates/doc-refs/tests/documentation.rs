// SPDX-License-Identifier: GPL-2.0

//! Every ``path.rs`` ``Item`` reference in Documentation/ names a file that
//! exists and defines the item (see the crate docs for what counts).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn documentation_references_exist() {
    let root = repo_root();
    let docs = doc_refs::rst_files(&root.join("Documentation")).expect("read Documentation/");
    assert!(!docs.is_empty(), "no .rst files under Documentation/");
    let mut parsed = HashMap::new();
    let mut errors = Vec::new();
    let mut items = 0;
    for doc in &docs {
        let text = std::fs::read_to_string(doc).expect("read a .rst file");
        let name = doc.strip_prefix(&root).unwrap_or(doc).display().to_string();
        errors.extend(doc_refs::check(&root, &name, &text, &mut parsed));
        let n = doc_refs::references(&text).iter().filter(|r| r.item.is_some()).count();
        // The I/O model pages are built on such references: a page without
        // any means the scanner no longer sees them, and checks nothing.
        if name.contains("Documentation/models/") {
            assert!(n > 0, "{name}: no ``path.rs`` ``Item`` reference found");
        }
        items += n;
    }
    assert!(errors.is_empty(), "{} broken references:\n{}", errors.len(), errors.join("\n"));
    println!("{} documentation files, {items} item references checked", docs.len());
}
