//! The `#[redis_om(...)]` attributes as written, parsed by darling (which
//! reports unknown and duplicate attributes with their spans and suggestions).

use darling::util::{Flag, Ignored, Override, SpannedValue};
use darling::{ast, FromDeriveInput, FromField, FromMeta};
use syn::{Generics, Ident, Path, Type};

/// Container attributes: `#[redis_om(global_prefix = "…", prefix = "…", index_name = "…", crate = "…", fields = "…", ttl_secs = N, hash)]`.
#[derive(FromDeriveInput)]
#[darling(attributes(redis_om))]
pub(crate) struct ContainerAttrs {
    pub ident: Ident,
    pub vis: syn::Visibility,
    pub generics: Generics,
    pub data: ast::Data<Ignored, FieldAttrs>,
    #[darling(default)]
    pub global_prefix: Option<SpannedValue<String>>,
    #[darling(default)]
    pub prefix: Option<SpannedValue<String>>,
    #[darling(default)]
    pub index_name: Option<SpannedValue<String>>,
    #[darling(default, rename = "crate")]
    pub krate: Option<Path>,
    /// `fields = "UserQueryFields"`: the name of the generated struct of
    /// query handles (default `{Model}Fields`).
    #[darling(default)]
    pub fields: Option<Ident>,
    /// `ttl_secs = 3600`: the default time to live, set on every save.
    #[darling(default)]
    pub ttl_secs: Option<SpannedValue<u64>>,
    /// `hash` on an EmbeddedModel: its fields can also be flattened into a
    /// HashModel (`#[redis_om(flatten)]`), stored as hash fields.
    pub hash: Flag,
}

/// Field attributes: `#[redis_om(primary_key, index, sortable, full_text, case_sensitive, separator = "|", rename = "…", embed, flatten, version, index_missing, index_empty, default, default = "path", expire_secs = 30, vector(..))]`.
#[derive(FromField)]
#[darling(attributes(redis_om), forward_attrs(serde))]
pub(crate) struct FieldAttrs {
    pub ident: Option<Ident>,
    /// `#[serde(...)]` attributes: where serde's options are written, for errors.
    pub attrs: Vec<syn::Attribute>,
    pub ty: Type,
    pub primary_key: Flag,
    pub index: Flag,
    pub sortable: Flag,
    pub full_text: Flag,
    pub case_sensitive: Flag,
    pub embed: Flag,
    pub version: Flag,
    /// `index_missing`: `INDEXMISSING`, for `is_missing()` queries.
    pub index_missing: Flag,
    /// `index_empty`: `INDEXEMPTY`, for `is_empty()` queries.
    pub index_empty: Flag,
    /// `flatten` on a HashModel field: the fields of a
    /// `#[derive(EmbeddedModel)] #[redis_om(hash)]` struct, stored as the
    /// model's own hash fields.
    pub flatten: Flag,
    #[darling(default)]
    pub separator: Option<SpannedValue<String>>,
    #[darling(default)]
    pub rename: Option<SpannedValue<String>>,
    /// `default` (`Default::default()`) or `default = "path"` (`path()`): the
    /// value of a field missing from a stored hash.
    #[darling(default)]
    pub default: Option<SpannedValue<Override<Path>>>,
    /// `expire_secs = 30`: the hash field expires on its own (`HEXPIRE`).
    #[darling(default)]
    pub expire_secs: Option<SpannedValue<u64>>,
    /// `vector(algorithm = "flat", dim = 4, distance = "cosine", …)`: a
    /// vector field for nearest-neighbour search.
    #[darling(default)]
    pub vector: Option<SpannedValue<VectorAttrs>>,
}

/// `vector(algorithm = "flat" | "hnsw", dim = N, distance = "cosine" | "l2" | "ip",
/// initial_cap = N, block_size = N, m = N, ef_construction = N, ef_runtime = N, epsilon = F)`.
#[derive(FromMeta)]
pub(crate) struct VectorAttrs {
    pub algorithm: SpannedValue<String>,
    pub dim: SpannedValue<u64>,
    pub distance: SpannedValue<String>,
    #[darling(default)]
    pub initial_cap: Option<SpannedValue<u64>>,
    #[darling(default)]
    pub block_size: Option<SpannedValue<u64>>,
    #[darling(default)]
    pub m: Option<SpannedValue<u64>>,
    #[darling(default)]
    pub ef_construction: Option<SpannedValue<u64>>,
    #[darling(default)]
    pub ef_runtime: Option<SpannedValue<u64>>,
    #[darling(default)]
    pub epsilon: Option<SpannedValue<f64>>,
}
