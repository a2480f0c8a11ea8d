//! A private model whose embedded handles are never queried compiles without
//! a `dead_code` warning (the suite builds with `-D warnings` in clippy).
#![deny(dead_code)]

mod inner {
    use redis_om::prelude::*;
    use serde::{Deserialize, Serialize};

    #[derive(EmbeddedModel, Serialize, Deserialize, Debug, Clone, PartialEq)]
    struct Base {
        #[redis_om(index)]
        name: String,
    }

    #[derive(JsonModel, Serialize, Deserialize, Debug, Clone, PartialEq)]
    struct Person {
        pk: Option<String>,
        #[redis_om(embed)]
        base: Base,
    }

    #[test]
    fn unused_embedded_handles_do_not_warn() {
        let _query = Person::find(|p| p.pk.eq("x"));
        let p = Person {
            pk: None,
            base: Base { name: "x".into() },
        };
        assert_eq!(p.base.name, "x");
    }
}
