//! The quickstart: migrate the indexes, save a user, read it back, query it,
//! update it, expire it, list keys.
//!
//! Run it with `scripts/demo` (starts a local Redis Stack), or against your own
//! server: `REDIS_OM_URL=redis://127.0.0.1:6379 cargo run --example quickstart`.

use std::time::Duration;

use futures_util::TryStreamExt;
use redis_om::prelude::*;
use redis_om::Migrator;

#[derive(HashModel, Debug, Clone, PartialEq)]
#[redis_om(prefix = "UserReadCache")]
struct UserReadCache {
    #[redis_om(primary_key)]
    pk: Option<String>, // empty: generated on save
    #[redis_om(index)]
    id: i64,
    #[redis_om(index)]
    name: String,
    #[redis_om(index)]
    email: String,
    avatar: Option<String>,
}

#[derive(EmbeddedModel, serde::Serialize, serde::Deserialize, Debug, Clone, PartialEq)]
struct Address {
    #[redis_om(index)]
    city: String,
    postal_code: String,
}

#[derive(JsonModel, serde::Serialize, serde::Deserialize, Debug, Clone, PartialEq)]
struct Customer {
    pk: Option<String>,
    #[redis_om(full_text)]
    name: String,
    #[redis_om(embed)]
    address: Address,
    #[redis_om(index)]
    tags: Vec<String>,
}

#[tokio::main]
async fn main() -> redis_om::Result<()> {
    println!("connecting to {}", redact(&redis_om::url()));
    let mut con = redis_om::connect(redis_om::url()).await?;

    // At startup: create or update the search indexes (zero downtime on change).
    let report = Migrator::new()
        .model::<UserReadCache>()
        .model::<Customer>()
        .run(&mut con)
        .await?;
    print!("migrator:\n{report}");

    let mut user = UserReadCache {
        pk: None,
        id: 1,
        name: "json_user".into(),
        email: "json_user@example.com".into(),
        avatar: Some("image_url".into()),
    };
    let pk = user.save(&mut con).await?;
    println!("saved    {user:?}");
    println!("key      {}", UserReadCache::key_layout().key(&pk));

    let fetched = UserReadCache::get(&mut con, &pk).await?;
    println!("fetched  {fetched:?}");
    assert_eq!(fetched, user);

    // Clearing a field removes it from the hash on the next save.
    user.avatar = None;
    user.save(&mut con).await?;
    println!("updated  {:?}", UserReadCache::get(&mut con, &pk).await?);

    // Only if new, with a TTL: atomic, one round trip.
    let again = user
        .save_with(&mut con, SaveOptions::new().only_if_new())
        .await?;
    println!(
        "save only_if_new on an existing user wrote: {}",
        again.is_some()
    );
    UserReadCache::expire(&mut con, &pk, Duration::from_secs(3600)).await?;
    println!("ttl      {:?}", UserReadCache::ttl(&mut con, &pk).await?);

    let mut customer = Customer {
        pk: None,
        name: "Ada".into(),
        address: Address {
            city: "St. Brookins-on-Pier".into(),
            postal_code: "12345".into(),
        },
        tags: vec!["vip".into(), "beta".into()],
    };
    let cpk = customer.save(&mut con).await?;
    println!("json     {:?}", Customer::get(&mut con, &cpk).await?);

    // Typed queries: a misspelled or non-indexed field does not compile, and
    // values travel as query parameters (no escaping, no injection).
    let found = UserReadCache::find(|u| u.email.eq("json_user@example.com"))
        .first(&mut con)
        .await?;
    println!("found    {found:?}");
    let how_many = UserReadCache::find(|u| u.id.between(1, 10) & u.name.starts_with("json"))
        .count(&mut con)
        .await?;
    println!("count    {how_many}");
    let names: Vec<String> = UserReadCache::find(|u| u.id.ge(0))
        .select(|u| u.name)
        .all(&mut con)
        .await?;
    println!("names    {names:?}");
    let vips = Customer::find(|c| {
        c.address.city.eq("St. Brookins-on-Pier") & c.tags.eq("vip") & c.name.matches("ada")
    })
    .all(&mut con)
    .await?;
    println!("vips     {vips:?}");

    let pks: Vec<String> = UserReadCache::all_pks(&mut con).try_collect().await?;
    println!("{} UserReadCache key(s) stored", pks.len());

    UserReadCache::delete(&mut con, &pk).await?;
    Customer::delete(&mut con, &cpk).await?;
    println!(
        "deleted; exists: {}",
        UserReadCache::exists(&mut con, &pk).await?
    );
    Ok(())
}

/// Never print a password.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://***@{}", &url[..scheme], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}
