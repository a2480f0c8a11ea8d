use super::*;
use crate::query::text::words;
use crate::schema::FieldKind;
use crate::storage::Storage;
use plan::{Load, Plan};
use redis::Cmd;

struct User;

fn spec(name: &'static str, storage: Storage) -> FieldSpec {
    FieldSpec::new(name, "name_fts", name, '|', storage)
}

fn tag(name: &'static str) -> TagField<User, String> {
    TagField::new(
        spec(name, Storage::Hash),
        crate::__private::decode_hash_field,
    )
}

fn num() -> NumericField<User, Option<f64>, true> {
    NumericField::new(
        spec("age", Storage::Hash),
        crate::__private::decode_hash_field,
    )
}

fn text() -> TextField<User, String> {
    TextField::new(
        spec("name", Storage::Hash),
        crate::__private::decode_hash_field,
    )
}

fn q(expr: Expr<User>) -> (String, Vec<String>) {
    let (text, params) = expr.to_query().unwrap();
    (text, params.into_iter().map(|(_, v)| v).collect())
}

fn err(expr: Expr<User>) -> String {
    match expr.to_query() {
        Err(crate::Error::InvalidArgument(reason)) => reason,
        other => panic!("expected an invalid argument, got {other:?}"),
    }
}

#[test]
fn tag_values_travel_as_params() {
    let email = tag("email");
    assert_eq!(
        q(email.eq("a.b+c@x.com")),
        ("@email:{$p0}".into(), vec!["a.b+c@x.com".into()])
    );
    assert_eq!(
        q(email.ne("x")),
        ("-(@email:{$p0})".into(), vec!["x".into()])
    );
    assert_eq!(
        q(email.is_in(["a", "b"])),
        ("@email:{$p0 | $p1}".into(), vec!["a".into(), "b".into()])
    );
    assert_eq!(
        q(email.not_in(vec![String::from("a")])),
        ("-(@email:{$p0})".into(), vec!["a".into()])
    );
    assert_eq!(q(email.starts_with("St. B")).0, "@email:{$p0*}");
    assert_eq!(q(email.ends_with("ier")).0, "@email:{*$p0}");
    assert_eq!(q(email.contains("-on-")).0, "@email:{*$p0*}");
    // The server unescapes parameter values: backslashes are doubled.
    assert_eq!(q(email.eq("a\\!")).1, vec!["a\\\\!".to_string()]);
    // A query-syntax look-alike stays a value.
    assert_eq!(
        q(email.eq("x} @pk:{*")),
        ("@email:{$p0}".into(), vec!["x} @pk:{*".into()])
    );
}

#[test]
fn tag_values_are_normalized_like_the_indexer() {
    let tags = tag("tags");
    // Stored "x|y" is indexed as the tags x and y.
    assert_eq!(
        q(tags.eq("x| y ")),
        (
            "(@tags:{$p0} @tags:{$p1})".into(),
            vec!["x".into(), "y".into()]
        )
    );
    assert_eq!(
        q(tags.is_in(["a", "x|y"])),
        (
            "(@tags:{$p0}) | (@tags:{$p1} @tags:{$p2})".into(),
            vec!["a".into(), "x".into(), "y".into()]
        )
    );
    assert_eq!(q(tags.eq("  lead\t")).1, vec!["lead".to_string()]);
    assert!(err(tags.eq("")).contains("empty tag"));
    assert!(err(tags.eq(" | ")).contains("empty tag"));
    assert!(err(tags.starts_with("a|b")).contains("separator"));
    // An empty IN matches nothing, so nothing is sent; NOT IN of nothing is everything.
    assert_eq!(q(tags.is_in(Vec::<&str>::new())), (String::new(), vec![]));
    assert_eq!(q(tags.not_in(Vec::<&str>::new())).0, "*");
}

