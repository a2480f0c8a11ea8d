//! serde's attributes mean in a JsonModel what they mean to serde (the derive
//! reads them with `serde_derive_internals`): stored names under every
//! `rename_all` rule (ASCII case conversion, as serde), `skip`,
//! `skip_serializing_if`, `default` and `flatten`, against the real server.

mod common;

use redis_om::prelude::*;
use redis_om::Migrator;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default)]
struct Meta {
    source: String,
    revision: u32,
}

/// A user type named like the handles the derive would generate for `Place`.
#[allow(dead_code)]
struct PlaceFields {
    mine: u8,
}

#[derive(EmbeddedModel, Serialize, Deserialize, Debug, Clone, PartialEq, Default)]
#[serde(rename_all = "SCREAMING-KEBAB-CASE")]
#[redis_om(fields = "PlaceQuery")]
struct Place {
    #[redis_om(index)]
    city_name: String,
    #[serde(skip)]
    geocode_cache: Option<String>,
}

/// A user type named like the handles the derive would generate for `Ticket`.
#[allow(dead_code)]
struct TicketFields {
    mine: u8,
}

fn default_priority() -> u32 {
    3
}

#[derive(JsonModel, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "SCREAMING-KEBAB-CASE")]
#[redis_om(
    global_prefix = "om-test",
    prefix = "SerdeTicket",
    fields = "TicketQuery"
)]
struct Ticket {
    pk: Option<String>,
    #[redis_om(index, sortable)]
    full_name: String,
    #[redis_om(index)]
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    tags: Vec<String>,
    #[redis_om(index)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    nick_name: Option<String>,
    #[redis_om(index)]
    #[serde(default = "default_priority")]
    priority: u32,
    #[redis_om(embed)]
    place: Place,
    /// Never stored: serde skips it, and it loads as `None`.
    #[serde(skip)]
    cache: Option<String>,
    /// Stored as top-level `source` and `revision`.
    #[serde(flatten)]
    meta: Meta,
}

/// serde converts ASCII case only: `élan` stays `élan` under PascalCase.
#[derive(JsonModel, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "PascalCase")]
#[redis_om(global_prefix = "om-test", prefix = "SerdeAccent")]
#[allow(non_snake_case)]
struct Accent {
    pk: Option<String>,
    #[redis_om(index)]
    élan: String,
    #[redis_om(index)]
    first_word: String,
}

/// A generic model with serde's struct-level `default`: a selected field
/// missing from a document is taken from the struct's `Default`.
#[derive(JsonModel, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(default)]
#[redis_om(global_prefix = "om-test", prefix = "SerdeBox")]
struct Boxed<T> {
    pk: Option<String>,
    #[redis_om(index)]
    label: String,
    #[redis_om(index)]
    weight: u32,
    content: T,
}

impl<T: Default> Default for Boxed<T> {
    fn default() -> Self {
        Boxed {
            pk: None,
            label: "unlabelled".into(),
            weight: 42,
            content: T::default(),
        }
    }
}

fn ticket(name: &str, tags: &[&str], nick: Option<&str>, priority: u32, city: &str) -> Ticket {
    Ticket {
        pk: None,
        full_name: name.into(),
        tags: tags.iter().map(|t| (*t).to_owned()).collect(),
        nick_name: nick.map(Into::into),
        priority,
        place: Place {
            city_name: city.into(),
            geocode_cache: None,
        },
        cache: None,
        meta: Meta {
            source: "web".into(),
            revision: 7,
        },
    }
}

async fn json_get(con: &mut redis::aio::MultiplexedConnection, key: &str) -> String {
    redis::cmd("JSON.GET")
        .arg(key)
        .arg("$")
        .query_async(con)
        .await
        .unwrap()
}

async fn json_set(
    con: &mut redis::aio::MultiplexedConnection,
    key: &str,
    value: serde_json::Value,
) {
    let _: () = redis::cmd("JSON.SET")
        .arg(key)
        .arg("$")
        .arg(value.to_string())
        .query_async(con)
        .await
        .unwrap();
}

