//! Geo fields: `Coordinates` stored as redis-om-python stores them, indexed as
//! `GEO`, queried with `within(center, radius, unit)` on hash and JSON models,
//! RESP2 and RESP3; the edges of the globe; and the geo tests of
//! redis-om-python's suite.

mod common;

use redis_om::prelude::*;
use redis_om::{Coordinates, Error, GeoUnit};
use serde::{Deserialize, Serialize};

#[derive(HashModel, Debug, Clone, PartialEq)]
#[redis_om(prefix = "GeoPlace")]
struct Place {
    pk: Option<String>,
    #[redis_om(index)]
    run: String,
    #[redis_om(index)]
    name: String,
    #[redis_om(index)]
    location: Option<Coordinates>,
}

/// Holds a point written by another client that Redis cannot index (its
/// own index, so the others count no indexing failure).
#[derive(HashModel, Debug, Clone, PartialEq)]
#[redis_om(prefix = "GeoPole")]
struct Pole {
    pk: Option<String>,
    #[redis_om(index)]
    location: Option<Coordinates>,
}

#[derive(JsonModel, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[redis_om(prefix = "GeoDoc")]
struct PlaceDoc {
    pk: Option<String>,
    #[redis_om(index)]
    run: String,
    #[redis_om(index)]
    name: String,
    #[redis_om(index)]
    location: Option<Coordinates>,
    /// Several points (`$.stops[*] AS stops GEO`).
    #[redis_om(index)]
    stops: Vec<Coordinates>,
}

fn at(lon: f64, lat: f64) -> Coordinates {
    Coordinates::new(lon, lat).unwrap()
}

const PORTLAND: (f64, f64) = (-122.6765, 45.5231);

fn place(run: &str, name: &str, location: Option<Coordinates>) -> Place {
    Place {
        pk: None,
        run: run.to_owned(),
        name: name.to_owned(),
        location,
    }
}

fn doc(run: &str, name: &str, location: Option<Coordinates>) -> PlaceDoc {
    PlaceDoc {
        pk: None,
        run: run.to_owned(),
        name: name.to_owned(),
        location,
        stops: Vec::new(),
    }
}

#[test]
fn the_schema_is_redis_om_pythons() {
    let hash = Place::index_schema().text();
    assert!(hash.ends_with("location GEO"), "{hash}");
    let json = PlaceDoc::index_schema().text();
    assert!(
        json.contains("$.location AS location GEO $.stops[*] AS stops GEO"),
        "{json}"
    );
}

