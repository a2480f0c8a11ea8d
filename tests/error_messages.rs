//! Errors that name what happened and the fix, in the cases that left a new
//! user guessing: a versioned save after the document was deleted, a field
//! added to the model that old documents lack, a version at its type's
//! largest value, and one field set twice in a patch.

mod common;

use redis::AsyncCommands;
use redis_om::prelude::*;
use redis_om::Error;

#[derive(HashModel, Debug, Clone, PartialEq)]
#[redis_om(prefix = "ErrMsgDoc")]
struct ErrMsgDoc {
    pk: String,
    name: String,
    age: u32,
    #[redis_om(version)]
    version: u64,
}

#[derive(HashModel, Debug, Clone, PartialEq)]
#[redis_om(prefix = "ErrMsgSmall")]
struct ErrMsgSmall {
    pk: String,
    #[redis_om(version)]
    version: u16,
}

#[tokio::test]
async fn errors_say_what_happened_and_the_fix() {
    for url in common::urls() {
        let mut con = common::multiplexed(&url).await;
        let pk = common::unique("errmsg");
        let mut doc = ErrMsgDoc {
            pk: pk.clone(),
            name: "Ada".into(),
            age: 36,
            version: 0,
        };
        doc.save(&mut con).await.unwrap();

        // One field set twice: refused, naming it; nothing changed.
        let err = ErrMsgDoc::update(&mut con, &pk, |u| u.name.set("a") & u.name.set("b"))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, Error::InvalidArgument(m) if m.contains("name twice")),
            "{err}"
        );
        assert_eq!(ErrMsgDoc::get(&mut con, &pk).await.unwrap().name, "Ada");

        // Saved again after another process deleted it: not "version 0 is stored".
        ErrMsgDoc::delete(&mut con, &pk).await.unwrap();
        let err = doc.save(&mut con).await.unwrap_err();
        assert!(err.is_conflict(), "{err}");
        let text = err.to_string();
        assert!(
            text.contains("gone") && !text.contains("version 0 is stored"),
            "{text}"
        );

        // A document written before `age` was added to the model.
        let key = ErrMsgDoc::key_layout().key(&pk);
        let _: () = con
            .hset_multiple(
                &key,
                &[("pk", pk.as_str()), ("name", "Old"), ("version", "1")],
            )
            .await
            .unwrap();
        let err = ErrMsgDoc::get(&mut con, &pk).await.unwrap_err();
        match &err {
            Error::Decode { field, reason, .. } => {
                assert_eq!(field.as_deref(), Some("age"));
                assert!(
                    reason.contains("default") && reason.contains("Option"),
                    "{reason}"
                );
            }
            other => panic!("{other:?}"),
        }
        let _: () = con.del(&key).await.unwrap();

        // A version at the largest value of its type.
        let mut small = ErrMsgSmall {
            pk: pk.clone(),
            version: u16::MAX,
        };
        let err = small.save(&mut con).await.unwrap_err();
        assert!(err.to_string().contains("wider type"), "{err}");
    }
}
