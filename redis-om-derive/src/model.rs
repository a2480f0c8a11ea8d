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
    /// `#[redis_om(embed)]`: a struct whose own indexed fields are indexed.
    pub embed: Option<Embed>,
    /// The function serde deserializes the field with (`with = "m"` gives
    /// `m::deserialize`, `deserialize_with = "f"` gives `f`), for reading a
    /// selected JSON field as the struct reads it.
    pub deserialize_with: Option<String>,
}

/// An embedded struct field: `T`, `Option<T>` (one) or `Vec<T>` (many, `[*]`).
pub(crate) struct Embed {
    pub inner: Type,
    pub many: bool,
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
    }
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
        Self::parse(attrs, storage, false)
    }

    /// `#[derive(EmbeddedModel)]`: JSON naming, no key, no index of its own.
    pub(crate) fn embedded(attrs: ContainerAttrs) -> syn::Result<Self> {
        Self::parse(attrs, Storage::Json, true)
    }

    fn parse(attrs: ContainerAttrs, storage: Storage, embedded: bool) -> syn::Result<Self> {
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

        let rename_all = match storage {
            Storage::Json => serde_rename_all(&attrs.attrs),
            Storage::Hash => None,
        };
        let mut out = Vec::with_capacity(fields.len());
        let mut marked_pk: Option<(usize, Span)> = None;
        for (i, field) in fields.into_iter().enumerate() {
            let Some(def) = check_field(
                field,
                storage,
                rename_all.as_deref(),
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
    rename_all: Option<&str>,
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
                let name = name.strip_prefix("r#").map(str::to_owned).unwrap_or(name);
                match rename_all {
                    Some(rule) => apply_rename_all(rule, &name),
                    None => name,
                }
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

    let embed = field.embed.is_present();
    if embed {
        if storage == Storage::Hash {
            errors.push(
                darling::Error::custom(
                    "`embed` is for JsonModel fields: a hash field holds one string, not a struct",
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

    let deserialize_with = serde_string(&field.attrs, "deserialize_with").or_else(|| {
        serde_string(&field.attrs, "with").map(|module| format!("{module}::deserialize"))
    });
    Some(FieldDef {
        ident,
        deserialize_with,
        embed: embed.then(|| embedded_type(&field.ty)),
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
    serde_string(attrs, "rename")
}

/// `#[serde(rename_all = "…")]` (or `rename_all(serialize = "…")`) of a struct.
fn serde_rename_all(attrs: &[syn::Attribute]) -> Option<String> {
    serde_string(attrs, "rename_all")
}

/// The serialize-side string of serde option `key`: `key = "…"` or
/// `key(serialize = "…")`. Other serde options are serde's business: what is
/// not read is skipped.
fn serde_string(attrs: &[syn::Attribute], key: &str) -> Option<String> {
    let mut found = None;
    for attr in attrs.iter().filter(|a| a.path().is_ident("serde")) {
        let _ = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident(key) {
                if meta.input.peek(syn::Token![=]) {
                    let lit: syn::LitStr = meta.value()?.parse()?;
                    found = Some(lit.value());
                } else {
                    meta.parse_nested_meta(|inner| {
                        let lit: syn::LitStr = inner.value()?.parse()?;
                        if inner.path.is_ident("serialize") {
                            found = Some(lit.value());
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
    found
}

/// The name serde gives a snake_case field under a `rename_all` rule (as
/// serde_derive's `RenameRule::apply_to_field`); an unknown rule is serde's
/// error to report, and leaves the name as is.
pub(crate) fn apply_rename_all(rule: &str, field: &str) -> String {
    let pascal = || {
        let mut out = String::new();
        let mut upper = true;
        for c in field.chars() {
            if c == '_' {
                upper = true;
            } else if upper {
                out.extend(c.to_uppercase());
                upper = false;
            } else {
                out.push(c);
            }
        }
        out
    };
    match rule {
        "lowercase" | "snake_case" => field.to_owned(),
        "UPPERCASE" | "SCREAMING_SNAKE_CASE" => field.to_ascii_uppercase(),
        "PascalCase" => pascal(),
        "camelCase" => {
            let p = pascal();
            let mut chars = p.chars();
            match chars.next() {
                Some(first) => first.to_lowercase().chain(chars).collect(),
                None => p,
            }
        }
        "kebab-case" => field.replace('_', "-"),
        "SCREAMING-KEBAB-CASE" => field.to_ascii_uppercase().replace('_', "-"),
        _ => field.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::apply_rename_all;

    #[test]
    fn rename_all_rules_match_serde() {
        let cases = [
            ("lowercase", "total_cents"),
            ("UPPERCASE", "TOTAL_CENTS"),
            ("PascalCase", "TotalCents"),
            ("camelCase", "totalCents"),
            ("snake_case", "total_cents"),
            ("SCREAMING_SNAKE_CASE", "TOTAL_CENTS"),
            ("kebab-case", "total-cents"),
            ("SCREAMING-KEBAB-CASE", "TOTAL-CENTS"),
        ];
        for (rule, expected) in cases {
            assert_eq!(apply_rename_all(rule, "total_cents"), expected, "{rule}");
        }
        assert_eq!(apply_rename_all("camelCase", "pk"), "pk");
    }
}
