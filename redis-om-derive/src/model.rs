//! Checks the parsed attributes and turns them into a [`ModelDef`]: every
//! error is collected and reported at the span of the offending item.

use darling::ast::Style;
use proc_macro2::Span;
use syn::{Generics, Ident, Path, Type};

use crate::attr::{ContainerAttrs, FieldAttrs};
use crate::serde_attrs::{serde_span, Missing, SerdeField};

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Storage {
    Hash,
    Json,
}

impl Storage {
    fn derive_name(self) -> &'static str {
        match self {
            Storage::Hash => "HashModel",
            Storage::Json => "JsonModel",
        }
    }
}

/// A checked model.
pub(crate) struct ModelDef {
    pub ident: Ident,
    pub vis: syn::Visibility,
    pub generics: Generics,
    pub krate: Path,
    pub global_prefix: String,
    pub prefix: String,
    pub index_name: Option<String>,
    /// The name of the generated struct of query handles (`{Model}Fields`
    /// unless `#[redis_om(fields = "…")]`).
    pub fields_ident: Ident,
    pub fields: Vec<FieldDef>,
    /// Index into `fields` of the primary key.
    pub pk: usize,
    /// Index into `fields` of the `#[redis_om(version)]` field, if any.
    pub version: Option<usize>,
    /// `#[redis_om(hash)]` on an EmbeddedModel: also flattened into hash models.
    pub hash: bool,
    /// `#[redis_om(ttl_secs = N)]`: the default time to live of every save.
    pub ttl_secs: Option<u64>,
}

/// A checked field.
pub(crate) struct FieldDef {
    pub ident: Ident,
    pub ty: Type,
    /// The hash field name (HashModel only; JsonModel names come from serde).
    pub stored_name: String,
    /// Index options.
    pub index: IndexOpts,
    /// `#[redis_om(embed)]`: a struct whose own indexed fields are indexed.
    pub embed: Option<Embed>,
    /// The function serde deserializes the field with (`with = "m"` gives
    /// `m::deserialize`, `deserialize_with = "f"` gives `f`), for reading a
    /// selected JSON field as the struct reads it.
    pub deserialize_with: Option<proc_macro2::TokenStream>,
    /// `#[serde(with = "…")]` or `serialize_with`: serde's encoding is the user's.
    pub serde_with: bool,
    /// The function serde serializes the field with, when the user wrote one.
    pub serialize_with: Option<proc_macro2::TokenStream>,
    /// serde's `skip_serializing_if` predicate: a value it holds is left out
    /// of the document (a setter then removes the member).
    pub skip_if: Option<proc_macro2::TokenStream>,
    /// What a field missing from the stored document becomes: serde's
    /// `default` (JSON and hash models), or `#[redis_om(default)]` (hash models).
    pub missing: Missing,
    /// `#[redis_om(expire_secs = N)]` (hash models): the field expires on its own.
    pub expire_secs: Option<u64>,
    /// Whether serde writes the field (not `skip`/`skip_serializing`).
    pub written: bool,
    /// Why serde's handling of the field keeps it from being indexed (`skip`,
    /// `skip_deserializing`, `flatten`), at the serde attribute.
    pub unindexable: Option<Unindexable>,
    /// `#[redis_om(version)]`, where it is written.
    pub version: Option<Span>,
    /// `#[redis_om(flatten)]` (HashModel): the fields of an EmbeddedModel
    /// with `hash`, stored as the model's own.
    pub flatten: bool,
    /// serde's `alias`es of a JsonModel field: members an older version of
    /// the model wrote, which a setter removes (else the document would hold
    /// both, and serde refuses a duplicate field).
    pub aliases: Vec<String>,
}

impl FieldDef {
    /// Whether serde writes or reads the field's member (not `skip`; a
    /// `skip_serializing` field is still read, so its name is taken).
    pub fn has_member(&self) -> bool {
        self.written
            || !self
                .unindexable
                .as_ref()
                .is_some_and(|u| matches!(u.key, "skip" | "skip_deserializing"))
    }
}

