// SPDX-License-Identifier: GPL-2.0

//! Checks that the reStructuredText under `Documentation/` points at code
//! that exists.
//!
//! The pages name code as a repository path in one inline literal followed,
//! after nothing but white space, by an item in the next one:
//! ``` ``rust/simnic/sock/endpoint.rs`` ``Endpoint::poll`` ```. A path alone must
//! name an existing file; a path with an item must name a file that
//! *defines* it, which is decided by parsing the file with `syn`, so a
//! mention in a comment or a call elsewhere does not count:
//!
//! - `Item`: a function, struct, enum, union, constant, static, type
//!   alias, trait, module or `macro_rules!` named so, anywhere in the file
//!   (nested modules and `impl` and `trait` members included), or the type
//!   an `impl` block is for;
//! - `Type::item` (of a longer path, the last two segments): a method,
//!   constant or type in an `impl` of `Type` or of the trait `Type`, or in
//!   `trait Type`; a variant of `enum Type`; a named field of `struct Type`.
//!
//! Paths are recognised only under the repository's code directories
//! ([`CODE_ROOTS`]): the pages also name files relative to other
//! directories (``` ``fs/file.rs`` ``` under `rust/kernel/`), which are not
//! repository paths.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use syn::visit::{self, Visit};

/// Top-level directories whose `.rs` files the documentation may name.
pub const CODE_ROOTS: &[&str] = &["rust/", "crates/", "tests/", "samples/", "tools/"];

/// One reference found in a documentation file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reference {
    /// 1-based line of the path's literal.
    pub line: usize,
    /// The repository-relative `.rs` path.
    pub file: String,
    /// The item literal that follows it, if any: `Item` or `Type::item`.
    pub item: Option<String>,
}

/// The inline literals (` ``...`` `) of a reST text, as (start of the
/// opening backquotes, end of the closing ones, content). A literal ends
/// at the next pair of backquotes, as in reST.
fn inline_literals(text: &str) -> Vec<(usize, usize, &str)> {
    let mut out = Vec::new();
    let mut pos = 0;
    while let Some(open) = text[pos..].find("``").map(|i| pos + i) {
        let body = open + 2;
        let Some(close) = text[body..].find("``").map(|i| body + i) else {
            break;
        };
        out.push((open, close + 2, &text[body..close]));
        pos = close + 2;
    }
    out
}

/// Whether `s` is a repository path of a Rust file under [`CODE_ROOTS`].
fn is_code_path(s: &str) -> bool {
    s.ends_with(".rs")
        && CODE_ROOTS.iter().any(|r| s.starts_with(r))
        && !s.contains("..")
        && !s.contains("//")
        && s.chars().all(|c| c.is_ascii_alphanumeric() || "_./-".contains(c))
}

/// Whether `s` is a Rust path: identifiers joined by `::`.
fn is_item_path(s: &str) -> bool {
    s.split("::").all(|seg| {
        let mut chars = seg.chars();
        matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
    })
}

/// Every code reference in the reST `text`.
pub fn references(text: &str) -> Vec<Reference> {
    let lits = inline_literals(text);
    let mut out = Vec::new();
    for (i, &(start, end, content)) in lits.iter().enumerate() {
        if !is_code_path(content) {
            continue;
        }
        let item = lits.get(i + 1).and_then(|&(next, _, item)| {
            let between = &text[end..next];
            (between.chars().all(char::is_whitespace) && is_item_path(item)).then(|| item.to_string())
        });
        out.push(Reference {
            line: text[..start].matches('\n').count() + 1,
            file: content.to_string(),
            item,
        });
    }
    out
}

/// What a Rust file defines, as far as references can name it.
#[derive(Debug, Default)]
pub struct Definitions {
    /// Names of items, `impl` and `trait` members, and `impl` self types.
    names: HashSet<String>,
    /// (type or trait, member): `impl` and `trait` members, enum variants,
    /// named struct fields.
    members: HashSet<(String, String)>,
}

impl Definitions {
    /// Parses a Rust source file.
    pub fn parse(src: &str) -> syn::Result<Self> {
        let file = syn::parse_file(src)?;
        let mut defs = Self::default();
        defs.visit_file(&file);
        Ok(defs)
    }

    /// Whether `item` (`Item` or `Type::item`, see the crate docs) is
    /// defined.
    pub fn defines(&self, item: &str) -> bool {
        let segs: Vec<&str> = item.split("::").collect();
        match segs.as_slice() {
            [name] => self.names.contains(*name),
            [.., ty, member] => self.members.contains(&(ty.to_string(), member.to_string())),
            [] => false,
        }
    }

