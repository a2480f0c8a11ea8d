//! A bounded, deterministic run of the fuzz entry points (the same code the
//! cargo-fuzz targets in `fuzz/` run for as long as you like): random RESP
//! replies into the reply parsers, random text into the query builder.
//! `redis_om::__fuzz` needs the feature `fuzzing` (`scripts/test` enables all).
#![cfg(feature = "fuzzing")]

use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed, TestRunner};

/// RESP2/RESP3 replies shaped like what redis-om reads, but with random parts.
fn resp() -> impl Strategy<Value = Vec<u8>> {
    let leaf = prop_oneof![
        any::<Vec<u8>>().prop_map(|b| {
            let mut out = format!("${}\r\n", b.len()).into_bytes();
            out.extend(b);
            out.extend(b"\r\n");
            out
        }),
        prop_oneof![
            Just("__key"),
            Just("$"),
            Just("total_results"),
            Just("results"),
            Just("extra_attributes"),
            Just("id"),
            Just("name")
        ]
        .prop_map(|s| format!("${}\r\n{s}\r\n", s.len()).into_bytes()),
        any::<i64>().prop_map(|i| format!(":{i}\r\n").into_bytes()),
        Just(b"_\r\n".to_vec()),
        Just(b"$-1\r\n".to_vec()),
        "[a-z ]{0,12}".prop_map(|e| format!("-ERR {e}\r\n").into_bytes()),
        any::<f64>().prop_map(|d| format!(",{d}\r\n").into_bytes()),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..8).prop_map(|items| {
                let mut out = format!("*{}\r\n", items.len()).into_bytes();
                for i in items {
                    out.extend(i);
                }
                out
            }),
            proptest::collection::vec((inner.clone(), inner), 0..6).prop_map(|pairs| {
                let mut out = format!("%{}\r\n", pairs.len()).into_bytes();
                for (k, v) in pairs {
                    out.extend(k);
                    out.extend(v);
                }
                out
            }),
        ]
    })
}

fn config(cases: u32) -> Config {
    Config {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|c| c.parse().ok())
            .unwrap_or(cases),
        rng_seed: RngSeed::Fixed(0x6675_7a7a),
        failure_persistence: None,
        ..Config::default()
    }
}

#[test]
fn reply_parsers_never_panic() {
    let mut runner = TestRunner::new(config(5_000));
    runner
        .run(&prop_oneof![resp(), any::<Vec<u8>>()], |bytes| {
            redis_om::__fuzz::reply(&bytes);
            Ok(())
        })
        .unwrap();
}

#[test]
fn query_builder_keeps_values_out_of_the_query_text() {
    let mut runner = TestRunner::new(config(5_000));
    runner
        .run(
            &prop_oneof![
                any::<String>().prop_map(String::into_bytes),
                any::<Vec<u8>>()
            ],
            |bytes| {
                redis_om::__fuzz::query(&bytes);
                Ok(())
            },
        )
        .unwrap();
}