#[test]
fn numeric_ranges() {
    let age = num();
    assert_eq!(q(age.eq(38.0)).0, "@age:[38.0 38.0]");
    assert_eq!(q(age.gt(38.5)).0, "@age:[(38.5 +inf]");
    assert_eq!(q(age.ge(38.0)).0, "@age:[38.0 +inf]");
    assert_eq!(q(age.lt(-1.0)).0, "@age:[-inf (-1.0]");
    assert_eq!(q(age.le(1e21)).0, "@age:[-inf 1e21]");
    assert_eq!(q(age.between(1.0, 2.0)).0, "@age:[1.0 2.0]");
    assert_eq!(q(age.ne(3.0)).0, "-(@age:[3.0 3.0])");
    assert_eq!(
        q(age.is_in([1.0, 2.0])).0,
        "(@age:[1.0 1.0]) | (@age:[2.0 2.0])"
    );
    assert_eq!(q(age.lt(f64::INFINITY)).0, "@age:[-inf (+inf]");
    assert!(err(age.eq(f64::NAN)).contains("NaN"));
    let int: NumericField<User, u64> = NumericField::new(
        spec("n", Storage::Hash),
        crate::__private::decode_hash_field,
    );
    assert_eq!(
        q(int.eq(u64::MAX)).0,
        "@n:[18446744073709551615 18446744073709551615]"
    );
}

#[test]
fn combinators_nest() {
    let email = tag("email");
    let age = num();
    let e = (email.eq("a") & age.gt(1.0)) | !(email.eq("b") | age.lt(0.0));
    assert_eq!(
        q(e).0,
        "((@email:{$p0}) (@age:[(1.0 +inf])) | (-((@email:{$p1}) | (@age:[-inf (0.0])))"
    );
    // Flattened, and constants folded away.
    let e = email.eq("a") & email.eq("b") & email.eq("c") & Expr::all();
    assert_eq!(q(e).0, "(@email:{$p0}) (@email:{$p1}) (@email:{$p2})");
    assert_eq!(q(email.eq("a") | Expr::all()).0, "*");
    assert_eq!(q(!Expr::<User>::all()), (String::new(), vec![]));
    assert_eq!(q(email.eq("a") & Expr::none()).0, "");
    assert_eq!(q(!!email.eq("a")).0, "@email:{$p0}");
    // An invalid value anywhere is reported, not sent.
    assert!(err((email.eq("a") | email.eq("")) & age.gt(1.0)).contains("empty tag"));
}

#[test]
fn text_search() {
    let name = text();
    assert_eq!(
        q(name.matches("St. Brookins-on-Pier")),
        (
            "@name_fts:($p0 $p1 $p2)".into(),
            vec!["st".into(), "brookins".into(), "pier".into()]
        )
    );
    assert_eq!(
        q(name.matches_phrase("brown fox")).0,
        "(@name_fts:($p0 $p1) => { $slop: 0; $inorder: true; })"
    );
    assert_eq!(q(name.matches_phrase("fox")).0, "@name_fts:($p0)");
    assert_eq!(
        q(name.matches_prefix("quick bro")).0,
        "@name_fts:($p0 $p1*)"
    );
    assert_eq!(q(name.fuzzy("fox")).0, "@name_fts:(%$p0%)");
    assert!(err(name.matches("the, a; of!")).contains("no searchable word"));
    // Tag operators work on a full-text field too.
    assert_eq!(q(name.eq("Ada")).0, "@name:{$p0}");
    assert_eq!(words("tab\tsep|a/b?c"), vec!["tab", "sep", "a", "b", "c"]);
    // A backslash keeps the next character in the word, as the indexer does.
    assert_eq!(words("aa\\: b\\\\c"), vec!["aa:", "b\\c"]);
    // As RediSearch 2.10 indexes them (checked with FT.DEBUG DUMP_TERMS): a
    // newline or other control character is dropped, not a separator; a
    // no-break space is part of the word; only ASCII letters are lowercased.
    assert_eq!(
        words("First line\nsecond ÉCOLE non\u{a0}breaking a\\ b x_y"),
        vec![
            "first",
            "linesecond",
            "École",
            "non\u{a0}breaking",
            "a b",
            "x_y"
        ]
    );
    // A repeated word is sent once, except in a phrase.
    assert_eq!(q(name.matches("fox Fox FOX dog")).1.len(), 2);
    assert_eq!(q(name.matches_phrase("fox fox")).1.len(), 2);
}

