//! What misuse of the derives looks like to a user: each file in tests/ui must
//! fail to compile with the message in its .stderr.

// rustc lists the implementing types in some messages, and that list depends
// on the enabled features: the .stderr files are recorded with --all-features,
// as scripts/test runs.
#[test]
#[cfg_attr(
    not(feature = "chrono"),
    ignore = "expected messages are recorded with --all-features: run scripts/test"
)]
fn derive_misuse_is_a_clear_compile_error() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
