//! Arbitrary bytes parsed as a RESP reply, then read by every reply parser of
//! redis-om (search, cursor, hash fields, FT.INFO, JSON documents).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    redis_om::__fuzz::reply(data);
});
