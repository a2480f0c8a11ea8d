//! serde's own reading of the `#[serde(...)]` attributes, through
//! `serde_derive_internals` (the code serde_derive is built from; schemars
//! uses it the same way), so that stored names, `skip`, `flatten`, `default`
//! and `with` mean exactly what they mean to serde. That crate is built on
//! syn 3, so the input is parsed once more with it; only plain data (names,
//! flags and token streams) crosses back.
//!
//! serde's derive reports the errors in serde's attributes; they are not
//! reported twice here.

use std::panic::{catch_unwind, AssertUnwindSafe};

use proc_macro2::{Ident, Span, TokenStream, TokenTree};
use quote::ToTokens;
use serde_derive_internals::{ast, attr, Ctxt, Derive};

/// How serde fills a field missing from the stored document.
#[derive(Clone)]
pub(crate) enum Missing {
    /// No default: a missing field is an error (or `None` for an `Option`).
    Required,
    /// `#[serde(default)]` on the field: `Default::default()` of its type.
    FieldDefault,
    /// `#[serde(default = "path")]` on the field: `path()`.
    FieldPath(TokenStream),
    /// `#[serde(default)]` on the struct: the field of the struct's `Default`.
    StructDefault,
    /// `#[serde(default = "path")]` on the struct: the field of `path()`.
    StructPath(TokenStream),
}

/// What serde does with one named field of a struct.
pub(crate) struct SerdeField {
    /// The name serde writes (`rename`, `rename_all`, raw identifiers unrawed).
    pub name: String,
    /// `skip` or `skip_serializing`: never written.
    pub skip_serializing: bool,
    /// `skip` or `skip_deserializing`: never read back.
    pub skip_deserializing: bool,
    /// `flatten`: its fields are written into the parent object.
    pub flatten: bool,
    /// `with` or `serialize_with`: serde's encoding is the user's.
    pub serialize_with: bool,
    /// `skip_serializing_if`: the member may be left out of the document.
    pub skip_serializing_if: bool,
    /// The predicate of `skip_serializing_if`, when the user wrote one.
    pub skip_serializing_if_path: Option<TokenStream>,
    /// The function serde serializes the field with (`with = "m"` gives
    /// `m::serialize`), when the user wrote one.
    pub serialize_with_path: Option<TokenStream>,
    /// The function serde deserializes the field with (`with = "m"` gives
    /// `m::deserialize`), when the user wrote one.
    pub deserialize_with: Option<TokenStream>,
    /// What a missing field becomes.
    pub missing: Missing,
    /// `alias`: other names serde reads the field from (written by an older
    /// version of the model), besides the one it writes.
    pub aliases: Vec<String>,
}

/// Whether the struct or one of its fields has a `#[serde(...)]` attribute.
pub(crate) fn has_serde_attrs(input: &syn::DeriveInput) -> bool {
    let serde = |attrs: &[syn::Attribute]| attrs.iter().any(|a| a.path().is_ident("serde"));
    serde(&input.attrs)
        || match &input.data {
            syn::Data::Struct(data) => data.fields.iter().any(|f| serde(&f.attrs)),
            _ => false,
        }
}

/// serde's reading of a struct's named fields, in declaration order; `None`
/// when serde cannot read it (serde's derive then reports why).
pub(crate) fn struct_fields(input: &syn::DeriveInput) -> Option<Vec<SerdeField>> {
    let input: syn3::DeriveInput = syn3::parse2(input.to_token_stream()).ok()?;
    // serde's code panics on a few inputs (`camelCase` of a field that starts
    // with a non-ASCII letter); serde's derive then reports it, this one
    // does not panic.
    catch_unwind(AssertUnwindSafe(|| read_struct(&input))).ok()?
}