    fn name(&mut self, ident: &syn::Ident) {
        self.names.insert(ident.to_string());
    }

    fn member(&mut self, owner: &str, ident: &syn::Ident) {
        self.names.insert(ident.to_string());
        self.members.insert((owner.to_string(), ident.to_string()));
    }
}

/// The last identifier of a type path (`Foo` of `crate::x::Foo<T>`).
fn last_ident(ty: &syn::Type) -> Option<String> {
    match ty {
        syn::Type::Path(p) => p.path.segments.last().map(|s| s.ident.to_string()),
        _ => None,
    }
}

impl<'ast> Visit<'ast> for Definitions {
    fn visit_item_fn(&mut self, i: &'ast syn::ItemFn) {
        self.name(&i.sig.ident);
        visit::visit_item_fn(self, i);
    }
    fn visit_item_struct(&mut self, i: &'ast syn::ItemStruct) {
        self.name(&i.ident);
        let owner = i.ident.to_string();
        for f in &i.fields {
            if let Some(id) = &f.ident {
                // A field is only a member: ``Item`` alone means an item.
                self.members.insert((owner.clone(), id.to_string()));
            }
        }
        visit::visit_item_struct(self, i);
    }
    fn visit_item_enum(&mut self, i: &'ast syn::ItemEnum) {
        self.name(&i.ident);
        let owner = i.ident.to_string();
        for v in &i.variants {
            self.members.insert((owner.clone(), v.ident.to_string()));
        }
        visit::visit_item_enum(self, i);
    }
    fn visit_item_union(&mut self, i: &'ast syn::ItemUnion) {
        self.name(&i.ident);
        visit::visit_item_union(self, i);
    }
    fn visit_item_const(&mut self, i: &'ast syn::ItemConst) {
        self.name(&i.ident);
        visit::visit_item_const(self, i);
    }
    fn visit_item_static(&mut self, i: &'ast syn::ItemStatic) {
        self.name(&i.ident);
        visit::visit_item_static(self, i);
    }
    fn visit_item_type(&mut self, i: &'ast syn::ItemType) {
        self.name(&i.ident);
        visit::visit_item_type(self, i);
    }
    fn visit_item_mod(&mut self, i: &'ast syn::ItemMod) {
        self.name(&i.ident);
        visit::visit_item_mod(self, i);
    }
    fn visit_item_macro(&mut self, i: &'ast syn::ItemMacro) {
        if let Some(id) = &i.ident {
            self.name(id);
        }
        visit::visit_item_macro(self, i);
    }
    fn visit_foreign_item_fn(&mut self, i: &'ast syn::ForeignItemFn) {
        self.name(&i.sig.ident);
        visit::visit_foreign_item_fn(self, i);
    }
    fn visit_item_trait(&mut self, i: &'ast syn::ItemTrait) {
        self.name(&i.ident);
        let owner = i.ident.to_string();
        for item in &i.items {
            match item {
                syn::TraitItem::Fn(f) => self.member(&owner, &f.sig.ident),
                syn::TraitItem::Const(c) => self.member(&owner, &c.ident),
                syn::TraitItem::Type(t) => self.member(&owner, &t.ident),
                _ => {}
            }
        }
        visit::visit_item_trait(self, i);
    }
    fn visit_item_impl(&mut self, i: &'ast syn::ItemImpl) {
        // The impl's self type, and its trait if any, own its members:
        // ``SimnicDev::read_iter`` and ``MiscDevice::read_iter`` both name
        // `fn read_iter` in `impl MiscDevice for SimnicDev`.
        let mut owners: Vec<String> = last_ident(&i.self_ty).into_iter().collect();
        if let Some((path, _)) = &i.trait_ {
            owners.extend(path.segments.last().map(|s| s.ident.to_string()));
        }
        if let Some(ty) = owners.first() {
            self.names.insert(ty.clone());
        }
        for item in &i.items {
            let ident = match item {
                syn::ImplItem::Fn(f) => &f.sig.ident,
                syn::ImplItem::Const(c) => &c.ident,
                syn::ImplItem::Type(t) => &t.ident,
                _ => continue,
            };
            for owner in &owners {
                self.member(owner, ident);
            }
        }
        visit::visit_item_impl(self, i);
    }
}

