//! Property test of query escaping against the real server: random strings are
//! saved and each is found by `eq` — exactly the documents RediSearch indexes
//! with those tags, and no other. Values travel as query parameters, so no
//! string can change the query or raise a syntax error.
//!
//! The seed is fixed so that CI is reproducible; a longer exploration:
//! `PROPTEST_CASES=20000 REDIS_OM_PROPTEST_SEED=random scripts/test --test query_props`.

mod common;

use std::collections::BTreeSet;

use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed, TestRunner};
use redis_om::blocking::prelude::*;
use redis_om::Error;

#[derive(HashModel, Debug, Clone, PartialEq)]
#[redis_om(prefix = "PropTag")]
struct Tagged {
    pk: Option<String>,
    #[redis_om(index, case_sensitive)]
    value: String,
}

/// The tags RediSearch indexes for a stored value: split at `|`, trimmed of
/// ASCII whitespace, empty parts dropped.
fn tags(value: &str) -> BTreeSet<&str> {
    value
        .split('|')
        .map(|p| p.trim_matches([' ', '\t', '\n', '\x0b', '\x0c', '\r']))
        .filter(|p| !p.is_empty())
        .collect()
}

fn value_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        // Anything at all (unicode, controls, punctuation).
        any::<String>(),
        // Short strings over a small, hostile alphabet, so that values collide,
        // share prefixes, and contain the separator and whitespace.
        "[ a\\tA|,.{}\\[\\]$*@\\-\\\\\"':;!?()+=~/^%#&<>é東😀]{0,6}",
    ]
}

fn config() -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(2_000);
    let rng_seed = match std::env::var("REDIS_OM_PROPTEST_SEED").as_deref() {
        Ok("random") => RngSeed::Random,
        Ok(seed) => RngSeed::Fixed(
            seed.parse()
                .expect("REDIS_OM_PROPTEST_SEED: a number or `random`"),
        ),
        Err(_) => RngSeed::Fixed(0x7265_6469_735f_6f6d),
    };
    Config {
        cases,
        rng_seed,
        failure_persistence: None,
        ..Config::default()
    }
}

#[test]
fn tag_eq_finds_exactly_what_was_saved() {
    let con = std::cell::RefCell::new(common::sync_con(&common::urls()[0]));
    redis_om::blocking::Migrator::new()
        .model::<Tagged>()
        .run(&mut *con.borrow_mut())
        .unwrap();
    let mut runner = TestRunner::new(config());
    let result = runner.run(
        &proptest::collection::vec(value_strategy(), 1..8),
        |values| {
            let con = &mut *con.borrow_mut();
            // Start each case from an empty model.
            Tagged::find_all().delete(con).unwrap();
            let mut saved = Vec::new();
            for v in &values {
                let mut doc = Tagged {
                    pk: None,
                    value: v.clone(),
                };
                let pk = doc.save(con).unwrap();
                saved.push((pk, v.clone()));
            }
            for v in &values {
                let wanted = tags(v);
                let result = Tagged::find(|t| t.value.eq(v.as_str())).all(con);
                if wanted.is_empty() {
                    prop_assert!(
                        matches!(result, Err(Error::InvalidArgument(_))),
                        "eq({v:?}) should be rejected as empty, got {result:?}"
                    );
                    continue;
                }
                let found: BTreeSet<String> = result
                    .map_err(|e| TestCaseError::fail(format!("eq({v:?}) failed: {e}")))?
                    .into_iter()
                    .map(|d| d.pk.unwrap())
                    .collect();
                let expected: BTreeSet<String> = saved
                    .iter()
                    .filter(|(_, stored)| wanted.is_subset(&tags(stored)))
                    .map(|(pk, _)| pk.clone())
                    .collect();
                prop_assert_eq!(found, expected, "eq({:?}) among {:?}", v, values);
            }
            Ok(())
        },
    );
    if let Err(err) = result {
        panic!("{err}");
    }
    Tagged::find_all().delete(&mut *con.borrow_mut()).unwrap();
    assert!(Tagged::key_layout().key_prefix().starts_with(":PropTag"));
}

#[derive(HashModel, Debug, Clone, PartialEq)]
#[redis_om(prefix = "PropText")]
struct Texted {
    pk: Option<String>,
    #[redis_om(full_text)]
    body: String,
}

#[test]
fn text_search_never_breaks_the_query_and_finds_its_document() {
    let con = std::cell::RefCell::new(common::sync_con(&common::urls()[0]));
    redis_om::blocking::Migrator::new()
        .model::<Texted>()
        .run(&mut *con.borrow_mut())
        .unwrap();
    let mut runner = TestRunner::new(config());
    let result = runner.run(&value_strategy(), |value| {
        let con = &mut *con.borrow_mut();
        Texted::find_all().delete(con).unwrap();
        let pk = Texted {
            pk: None,
            body: value.clone(),
        }
        .save(con)
        .unwrap();
        for (mode, result) in [
            (
                "matches",
                Texted::find(|t| t.body.matches(value.as_str())).all(con),
            ),
            (
                "matches_phrase",
                Texted::find(|t| t.body.matches_phrase(value.as_str())).all(con),
            ),
            (
                "fuzzy",
                Texted::find(|t| t.body.fuzzy(value.as_str())).all(con),
            ),
        ] {
            match result {
                // No searchable word (empty, punctuation, stop words only): said so, nothing sent.
                Err(Error::InvalidArgument(_)) => {}
                // A fuzzy or prefix pattern over more terms of the index than
                // the server expands (`fuzzy("b")`): refused, never cut.
                Err(Error::Query { message, .. }) if message.contains("MAXPREFIXEXPANSIONS") => {}
                Err(other) => {
                    return Err(TestCaseError::fail(format!(
                        "{mode}({value:?}) failed: {other}"
                    )));
                }
                Ok(found) => {
                    // Words RediSearch stems or folds differently from the input
                    // are out of scope; plain ASCII words must find their document.
                    let ascii = value.chars().all(|c| c.is_ascii() && !c.is_ascii_control());
                    if ascii && mode != "fuzzy" {
                        prop_assert!(
                            found.iter().any(|d| d.pk.as_deref() == Some(pk.as_str())),
                            "{}({:?}) did not find its document",
                            mode,
                            value
                        );
                    }
                }
            }
        }
        Ok(())
    });
    if let Err(err) = result {
        panic!("{err}");
    }
    Texted::find_all().delete(&mut *con.borrow_mut()).unwrap();
}