fn read_struct(input: &syn3::DeriveInput) -> Option<Vec<SerdeField>> {
    let cx = Ctxt::new();
    let private = Ident::new("__private", Span::call_site());
    let container = ast::Container::from_ast(&cx, input, Derive::Serialize, &private);
    // Checked (a Ctxt must be), and left to serde's derive to report.
    let serde_errors = cx.check().is_err();
    let container = container?;
    if serde_errors {
        return None;
    }
    let ast::Data::Struct(ast::Style::Struct, fields) = &container.data else {
        return None;
    };
    let struct_missing = match container.attrs.default() {
        attr::Default::None => Missing::Required,
        attr::Default::Default => Missing::StructDefault,
        attr::Default::Path(path) => Missing::StructPath(path.to_token_stream()),
    };
    Some(
        fields
            .iter()
            .map(|field| {
                let attrs = &field.attrs;
                let missing = match attrs.default() {
                    attr::Default::Default => Missing::FieldDefault,
                    attr::Default::Path(path) => Missing::FieldPath(path.to_token_stream()),
                    attr::Default::None => match &struct_missing {
                        Missing::StructDefault => Missing::StructDefault,
                        Missing::StructPath(path) => Missing::StructPath(path.clone()),
                        _ => Missing::Required,
                    },
                };
                // serde's own paths (`_serde::…`, for borrowed `Cow`s) are not the user's.
                let deserialize_with = attrs
                    .deserialize_with()
                    .filter(|path| {
                        path.path
                            .segments
                            .first()
                            .is_none_or(|first| first.ident != "_serde")
                    })
                    .map(ToTokens::to_token_stream);
                let serialize_with_path = attrs
                    .serialize_with()
                    .filter(|path| {
                        path.path
                            .segments
                            .first()
                            .is_none_or(|first| first.ident != "_serde")
                    })
                    .map(ToTokens::to_token_stream);
                let name = attrs.name().serialize_name().value.clone();
                let aliases = attrs
                    .aliases()
                    .iter()
                    .map(|alias| alias.value.clone())
                    .filter(|alias| *alias != name)
                    .collect();
                SerdeField {
                    aliases,
                    skip_serializing_if: attrs.skip_serializing_if().is_some(),
                    skip_serializing_if_path: attrs
                        .skip_serializing_if()
                        .map(ToTokens::to_token_stream),
                    serialize_with_path,
                    name,
                    skip_serializing: attrs.skip_serializing(),
                    skip_deserializing: attrs.skip_deserializing(),
                    flatten: attrs.flatten(),
                    serialize_with: attrs.serialize_with().is_some(),
                    deserialize_with,
                    missing,
                }
            })
            .collect(),
    )
}

/// A serde option of an enum that `#[derive(HashValue)]` cannot store, with
/// the span of the attribute that sets it.
pub(crate) struct Unsupported {
    pub span: Span,
    pub message: String,
}

/// Why serde would not write this unit-only enum as a plain string, for each
/// serde option that makes it so (empty when every variant is written as its
/// serde name).
pub(crate) fn enum_not_a_string(input: &syn::DeriveInput) -> Vec<Unsupported> {
    // As in `struct_fields`: what serde's code panics on, serde reports.
    catch_unwind(AssertUnwindSafe(|| read_enum(input))).unwrap_or_default()
}

fn read_enum(input: &syn::DeriveInput) -> Vec<Unsupported> {
    let mut out = Vec::new();
    let Ok(parsed) = syn3::parse2::<syn3::DeriveInput>(input.to_token_stream()) else {
        return out;
    };
    let cx = Ctxt::new();
    let private = Ident::new("__private", Span::call_site());
    let container = ast::Container::from_ast(&cx, &parsed, Derive::Serialize, &private);
    let serde_errors = cx.check().is_err();
    let Some(container) = container else {
        return out;
    };
    if serde_errors {
        return out;
    }
    let whole = |key: &str, form: &str| {
        Unsupported {
        span: serde_span(&input.attrs, key).unwrap_or_else(|| input.ident.span()),
        message: format!(
            "HashValue stores an enum by its serde name, a plain string, but #[serde({key})] makes serde write {form}; \
             remove it (only `rename`, `rename_all` and `alias` are supported on a HashValue enum)"
        ),
    }
    };
    match container.attrs.tag() {
        attr::TagType::External => {}
        attr::TagType::Internal { .. } => {
            out.push(whole("tag", "each variant as a map `{tag: name}`"));
        }
        attr::TagType::Adjacent { .. } => {
            out.push(whole(
                "tag",
                "each variant as a map `{tag: name}` (with `content`)",
            ));
        }
        attr::TagType::None => out.push(whole("untagged", "a unit variant as `null`")),
    }
    if container.attrs.type_into().is_some() {
        out.push(whole("into", "the value of another type"));
    }
    if container.attrs.remote().is_some() {
        out.push(whole("remote", "another type's form"));
    }
    let ast::Data::Enum(variants) = &container.data else {
        return out;
    };
    let syn::Data::Enum(data) = &input.data else {
        return out;
    };
    for (variant, original) in variants.iter().zip(&data.variants) {
        let name = &variant.ident;
        let at =
            |key: &str| serde_span(&original.attrs, key).unwrap_or_else(|| original.ident.span());
        let attrs = &variant.attrs;
        let mut refuse = |keys: &[&str], why: String| {
            let key = keys
                .iter()
                .find(|key| serde_span(&original.attrs, key).is_some())
                .unwrap_or(&keys[0]);
            out.push(Unsupported {
                span: at(key),
                message: format!(
                    "HashValue stores variant `{name}` by its serde name, but #[serde({key})] {why}; \
                     remove it (only `rename` and `alias` are supported on a HashValue variant)"
                ),
            });
        };
        if attrs.untagged() {
            refuse(&["untagged"], "makes serde write it as `null`".into());
        }
        if attrs.skip_serializing() {
            refuse(
                &["skip", "skip_serializing"],
                "makes serde refuse to write it, so saving it would drop the field".into(),
            );
        } else if attrs.skip_deserializing() {
            refuse(
                &["skip_deserializing"],
                "makes serde refuse to read it back, so a saved value would not load".into(),
            );
        }
        if attrs.serialize_with().is_some() || attrs.deserialize_with().is_some() {
            refuse(
                &["with", "serialize_with", "deserialize_with"],
                "gives it a form of the user's instead of its name".into(),
            );
        }
    }
    out
}

