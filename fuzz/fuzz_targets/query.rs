//! Arbitrary text given to every query operator: values must travel as
//! parameters and never appear in the query text.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    redis_om::__fuzz::query(data);
});
