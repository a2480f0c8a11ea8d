//! The `encode` and `decode` bodies of `#[derive(HashModel)]`: one hash field per struct field.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::{Ident, LitByteStr, LitStr, Type};

use crate::model::ModelDef;
use crate::serde_attrs::Missing;

/// The bodies of `encode` and `decode` for a hash model.
pub(super) fn hash_codec(def: &ModelDef) -> (TokenStream, TokenStream) {
    let krate = &def.krate;
    // The model's own hash fields, and the structs flattened into it.
    let own: Vec<(usize, &crate::model::FieldDef)> = def
        .fields
        .iter()
        .enumerate()
        .filter(|(_, f)| !f.flatten)
        .collect();
    let flat: Vec<&crate::model::FieldDef> = def.fields.iter().filter(|f| f.flatten).collect();
    let count = own.len();
    let names: Vec<LitStr> = own
        .iter()
        .map(|(_, f)| LitStr::new(&f.stored_name, f.ident.span()))
        .collect();
    let idents: Vec<&Ident> = own.iter().map(|(_, f)| &f.ident).collect();
    let tys: Vec<&Type> = own.iter().map(|(_, f)| &f.ty).collect();
    let slots: Vec<Ident> = (0..count).map(|i| format_ident!("__field{}", i)).collect();
    let byte_names: Vec<LitByteStr> = own
        .iter()
        .map(|(_, f)| LitByteStr::new(f.stored_name.as_bytes(), f.ident.span()))
        .collect();
    let flat_idents: Vec<&Ident> = flat.iter().map(|f| &f.ident).collect();
    let flat_tys: Vec<&Type> = flat.iter().map(|f| &f.ty).collect();
    let flat_slots: Vec<Ident> = (0..flat.len())
        .map(|i| format_ident!("__flat{}", i))
        .collect();

    // The primary key is always indexed.
    let indexed: Vec<bool> = own
        .iter()
        .map(|(i, f)| *i == def.pk || f.index.indexed)
        .collect();
    let vector_checks = super::model::vector_checks(def);
    let read_checks = super::model::vector_read_checks(def);
    let encode = quote! {
        #(#vector_checks)*
        // Refuse what could not be read back or indexed, before anything is written.
        #(
            <#tys as #krate::HashValue>::check(&self.#idents, #indexed)
                .map_err(|e| ::std::format!("field {:?}: {}", #names, e))?;
        )*
        let mut fields = #krate::__private::HashFields::with_capacity(#count);
        // `<Ty as HashValue>` everywhere, so that a type that is not storable
        // gives one error at the field's type, not one per use.
        #( fields.push(#names, <#tys as #krate::HashValue>::to_hash_arg(&self.#idents)); )*
        #(
            <#flat_tys as #krate::__private::HashEmbedded>::push_fields(&self.#flat_idents, &mut fields)?;
        )*
        ::core::result::Result::Ok(#krate::__private::Encoded::Hash(fields))
    };

    let finish = own.iter().enumerate().map(|(slot_no, &(i, f))| {
        let ident = &f.ident;
        let ty = &f.ty;
        let slot = &slots[slot_no];
        let name = &names[slot_no];
        let missing = if i == def.pk {
            // A hash written without its pk field (by another tool) still has it in its key.
            quote! {
                match key.strip_prefix(<Self as #krate::Model>::key_layout().key_prefix()) {
                    ::core::option::Option::Some(part) => <#ty as #krate::PrimaryKey>::from_key_part(part)
                        .map_err(|e| #krate::__private::field_error(key, #name, e))?,
                    ::core::option::Option::None => <#ty as #krate::HashValue>::from_missing()
                        .map_err(|e| #krate::__private::field_error(key, #name, e))?,
                }
            }
        } else {
            missing_value(krate, f, name)
        };
        quote! {
            #ident: match #slot {
                ::core::option::Option::Some(value) => value,
                ::core::option::Option::None => #missing,
            }
        }
    });

    let decode = quote! {
        #( let mut #slots: ::core::option::Option<#tys> = ::core::option::Option::None; )*
        #( let mut #flat_slots = <<#flat_tys as #krate::__private::HashEmbedded>::Slots as ::core::default::Default>::default(); )*
        for pair in stored.hash_fields(key)? {
            let (name, raw) = pair?;
            match name {
                #(
                    #byte_names => {
                        #slots = ::core::option::Option::Some(
                            <#tys as #krate::HashValue>::from_hash_bytes(raw)
                                .map_err(|e| #krate::__private::field_error(key, #names, e))?,
                        );
                    }
                )*
                // A flattened struct's, or a field this struct does not know
                // (written by another version or service).
                _ => {
                    #(
                        if <#flat_tys as #krate::__private::HashEmbedded>::take(&mut #flat_slots, key, name, raw)? {
                            continue;
                        }
                    )*
                }
            }
        }
        let model = Self {
            #(#finish,)*
            #( #flat_idents: <#flat_tys as #krate::__private::HashEmbedded>::finish(#flat_slots, key)?, )*
        };
        #(#read_checks)*
        ::core::result::Result::Ok(model)
    };
    (encode, decode)
}

/// The value of a field the stored hash lacks (written by an older version
/// of the model, or expired): its default, else the type's missing value.
pub(super) fn missing_value(
    krate: &syn::Path,
    f: &crate::model::FieldDef,
    name: &LitStr,
) -> TokenStream {
    let (ident, ty) = (&f.ident, &f.ty);
    match &f.missing {
        Missing::Required => quote! {
            <#ty as #krate::HashValue>::from_missing()
                .map_err(|e| #krate::__private::field_error(key, #name, e))?
        },
        Missing::FieldDefault => quote!(<#ty as ::core::default::Default>::default()),
        Missing::FieldPath(path) => quote!(#path()),
        Missing::StructDefault => {
            quote!(<Self as ::core::default::Default>::default().#ident)
        }
        Missing::StructPath(path) => quote! {{
            let whole: Self = #path();
            whole.#ident
        }},
    }
}
