//! Connection settings and server kinds: password, ACL user, db number, a plain
//! Redis without modules.

mod common;

use redis_om::prelude::*;
use redis_om::Error;
use serde::{Deserialize, Serialize};

#[derive(HashModel, Debug, Clone, PartialEq)]
#[redis_om(prefix = "AuthUser")]
struct AuthUser {
    pk: Option<String>,
    name: String,
}

#[derive(JsonModel, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[redis_om(prefix = "AuthDoc")]
struct AuthDoc {
    pk: Option<String>,
    name: String,
}

#[derive(HashModel, Debug, Clone, PartialEq)]
#[redis_om(prefix = "AclIndexed")]
struct AclIndexed {
    pk: Option<String>,
    #[redis_om(index)]
    owner: String,
}

async fn round_trip(url: &str) {
    let mut con = redis_om::connect(url).await.unwrap();
    let mut u = AuthUser {
        pk: None,
        name: "pw".into(),
    };
    let pk = u.save(&mut con).await.unwrap();
    assert_eq!(AuthUser::get(&mut con, &pk).await.unwrap(), u);
    assert!(AuthUser::delete(&mut con, &pk).await.unwrap());
    let mut d = AuthDoc {
        pk: None,
        name: "pw".into(),
    };
    let pk = d.save(&mut con).await.unwrap();
    assert_eq!(AuthDoc::get(&mut con, &pk).await.unwrap(), d);
    assert!(AuthDoc::delete(&mut con, &pk).await.unwrap());
}

#[tokio::test]
async fn password_protected_server() {
    let url = common::env_url("REDIS_OM_PASSWORD_URL");
    for url in common::both_protocols(&url) {
        round_trip(&url).await;
    }
}

#[tokio::test]
async fn wrong_password_is_an_error_that_does_not_show_it() {
    let url = common::env_url("REDIS_OM_PASSWORD_URL");
    let (scheme_user, host) = url.rsplit_once('@').unwrap();
    let (_, _) = scheme_user.split_once("://").unwrap();
    let bad = format!("redis://:not-the-Pa55word@{host}");
    let err = match redis_om::connect(bad.as_str()).await {
        Err(err) => err,
        Ok(mut con) => {
            // A lazy connection fails on first use instead.
            AuthUser::get(&mut con, "x").await.unwrap_err()
        }
    };
    let text = format!("{err} / {err:?}");
    assert!(
        !text.contains("not-the-Pa55word"),
        "password leaked: {text}"
    );
    assert!(matches!(err, Error::Redis(_)), "{text}");
}

#[tokio::test]
async fn acl_user_and_db_number() {
    let admin_url = common::url();
    let mut admin = common::multiplexed(&admin_url).await;
    let user = common::unique("om-acl");
    let _: () = redis::cmd("ACL")
        .arg("SETUSER")
        .arg(&user)
        .arg("on")
        .arg(">acl-secret")
        .arg("~:AuthUser:*")
        .arg("~:AuthDoc:*")
        .arg("~:AclIndexed:*")
        .arg("+@all")
        .query_async(&mut admin)
        .await
        .unwrap();
    let host = admin_url
        .trim_start_matches("redis://")
        .split(['/', '?'])
        .next()
        .unwrap()
        .to_owned();
    round_trip(&format!("redis://{user}:acl-secret@{host}")).await;

    // The limited user can also search its model.
    Migrator::new()
        .model::<AclIndexed>()
        .run(&mut admin)
        .await
        .unwrap();
    {
        let mut con = redis_om::connect(format!("redis://{user}:acl-secret@{host}"))
            .await
            .unwrap();
        let mut doc = AclIndexed {
            pk: None,
            owner: user.clone(),
        };
        let pk = doc.save(&mut con).await.unwrap();
        let found = AclIndexed::find(|d| d.owner.eq(user.as_str()))
            .first(&mut con)
            .await
            .unwrap();
        assert_eq!(found, doc);
        assert!(AclIndexed::delete(&mut con, &pk).await.unwrap());
    }

    // The same user cannot touch keys outside its pattern: a permission error, not a panic.
    #[derive(HashModel, Debug)]
    #[redis_om(prefix = "Forbidden")]
    struct Forbidden {
        pk: Option<String>,
    }
    let mut con = redis_om::connect(format!("redis://{user}:acl-secret@{host}"))
        .await
        .unwrap();
    let err = Forbidden { pk: None }.save(&mut con).await.unwrap_err();
    match &err {
        Error::Redis(e) => assert_eq!(e.code(), Some("NOPERM"), "{err}"),
        other => panic!("expected a permission error, got {other:?}"),
    }
    let _: () = redis::cmd("ACL")
        .arg("DELUSER")
        .arg(&user)
        .query_async(&mut admin)
        .await
        .unwrap();

    // A db number in the URL selects that database.
    round_trip(&format!("redis://{host}/3")).await;
}

#[tokio::test]
async fn plain_redis_without_modules_says_what_is_missing() {
    let url = common::env_url("REDIS_OM_PLAIN_URL");
    let mut con = redis_om::connect(url.as_str()).await.unwrap();
    // Hashes need no module.
    let mut u = AuthUser {
        pk: None,
        name: "plain".into(),
    };
    let pk = u.save(&mut con).await.unwrap();
    AuthUser::delete(&mut con, &pk).await.unwrap();

    let mut d = AuthDoc {
        pk: None,
        name: "plain".into(),
    };
    let err = d.save(&mut con).await.unwrap_err();
    assert!(
        matches!(err, Error::ModuleMissing { module: "ReJSON" }),
        "{err:?}"
    );
    assert!(err.to_string().contains("Redis Stack"), "{err}");
    let err = AuthDoc::get(&mut con, "x").await.unwrap_err();
    assert!(
        matches!(err, Error::ModuleMissing { module: "ReJSON" }),
        "{err:?}"
    );
}

#[tokio::test]
async fn unparsable_url_is_a_config_error_without_the_password() {
    let err = redis_om::connect("redis://:s3cr3t@host:port-is-not-a-number")
        .await
        .unwrap_err();
    let text = format!("{err} / {err:?}");
    assert!(matches!(err, Error::Config(_)), "{text}");
    assert!(!text.contains("s3cr3t"), "{text}");
}

#[tokio::test]
async fn debug_output_never_shows_the_password() {
    let client = redis::Client::open("redis://user:s3cr3t-pw@127.0.0.1:1/0").unwrap();
    let text = format!("{client:?} {:?}", client.get_connection_info());
    assert!(!text.contains("s3cr3t-pw"), "{text}");
    assert!(text.contains("redacted"), "{text}");
    // A live connection manager on the password-protected server, and its errors.
    let url = common::env_url("REDIS_OM_PASSWORD_URL");
    let con = redis_om::connect(url.as_str()).await.unwrap();
    let password = url
        .split(':')
        .nth(2)
        .and_then(|p| p.split('@').next())
        .unwrap()
        .to_owned();
    assert!(!password.is_empty());
    let text = format!("{con:?}");
    assert!(!text.contains(&password), "{text}");
}
