use redis_om::HashValue;
use serde::{Deserialize, Serialize};

#[derive(HashValue, Serialize, Deserialize)]
#[serde(untagged)]
enum Untagged {
    A,
    B,
}

#[derive(HashValue, Serialize, Deserialize)]
#[serde(tag = "type")]
enum Internal {
    A,
    B,
}

#[derive(HashValue, Serialize, Deserialize)]
#[serde(tag = "t", content = "c")]
enum Adjacent {
    A,
    B,
}

#[derive(HashValue, Serialize, Deserialize)]
enum Variants {
    #[serde(skip)]
    Hidden,
    #[serde(skip_deserializing)]
    WriteOnly,
    #[serde(rename = "fine", alias = "ok")]
    Fine,
    #[serde(untagged)]
    Loose,
}

#[derive(HashValue, Serialize, Deserialize, Clone)]
#[serde(into = "u8")]
enum Into8 {
    A,
}

impl From<Into8> for u8 {
    fn from(_: Into8) -> u8 {
        0
    }
}

// Renaming by serde's rules is supported.
#[derive(HashValue, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING-KEBAB-CASE")]
enum Plain {
    OnHold,
    #[serde(rename = "done")]
    Done,
}

fn main() {}