#[test]
fn schema_uses_serde_names_and_keeps_the_empty_parts() {
    let text = Ticket::index_schema().text();
    // The names serde writes; every field that is not indexed (including the
    // skipped and the flattened one) leaves an empty part, as redis-om-python.
    assert_eq!(
        text,
        "ON JSON PREFIX 1 om-test:SerdeTicket: SCHEMA $.PK AS PK TAG SEPARATOR | \
         $[\"FULL-NAME\"] AS FULL-NAME TAG SEPARATOR | SORTABLE \
         $.TAGS[*] AS TAGS TAG SEPARATOR | \
         $[\"NICK-NAME\"] AS NICK-NAME TAG SEPARATOR | \
         $.PRIORITY AS PRIORITY NUMERIC \
         $.PLACE[\"CITY-NAME\"] AS PLACE_CITY-NAME TAG SEPARATOR |  ",
        "{text}"
    );
    let accent = Accent::index_schema().text();
    assert!(accent.contains("$[\"élan\"] AS élan TAG"), "{accent}");
    assert!(accent.contains("$.FirstWord AS FirstWord TAG"), "{accent}");
}

#[tokio::test]
async fn serde_attributes_save_index_and_find() {
    for url in common::urls() {
        let mut con = common::multiplexed(&url).await;
        let con = &mut con;
        Migrator::new().model::<Ticket>().run(con).await.unwrap();
        common::clear_prefix(con, Ticket::key_layout().key_prefix()).await;

        let mut full = ticket("Ada Lovelace", &["vip", "beta"], Some("ada"), 5, "London");
        full.cache = Some("not stored".into());
        full.place.geocode_cache = Some("not stored either".into());
        let mut sparse = ticket("Grace Hopper", &[], None, 1, "Arlington");
        let full_pk = full.save(con).await.unwrap();
        let sparse_pk = sparse.save(con).await.unwrap();

        // What is stored is what serde writes.
        let raw = json_get(con, &Ticket::key_layout().key(&full_pk)).await;
        let raw: serde_json::Value = serde_json::from_str(&raw).unwrap();
        let doc = &raw[0];
        assert_eq!(doc["FULL-NAME"], "Ada Lovelace", "{doc}");
        assert_eq!(doc["NICK-NAME"], "ada", "{doc}");
        assert_eq!(doc["PLACE"]["CITY-NAME"], "London", "{doc}");
        assert_eq!(doc["source"], "web", "flattened: {doc}");
        assert_eq!(doc["revision"], 7, "flattened: {doc}");
        for absent in ["CACHE", "cache", "META", "meta"] {
            assert!(doc.get(absent).is_none(), "{absent} in {doc}");
        }
        assert!(doc["PLACE"].get("GEOCODE-CACHE").is_none(), "{doc}");
        let raw = json_get(con, &Ticket::key_layout().key(&sparse_pk)).await;
        let raw: serde_json::Value = serde_json::from_str(&raw).unwrap();
        assert!(raw[0].get("TAGS").is_none(), "skip_serializing_if: {raw}");
        assert!(
            raw[0].get("NICK-NAME").is_none(),
            "skip_serializing_if: {raw}"
        );

        // Read back as serde reads it: skipped fields are None.
        let mut expected = full.clone();
        expected.cache = None;
        expected.place.geocode_cache = None;
        assert_eq!(Ticket::get(con, &full_pk).await.unwrap(), expected);
        assert_eq!(Ticket::get(con, &sparse_pk).await.unwrap(), sparse);

        // A document written by another tool without the defaulted fields.
        let other_pk = "written-elsewhere";
        json_set(
            con,
            &Ticket::key_layout().key(other_pk),
            serde_json::json!({
                "PK": other_pk,
                "FULL-NAME": "Katherine Johnson",
                "PLACE": {"CITY-NAME": "Hampton"},
                "source": "import",
                "revision": 1,
            }),
        )
        .await;
        let other = Ticket::get(con, other_pk).await.unwrap();
        assert_eq!(other.priority, 3, "default = \"default_priority\"");
        assert!(other.tags.is_empty() && other.nick_name.is_none());

        async fn names(
            con: &mut redis::aio::MultiplexedConnection,
            q: redis_om::Query<Ticket>,
        ) -> Vec<String> {
            let mut names: Vec<String> = q
                .all(con)
                .await
                .unwrap()
                .into_iter()
                .map(|t| t.full_name)
                .collect();
            names.sort();
            names
        }
        assert_eq!(
            names(con, Ticket::find(|t| t.full_name.eq("ada lovelace"))).await,
            ["Ada Lovelace"]
        );
        assert_eq!(
            names(con, Ticket::find(|t| t.tags.eq("vip"))).await,
            ["Ada Lovelace"]
        );
        assert_eq!(
            names(con, Ticket::find(|t| t.nick_name.eq("ada"))).await,
            ["Ada Lovelace"]
        );
        assert_eq!(
            names(con, Ticket::find(|t| t.place.city_name.eq("Arlington"))).await,
            ["Grace Hopper"]
        );
        assert_eq!(
            names(con, Ticket::find(|t| t.priority.ge(3))).await,
            ["Ada Lovelace"],
            "the index sees the stored document, not serde's default for a missing field"
        );
        let first = Ticket::find(|t| t.place.city_name.eq("Hampton"))
            .first(con)
            .await
            .unwrap();
        assert_eq!(first, other);

        // Selected fields are read as the whole document is: a field missing
        // from the document takes serde's default.
        let mut selected: Vec<(String, Vec<String>, Option<String>, u32)> = Ticket::find_all()
            .select(|t| (t.full_name, t.tags, t.nick_name, t.priority))
            .all(con)
            .await
            .unwrap();
        selected.sort();
        assert_eq!(
            selected,
            [
                (
                    "Ada Lovelace".to_owned(),
                    vec!["vip".to_owned(), "beta".to_owned()],
                    Some("ada".to_owned()),
                    5
                ),
                ("Grace Hopper".to_owned(), vec![], None, 1),
                ("Katherine Johnson".to_owned(), vec![], None, 3),
            ]
        );
    }
}