#[tokio::test]
async fn within_a_radius_on_hash_models_at_the_edges_of_the_globe() {
    for url in common::urls() {
        let mut con = common::multiplexed(&url).await;
        Migrator::new()
            .model::<Place>()
            .run(&mut con)
            .await
            .unwrap();
        let run = common::unique("geo");
        let failures_before = Place::index_status(&mut con)
            .await
            .unwrap()
            .indexing_failures;
        let mut places = vec![
            place(&run, "portland", Some(at(PORTLAND.0, PORTLAND.1))),
            // ~1.1 km away.
            place(
                &run,
                "nearby",
                Some(at(PORTLAND.0 + 0.01, PORTLAND.1 + 0.01)),
            ),
            // Both sides of the antimeridian at the equator: 11.1 km apart.
            place(&run, "east", Some(at(179.95, 0.0))),
            place(&run, "west", Some(at(-179.95, 0.0))),
            // Near the poles.
            place(&run, "north", Some(at(0.0, 85.0))),
            place(&run, "south", Some(at(10.0, -85.0))),
            // As near as Redis indexes: saved and indexed (no indexing
            // failure, checked below). Not searched: RediSearch 2.10's radius
            // queries miss a point at exactly the limit in some states of its
            // range tree (seen here, not ours to fix).
            place(&run, "edge", Some(at(90.0, Coordinates::MAX_LATITUDE))),
            place(&run, "nowhere", None),
        ];
        Place::save_all(&mut con, &mut places).await.unwrap();
        let names = |found: Vec<Place>| {
            let mut names: Vec<String> = found.into_iter().map(|p| p.name).collect();
            names.sort();
            names
        };
        let near = |center: Coordinates, radius: f64, unit: GeoUnit| {
            let run = run.clone();
            Place::find(move |p| p.run.eq(run.as_str()) & p.location.within(center, radius, unit))
        };
        let portland = at(PORTLAND.0, PORTLAND.1);
        assert_eq!(
            names(
                near(portland, 10.0, GeoUnit::Miles)
                    .all(&mut con)
                    .await
                    .unwrap()
            ),
            ["nearby", "portland"]
        );
        assert_eq!(
            names(
                near(portland, 500.0, GeoUnit::Meters)
                    .all(&mut con)
                    .await
                    .unwrap()
            ),
            ["portland"]
        );
        assert_eq!(
            names(
                near(portland, 1_000.0, GeoUnit::Feet)
                    .all(&mut con)
                    .await
                    .unwrap()
            ),
            ["portland"]
        );
        // Across the antimeridian: 12 km reaches the other side, 10 km does not.
        assert_eq!(
            names(
                near(at(-179.95, 0.0), 12.0, GeoUnit::Kilometers)
                    .all(&mut con)
                    .await
                    .unwrap()
            ),
            ["east", "west"]
        );
        assert_eq!(
            names(
                near(at(-179.95, 0.0), 10.0, GeoUnit::Kilometers)
                    .all(&mut con)
                    .await
                    .unwrap()
            ),
            ["west"]
        );
        // Near the poles: both were indexed, and found.
        assert_eq!(
            names(
                near(at(0.0, 84.99), 10.0, GeoUnit::Kilometers)
                    .all(&mut con)
                    .await
                    .unwrap()
            ),
            ["north"]
        );
        assert_eq!(
            names(
                near(at(10.0, -84.99), 10.0, GeoUnit::Kilometers)
                    .all(&mut con)
                    .await
                    .unwrap()
            ),
            ["south"]
        );
        // Combined with other conditions, negated, counted, paged.
        let not_portland = {
            let run = run.clone();
            Place::find(move |p| {
                p.run.eq(run.as_str())
                    & !p.location.within(portland, 10.0, GeoUnit::Miles)
                    & p.name.ne("nowhere")
                    & p.name.ne("edge")
            })
        };
        assert_eq!(not_portland.count(&mut con).await.unwrap(), 4);
        let page = near(portland, 10.0, GeoUnit::Miles)
            .sort_by(|p| p.name, SortOrder::Asc)
            .page(&mut con, 0, 1)
            .await
            .unwrap();
        assert_eq!((page.total, page.items[0].name.as_str()), (2, "nearby"));
        // Loaded, modified, saved and loaded again: the point is exactly the same.
        let mut found = near(portland, 1.0, GeoUnit::Kilometers)
            .first(&mut con)
            .await
            .unwrap();
        assert_eq!(found.location, Some(portland));
        found.name = "renamed".into();
        found.save(&mut con).await.unwrap();
        let again = Place::get(&mut con, found.pk.as_deref().unwrap())
            .await
            .unwrap();
        assert_eq!(again.location, Some(portland));
        assert_eq!(
            Place::get(&mut con, places[2].pk.as_deref().unwrap())
                .await
                .unwrap()
                .location,
            Some(at(179.95, 0.0))
        );
        // A document without a point is in the index, and no radius matches it.
        let everywhere =
            near(at(0.0, 0.0), 20_100.0, GeoUnit::Kilometers).filter(|p| p.name.ne("edge"));
        assert_eq!(everywhere.count(&mut con).await.unwrap(), 6);
        // Stored as redis-om-python stores it.
        let raw: String = redis::cmd("HGET")
            .arg(Place::key_layout().key(places[0].pk.as_deref().unwrap()))
            .arg("location")
            .query_async(&mut con)
            .await
            .unwrap();
        assert_eq!(raw, "-122.6765,45.5231");
        // Every point was indexed (none refused as "Invalid geo coordinates").
        let status = Place::index_status(&mut con).await.unwrap();
        assert_eq!(status.indexing_failures, failures_before, "{status}");
    }
}

#[tokio::test]
async fn a_radius_that_is_not_positive_is_refused_before_sending() {
    let mut con = common::multiplexed(&common::url()).await;
    Migrator::new()
        .model::<Place>()
        .run(&mut con)
        .await
        .unwrap();
    for radius in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        let query = Place::find(|p| p.location.within(at(0.0, 0.0), radius, GeoUnit::Meters));
        match query.count(&mut con).await {
            Err(Error::InvalidArgument(message)) => {
                assert!(message.contains("positive"), "{message}")
            }
            other => panic!("radius {radius}: {other:?}"),
        }
    }
}