#[test]
fn questions_the_server_cannot_answer_are_errors() {
    let name = text();
    let email = tag("email");
    for short in ["a", " a ", "é"] {
        assert!(
            err(email.starts_with(short)).contains("MINPREFIX"),
            "{short:?}"
        );
        assert!(
            err(email.ends_with(short)).contains("MINPREFIX"),
            "{short:?}"
        );
        assert!(
            err(email.contains(short)).contains("MINPREFIX"),
            "{short:?}"
        );
        assert!(err(name.matches_prefix(format!("quick {short}"))).contains("MINPREFIX"));
    }
    assert_eq!(q(email.starts_with("ab")).0, "@email:{$p0*}");
    let tag_ok = "t".repeat(MAX_TAG_BYTES);
    let tag_long = "t".repeat(MAX_TAG_BYTES + 1);
    assert!(email.eq(tag_ok.as_str()).to_query().is_ok());
    assert!(err(email.eq(tag_long.as_str())).contains("4096 bytes"));
    assert!(err(email.is_in([tag_long.as_str()])).contains("4096 bytes"));
    assert!(err(email.starts_with(&tag_long)).contains("4096 bytes"));
    let word_long = "w".repeat(MAX_WORD_BYTES + 1);
    assert!(name.matches("w".repeat(MAX_WORD_BYTES)).to_query().is_ok());
    assert!(err(name.matches(format!("ok {word_long}"))).contains("128 bytes"));
    let many: Vec<String> = (0..=MAX_TEXT_WORDS).map(|i| format!("w{i}")).collect();
    assert!(err(name.matches(many.join(" "))).contains("at most 128"));
    // Repeated words count once: a megabyte of the same words is fine.
    let repeated = "alpha beta ".repeat(50_000);
    assert_eq!(q(name.matches(&repeated)).1.len(), 2);
}

#[test]
fn attribute_names_are_escaped_in_the_query_text() {
    let kebab: TagField<User, String> = TagField::new(
        spec("e-mail", Storage::Hash),
        crate::__private::decode_hash_field,
    );
    assert_eq!(q(kebab.eq("x")).0, "@e\\-mail:{$p0}");
    let dotted: NumericField<User, f64> = NumericField::new(
        spec("a.b c", Storage::Hash),
        crate::__private::decode_hash_field,
    );
    assert_eq!(q(dotted.eq(1.0)).0, "@a\\.b\\ c:[1.0 1.0]");
    let unicode: TagField<User, String> = TagField::new(
        spec("café_ü", Storage::Hash),
        crate::__private::decode_hash_field,
    );
    assert_eq!(q(unicode.eq("x")).0, "@café_ü:{$p0}");
    assert_eq!(crate::schema::json_member("email"), ".email");
    assert_eq!(crate::schema::json_member("e-mail"), "[\"e-mail\"]");
    assert_eq!(crate::schema::json_member("2fa"), "[\"2fa\"]");
    assert_eq!(crate::schema::json_member("a\"b"), "[\"a\\\"b\"]");
}

#[test]
fn bools_follow_the_storage() {
    let hash: BoolField<User, bool> = BoolField::new(
        spec("ok", Storage::Hash),
        crate::__private::decode_hash_field,
    );
    let json: BoolField<User, bool> = BoolField::new(
        spec("ok", Storage::Json),
        crate::__private::decode_json_field,
    );
    assert_eq!(q(hash.eq(true)), ("@ok:{$p0}".into(), vec!["1".into()]));
    assert_eq!(
        q(json.eq(false)),
        ("@ok:{$p0}".into(), vec!["false".into()])
    );
}

fn args(cmd: &Cmd) -> Vec<String> {
    cmd.args_iter()
        .map(|a| match a {
            redis::Arg::Simple(b) => String::from_utf8_lossy(b).into_owned(),
            redis::Arg::Cursor => "<cursor>".into(),
            _ => "<other>".into(),
        })
        .collect()
}

fn no_schema() -> crate::schema::IndexSchema {
    crate::schema::IndexSchema::new(Storage::Hash, ":User:", Vec::new())
}

