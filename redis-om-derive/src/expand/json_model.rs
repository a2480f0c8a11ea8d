//! The `decode` body of `#[derive(JsonModel)]`; `encode` is serde's.

use proc_macro2::TokenStream;
use quote::quote;

use crate::model::ModelDef;

/// The body of `decode` for a JSON model: a document written without its
/// primary key field (by another tool) takes it from its key, as hash models do.
pub(super) fn json_decode(def: &ModelDef) -> TokenStream {
    let krate = &def.krate;
    let pk = &def.fields[def.pk];
    let pk_ident = &pk.ident;
    let pk_ty = &pk.ty;
    let pk_name = &pk.stored_name;
    let read_checks = super::model::vector_read_checks(def);
    quote! {
        let json = stored.json(key)?;
        let part = key.strip_prefix(<Self as #krate::Model>::key_layout().key_prefix());
        let mut model: Self = match #krate::__private::decode_json::<Self>(key, json) {
            ::core::result::Result::Ok(model) => model,
            ::core::result::Result::Err(err) => {
                match part.and_then(|part| <#pk_ty as #krate::PrimaryKey>::from_key_part(part).ok()) {
                    ::core::option::Option::Some(pk) => #krate::__private::decode_json_without_pk::<Self, #pk_ty>(
                        key, json, #pk_name, &pk, err,
                    )?,
                    ::core::option::Option::None => return ::core::result::Result::Err(err),
                }
            }
        };
        if <Self as #krate::Model>::primary_key(&model).is_none() {
            if let ::core::option::Option::Some(part) = part {
                model.#pk_ident = <#pk_ty as #krate::PrimaryKey>::from_key_part(part)
                    .map_err(|e| #krate::__private::field_error(key, #pk_name, e))?;
            }
        }
        #(#read_checks)*
        ::core::result::Result::Ok(model)
    }
}
