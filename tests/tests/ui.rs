//! Compile-time behaviour of `#[cached]`: every supported shape builds and runs (`ui/pass`), and
//! every misuse is one clear error at the offending token (`ui/fail`, with checked-in `.stderr`
//! snapshots; regenerate them with `TRYBUILD=overwrite` and read the diff).
//!
//! trybuild resolves the globs against the directory `cargo test` runs in, the package root
//! (`tests/`), so `ui/pass/*.rs` is `tests/ui/pass/*.rs` in the workspace.

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.pass("ui/pass/*.rs");
    cases.compile_fail("ui/fail/*.rs");
}