/// Why serde's handling of a field keeps it from being indexed.
pub(crate) struct Unindexable {
    /// The serde option, where it is written (else the field's name).
    pub span: Span,
    /// The serde option: `skip`, `skip_serializing`, `skip_deserializing`, `flatten`.
    pub key: &'static str,
    /// What serde does with the field.
    pub reason: String,
    /// The other way out, for an indexed field.
    pub fix: &'static str,
}

/// An embedded struct field: `T`, `Option<T>` (one) or `Vec<T>` (many, `[*]`).
pub(crate) struct Embed {
    pub inner: Type,
    pub many: bool,
    /// `#[serde(flatten)]`: the struct's fields are the parent's own members,
    /// indexed under their own names (composition instead of inheritance).
    pub flatten: bool,
}

/// Whether the type is written `Option<…>`.
pub(crate) fn is_option(ty: &Type) -> bool {
    matches!(ty, Type::Path(p) if p.path.segments.last().is_some_and(|s| s.ident == "Option"))
}

/// `Vec<T>` → (T, true), `Option<T>` → what T is, anything else → (it, false).
fn embedded_type(ty: &Type) -> Embed {
    if let Type::Path(path) = ty {
        if let Some(last) = path.path.segments.last() {
            if let syn::PathArguments::AngleBracketed(args) = &last.arguments {
                if let Some(syn::GenericArgument::Type(inner)) = args.args.first() {
                    if last.ident == "Vec" {
                        return Embed {
                            inner: inner.clone(),
                            many: true,
                            flatten: false,
                        };
                    }
                    if last.ident == "Option" {
                        return embedded_type(inner);
                    }
                }
            }
        }
    }
    Embed {
        inner: ty.clone(),
        many: false,
        flatten: false,
    }
}

#[derive(Default)]
pub(crate) struct IndexOpts {
    pub indexed: bool,
    /// `INDEXMISSING` (`index_missing`).
    pub missing: bool,
    /// `INDEXEMPTY` (`index_empty`).
    pub empty: bool,
    pub sortable: bool,
    pub full_text: bool,
    pub case_sensitive: bool,
    pub separator: Option<char>,
    /// `vector(..)`: a vector field.
    pub vector: Option<VectorDef>,
}

/// A checked `vector(..)` attribute: the `VectorOptions` to build.
pub(crate) struct VectorDef {
    /// `Flat` or `Hnsw`.
    pub algorithm: &'static str,
    pub dim: usize,
    /// `Cosine`, `L2` or `InnerProduct`.
    pub distance: &'static str,
    pub initial_cap: Option<u64>,
    pub block_size: Option<u64>,
    pub m: Option<u64>,
    pub ef_construction: Option<u64>,
    pub ef_runtime: Option<u64>,
    /// As it is written in the schema.
    pub epsilon: Option<String>,
}

impl ModelDef {
    /// A model; `serde` is serde's reading of the struct's fields (JSON
    /// models; `None` for hash models, or when serde reports an error itself).
    pub(crate) fn from_attrs(
        attrs: ContainerAttrs,
        storage: Storage,
        serde: Option<Vec<SerdeField>>,
    ) -> syn::Result<Self> {
        Self::parse(attrs, storage, false, serde)
    }

    /// `#[derive(EmbeddedModel)]`: JSON naming, no key, no index of its own.
    pub(crate) fn embedded(
        attrs: ContainerAttrs,
        serde: Option<Vec<SerdeField>>,
    ) -> syn::Result<Self> {
        Self::parse(attrs, Storage::Json, true, serde)
    }

