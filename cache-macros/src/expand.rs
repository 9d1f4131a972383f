//! Generates the cached function and its invalidation helper.

use std::collections::BTreeSet;

use proc_macro2::{Delimiter, Group, Span, TokenStream, TokenTree};
use quote::{format_ident, quote, quote_spanned, ToTokens};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{GenericParam, Generics, ItemFn, WherePredicate};

use crate::attr::Ttl;
use crate::key::Segment;
use crate::valid::{self, Mode, Plan};

/// The function rewritten to go through the cache, followed by `<name>_invalidate`.
pub fn expand(plan: &Plan, func: &ItemFn) -> TokenStream {
    let ItemFn { attrs, vis, sig, block } = func;
    let name = sig.ident.to_string();
    let provider = &plan.provider;
    let ret_ty = &plan.ret_ty;
    let key = key_expr(plan);
    let ttl = ttl_expr(&plan.ttl);
    // The runtime call is spanned at the type that is cached: its `Mode` bound is where a type
    // that cannot be cached fails, and rustc then reports one error per missing trait at the
    // user's type. Every token of the call carries that span (the path, the parentheses around
    // the arguments, `.await`): a call whose tokens come from two places is reported at the
    // attribute. A separate `assert_cache_value::<T>()` would report each missing trait a second
    // time, since rustc does not merge its errors with the call's.
    let value_span = plan.value_ty.span();
    let mode = format_ident!(
        "{}",
        match plan.mode {
            Mode::Whole => "Whole",
            Mode::OkOnly => "OkOnly",
            Mode::SomeOnly => "SomeOnly",
        },
        span = value_span
    );
    let ret_ty_at_value = respan(ret_ty.to_token_stream(), value_span);
    let call = quote_spanned! {value_span=>
        ::cache_runtime::__private::call::<::cache_runtime::__private::#mode, #ret_ty_at_value, _>
    };

    let args = quote! {
        &__CACHE_SITE, __cache_key, __cache_ttl, async move {
            // Fixes the block's type so that `?` and `return` in the body infer as in the
            // original function (async-trait's trick).
            if let ::core::option::Option::Some(__cache_ret) = ::core::option::Option::None::<#ret_ty> {
                #[allow(unreachable_code)]
                return __cache_ret;
            }
            // A body that ends in `return x;` diverges here: that is the user's style, not a bug.
            #[allow(clippy::diverging_sub_expression)]
            let __cache_ret: #ret_ty = #block;
            #[allow(unreachable_code)]
            __cache_ret
        }
    };
    let mut args = Group::new(Delimiter::Parenthesis, args);
    args.set_span(value_span);
    let args = TokenTree::Group(args);
    let dot_await = quote_spanned!(value_span=> .await);
    let helper_key = key_expr(plan);
    let helper = helper(
        plan,
        func,
        quote! {
            let __cache_key: ::std::string::String = #helper_key;
            ::cache_runtime::__private::invalidate(::core::concat!(::core::module_path!(), "::", #name), #provider, __cache_key)
                .await
        },
    );
    quote! {
        #(#attrs)*
        #vis #sig {
            static __CACHE_SITE: ::cache_runtime::__private::CallSite =
                ::cache_runtime::__private::CallSite::new(::core::concat!(::core::module_path!(), "::", #name), #provider);
            let __cache_key: ::std::string::String = #key;
            #ttl
            #call #args #dot_await
        }

        #helper
    }
}

/// What the user sees when the macro reports errors: the errors, the function as written, and
/// the helper with the signature it would have had, so that the macro's errors are the only ones
/// (no "cannot find function `<name>_invalidate`"; thiserror's `fallback.rs`). It is never run:
/// the crate does not compile, and its body does not build the key, whose placeholders may be the
/// very error.
pub fn fallback(errors: syn::Error, plan: &Plan, func: &ItemFn) -> TokenStream {
    let errors = errors.to_compile_error();
    let helper = helper(plan, func, quote!(::core::unreachable!("`#[cached]` reported an error")));
    quote! {
        #errors
        #func
        #[allow(unused_variables)]
        #helper
    }
}

/// `<name>_invalidate`: the parameters the key names, `&self` where it names `self`, the generic
/// parameters those use, and the function's `#[cfg]`s.
fn helper(plan: &Plan, func: &ItemFn, body: TokenStream) -> TokenStream {
    let vis = &func.vis;
    let name = func.sig.ident.to_string();
    let helper = valid::helper_name(func);
    let cfgs = func.attrs.iter().filter(|attr| attr.path().is_ident("cfg"));
    let generics = helper_generics(&func.sig.generics, plan);
    let (impl_generics, _, where_clause) = generics.split_for_impl();
    let receiver = plan.key_uses_self.then(|| quote!(&self,));
    let params = plan.key_params.iter().map(|p| {
        let (name, ty) = (&p.name, &p.ty);
        quote!(#name: #ty)
    });
    let doc = format!("Removes the entry that `{name}` cached for these arguments; true when there was one.");
    quote! {
        #(#cfgs)*
        #[doc = #doc]
        #[allow(dead_code)]
        #vis async fn #helper #impl_generics (#receiver #(#params),*) -> bool #where_clause {
            #body
        }
    }
}

/// The function's generic parameters that the helper's parameters use, directly or through the
/// bounds of a kept parameter (in its declaration or in a where-clause about it), and the
/// where-clauses that name only kept parameters: a parameter that no key value mentions could not
/// be inferred when the helper is called.
fn helper_generics(generics: &Generics, plan: &Plan) -> Generics {
    let param_name = |param: &GenericParam| match param {
        GenericParam::Type(ty) => ty.ident.to_string(),
        GenericParam::Lifetime(lt) => lt.lifetime.to_string(),
        GenericParam::Const(c) => c.ident.to_string(),
    };
    let declared: BTreeSet<String> = generics.params.iter().map(param_name).collect();
    let mut used = BTreeSet::new();
    for param in &plan.key_params {
        names_in(param.ty.to_token_stream(), &declared, &mut used);
    }
    let predicates: Vec<&WherePredicate> = generics.where_clause.iter().flat_map(|w| &w.predicates).collect();
    loop {
        let before = used.len();
        let mut bounds = BTreeSet::new();
        for param in generics.params.iter().filter(|p| used.contains(&param_name(p))) {
            names_in(param.to_token_stream(), &declared, &mut bounds);
        }
        used.extend(bounds);
        for predicate in &predicates {
            let subject = match predicate {
                WherePredicate::Type(predicate) => predicate.bounded_ty.to_token_stream(),
                WherePredicate::Lifetime(predicate) => predicate.lifetime.to_token_stream(),
                other => other.to_token_stream(),
            };
            let mut about = BTreeSet::new();
            names_in(subject, &declared, &mut about);
            if about.iter().any(|name| used.contains(name)) {
                names_in(predicate.to_token_stream(), &declared, &mut used);
            }
        }
        if used.len() == before {
            break;
        }
    }
    let keep = |names: BTreeSet<String>| names.iter().all(|name| used.contains(name));
    let mut out = generics.clone();
    out.params = generics.params.iter().filter(|p| used.contains(&param_name(p))).cloned().collect();
    if let Some(where_clause) = &mut out.where_clause {
        where_clause.predicates = predicates
            .iter()
            .filter(|predicate| {
                let mut mentioned = BTreeSet::new();
                names_in(predicate.to_token_stream(), &declared, &mut mentioned);
                keep(mentioned)
            })
            .map(|predicate| (*predicate).clone())
            .collect::<Punctuated<_, _>>();
    }
    out
}

/// Adds to `out` the names in `declared` (type and const names, and lifetimes with their `'`)
/// that appear in `tokens`.
fn names_in(tokens: TokenStream, declared: &BTreeSet<String>, out: &mut BTreeSet<String>) {
    let mut after_quote = false;
    for token in tokens {
        match &token {
            TokenTree::Group(group) => names_in(group.stream(), declared, out),
            TokenTree::Ident(ident) => {
                let name = if after_quote { format!("'{ident}") } else { ident.to_string() };
                if declared.contains(&name) {
                    out.insert(name);
                }
            }
            TokenTree::Punct(_) | TokenTree::Literal(_) => {}
        }
        after_quote = matches!(&token, TokenTree::Punct(punct) if punct.as_char() == '\'');
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

/// `let __cache_ttl = ...;`. For an expression, the declared type is spanned at the `ttl` option,
/// so that a type error reads "expected `Duration`, found `u32`" at the expression and "expected
/// due to this" at `ttl`.
fn ttl_expr(ttl: &Ttl) -> TokenStream {
    match ttl {
        Ttl::Fixed(ms) => quote! {
            let __cache_ttl: ::cache_runtime::__private::Duration = ::cache_runtime::__private::Duration::from_millis(#ms);
        },
        Ttl::Expr { expr, option } => {
            let duration = quote_spanned!(option.span()=> ::cache_runtime::__private::Duration);
            quote! {
                let __cache_ttl: #duration = #expr;
            }
        }
    }
}

/// `tokens` with every token, at any depth, spanned at `span`.
fn respan(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|mut token| {
            if let TokenTree::Group(group) = &token {
                let mut inner = proc_macro2::Group::new(group.delimiter(), respan(group.stream(), span));
                inner.set_span(span);
                token = TokenTree::Group(inner);
            } else {
                token.set_span(span);
            }
            token
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use proc_macro2::TokenStream;
    use quote::quote;
    use syn::ItemFn;

    use super::helper_generics;
    use crate::attr::{Ctxt, Options};
    use crate::valid;

    /// The helper's generics and where-clause, as tokens in a string.
    fn generics_of(args: TokenStream, func: TokenStream) -> String {
        let func: ItemFn = syn::parse2(func).expect("a function");
        let mut cx = Ctxt::default();
        let options = Options::parse(&mut cx, args);
        let plan = valid::check(&mut cx, options, &func);
        assert!(cx.check().is_ok());
        let generics = helper_generics(&func.sig.generics, &plan);
        let (impl_generics, _, where_clause) = generics.split_for_impl();
        quote!(#impl_generics #where_clause).to_string()
    }

    #[test]
    fn the_helper_keeps_the_generics_its_parameters_use() {
        let kept = generics_of(
            quote!(key = "x:{x}"),
            quote! {
                async fn f<'a, T: Display + 'a, U, V: Clone>(x: &'a T, u: U) -> V
                where
                    T: Into<W>,
                    U: Into<T>,
                    V: Send,
                { make() }
            },
        );
        assert_eq!(kept, quote!(<'a, T: Display + 'a> where T: Into<W>).to_string());
    }

    #[test]
    fn a_value_type_that_no_parameter_names_is_left_out() {
        let kept = generics_of(
            quote!(key = "d:{id}"),
            quote!(
                async fn decode<V>(id: u64) -> Option<V>
                where
                    V: Clone,
                {
                    make()
                }
            ),
        );
        assert_eq!(kept, "");
    }
}
