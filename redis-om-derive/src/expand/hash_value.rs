//! `#[derive(HashValue)]`: the `HashValue` and `Indexable` impls of a unit-only enum.

use darling::FromDeriveInput;
use proc_macro2::TokenStream;
use quote::quote;
use syn::spanned::Spanned;
use syn::DeriveInput;

use crate::serde_attrs;

/// `#[derive(HashValue)]` on a unit-only enum.
pub(crate) fn hash_value(input: &DeriveInput) -> syn::Result<TokenStream> {
    #[derive(FromDeriveInput)]
    #[darling(attributes(redis_om))]
    struct EnumAttrs {
        #[darling(default, rename = "crate")]
        krate: Option<syn::Path>,
    }
    let attrs = EnumAttrs::from_derive_input(input)?;
    let krate = attrs.krate.unwrap_or_else(|| syn::parse_quote!(::redis_om));
    let ident = &input.ident;
    let syn::Data::Enum(data) = &input.data else {
        return Err(syn::Error::new(
            ident.span(),
            "HashValue can only be derived for unit-only enums (stored by their serde name); \
             for a struct use #[derive(JsonModel)] or a JsonModel field",
        ));
    };
    let mut errors: Option<syn::Error> = None;
    for variant in &data.variants {
        if !matches!(variant.fields, syn::Fields::Unit) {
            let err = syn::Error::new(
                variant.fields.span(),
                format!(
                    "HashValue needs a unit-only enum: variant `{}` has fields (a hash field holds one string)",
                    variant.ident
                ),
            );
            match &mut errors {
                Some(all) => all.combine(err),
                None => errors = Some(err),
            }
        }
    }
    // Stored by its serde name: serde must write each variant as a string.
    for unsupported in serde_attrs::enum_not_a_string(input) {
        let err = syn::Error::new(unsupported.span, unsupported.message);
        match &mut errors {
            Some(all) => all.combine(err),
            None => errors = Some(err),
        }
    }
    if let Some(err) = errors {
        return Err(err);
    }
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    Ok(quote! {
        #[doc(hidden)]
        const _: () = {
            #[automatically_derived]
            impl #impl_generics #krate::HashValue for #ident #ty_generics #where_clause {
                fn to_hash_arg(&self) -> ::core::option::Option<#krate::HashArg<'_>> {
                    #krate::__private::unit_enum_to_str(self)
                }
                fn from_hash_bytes(raw: &[u8]) -> ::core::result::Result<Self, ::std::string::String> {
                    #krate::__private::unit_enum_from_bytes(raw)
                }
            }

            #[automatically_derived]
            impl #impl_generics #krate::Indexable for #ident #ty_generics #where_clause {
                const KIND: #krate::FieldKind = #krate::FieldKind::Tag;
                type Elem = Self;
                type Field<__M, __T: #krate::Indexable, const __SORTABLE: bool> =
                    #krate::TagField<__M, __T, __SORTABLE>;
            }
        };
    })
}