    fn parse(
        attrs: ContainerAttrs,
        storage: Storage,
        embedded: bool,
        serde: Option<Vec<SerdeField>>,
    ) -> syn::Result<Self> {
        let derive = if embedded {
            "EmbeddedModel"
        } else {
            storage.derive_name()
        };
        let ident = attrs.ident;

        let fields = match attrs.data {
            darling::ast::Data::Struct(fields) if fields.style == Style::Struct => fields.fields,
            darling::ast::Data::Struct(fields) => {
                let shape = if fields.style == Style::Tuple {
                    "a tuple struct"
                } else {
                    "a unit struct"
                };
                return Err(syn::Error::new(
                    ident.span(),
                    format!("{derive} cannot be derived for {shape}: a model needs named fields to store"),
                ));
            }
            darling::ast::Data::Enum(_) => {
                return Err(syn::Error::new(
                    ident.span(),
                    format!(
                        "{derive} cannot be derived for an enum: a model is a struct with named fields \
                         (to store a unit-only enum as a field, use #[derive(HashValue)])"
                    ),
                ));
            }
        };

        // Created only now: an accumulator must be finished, never dropped.
        let mut errors = darling::Error::accumulator();
        let non_empty = |value: &Option<darling::util::SpannedValue<String>>,
                         what: &str,
                         errors: &mut darling::error::Accumulator| {
            if let Some(v) = value {
                if v.trim_matches(':').is_empty() {
                    errors.push(
                        darling::Error::custom(format!("`{what}` must not be empty"))
                            .with_span(&v.span()),
                    );
                }
            }
        };
        non_empty(&attrs.prefix, "prefix", &mut errors);
        non_empty(&attrs.index_name, "index_name", &mut errors);
        if embedded {
            let keyed = [
                ("global_prefix", attrs.global_prefix.as_ref()),
                ("prefix", attrs.prefix.as_ref()),
                ("index_name", attrs.index_name.as_ref()),
            ];
            for (name, value) in keyed {
                if let Some(value) = value {
                    errors.push(
                        darling::Error::custom(format!(
                            "`{name}` does not apply to an EmbeddedModel: it is stored inside the JsonModel that embeds it"
                        ))
                        .with_span(&value.span()),
                    );
                }
            }
            if let Some(param) = attrs.generics.params.first() {
                errors.push(
                    darling::Error::custom("EmbeddedModel does not support generic structs")
                        .with_span(param),
                );
            }
        }

        if attrs.hash.is_present() && !embedded {
            errors.push(
                darling::Error::custom(
                    "`hash` is for an EmbeddedModel whose fields are flattened into HashModels",
                )
                .with_span(&attrs.hash.span()),
            );
        }

        if let Some(ttl) = &attrs.ttl_secs {
            if embedded {
                errors.push(
                    darling::Error::custom(
                        "`ttl_secs` does not apply to an EmbeddedModel: it is stored inside the \
                         JsonModel that embeds it (put `ttl_secs` on that model)",
                    )
                    .with_span(&ttl.span()),
                );
            } else if **ttl == 0 {
                errors.push(
                    darling::Error::custom(
                        "`ttl_secs` must be at least 1 (a document without a TTL: leave it out)",
                    )
                    .with_span(&ttl.span()),
                );
            }
        }

        // serde's reading of each field, by position: everything for JSON
        // models, only `default` for hash models (their names are redis-om's).
        let serde = serde.filter(|s| s.len() == fields.len());
        let mut hash_missing = match storage {
            Storage::Hash => serde
                .as_ref()
                .map(|fields| fields.iter().map(|f| Some(f.missing.clone())).collect()),
            Storage::Json => None,
        }
        .unwrap_or_else(|| vec![None; fields.len()]);
        let mut serde = match storage {
            Storage::Json => serde,
            Storage::Hash => None,
        }
        .map(|fields| fields.into_iter().map(Some).collect::<Vec<_>>());
        let mut out = Vec::with_capacity(fields.len());
        let mut marked_pk: Option<(usize, Span)> = None;
        for (i, field) in fields.into_iter().enumerate() {
            let serde_field = serde.as_mut().and_then(|s| s[i].take());
            let serde_missing = hash_missing[i].take();
            let Some(def) = check_field(
                field,
                storage,
                serde_field,
                serde_missing,
                i,
                &mut marked_pk,
                &mut errors,
            ) else {
                continue;
            };
            out.push(def);
        }

        // Two fields stored under one name would overwrite each other.
        for (i, a) in out.iter().enumerate() {
            if !a.written {
                continue;
            }
            if let Some(b) = out[..i]
                .iter()
                .find(|b| b.written && b.stored_name == a.stored_name)
            {
                errors.push(
                    darling::Error::custom(format!(
                        "field `{}` is stored under the name `{}`, which field `{}` already uses",
                        a.ident, a.stored_name, b.ident
                    ))
                    .with_span(&a.ident),
                );
            }
        }

        let pk = match marked_pk {
            Some((_, span)) if embedded => {
                errors.push(
                    darling::Error::custom(
                        "an EmbeddedModel has no primary key: it is stored inside the JsonModel that embeds it",
                    )
                    .with_span(&span),
                );
                Some(0)
            }
            _ if embedded => Some(0),
            Some((i, _)) => Some(i),
            None => out.iter().position(|f| f.ident == "pk"),
        };

        // What serde does not write, or writes elsewhere, cannot be indexed.
        for (i, f) in out.iter().enumerate() {
            let Some(why) = &f.unindexable else {
                continue;
            };
            let (ident, key) = (&f.ident, why.key);
            let message = if Some(i) == pk && !embedded {
                format!(
                    "`{ident}` is the primary key, which is always indexed, but {}; remove `{key}`",
                    why.reason
                )
            } else if f.embed.is_some() {
                format!(
                    "`{ident}` is embedded (its fields are indexed at `$.{}`), but {}; remove `{key}`",
                    f.stored_name, why.reason
                )
            } else if f.index.indexed {
                format!(
                    "`{ident}` is indexed, but {}; remove `{key}`{}",
                    why.reason, why.fix
                )
            } else {
                continue;
            };
            errors.push(darling::Error::custom(message).with_span(&why.span));
        }

        if out.is_empty() {
            errors.push(
                darling::Error::custom(format!("{derive} `{ident}` has no fields"))
                    .with_span(&ident),
            );
        } else if pk.is_none() && !out.is_empty() {
            errors.push(
                darling::Error::custom(format!(
                    "{derive} `{ident}` has no primary key: add a field `pk: Option<String>` \
                     (generated on save) or mark a field #[redis_om(primary_key)]"
                ))
                .with_span(&ident),
            );
        }

        if embedded && attrs.hash.is_present() {
            for f in out.iter().filter(|f| f.embed.is_some()) {
                errors.push(
                    darling::Error::custom(
                        "an EmbeddedModel with `hash` is stored as hash fields, which hold one \
                         value each: it cannot embed another struct",
                    )
                    .with_span(&f.ident),
                );
            }
        }

        // The version field: one, a plain stored field, not the key.
        let mut version = None;
        for (i, f) in out.iter().enumerate() {
            let Some(span) = f.version else {
                continue;
            };
            let problem = if embedded {
                Some("an EmbeddedModel has no version of its own: put #[redis_om(version)] on a field of the model that embeds it".to_owned())
            } else if version.is_some() {
                Some("only one field can be the version: another field is already marked #[redis_om(version)]".to_owned())
            } else if Some(i) == pk {
                Some("the primary key cannot be the version: add an integer field such as `version: u64`".to_owned())
            } else if f.embed.is_some() {
                Some(
                    "`version` cannot be combined with `embed`: the version is an integer field"
                        .to_owned(),
                )
            } else if !f.written {
                Some(format!(
                    "`{}` is the version, but serde does not write it: remove the serde `skip`",
                    f.ident
                ))
            } else {
                None
            };
            match problem {
                Some(message) => errors.push(darling::Error::custom(message).with_span(&span)),
                None => version = Some(i),
            }
        }

        // A vector belongs to the model itself: inside an embedded struct it
        // would be indexed with the struct's path (a list of them, `[*]`:
        // several vectors per document, which RediSearch then refuses for
        // every document) and escape the dimension checks of `save`.
        if embedded {
            for f in out.iter().filter(|f| f.index.vector.is_some()) {
                errors.push(
                    darling::Error::custom(
                        "a `vector` field cannot be in an EmbeddedModel (yet): put it on the \
                         HashModel or JsonModel itself",
                    )
                    .with_span(&f.ident),
                );
            }
        }

        // Checked once the primary key is known.
        if let Some(pk) = pk {
            if let Some(f) = out.get(pk).filter(|_| !embedded) {
                if f.expire_secs.is_some() {
                    errors.push(
                        darling::Error::custom(format!(
                            "`{}` is the primary key, which cannot expire: it names the document \
                             (to expire the whole document, put #[redis_om(ttl_secs = N)] on the struct)",
                            f.ident
                        ))
                        .with_span(&f.ident),
                    );
                }
            }
        }

        errors.finish()?;

        let type_name = ident.to_string();
        Ok(ModelDef {
            fields_ident: attrs
                .fields
                .unwrap_or_else(|| quote::format_ident!("{}Fields", ident)),
            global_prefix: attrs
                .global_prefix
                .map(|v| v.into_inner())
                .unwrap_or_default(),
            prefix: attrs.prefix.map(|v| v.into_inner()).unwrap_or(type_name),
            index_name: attrs.index_name.map(|v| v.into_inner()),
            krate: attrs.krate.unwrap_or_else(|| syn::parse_quote!(::redis_om)),
            generics: attrs.generics,
            vis: attrs.vis,
            ident,
            fields: out,
            pk: pk.unwrap_or(0),
            version,
            hash: attrs.hash.is_present(),
            ttl_secs: attrs.ttl_secs.map(|v| *v),
        })
    }
}

