use redis_om::{EmbeddedModel, JsonModel};
use serde::{Deserialize, Serialize};

#[derive(EmbeddedModel, Serialize, Deserialize, Clone)]
struct Base {
    #[redis_om(index)]
    tenant: String,
    #[serde(rename = "createdBy")]
    created_by: String,
}

#[derive(EmbeddedModel, Serialize, Deserialize, Clone)]
struct Audit {
    #[serde(alias = "createdBy")]
    author: String,
}

// The model's own member and the flattened struct's.
#[derive(JsonModel, Serialize, Deserialize)]
struct SameName {
    pk: Option<String>,
    tenant: String,
    #[serde(flatten)]
    #[redis_om(embed)]
    base: Base,
}

// Through serde's names: a rename on one side, an alias on the other.
#[derive(JsonModel, Serialize, Deserialize)]
struct SameAlias {
    pk: Option<String>,
    #[serde(flatten)]
    #[redis_om(embed)]
    base: Base,
    #[serde(flatten)]
    #[redis_om(embed)]
    audit: Audit,
}

#[derive(EmbeddedModel, Serialize, Deserialize, Clone)]
struct Inner {
    #[redis_om(index)]
    title: String,
}

#[derive(EmbeddedModel, Serialize, Deserialize, Clone)]
struct Outer {
    kind: String,
    #[serde(flatten)]
    #[redis_om(embed)]
    inner: Inner,
}

// Two levels down: `title` of the struct flattened into the flattened one.
#[derive(JsonModel, Serialize, Deserialize)]
struct Nested {
    pk: Option<String>,
    title: String,
    #[serde(flatten)]
    #[redis_om(embed)]
    outer: Outer,
}

// Inside an embedded struct: its own member and the one it flattens.
#[derive(EmbeddedModel, Serialize, Deserialize, Clone)]
struct Clashing {
    title: String,
    #[serde(flatten)]
    #[redis_om(embed)]
    inner: Inner,
}

// serde still reads a member it does not write.
#[derive(JsonModel, Serialize, Deserialize)]
struct ReadOnlyName {
    pk: Option<String>,
    #[serde(skip_serializing, default)]
    tenant: String,
    #[serde(flatten)]
    #[redis_om(embed)]
    base: Base,
}

// Distinct names compile.
#[derive(JsonModel, Serialize, Deserialize)]
struct Fine {
    pk: Option<String>,
    name: String,
    #[serde(flatten)]
    #[redis_om(embed)]
    base: Base,
}

fn main() {}