#[tokio::test]
async fn points_redis_cannot_index_are_refused_where_they_are_made() {
    // A save can only hold a point Redis indexes: the constructor and the
    // parser refuse the rest (redis-om-python accepts latitude 89, and then
    // the server fails to index the document: find never sees it).
    assert!(matches!(
        Coordinates::new(0.0, 89.0),
        Err(Error::InvalidArgument(_))
    ));
    assert!("0,-85.1".parse::<Coordinates>().is_err());
    assert!("181,0".parse::<Coordinates>().is_err());
    // A document written by another client at latitude 89 is reported, with
    // its key and field, not silently read as something else.
    let mut con = common::multiplexed(&common::url()).await;
    Migrator::new().model::<Pole>().run(&mut con).await.unwrap();
    let key = Pole::key_layout().key(common::unique("pole"));
    let _: () = redis::cmd("HSET")
        .arg(&key)
        .arg("location")
        .arg("0,89")
        .query_async(&mut con)
        .await
        .unwrap();
    let pk = key.rsplit(':').next().unwrap();
    match Pole::get(&mut con, pk).await {
        Err(Error::Decode {
            key: k,
            field,
            reason,
        }) => {
            assert_eq!(k, key);
            assert_eq!(field.as_deref(), Some("location"));
            assert!(reason.contains("latitude 89"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn within_a_radius_on_json_models_single_and_several_points() {
    for url in common::urls() {
        let mut con = common::multiplexed(&url).await;
        Migrator::new()
            .model::<PlaceDoc>()
            .run(&mut con)
            .await
            .unwrap();
        let run = common::unique("geodoc");
        let mut route = doc(&run, "route", None);
        route.stops = vec![at(2.3522, 48.8566), at(4.8357, 45.764)]; // Paris, Lyon
        let mut docs = vec![
            doc(&run, "portland", Some(at(PORTLAND.0, PORTLAND.1))),
            doc(&run, "east", Some(at(179.95, 0.0))),
            doc(&run, "nowhere", None),
            route,
        ];
        PlaceDoc::save_all(&mut con, &mut docs).await.unwrap();
        let portland = at(PORTLAND.0, PORTLAND.1);
        let r = run.clone();
        let found = PlaceDoc::find(move |d| {
            d.run.eq(r.as_str()) & d.location.within(portland, 1.0, GeoUnit::Miles)
        })
        .all(&mut con)
        .await
        .unwrap();
        assert_eq!(found, vec![docs[0].clone()]);
        let r = run.clone();
        let found = PlaceDoc::find(move |d| {
            d.run.eq(r.as_str())
                & d.location
                    .within(at(-179.95, 0.0), 12.0, GeoUnit::Kilometers)
        })
        .first(&mut con)
        .await
        .unwrap();
        assert_eq!(found.name, "east");
        // Any of the stops near Lyon.
        let r = run.clone();
        let found = PlaceDoc::find(move |d| {
            d.run.eq(r.as_str()) & d.stops.within(at(4.85, 45.75), 5.0, GeoUnit::Kilometers)
        })
        .all(&mut con)
        .await
        .unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].stops, docs[3].stops);
        // A JSON string, as redis-om-python writes it.
        let raw: String = redis::cmd("JSON.GET")
            .arg(PlaceDoc::key_layout().key(docs[0].pk.as_deref().unwrap()))
            .arg("$.location")
            .query_async(&mut con)
            .await
            .unwrap();
        assert_eq!(raw, r#"["-122.6765,45.5231"]"#);
        // The point can be selected alone.
        let r = run.clone();
        let points = PlaceDoc::find(move |d| d.run.eq(r.as_str()) & d.name.eq("east"))
            .select(|d| d.location)
            .all(&mut con)
            .await
            .unwrap();
        assert_eq!(points, vec![Some(at(179.95, 0.0))]);
    }
}

// The geo tests of redis-om-python's suite (tests/test_hash_model.py and
// tests/test_json_model.py), each for a HashModel and a JsonModel.

#[tokio::test]
async fn python_can_search_on_coordinates_and_not_outside_the_radius() {
    let mut con = common::multiplexed(&common::url()).await;
    Migrator::new()
        .model::<Place>()
        .model::<PlaceDoc>()
        .run(&mut con)
        .await
        .unwrap();
    let (longitude, latitude) = PORTLAND;
    let run = common::unique("pygeo");
    let mut loc = place(&run, "loc", Some(at(longitude, latitude)));
    loc.save(&mut con).await.unwrap();
    let r = run.clone();
    let found = Place::find(move |p| {
        p.run.eq(r.as_str())
            & p.location
                .within(at(longitude, latitude), 10.0, GeoUnit::Miles)
    })
    .first(&mut con)
    .await
    .unwrap();
    assert_eq!(found.pk, loc.pk);
    let c = found.location.unwrap();
    assert_eq!((c.longitude(), c.latitude()), (longitude, latitude));
    let r = run.clone();
    let outside = Place::find(move |p| {
        p.run.eq(r.as_str()) & p.location.within(at(0.0, 0.0), 0.1, GeoUnit::Miles)
    })
    .first(&mut con)
    .await;
    assert!(matches!(outside, Err(Error::NoMatch { .. })), "{outside:?}");

    let mut loc = doc(&run, "loc", Some(at(longitude, latitude)));
    loc.save(&mut con).await.unwrap();
    let r = run.clone();
    let found = PlaceDoc::find(move |p| {
        p.run.eq(r.as_str())
            & p.location
                .within(at(longitude, latitude), 10.0, GeoUnit::Miles)
    })
    .first(&mut con)
    .await
    .unwrap();
    assert_eq!(found.pk, loc.pk);
    assert_eq!(found.location, Some(at(longitude, latitude)));
    let r = run.clone();
    let outside = PlaceDoc::find(move |p| {
        p.run.eq(r.as_str()) & p.location.within(at(0.0, 0.0), 0.1, GeoUnit::Miles)
    })
    .first(&mut con)
    .await;
    assert!(matches!(outside, Err(Error::NoMatch { .. })), "{outside:?}");
}

#[tokio::test]
async fn python_does_not_return_coordinates_if_location_is_none() {
    let mut con = common::multiplexed(&common::url()).await;
    Migrator::new()
        .model::<Place>()
        .model::<PlaceDoc>()
        .run(&mut con)
        .await
        .unwrap();
    let run = common::unique("pynone");
    place(&run, "loc", None).save(&mut con).await.unwrap();
    doc(&run, "loc", None).save(&mut con).await.unwrap();
    let r = run.clone();
    let hash = Place::find(move |p| {
        p.run.eq(r.as_str()) & p.location.within(at(0.0, 0.0), 0.1, GeoUnit::Miles)
    })
    .first_optional(&mut con)
    .await
    .unwrap();
    assert_eq!(hash, None);
    let r = run.clone();
    let json = PlaceDoc::find(move |p| {
        p.run.eq(r.as_str()) & p.location.within(at(0.0, 0.0), 0.1, GeoUnit::Miles)
    })
    .first_optional(&mut con)
    .await
    .unwrap();
    assert_eq!(json, None);
}

#[tokio::test]
async fn python_can_search_on_multiple_fields_with_geo_filter() {
    let mut con = common::multiplexed(&common::url()).await;
    Migrator::new()
        .model::<Place>()
        .model::<PlaceDoc>()
        .run(&mut con)
        .await
        .unwrap();
    let (longitude, latitude) = PORTLAND;
    let run = common::unique("pymulti");
    let mut places = vec![
        place(&run, "Portland", Some(at(longitude, latitude))),
        place(&run, "Nearby", Some(at(longitude + 0.01, latitude + 0.01))),
    ];
    Place::save_all(&mut con, &mut places).await.unwrap();
    let r = run.clone();
    let found = Place::find(move |p| {
        p.run.eq(r.as_str())
            & p.location
                .within(at(longitude, latitude), 10.0, GeoUnit::Miles)
            & p.name.eq("Portland")
    })
    .all(&mut con)
    .await
    .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].pk, places[0].pk);

    let mut docs = vec![
        doc(&run, "Portland", Some(at(longitude, latitude))),
        doc(&run, "Nearby", Some(at(longitude + 0.01, latitude + 0.01))),
    ];
    PlaceDoc::save_all(&mut con, &mut docs).await.unwrap();
    let r = run.clone();
    let found = PlaceDoc::find(move |p| {
        p.run.eq(r.as_str())
            & p.location
                .within(at(longitude, latitude), 10.0, GeoUnit::Miles)
            & p.name.eq("Portland")
    })
    .all(&mut con)
    .await
    .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].pk, docs[0].pk);
}