/// The span of option `key` in the `#[serde(...)]` attributes, if written there.
pub(crate) fn serde_span(attrs: &[syn::Attribute], key: &str) -> Option<Span> {
    fn find(tokens: TokenStream, key: &str) -> Option<Span> {
        tokens.into_iter().find_map(|tt| match tt {
            TokenTree::Ident(ident) if ident == key => Some(ident.span()),
            TokenTree::Group(group) => find(group.stream(), key),
            _ => None,
        })
    }
    attrs
        .iter()
        .filter(|a| a.path().is_ident("serde"))
        .find_map(|a| match &a.meta {
            syn::Meta::List(list) => find(list.tokens.clone(), key),
            _ => None,
        })
}

#[cfg(test)]
mod tests {
    use super::{struct_fields, Missing};

    fn names(rule: &str, fields: &str) -> Option<Vec<String>> {
        let input: syn::DeriveInput = syn::parse_str(&format!(
            "#[serde(rename_all = \"{rule}\")] struct S {{ {fields} }}"
        ))
        .unwrap();
        Some(struct_fields(&input)?.into_iter().map(|f| f.name).collect())
    }

    #[test]
    fn rename_all_rules_are_serdes_with_ascii_case() {
        let fields = "total_cents: u32, élan_vital: u32, r#type: u32";
        let cases = [
            ("lowercase", ["total_cents", "élan_vital", "type"]),
            ("UPPERCASE", ["TOTAL_CENTS", "éLAN_VITAL", "TYPE"]),
            ("PascalCase", ["TotalCents", "élanVital", "Type"]),
            ("snake_case", ["total_cents", "élan_vital", "type"]),
            (
                "SCREAMING_SNAKE_CASE",
                ["TOTAL_CENTS", "éLAN_VITAL", "TYPE"],
            ),
            ("kebab-case", ["total-cents", "élan-vital", "type"]),
            (
                "SCREAMING-KEBAB-CASE",
                ["TOTAL-CENTS", "éLAN-VITAL", "TYPE"],
            ),
        ];
        for (rule, expected) in cases {
            assert_eq!(names(rule, fields).unwrap(), expected, "{rule}");
        }
        assert_eq!(
            names("camelCase", "total_cents: u32, vital_élan: u32").unwrap(),
            ["totalCents", "vitalélan"]
        );
    }

    #[test]
    fn what_serde_panics_on_is_left_to_serde() {
        // serde_derive panics on camelCase of a field starting with `é`; this
        // derive reads nothing and does not panic.
        assert_eq!(names("camelCase", "élan_vital: u32"), None);
    }

    #[test]
    fn skip_flatten_default_and_with() {
        let input: syn::DeriveInput = syn::parse_str(
            r#"#[serde(default)] struct S {
                #[serde(skip)] a: u32,
                #[serde(skip_serializing)] b: u32,
                #[serde(skip_deserializing)] c: u32,
                #[serde(flatten)] d: Other,
                #[serde(default = "five", with = "m", rename = "E")] e: u32,
                #[serde(default)] f: u32,
                g: u32,
            }"#,
        )
        .unwrap();
        let f = struct_fields(&input).unwrap();
        assert!(f[0].skip_serializing && f[0].skip_deserializing);
        assert!(f[1].skip_serializing && !f[1].skip_deserializing);
        assert!(!f[2].skip_serializing && f[2].skip_deserializing);
        assert!(f[3].flatten);
        assert_eq!(f[4].name, "E");
        assert!(f[4].serialize_with);
        assert_eq!(
            f[4].deserialize_with.as_ref().unwrap().to_string(),
            "m :: deserialize"
        );
        assert!(matches!(&f[4].missing, Missing::FieldPath(p) if p.to_string() == "five"));
        assert!(matches!(f[5].missing, Missing::FieldDefault));
        assert!(matches!(f[6].missing, Missing::StructDefault));
    }
}
