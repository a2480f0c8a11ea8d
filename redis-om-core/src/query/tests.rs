use super::*;
use crate::query::field::words;

struct User;

fn spec(name: &'static str, storage: Storage) -> FieldSpec {
    FieldSpec {
        name,
        text_name: "name_fts",
        source: name,
        separator: '|',
        storage,
    }
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
            vec!["St".into(), "Brookins".into(), "Pier".into()]
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

#[test]
fn commands() {
    let plan = Plan {
        index: ":User:index",
        model: "User",
        query: "@email:{$p0}".into(),
        params: vec![(std::borrow::Cow::Borrowed("p0"), "a@b".into())],
        sort: Some(("age", SortOrder::Desc)),
        load: Load::Document {
            storage: Storage::Hash,
            hash_fields: &["pk", "email"],
        },
        batch: 500,
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
        args(&plan.aggregate(1200)).join(" "),
        "FT.AGGREGATE :User:index @email:{$p0} LOAD 3 @__key @pk @email SORTBY 2 @age DESC MAX 1200 \
         WITHCURSOR COUNT 500 PARAMS 2 p0 a@b DIALECT 2"
    );
    assert_eq!(
        args(&plan.read_cursor(42)).join(" "),
        "FT.CURSOR READ :User:index 42 COUNT 500"
    );
    let json = Plan {
        sort: None,
        params: vec![],
        query: "*".into(),
        load: Load::Fields {
            storage: Storage::Json,
            fields: vec![("$.name", "name"), ("$.tags", "tags")],
        },
        ..plan
    };
    assert_eq!(
        args(&json.search(0, 5)).join(" "),
        "FT.SEARCH :User:index * RETURN 6 $.name AS name $.tags AS tags LIMIT 0 5 DIALECT 3"
    );
    assert_eq!(
        args(&json.aggregate(0)).join(" "),
        "FT.AGGREGATE :User:index * LOAD 7 @__key $.name AS name $.tags AS tags \
         WITHCURSOR COUNT 500 DIALECT 3"
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