/// The `.rst` files under `dir`, recursively, sorted.
pub fn rst_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d)? {
            let path = entry?.path();
            if path.is_dir() {
                todo.push(path);
            } else if path.extension().is_some_and(|e| e == "rst") {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Checks every reference of the reST `text` against the repository at
/// `root`; returns one message per broken reference. `parsed` caches the
/// definitions of files already parsed (a parse error is cached as such).
pub fn check(
    root: &Path,
    doc: &str,
    text: &str,
    parsed: &mut std::collections::HashMap<String, Result<Definitions, String>>,
) -> Vec<String> {
    let mut errors = Vec::new();
    for r in references(text) {
        let at = format!("{doc}:{}", r.line);
        let path = root.join(&r.file);
        if !path.is_file() {
            errors.push(format!("{at}: {} does not exist", r.file));
            continue;
        }
        let Some(item) = &r.item else { continue };
        let defs = parsed.entry(r.file.clone()).or_insert_with(|| {
            let src = std::fs::read_to_string(&path).map_err(|e| e.to_string())?;
            Definitions::parse(&src).map_err(|e| format!("does not parse: {e}"))
        });
        match defs {
            Err(e) => errors.push(format!("{at}: {}: {e}", r.file)),
            Ok(d) if !d.defines(item) => {
                errors.push(format!("{at}: {} does not define {item}", r.file));
            }
            Ok(_) => {}
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: &str = r#"
        pub(crate) struct Endpoint { pub(crate) wq: u32, id: u64 }
        enum Rx { Datagram, Eof }
        impl Endpoint {
            pub(crate) fn poll(&self) {}
            fn recv(&self) { fn inner() {} }
            const SLOTS: usize = 4;
        }
        impl<T: Clone> MiscDevice for Wrapper<T> { fn read_iter() {} }
        trait Callback { fn run(); }
        macro_rules! new_queue { () => {} }
        mod m { pub fn nested() {} }
        // fn only_in_a_comment() {}
        fn caller() { not_defined_here(); }
    "#;

    #[test]
    fn definitions() {
        let d = Definitions::parse(SRC).unwrap();
        for yes in [
            "Endpoint", "Endpoint::poll", "Endpoint::recv", "Endpoint::SLOTS", "Endpoint::wq",
            "Rx::Eof", "Wrapper::read_iter", "MiscDevice::read_iter", "Wrapper", "Callback::run",
            "new_queue", "nested", "inner", "poll", "crate::endpoint::Endpoint::poll",
        ] {
            assert!(d.defines(yes), "{yes} should be defined");
        }
        for no in [
            "Endpoint::send", "Rx::Error", "Wrapper::poll", "Endpoint::read_iter", "wq",
            "only_in_a_comment", "not_defined_here", "Callback::stop", "Missing",
        ] {
            assert!(!d.defines(no), "{no} should not be defined");
        }
    }

    #[test]
    fn finds_references() {
        let text = "See ``rust/simnic/sock/endpoint.rs``\n   ``Endpoint::poll`` and\n\
                    ``tests/guest/src/cases/sigio.rs`` ``sigio_o_async_flag``;\n\
                    ``rust/simnic/fops/simnic.rs``, ``read_iter`` (not paired),\n\
                    ``fs/file.rs`` ``File`` (not a repository path),\n\
                    ``rust/simnic.rs`` ``a b`` (not an item), ``poll``.";
        let refs = references(text);
        let got: Vec<(usize, &str, Option<&str>)> =
            refs.iter().map(|r| (r.line, r.file.as_str(), r.item.as_deref())).collect();
        assert_eq!(
            got,
            [
                (1, "rust/simnic/sock/endpoint.rs", Some("Endpoint::poll")),
                (3, "tests/guest/src/cases/sigio.rs", Some("sigio_o_async_flag")),
                (4, "rust/simnic/fops/simnic.rs", None),
                (6, "rust/simnic.rs", None),
            ]
        );
    }

    #[test]
    fn reports_broken_references() {
        let dir = std::env::temp_dir().join(format!("doc-refs-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("rust")).unwrap();
        std::fs::write(dir.join("rust/a.rs"), SRC).unwrap();
        std::fs::write(dir.join("rust/bad.rs"), "fn (").unwrap();
        let text = "``rust/a.rs`` ``Endpoint::poll`` ``rust/a.rs`` ``Endpoint::gone``\n\
                    ``rust/missing.rs`` ``x`` ``rust/bad.rs`` ``f`` ``rust/a.rs``";
        let mut cache = Default::default();
        let errors = check(&dir, "doc.rst", text, &mut cache);
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(errors.len(), 3, "{errors:#?}");
        assert!(errors[0].starts_with("doc.rst:1: rust/a.rs does not define Endpoint::gone"));
        assert!(errors[1].starts_with("doc.rst:2: rust/missing.rs does not exist"));
        assert!(errors[2].starts_with("doc.rst:2: rust/bad.rs: does not parse"));
    }
}