/// Redis's haversine, in meters.
fn haversine(a: Coordinates, b: Coordinates) -> f64 {
    const R: f64 = 6_372_797.560_856;
    let (lat1, lat2) = (a.latitude().to_radians(), b.latitude().to_radians());
    let dlat = lat2 - lat1;
    let dlon = (b.longitude() - a.longitude()).to_radians();
    let h = (dlat / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * (dlon / 2.0).sin().powi(2);
    2.0 * R * h.sqrt().asin()
}

#[tokio::test]
async fn by_distance_nearest_first_with_meters_on_hash_and_json_models() {
    for url in common::urls() {
        let mut con = common::multiplexed(&url).await;
        Migrator::new()
            .model::<Place>()
            .model::<PlaceDoc>()
            .run(&mut con)
            .await
            .unwrap();
        let run = common::unique("bydist");
        let paris = at(2.3522, 48.8566);
        let points = [
            ("lyon", Some(at(4.8357, 45.764))),
            ("louvre", Some(at(2.3376, 48.8606))),
            ("nowhere", None),
            ("berlin", Some(at(13.405, 52.52))),
            ("eiffel", Some(at(2.2945, 48.8584))),
        ];
        let mut places: Vec<Place> = points.iter().map(|(n, p)| place(&run, n, *p)).collect();
        Place::save_all(&mut con, &mut places).await.unwrap();
        let mut docs: Vec<PlaceDoc> = points.iter().map(|(n, p)| doc(&run, n, *p)).collect();
        PlaceDoc::save_all(&mut con, &mut docs).await.unwrap();
        let want = ["louvre", "eiffel", "lyon", "berlin"];
        let check = |found: Vec<(String, f64)>| {
            let names: Vec<&str> = found.iter().map(|(n, _)| n.as_str()).collect();
            assert_eq!(names, want, "{url}");
            for (name, meters) in &found {
                let point = points.iter().find(|(n, _)| n == name).unwrap().1.unwrap();
                let exact = haversine(paris, point);
                assert!(
                    (meters - exact).abs() <= exact * 1e-3 + 1.0,
                    "{name}: {meters} vs {exact}"
                );
            }
        };
        let r = run.clone();
        let hash = Place::find(move |p| p.run.eq(r.as_str())).by_distance(|p| p.location, paris);
        check(
            hash.all(&mut con)
                .await
                .unwrap()
                .into_iter()
                .map(|(p, d)| (p.name, d))
                .collect(),
        );
        let r = run.clone();
        let json = PlaceDoc::find(move |p| p.run.eq(r.as_str())).by_distance(|p| p.location, paris);
        check(
            json.all(&mut con)
                .await
                .unwrap()
                .into_iter()
                .map(|(p, d)| (p.name, d))
                .collect(),
        );
        // A page, its total (documents without a point are not counted),
        // first, count, a selection, and combined with `within`.
        let page = hash.page(&mut con, 1, 2).await.unwrap();
        assert_eq!(page.total, 4);
        assert_eq!(
            page.items
                .iter()
                .map(|(p, _)| p.name.as_str())
                .collect::<Vec<_>>(),
            ["eiffel", "lyon"]
        );
        assert_eq!(hash.first(&mut con).await.unwrap().0.name, "louvre");
        assert_eq!(hash.count(&mut con).await.unwrap(), 4);
        let r = run.clone();
        let names = Place::find(move |p| {
            p.run.eq(r.as_str()) & p.location.within(paris, 10.0, GeoUnit::Kilometers)
        })
        .select(|p| p.name)
        .by_distance(|p| p.location, paris)
        .all(&mut con)
        .await
        .unwrap();
        assert_eq!(
            names.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
            ["louvre", "eiffel"]
        );
    }
}