#[tokio::test]
async fn rename_all_converts_ascii_case_only() {
    let mut con = common::multiplexed(&common::urls()[0]).await;
    let con = &mut con;
    Migrator::new().model::<Accent>().run(con).await.unwrap();
    common::clear_prefix(con, Accent::key_layout().key_prefix()).await;
    let mut accent = Accent {
        pk: None,
        élan: "vital".into(),
        first_word: "hello".into(),
    };
    let pk = accent.save(con).await.unwrap();
    let raw = json_get(con, &Accent::key_layout().key(&pk)).await;
    assert!(raw.contains("\"élan\":\"vital\""), "{raw}");
    let found = Accent::find(|a| a.élan.eq("vital"))
        .first(con)
        .await
        .unwrap();
    assert_eq!(found, accent);
}

#[test]
fn fields_types_can_be_renamed() {
    // The user's `TicketFields` and `PlaceFields` live beside the renamed handles.
    let _mine = TicketFields { mine: 1 };
    let _mine = PlaceFields { mine: 2 };
    let handles: TicketQuery = Ticket::fields();
    let _: &PlaceQuery<Ticket> = &handles.place;
}

#[tokio::test]
async fn struct_default_fills_selected_fields() {
    let mut con = common::multiplexed(&common::urls()[1]).await;
    let con = &mut con;
    Migrator::new()
        .model::<Boxed<Vec<u8>>>()
        .run(con)
        .await
        .unwrap();
    common::clear_prefix(con, Boxed::<Vec<u8>>::key_layout().key_prefix()).await;
    json_set(
        con,
        &Boxed::<Vec<u8>>::key_layout().key("bare"),
        serde_json::json!({"pk": "bare", "label": "bare"}),
    )
    .await;
    let got = Boxed::<Vec<u8>>::get(con, "bare").await.unwrap();
    assert_eq!((got.weight, got.content), (42, vec![]));
    let selected: Vec<(String, u32)> = Boxed::<Vec<u8>>::find(|b| b.label.eq("bare"))
        .select(|b| (b.label, b.weight))
        .all(con)
        .await
        .unwrap();
    assert_eq!(selected, [("bare".to_owned(), 42)]);
}