fn check_field(
    field: FieldAttrs,
    storage: Storage,
    serde: Option<SerdeField>,
    serde_missing: Option<Missing>,
    position: usize,
    marked_pk: &mut Option<(usize, Span)>,
    errors: &mut darling::error::Accumulator,
) -> Option<FieldDef> {
    let ident = field.ident?;

    if field.primary_key.is_present() {
        match marked_pk {
            Some(_) => errors.push(
                darling::Error::custom(
                    "only one field can be the primary key: another field is already marked #[redis_om(primary_key)]",
                )
                .with_span(&field.primary_key.span()),
            ),
            None => *marked_pk = Some((position, field.primary_key.span())),
        }
    }

    let stored_name = match (&field.rename, storage) {
        (Some(rename), Storage::Json) => {
            errors.push(
                darling::Error::custom(
                    "`rename` is for HashModel fields; a JsonModel's field names come from serde: use #[serde(rename = \"...\")]",
                )
                .with_span(&rename.span()),
            );
            ident.to_string()
        }
        (Some(rename), Storage::Hash) => {
            if rename.is_empty() {
                errors.push(
                    darling::Error::custom("`rename` must not be empty").with_span(&rename.span()),
                );
            }
            rename.as_str().to_owned()
        }
        // A JSON field's name is serde's; without serde's reading (serde
        // reports an error in its attributes itself), the field's own.
        (None, _) => match &serde {
            Some(serde) => serde.name.clone(),
            None => {
                let name = ident.to_string();
                name.strip_prefix("r#").map(str::to_owned).unwrap_or(name)
            }
        },
    };

    let separator = field.separator.as_ref().and_then(|sep| {
        let mut chars = sep.chars();
        match (chars.next(), chars.next()) {
            (Some(c), None) if !c.is_whitespace() => Some(c),
            _ => {
                errors.push(
                    darling::Error::custom("`separator` must be exactly one non-space character, such as \"|\" or \",\"")
                        .with_span(&sep.span()),
                );
                None
            }
        }
    });

    let vector = field.vector.as_ref().and_then(|v| {
        let others = [
            ("sortable", field.sortable.is_present()),
            ("full_text", field.full_text.is_present()),
            ("case_sensitive", field.case_sensitive.is_present()),
            ("separator", field.separator.is_some()),
            ("index_missing", field.index_missing.is_present()),
            ("index_empty", field.index_empty.is_present()),
            ("embed", field.embed.is_present()),
            ("flatten", field.flatten.is_present()),
            ("primary_key", field.primary_key.is_present()),
            ("version", field.version.is_present()),
        ];
        check_vector(v, &others, errors)
    });
    // sortable, full_text and vector imply an index; the options below only refine one.
    let indexed = field.index.is_present()
        || field.sortable.is_present()
        || field.full_text.is_present()
        || field.vector.is_some();
    if !indexed {
        let refine = [
            (
                "case_sensitive",
                field
                    .case_sensitive
                    .is_present()
                    .then(|| field.case_sensitive.span()),
            ),
            ("separator", field.separator.as_ref().map(|s| s.span())),
        ];
        for (name, span) in refine {
            if let Some(span) = span {
                errors.push(
                    darling::Error::custom(format!(
                        "`{name}` has no effect on a field that is not indexed: add `index` (or `sortable`, `full_text`)"
                    ))
                    .with_span(&span),
                );
            }
        }
    }

    if field.flatten.is_present() {
        match storage {
            Storage::Json => errors.push(
                darling::Error::custom(
                    "`flatten` is for HashModel fields; in a JsonModel flatten an EmbeddedModel \
                     with #[serde(flatten)] and #[redis_om(embed)]",
                )
                .with_span(&field.flatten.span()),
            ),
            Storage::Hash => {
                let options = [
                    ("primary_key", field.primary_key.is_present()),
                    ("index", field.index.is_present()),
                    ("sortable", field.sortable.is_present()),
                    ("full_text", field.full_text.is_present()),
                    ("embed", field.embed.is_present()),
                    ("version", field.version.is_present()),
                    ("rename", field.rename.is_some()),
                    ("default", field.default.is_some()),
                    ("expire_secs", field.expire_secs.is_some()),
                ];
                for (name, present) in options {
                    if present {
                        errors.push(
                            darling::Error::custom(format!(
                                "`{name}` cannot be combined with `flatten`: a flattened struct's \
                                 fields are stored and indexed by their own attributes"
                            ))
                            .with_span(&field.flatten.span()),
                        );
                    }
                }
            }
        }
    }
    // INDEXMISSING / INDEXEMPTY refine an index.
    for (name, flag) in [
        ("index_missing", &field.index_missing),
        ("index_empty", &field.index_empty),
    ] {
        if flag.is_present() && !indexed {
            errors.push(
                darling::Error::custom(format!(
                    "`{name}` has no effect on a field that is not indexed: add `index` (or `sortable`, `full_text`)"
                ))
                .with_span(&flag.span()),
            );
        }
    }
    if field.index_missing.is_present()
        && storage == Storage::Json
        && serde.as_ref().is_some_and(|s| !s.skip_serializing_if)
    {
        errors.push(
            darling::Error::custom(
                "a JsonModel writes `None` as `null`, which RediSearch does not count as missing: \
                 add #[serde(skip_serializing_if = \"Option::is_none\")] so that `is_missing()` finds it",
            )
            .with_span(&field.index_missing.span()),
        );
    }
    let embed = field.embed.is_present();
    if embed {
        if storage == Storage::Hash {
            errors.push(
                darling::Error::custom(
                    "`embed` is for JsonModel fields: a hash field holds one string, not a struct; \
                     to store the struct's fields as the hash's own, mark the field \
                     #[redis_om(flatten)] and the struct #[derive(EmbeddedModel)] #[redis_om(hash)]",
                )
                .with_span(&field.embed.span()),
            );
        }
        let options = [
            ("index", field.index.is_present()),
            ("sortable", field.sortable.is_present()),
            ("full_text", field.full_text.is_present()),
            ("primary_key", field.primary_key.is_present()),
        ];
        for (name, present) in options {
            if present {
                errors.push(
                    darling::Error::custom(format!(
                        "`{name}` cannot be combined with `embed`: an embedded struct's fields are \
                         indexed by their own #[redis_om(index)] attributes"
                    ))
                    .with_span(&field.embed.span()),
                );
            }
        }
    }

    let unindexable = serde.as_ref().and_then(|serde| {
        let at = |keys: &[&'static str]| {
            keys.iter()
                .find_map(|key| serde_span(&field.attrs, key).map(|span| (span, *key)))
                .unwrap_or((ident.span(), keys[0]))
        };
        let (keys, reason, fix): (&[&'static str], &str, &str) = if serde.flatten && embed {
            // An embedded struct flattened into its parent: its fields are indexed at the parent's level.
            return None;
        } else if serde.flatten {
            (
                &["flatten"],
                "#[serde(flatten)] writes its fields into the parent object, so it has no value of its own to index",
                " (to index the fields of a nested struct, derive EmbeddedModel on it and mark \
                 the field #[redis_om(embed)] instead of `index`)",
            )
        } else if serde.skip_serializing {
            (
                &["skip", "skip_serializing"],
                "serde never writes it, so the index would never see a value",
                " or do not index the field",
            )
        } else if serde.skip_deserializing {
            (
                &["skip_deserializing"],
                "serde never reads it back, so a document found by its value would load with a default instead",
                " or do not index the field",
            )
        } else {
            return None;
        };
        let (span, key) = at(keys);
        let reason = if serde.flatten {
            reason.to_owned()
        } else {
            format!("with #[serde({key})] {reason}")
        };
        Some(Unindexable {
            span,
            key,
            reason,
            fix,
        })
    });
    let serde_flatten = serde.as_ref().is_some_and(|s| s.flatten);
    if serde_flatten && embed && embedded_type(&field.ty).many {
        errors.push(
            darling::Error::custom("a flattened embedded struct cannot be a list")
                .with_span(&field.embed.span()),
        );
    }
    let skip_if = serde
        .as_ref()
        .and_then(|s| s.skip_serializing_if_path.clone());
    let aliases = serde
        .as_ref()
        .map(|s| s.aliases.clone())
        .unwrap_or_default();
    let (deserialize_with, serialize_with, serde_with, mut missing, written) = match serde {
        Some(serde) => (
            serde.deserialize_with,
            serde.serialize_with_path,
            serde.serialize_with,
            serde.missing,
            !serde.skip_serializing,
        ),
        None => (None, None, false, Missing::Required, true),
    };

    // `#[redis_om(default)]`: hash models (a JSON model reads as serde does).
    if let Some(default) = &field.default {
        match storage {
            Storage::Json => errors.push(
                darling::Error::custom(
                    "`default` is for HashModel fields; a JsonModel reads a missing field as serde \
                     does: use #[serde(default)] or #[serde(default = \"path\")]",
                )
                .with_span(&default.span()),
            ),
            Storage::Hash => {
                if serde_missing
                    .as_ref()
                    .is_some_and(|m| !matches!(m, Missing::Required))
                {
                    errors.push(
                        darling::Error::custom(
                            "the default is given twice, in #[redis_om(default)] and #[serde(default)]: keep one",
                        )
                        .with_span(&default.span()),
                    );
                }
                missing = match &**default {
                    darling::util::Override::Inherit => Missing::FieldDefault,
                    darling::util::Override::Explicit(path) => {
                        Missing::FieldPath(quote::ToTokens::to_token_stream(path))
                    }
                };
            }
        }
    } else if let Some(serde_missing) = serde_missing {
        missing = serde_missing;
    }

    let expire_secs = field.expire_secs.as_ref().and_then(|secs| {
        let fail = |message: String| darling::Error::custom(message).with_span(&secs.span());
        if storage == Storage::Json {
            errors.push(fail(
                "`expire_secs` is for HashModel fields (Redis expires hash fields one by one); \
                 a JSON document expires as a whole: put #[redis_om(ttl_secs = N)] on the struct"
                    .to_owned(),
            ));
            return None;
        }
        if **secs == 0 {
            errors.push(fail("`expire_secs` must be at least 1".to_owned()));
            return None;
        }
        if matches!(missing, Missing::Required) && !is_option(&field.ty) {
            errors.push(fail(format!(
                "`{ident}` expires, after which the document is read without it: make it an \
                 Option<…> (read as None) or give it a default (#[redis_om(default)] or \
                 #[redis_om(default = \"path\")])"
            )));
        }
        Some(**secs)
    });
    Some(FieldDef {
        ident,
        aliases,
        deserialize_with,
        serialize_with,
        skip_if,
        serde_with,
        missing,
        expire_secs,
        written,
        unindexable,
        embed: embed.then(|| Embed {
            flatten: serde_flatten,
            ..embedded_type(&field.ty)
        }),
        version: field.version.is_present().then(|| field.version.span()),
        flatten: field.flatten.is_present(),
        ty: field.ty,
        stored_name,
        index: IndexOpts {
            indexed,
            missing: field.index_missing.is_present(),
            empty: field.index_empty.is_present(),
            sortable: field.sortable.is_present(),
            full_text: field.full_text.is_present(),
            case_sensitive: field.case_sensitive.is_present(),
            separator,
            vector,
        },
    })
}

/// Checks `vector(..)`: its values, and the options it cannot be combined with.
fn check_vector(
    attrs: &darling::util::SpannedValue<crate::attr::VectorAttrs>,
    others: &[(&str, bool)],
    errors: &mut darling::error::Accumulator,
) -> Option<VectorDef> {
    let mut ok = true;
    let mut fail = |message: String, span: Span| {
        errors.push(darling::Error::custom(message).with_span(&span));
        ok = false;
    };
    let algorithm = match attrs.algorithm.to_ascii_lowercase().as_str() {
        "flat" => "Flat",
        "hnsw" => "Hnsw",
        other => {
            fail(
                format!("unknown vector algorithm {other:?}: use \"flat\" (exact) or \"hnsw\" (approximate)"),
                attrs.algorithm.span(),
            );
            "Flat"
        }
    };
    let distance = match attrs.distance.to_ascii_lowercase().as_str() {
        "cosine" => "Cosine",
        "l2" => "L2",
        "ip" => "InnerProduct",
        other => {
            fail(
                format!("unknown vector distance {other:?}: use \"cosine\", \"l2\" or \"ip\""),
                attrs.distance.span(),
            );
            "Cosine"
        }
    };
    if *attrs.dim == 0 {
        fail("`dim` must be at least 1".to_owned(), attrs.dim.span());
    }
    let hnsw_only = [
        ("m", attrs.m.as_ref().map(|v| v.span())),
        (
            "ef_construction",
            attrs.ef_construction.as_ref().map(|v| v.span()),
        ),
        ("ef_runtime", attrs.ef_runtime.as_ref().map(|v| v.span())),
        ("epsilon", attrs.epsilon.as_ref().map(|v| v.span())),
    ];
    if algorithm == "Flat" {
        for (name, span) in hnsw_only {
            if let Some(span) = span {
                fail(
                    format!("`{name}` is an option of algorithm = \"hnsw\", not \"flat\""),
                    span,
                );
            }
        }
    } else if let Some(block_size) = &attrs.block_size {
        fail(
            "`block_size` is an option of algorithm = \"flat\", not \"hnsw\"".to_owned(),
            block_size.span(),
        );
    }
    let epsilon = attrs.epsilon.as_ref().map(|e| {
        if !(**e > 0.0 && e.is_finite()) {
            fail("`epsilon` must be a positive number".to_owned(), e.span());
        }
        format!("{}", **e)
    });
    for &(name, present) in others {
        if present {
            fail(
                format!("`{name}` cannot be combined with `vector`"),
                attrs.span(),
            );
        }
    }
    let dim = usize::try_from(*attrs.dim).unwrap_or(usize::MAX);
    ok.then(|| VectorDef {
        algorithm,
        dim,
        distance,
        initial_cap: attrs.initial_cap.as_ref().map(|v| **v),
        block_size: attrs.block_size.as_ref().map(|v| **v),
        m: attrs.m.as_ref().map(|v| **v),
        ef_construction: attrs.ef_construction.as_ref().map(|v| **v),
        ef_runtime: attrs.ef_runtime.as_ref().map(|v| **v),
        epsilon,
    })
}
