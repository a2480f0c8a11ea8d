//! Checks the parsed attributes and turns them into a [`ModelDef`]: every
//! error is collected and reported at the span of the offending item.

use darling::ast::Style;
use proc_macro2::Span;
use syn::{Generics, Ident, Path, Type};

use crate::attr::{ContainerAttrs, FieldAttrs};

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
    pub fields: Vec<FieldDef>,
    /// Index into `fields` of the primary key.
    pub pk: usize,
}

/// A checked field.
pub(crate) struct FieldDef {
    pub ident: Ident,
    pub ty: Type,
    /// The hash field name (HashModel only; JsonModel names come from serde).
    pub stored_name: String,
    /// Index options.
    pub index: IndexOpts,
}

#[derive(Default)]
pub(crate) struct IndexOpts {
    pub indexed: bool,
    pub sortable: bool,
    pub full_text: bool,
    pub case_sensitive: bool,
    pub separator: Option<char>,
}

impl ModelDef {
    pub(crate) fn from_attrs(attrs: ContainerAttrs, storage: Storage) -> syn::Result<Self> {
        let derive = storage.derive_name();
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

        let mut out = Vec::with_capacity(fields.len());
        let mut marked_pk: Option<(usize, Span)> = None;
        for (i, field) in fields.into_iter().enumerate() {
            let Some(def) = check_field(field, storage, i, &mut marked_pk, &mut errors) else {
                continue;
            };
            out.push(def);
        }

        // Two fields stored under one name would overwrite each other.
        for (i, a) in out.iter().enumerate() {
            if let Some(b) = out[..i].iter().find(|b| b.stored_name == a.stored_name) {
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
            Some((i, _)) => Some(i),
            None => out.iter().position(|f| f.ident == "pk"),
        };
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

        errors.finish()?;

        let type_name = ident.to_string();
        Ok(ModelDef {
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
        })
    }
}

fn check_field(
    field: FieldAttrs,
    storage: Storage,
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
        (None, storage) => {
            let serde_name = if storage == Storage::Json {
                serde_rename(&field.attrs)
            } else {
                None
            };
            serde_name.unwrap_or_else(|| {
                let name = ident.to_string();
                name.strip_prefix("r#").map(str::to_owned).unwrap_or(name)
            })
        }
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

    // sortable and full_text imply an index; the options below only refine one.
    let indexed =
        field.index.is_present() || field.sortable.is_present() || field.full_text.is_present();
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

    Some(FieldDef {
        ident,
        ty: field.ty,
        stored_name,
        index: IndexOpts {
            indexed,
            sortable: field.sortable.is_present(),
            full_text: field.full_text.is_present(),
            case_sensitive: field.case_sensitive.is_present(),
            separator,
        },
    })
}

/// `#[serde(rename = "…")]` (or `rename(serialize = "…")`) of a field.
fn serde_rename(attrs: &[syn::Attribute]) -> Option<String> {
    let mut name = None;
    for attr in attrs.iter().filter(|a| a.path().is_ident("serde")) {
        // Other serde options are serde's business: ignore what we do not read.
        let _ = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("rename") {
                if meta.input.peek(syn::Token![=]) {
                    let lit: syn::LitStr = meta.value()?.parse()?;
                    name = Some(lit.value());
                } else {
                    meta.parse_nested_meta(|inner| {
                        let lit: syn::LitStr = inner.value()?.parse()?;
                        if inner.path.is_ident("serialize") {
                            name = Some(lit.value());
                        }
                        Ok(())
                    })?;
                }
            } else if meta.input.peek(syn::Token![=]) {
                let _: syn::Expr = meta.value()?.parse()?;
            } else if meta.input.peek(syn::token::Paren) {
                let _content;
                syn::parenthesized!(_content in meta.input);
            }
            Ok(())
        });
    }
    name
}
