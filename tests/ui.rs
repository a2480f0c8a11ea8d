//! What misuse of the derives looks like to a user: each file in tests/ui must
//! fail to compile with the message in its .stderr.

#[test]
fn derive_misuse_is_a_clear_compile_error() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
