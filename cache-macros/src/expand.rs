//! Generates the cached function and its invalidation helper.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;
use syn::ItemFn;

use crate::attr::Ttl;
use crate::key::Segment;
use crate::valid::{self, Mode, Plan};

/// The function rewritten to go through the cache, followed by `<name>_invalidate`.
pub fn expand(plan: &Plan, func: &ItemFn) -> TokenStream {
    let ItemFn { attrs, vis, sig, block } = func;
    let name = sig.ident.to_string();
    let provider = &plan.provider;
    let ret_ty = &plan.ret_ty;
    let value_ty = &plan.value_ty;
    let key = key_expr(plan);
    let ttl = ttl_expr(&plan.ttl);
    let mode = match plan.mode {
        Mode::Whole => quote!(Whole),
        Mode::OkOnly => quote!(OkOnly),
        Mode::SomeOnly => quote!(SomeOnly),
    };
    // Errors about the stored type point at the user's type.
    let assert_value = quote_spanned! {value_ty.span()=>
        ::cache_runtime::__private::assert_cache_value::<#value_ty>();
    };
    let call = quote_spanned! {value_ty.span()=>
        ::cache_runtime::__private::call::<::cache_runtime::__private::#mode, #ret_ty, _>
    };

    let helper = helper(plan, func);
    quote! {
        #(#attrs)*
        #vis #sig {
            static __CACHE_SITE: ::cache_runtime::__private::CallSite =
                ::cache_runtime::__private::CallSite::new(::core::concat!(::core::module_path!(), "::", #name), #provider);
            #assert_value
            let __cache_key: ::std::string::String = #key;
            let __cache_ttl: ::cache_runtime::__private::Duration = #ttl;
            #call(&__CACHE_SITE, __cache_key, __cache_ttl, async move {
                // Fixes the block's type so that `?` and `return` in the body infer as in the
                // original function (async-trait's trick).
                if let ::core::option::Option::Some(__cache_ret) = ::core::option::Option::None::<#ret_ty> {
                    #[allow(unreachable_code)]
                    return __cache_ret;
                }
                let __cache_ret: #ret_ty = #block;
                #[allow(unreachable_code)]
                __cache_ret
            })
            .await
        }

        #helper
    }
}

/// `<name>_invalidate`: the parameters the key names, `&self` where it names `self`.
fn helper(plan: &Plan, func: &ItemFn) -> TokenStream {
    let vis = &func.vis;
    let name = func.sig.ident.to_string();
    let helper = valid::helper_name(func);
    let provider = &plan.provider;
    let generics = &func.sig.generics;
    let where_clause = &generics.where_clause;
    let receiver = plan.key_uses_self.then(|| quote!(&self,));
    let params = plan.key_params.iter().map(|p| {
        let (name, ty) = (&p.name, &p.ty);
        quote!(#name: #ty)
    });
    let key = key_expr(plan);
    let doc = format!("Removes the entry that `{name}` cached for these arguments; true when there was one.");
    quote! {
        #[doc = #doc]
        #[allow(dead_code)]
        #vis async fn #helper #generics (#receiver #(#params),*) -> bool #where_clause {
            let __cache_key: ::std::string::String = #key;
            ::cache_runtime::__private::invalidate(
                ::core::concat!(::core::module_path!(), "::", #name),
                #provider,
                __cache_key,
            )
            .await
        }
    }
}

/// Builds the key; the default key starts with the function's module path and name.
fn key_expr(plan: &Plan) -> TokenStream {
    let mut capacity = 0usize;
    let mut pushes = Vec::new();
    if plan.default_key {
        let name = &plan.function;
        capacity += 32 + name.len();
        pushes.push(quote!(__cache_key.literal(::core::concat!(::core::module_path!(), "::", #name));));
    }
    for segment in &plan.segments {
        match segment {
            Segment::Literal(text) => {
                capacity += text.len();
                pushes.push(quote!(__cache_key.literal(#text);));
            }
            Segment::Placeholder(placeholder) => {
                capacity += 8;
                let root = &placeholder.root;
                let members = placeholder.members.iter().map(|m| quote!(.#m));
                pushes.push(quote_spanned!(placeholder.span=> __cache_key.value(&#root #(#members)*);));
            }
        }
    }
    quote! {{
        let mut __cache_key = ::cache_runtime::__private::KeyBuilder::with_capacity(#capacity);
        #(#pushes)*
        __cache_key.finish()
    }}
}

fn ttl_expr(ttl: &Ttl) -> TokenStream {
    match ttl {
        Ttl::Fixed(ms) => quote!(::cache_runtime::__private::Duration::from_millis(#ms)),
        Ttl::Expr(expr) => {
            let expr = expr.to_token_stream();
            quote_spanned!(expr.span()=> #expr)
        }
    }
}