#[test]
fn commands() {
    let plan = Plan {
        index: ":User:index",
        layout: layout(),
        model: "User",
        schema: no_schema,
        query: "@email:{$p0}".into(),
        params: vec![(std::borrow::Cow::Borrowed("p0"), "a@b".into())],
        blobs: vec![],
        sort: Some(("age", SortOrder::Desc)),
        load: Load::Document {
            storage: Storage::Hash,
        },
        batch: 500,
        max_results: None,
        apply: None,
        expands: false,
    };
    assert_eq!(
        args(&plan.search(100, 10)).join(" "),
        "FT.SEARCH :User:index @email:{$p0} SORTBY age DESC LIMIT 100 10 PARAMS 2 p0 a@b DIALECT 2"
    );
    assert_eq!(
        args(&plan.search(0, 0)).join(" "),
        "FT.SEARCH :User:index @email:{$p0} LIMIT 0 0 PARAMS 2 p0 a@b DIALECT 2"
    );
    assert_eq!(
        args(&plan.aggregate(1200, 500, super::cursor::READ_IDLE)).join(" "),
        "FT.AGGREGATE :User:index @email:{$p0} SORTBY 2 @age DESC MAX 1200 LOAD * LOAD 1 @__key \
         WITHCURSOR COUNT 500 MAXIDLE 5000 PARAMS 2 p0 a@b DIALECT 2"
    );
    assert_eq!(
        args(&plan.read_cursor(42, 500)).join(" "),
        "FT.CURSOR READ :User:index 42 COUNT 500"
    );
    let json = Plan {
        sort: None,
        params: vec![],
        blobs: vec![],
        query: "*".into(),
        load: Load::Fields {
            storage: Storage::Json,
            fields: vec![attr("$.name", "name", false), attr("$.tags", "tags", false)],
        },
        ..plan
    };
    assert_eq!(
        args(&json.search(0, 5)).join(" "),
        "FT.SEARCH :User:index * RETURN 6 $.name AS name $.tags AS tags LIMIT 0 5 DIALECT 3"
    );
    assert_eq!(
        args(&json.aggregate(0, 32, super::cursor::STREAM_IDLE)).join(" "),
        "FT.AGGREGATE :User:index * LOAD 7 @__key $.name AS name $.tags AS tags \
         WITHCURSOR COUNT 32 MAXIDLE 300000 DIALECT 3"
    );
}

fn layout() -> &'static crate::KeyLayout {
    static LAYOUT: std::sync::LazyLock<crate::KeyLayout> =
        std::sync::LazyLock::new(|| crate::KeyLayout::new("", "User", None));
    &LAYOUT
}

fn attr(source: &'static str, name: &'static str, numeric: bool) -> ProjectedAttr {
    ProjectedAttr {
        source,
        name,
        numeric,
    }
}

#[test]
fn hash_projections_with_numbers_read_the_stored_hash() {
    let plan = |fields| Plan {
        index: "i",
        layout: layout(),
        model: "User",
        schema: no_schema,
        query: "*".into(),
        params: vec![],
        blobs: vec![],
        sort: None,
        load: Load::Fields {
            storage: Storage::Hash,
            fields,
        },
        batch: 10,
        max_results: None,
        apply: None,
        expands: false,
    };
    let tags = plan(vec![attr("name", "name", false)]);
    assert_eq!(
        args(&tags.search(0, 5)).join(" "),
        "FT.SEARCH i * RETURN 1 name LIMIT 0 5 DIALECT 2"
    );
    // A NUMERIC attribute in RETURN would come back rounded to 12 digits.
    let numbers = plan(vec![attr("name", "name", false), attr("age", "age", true)]);
    assert_eq!(
        args(&numbers.search(0, 5)).join(" "),
        "FT.SEARCH i * LIMIT 0 5 DIALECT 2"
    );
    assert_eq!(
        args(&numbers.aggregate(0, 10, super::cursor::READ_IDLE)).join(" "),
        "FT.AGGREGATE i * LOAD * LOAD 1 @__key WITHCURSOR COUNT 10 MAXIDLE 5000 DIALECT 2"
    );
}

#[test]
fn projected_json_values() {
    use crate::__private::decode_json_field;
    assert_eq!(
        decode_json_field::<String>(Some(br#"["Ada"]"#)),
        Ok("Ada".into())
    );
    assert_eq!(
        decode_json_field::<Vec<String>>(Some(br#"[["a","b"]]"#)),
        Ok(vec!["a".into(), "b".into()])
    );
    assert_eq!(decode_json_field::<Option<u32>>(Some(b"[]")), Ok(None));
    assert_eq!(decode_json_field::<Option<u32>>(None), Ok(None));
    assert!(decode_json_field::<u32>(None).is_err());
}

#[test]
fn kinds_come_from_the_type() {
    assert_eq!(<Option<String> as Indexable>::KIND, FieldKind::Tag);
    assert_eq!(<u16 as Indexable>::KIND, FieldKind::Numeric);
    const { assert!(<Vec<String> as Indexable>::MULTI) };
    assert_eq!(<bool as Indexable>::KIND, FieldKind::Bool);
}
