//! Generates the cached function and its invalidation helper.

use proc_macro2::{Delimiter, Group, Span, TokenStream, TokenTree};
use quote::{format_ident, quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;

use crate::ast::Function;
use crate::attr::{Given, Options, Ttl};
use crate::ctxt::Ctxt;
use crate::key::Segment;
use crate::plan::{Fresh, Key, Mode, Plan, DEFAULT_TTL_MS};
use crate::valid;

/// `#[cached(args)] item`, in phases: read the function, read the options, check them together,
/// plan, generate. Always expands to something: on error, the errors and the function as written.
pub fn cached(args: TokenStream, item: TokenStream) -> TokenStream {
    let func = match Function::parse(item) {
        Ok(func) => func,
        // The item as it was, with the error: nothing else to report about it.
        Err(fallback) => return fallback,
    };
    let mut cx = Ctxt::default();
    let options = Options::parse(&mut cx, args);
    valid::check(&mut cx, &options, &func);
    let plan = Plan::new(options, &func);
    match cx.check() {
        Ok(()) => expand(&plan, &func),
        Err(errors) => fallback(errors, &plan, &func),
    }
}

/// The function rewritten to go through the cache, followed by `<name>_invalidate` and the
/// companions (`_refresh`, `_uncached`, `_clear`), unless `companions = false`.
fn expand(plan: &Plan, func: &Function) -> TokenStream {
    let Function { attrs, vis, sig, .. } = func;
    let cached = through_cache(plan, func, false, &plan.name);
    let registration = registration(plan);
    let cached = quote!({ #registration #cached });
    // `#[async_trait]` made the method return a boxed future: the cached call is that future.
    let cached = if func.async_trait { quote!({ ::std::boxed::Box::pin(async move #cached) }) } else { cached };
    if !plan.companions {
        return quote! {
            #(#attrs)*
            #vis #sig #cached
        };
    }
    let site = site(plan);
    let helper_key = key_expr(plan, func, &plan.helper.name.to_string());
    let helper = helper(
        plan,
        func,
        quote! {
            static __CACHE_SITE: ::cache_runtime::__private::CallSite = #site;
            let __cache_key: ::std::string::String = #helper_key.finish();
            ::cache_runtime::__private::invalidate(&__CACHE_SITE, __cache_key).await
        },
    );
    let refresh_name = companion_name(func, "refresh");
    let refreshed = through_cache(plan, func, true, &refresh_name.to_string());
    let clear = clear_body(plan, func);
    let companions = companions(plan, func, refreshed, func.body.to_token_stream(), clear, quote!());
    quote! {
        #(#attrs)*
        #vis #sig #cached

        #helper
        #companions
    }
}

/// The body of the function or of `<name>_refresh` (`refresh`), written in the function named
/// `written_in`: the user's body goes through the runtime under the function's key.
fn through_cache(plan: &Plan, func: &Function, refresh: bool, written_in: &str) -> TokenStream {
    let body = &func.body;
    let ret_ty = &plan.ret_ty;
    let site = site(plan);
    let key = key_expr(plan, func, written_in);
    let tags = tags_expr(plan, func);
    let ttl = ttl_expr(plan);
    let cache_if = cache_if_expr(plan);
    // The runtime call is spanned at the type that is cached: its `Mode` bound is where a type
    // that cannot be cached fails, and rustc then reports one error per missing trait at the
    // user's type. Every token of the call carries that span (the path, the parentheses around
    // the arguments, `.await`): a call whose tokens come from two places is reported at the
    // attribute. A separate `assert_cache_value::<T>()` would report each missing trait a second
    // time, since rustc does not merge its errors with the call's.
    let value_span = plan.value_ty.span();
    // A local value has modes of its own, whose bound (`LocalValue`) asks only for `Clone`.
    let mode = format_ident!(
        "{}{}",
        if plan.local { "Local" } else { "" },
        match plan.mode {
            Mode::Whole => "Whole",
            Mode::OkOnly => "OkOnly",
            Mode::SomeOnly => "SomeOnly",
        },
        span = value_span
    );
    let ret_ty_at_value = respan(ret_ty.to_token_stream(), value_span);
    let call = quote_spanned! {value_span=>
        ::cache_runtime::__private::call::<::cache_runtime::__private::#mode, #ret_ty_at_value, _, _>
    };

    // After `#[async_trait]` the body is a boxed future of the value.
    let body_value = if func.async_trait { quote!((#body).await) } else { body.to_token_stream() };
    let args = quote! {
        &__CACHE_SITE, __cache_key, __cache_tags, __cache_ttl, __cache_if, #refresh, async move {
            // Fixes the block's type so that `?` and `return` in the body infer as in the
            // original function (async-trait's trick).
            if let ::core::option::Option::Some(__cache_ret) = ::core::option::Option::None::<#ret_ty> {
                #[allow(unreachable_code)]
                return __cache_ret;
            }
            // A body that ends in `return x;` diverges here: that is the user's style, not a bug.
            #[allow(clippy::diverging_sub_expression)]
            let __cache_ret: #ret_ty = #body_value;
            #[allow(unreachable_code)]
            __cache_ret
        }
    };
    let mut args = Group::new(Delimiter::Parenthesis, args);
    args.set_span(value_span);
    let args = TokenTree::Group(args);
    // A hit is answered by `call` itself; the rest of the call is a future to await. The match
    // is spanned at the value's type too, so that a type that cannot be cached is one error there.
    let answer = quote_spanned! {value_span=>
        match #call #args {
            ::cache_runtime::__private::Called::Done(__cache_out) => __cache_out,
            ::cache_runtime::__private::Called::Later(__cache_later) => __cache_later.await,
        }
    };
    let (fresh, answer) = match &plan.fresh {
        None => (None, answer),
        Some(fresh) => {
            let policy = fresh_expr(fresh);
            if refresh {
                // `<fn>_refresh` stores as the function does: kept `stale` past its ttl.
                (Some(quote!(#policy let __cache_ttl = __cache_fresh.lifetime();)), answer)
            } else {
                let runs = if fresh.runs_in_background() { "Background" } else { "Foreground" };
                let runs = format_ident!("{}", runs, span = value_span);
                let call = quote_spanned! {value_span=>
                    ::cache_runtime::__private::call_fresh::<
                        ::cache_runtime::__private::#mode, #ret_ty_at_value, _, ::cache_runtime::__private::#runs, _
                    >
                };
                let args = quote! {
                    &__CACHE_SITE, __cache_key, __cache_tags, __cache_fresh, __cache_if, async move {
                        if let ::core::option::Option::Some(__cache_ret) = ::core::option::Option::None::<#ret_ty> {
                            #[allow(unreachable_code)]
                            return __cache_ret;
                        }
                        #[allow(clippy::diverging_sub_expression)]
                        let __cache_ret: #ret_ty = #body_value;
                        #[allow(unreachable_code)]
                        __cache_ret
                    }
                };
                let mut args = Group::new(Delimiter::Parenthesis, args);
                args.set_span(value_span);
                let args = TokenTree::Group(args);
                (Some(policy), quote_spanned!(value_span=> #call #args.await))
            }
        }
    };
    quote! {{
        static __CACHE_SITE: ::cache_runtime::__private::CallSite = #site;
        let __cache_key: ::cache_runtime::__private::KeyBuilder = #key;
        #tags
        #ttl
        #cache_if
        #fresh
        #answer
    }}
}

/// `let __cache_fresh = ...;`: the ttl and the options of "fresh, stale, refreshed", each a
/// `Duration` (an expression is evaluated at each call, as `ttl` is).
fn fresh_expr(fresh: &Fresh) -> TokenStream {
    let options = [
        ("stale", &fresh.stale),
        ("soft_timeout", &fresh.soft_timeout),
        ("hard_timeout", &fresh.hard_timeout),
        ("refresh_ahead", &fresh.refresh_ahead),
    ];
    let setters = options.iter().filter_map(|(setter, given)| {
        let given = given.as_ref()?;
        let setter = format_ident!("{}", setter);
        let value = match &given.value {
            Ttl::Fixed(ms) => quote!(::cache_runtime::__private::Duration::from_millis(#ms)),
            Ttl::Expr(expr) => {
                let duration = quote_spanned!(given.name.span()=> ::cache_runtime::__private::Duration);
                quote!({ let __cache_duration: #duration = #expr; __cache_duration })
            }
        };
        Some(quote!(.#setter(#value)))
    });
    quote! {
        let __cache_fresh = ::cache_runtime::__private::Fresh::new(__cache_ttl) #(#setters)*;
    }
}

/// The function's `CallSite`: its label, its provider, its bound and whether its values are
/// local. Each generated function has its own; they share what belongs to the function (its
/// counters, its own store) by its label, so `_invalidate`, `_clear` and `_refresh` act on the
/// store the function reads.
fn site(plan: &Plan) -> TokenStream {
    let label = label(plan);
    let provider = &plan.provider;
    // The bounded store is the function's own: its label is not enough, since two methods of one
    // name in one module share it, so the place of the attribute tells them apart (the function
    // and its companions are expanded from the same one).
    let name = &plan.name;
    let id = quote!(::core::concat!(
        ::core::module_path!(), "::", #name, "@", ::core::line!(), ":", ::core::column!()
    ));
    let bound = plan.max_entries.map(|max_entries| quote!(.max_entries(#max_entries, #id)));
    let local = plan.local.then(|| quote!(.local(#id)));
    quote!(::cache_runtime::__private::CallSite::new(#label, #provider) #bound #local)
}

/// `let __cache_if = ...;`: the predicate as a `fn(&V) -> bool`, the declared type spanned at
/// the path, so that a function of another signature is an error there.
fn cache_if_expr(plan: &Plan) -> TokenStream {
    let value_ty = &plan.value_ty;
    match &plan.cache_if {
        Some(path) => {
            let ty = quote_spanned!(path.span()=> ::core::option::Option<fn(&#value_ty) -> bool>);
            let some = quote_spanned!(path.span()=> ::core::option::Option::Some(#path));
            quote!(let __cache_if: #ty = #some;)
        }
        None => quote!(let __cache_if = ::core::option::Option::None;),
    }
}

/// `<name>_<what>`.
fn companion_name(func: &Function, what: &str) -> syn::Ident {
    format_ident!("{}_{}", func.sig.ident, what)
}

/// `<name>_clear`'s body: the pattern of every key of the function, then the runtime's clear.
///
/// A template's pattern is the template with each placeholder replaced by `*` and the glob
/// characters of its literal text escaped: an escaped placeholder value holds no `:`, `/` or glob
/// character, but `*` matches any text, so a function whose template the pattern also matches
/// (`user:{id}` and `user:{id}:{tab}`) loses its entries too. The default key's pattern is the
/// function's path (type arguments as `<*>`, `impl Trait` arguments included) and `:[^:]*` per
/// parameter, which no other function's default key matches.
fn clear_body(plan: &Plan, func: &Function) -> TokenStream {
    let site = site(plan);
    let pattern = match &plan.key {
        Key::Template(segments) => {
            let pattern: String = segments
                .iter()
                .map(|segment| match segment {
                    Segment::Literal(text) => escape_glob(text),
                    Segment::Placeholder(_) => "*".to_string(),
                })
                .collect();
            quote!(::std::string::String::from(#pattern))
        }
        Key::Default(_) | Key::Function { .. } => {
            // An `impl Trait` argument makes the function generic too: its path holds the type.
            let generic = func.sig.generics.params.iter().any(|param| !matches!(param, syn::GenericParam::Lifetime(_)))
                || func.sig.inputs.iter().any(|input| match input {
                    syn::FnArg::Typed(arg) => holds_impl(arg.ty.to_token_stream()),
                    syn::FnArg::Receiver(_) => false,
                });
            let mut suffix = if generic { "<*>".to_string() } else { String::new() };
            // A default key holds one value per parameter; a `key_fn` key holds one in all.
            let values = match &plan.key {
                Key::Default(params) => params.len(),
                _ => 1,
            };
            // A value is never empty and never holds `:`: `[^:]` keeps `<path>:*` from matching
            // the keys of functions in a module named like the function (`<path>::g:1`).
            suffix.push_str(&":[^:]*".repeat(values));
            let written_in = companion_name(func, "clear").to_string();
            let name = &plan.name;
            quote! {{
                let __cache_marker = || ();
                let __cache_path = ::cache_runtime::__private::function_path(
                    ::core::any::type_name_of_val(&__cache_marker),
                    #written_in,
                    #name,
                );
                ::std::format!("{}{}", __cache_path, #suffix)
            }}
        }
    };
    quote! {
        static __CACHE_SITE: ::cache_runtime::__private::CallSite = #site;
        ::cache_runtime::__private::clear(&__CACHE_SITE, #pattern).await
    }
}

/// Whether a type's tokens hold `impl` (an `impl Trait` argument, at any depth).
fn holds_impl(tokens: TokenStream) -> bool {
    tokens.into_iter().any(|token| match token {
        TokenTree::Ident(ident) => ident == "impl",
        TokenTree::Group(group) => holds_impl(group.stream()),
        _ => false,
    })
}

/// `text` with the characters a glob reads escaped by `\`.
fn escape_glob(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// `<name>_refresh`, `<name>_uncached` (the function's signature, its `#[cfg]`s, `#[allow]`s and
/// visibility) and `<name>_clear`, with these bodies.
///
/// The user's body is written into `_refresh` and `_uncached` as well as into the function: a
/// function without a receiver may be a free function or an associated one, and the macro cannot
/// tell which, so the three cannot call one shared function (`f` or `Self::f`). rustc reports an
/// error in the body once, since the copies carry the same spans.
fn companions(
    plan: &Plan,
    func: &Function,
    refresh: TokenStream,
    uncached: TokenStream,
    clear: TokenStream,
    extra: TokenStream,
) -> TokenStream {
    let vis = &func.vis;
    let kept = func.attrs.iter().filter(|attr| attr.path().is_ident("cfg") || attr.path().is_ident("allow"));
    let cfgs = func.attrs.iter().filter(|attr| attr.path().is_ident("cfg"));
    let kept = quote!(#(#kept)* #extra);
    let cfgs = quote!(#(#cfgs)*);
    let name = &plan.name;
    let mut refresh_sig = func.sig.clone();
    refresh_sig.ident = companion_name(func, "refresh");
    let mut uncached_sig = func.sig.clone();
    uncached_sig.ident = companion_name(func, "uncached");
    let clear_name = companion_name(func, "clear");
    // An `impl Trait` return (an error already) cannot be declared with a body that never
    // returns: rustc would report that `()` does not implement the trait.
    let returns_value = !matches!(plan.ret_ty, syn::Type::ImplTrait(_));
    let refresh_doc = format!(
        "Runs `{name}`'s body and stores its value under these arguments' key, whatever the cache holds; \
         a computation of the key already running is voided, as an invalidation voids it."
    );
    let uncached_doc = format!("Runs `{name}`'s body without the cache: nothing is read, stored or removed.");
    let clear_doc = format!("Removes every entry of `{name}` from its store; returns how many.");
    let running = returns_value.then(|| {
        quote! {
            #kept
            #[doc = #refresh_doc]
            #[allow(dead_code)]
            #vis #refresh_sig #refresh

            #kept
            #[doc = #uncached_doc]
            // The parameters that only the key reads are unused here; the function itself
            // reports the body's own unused variables.
            #[allow(dead_code, unused_variables)]
            #vis #uncached_sig #uncached
        }
    });
    quote! {
        #running

        #cfgs
        #[doc = #clear_doc]
        #[allow(dead_code)]
        #vis async fn #clear_name() -> u64 {
            #clear
        }
    }
}

/// What the user sees when the macro reports errors: the errors, the function as written, and
/// the helper with the signature it would have had, so that the macro's errors are the only ones
/// (no "cannot find function `<name>_invalidate`"; thiserror's `fallback.rs`). It is never run:
/// the crate does not compile, and its body does not build the key, whose placeholders may be the
/// very error.
///
/// An `#[async_trait]` on the method is left out, the macro's error says where it goes: kept, it
/// would report its own error about the function. Without companions (in a trait impl) there is
/// no helper to declare.
fn fallback(errors: syn::Error, plan: &Plan, func: &Function) -> TokenStream {
    let errors = errors.to_compile_error();
    let original = func.original();
    let generated = plan.companions.then(|| {
        let unreachable = quote!({ ::core::unreachable!("`#[cached]` reported an error") });
        let helper = helper(plan, func, unreachable.clone());
        let unused = quote!(#[allow(unused_variables)]);
        let companions = companions(plan, func, unreachable.clone(), unreachable.clone(), unreachable, unused);
        quote!(#[allow(unused_variables)] #helper #companions)
    });
    quote! {
        #errors
        #original
        #generated
    }
}

/// `<name>_invalidate` with the plan's signature, the function's `#[cfg]`s and its visibility.
fn helper(plan: &Plan, func: &Function, body: TokenStream) -> TokenStream {
    let vis = &func.vis;
    let helper = &plan.helper;
    let name = &helper.name;
    let cfgs = func.attrs.iter().filter(|attr| attr.path().is_ident("cfg"));
    let (impl_generics, _, where_clause) = helper.generics.split_for_impl();
    let receiver = helper.receiver.then(|| quote!(&self,));
    let params = helper.params.iter().map(|param| {
        let (name, ty) = (&param.name, &param.ty);
        quote!(#name: #ty)
    });
    let doc = format!("Removes the entry that `{}` cached for these arguments; true when there was one.", plan.name);
    quote! {
        #(#cfgs)*
        #[doc = #doc]
        #[allow(dead_code)]
        #vis async fn #name #impl_generics (#receiver #(#params),*) -> bool #where_clause {
            #body
        }
    }
}

/// The function's entry in `cache_runtime::functions()`. It sits in the body, a static item that
/// is linked with the function whether or not the function runs, outside any generic context
/// (items in a body do not see the function's generics), and in a method too, where nothing but
/// associated items may stand beside the function.
fn registration(plan: &Plan) -> TokenStream {
    let label = label(plan);
    let provider = &plan.provider;
    let key = match &plan.template {
        Some(template) => quote!(::core::option::Option::Some(#template)),
        None => quote!(::core::option::Option::None),
    };
    let ttl = match &plan.ttl {
        Some(Given { value: Ttl::Expr(expr), .. }) => {
            let text = compact(expr.to_token_stream()).trim().to_string();
            quote!(::cache_runtime::FunctionTtl::PerCall(#text))
        }
        Some(Given { value: Ttl::Fixed(ms), .. }) => fixed_ttl(*ms),
        None => fixed_ttl(DEFAULT_TTL_MS),
    };
    quote! {
        ::cache_runtime::__private::inventory::submit! {
            ::cache_runtime::__private::cached_function(#label, #key, #provider, #ttl)
        }
    }
}

fn fixed_ttl(ms: u64) -> TokenStream {
    quote!(::cache_runtime::FunctionTtl::Fixed(::cache_runtime::__private::Duration::from_millis(#ms)))
}

/// Tokens as a person writes them: `settings::ttl(a, b)` rather than `settings :: ttl (a , b)`.
/// A space stays between two words, after `,` and `;`, and around an operator that stands alone.
fn compact(tokens: TokenStream) -> String {
    let mut out = String::new();
    let mut word_before = false;
    for token in tokens {
        let word = matches!(token, TokenTree::Ident(_) | TokenTree::Literal(_));
        match &token {
            TokenTree::Group(group) => {
                let (open, close) = match group.delimiter() {
                    Delimiter::Parenthesis => ("(", ")"),
                    Delimiter::Bracket => ("[", "]"),
                    Delimiter::Brace => (" { ", " }"),
                    Delimiter::None => ("", ""),
                };
                out.push_str(open);
                out.push_str(&compact(group.stream()));
                out.push_str(close);
            }
            TokenTree::Punct(punct) => {
                let c = punct.as_char();
                let alone = punct.spacing() == proc_macro2::Spacing::Alone;
                let operator = alone
                    && "=+-*/%<>|^".contains(c)
                    && out.ends_with(|e: char| e.is_alphanumeric() || ")]_".contains(e));
                if operator {
                    out.push(' ');
                }
                out.push(c);
                if (alone && ",;".contains(c)) || operator {
                    out.push(' ');
                }
            }
            _ => {
                if word && word_before {
                    out.push(' ');
                }
                out.push_str(&token.to_string());
            }
        }
        word_before = word;
    }
    out
}

/// The function's name in logs and metrics: its module path and name. (The default key names the
/// function more precisely; see [`key_expr`].)
fn label(plan: &Plan) -> TokenStream {
    let name = &plan.name;
    quote!(::core::concat!(::core::module_path!(), "::", #name))
}

/// The key, as an expression of type `KeyBuilder`, evaluated in the function named `written_in`:
/// the cached function itself, or its helper.
///
/// The default key starts with the function's path as the compiler names it, `Self` type and type
/// arguments included (`app::Users::find`, `app::count<app::Order>`), which only code inside the
/// function can learn: the name of a closure's type is the path of the function that holds it.
/// Each argument follows a `:`, written with `KeyBuilder::argument` (or `debug_argument` for an
/// argument that is not `Display`), which writes an empty value as `%` so that no argument list
/// reads as another function's path. A `key_fn` key has the same path, then `:` and the key
/// function's result, written alike.
fn key_expr(plan: &Plan, func: &Function, written_in: &str) -> TokenStream {
    match &plan.key {
        Key::Template(segments) => {
            let (capacity, pushes) = template_pushes(func, segments);
            quote! {{
                let mut __cache_key = ::cache_runtime::__private::KeyBuilder::with_capacity(#capacity);
                #(#pushes)*
                __cache_key
            }}
        }
        Key::Default(params) => {
            let capacity = 9 * params.len();
            let pushes = params.iter().map(|param| {
                let push = match writer(func, param) {
                    Writer::Integer(derefs) => quote_spanned!(param.span()=> __cache_key.integer(#(#derefs)* #param);),
                    Writer::Text => quote_spanned!(param.span()=>
                        __cache_key.text_argument(::core::convert::AsRef::<str>::as_ref(&#param));),
                    // `Display` where the type has it, `Debug` otherwise (see `KeyArg`): spanned
                    // at the parameter, where an argument that is neither is reported.
                    // Where the argument resolves to `Debug`, clippy reads the `&&` as a borrow for
                    // nothing, in the user's code (the tokens carry the parameter's span).
                    Writer::Other => quote_spanned!(param.span()=>
                        #[allow(clippy::needless_borrow)]
                        (&&::cache_runtime::__private::KeyArg(&#param))
                            .__cache_key_kind()
                            .write(&mut __cache_key, &#param);),
                };
                quote!(__cache_key.literal(":"); #push)
            });
            let path = function_path(plan, written_in, capacity);
            quote! {{
                #[allow(unused_imports)]
                use ::cache_runtime::__private::{DebugKind as _, DisplayKind as _};
                #path
                #(#pushes)*
                __cache_key
            }}
        }
        Key::Function { path: key_fn, receiver, params } => {
            let receiver = receiver.then(|| {
                // The key function sees the receiver as `&Self`, in the function (whatever its
                // receiver) and in the helper (`&self`).
                let by_value = func.receiver.as_ref().is_some_and(|r| r.reference.is_none() && r.colon_token.is_none());
                if by_value && written_in == plan.name {
                    quote!(&self,)
                } else {
                    quote!(&*self,)
                }
            });
            // Spanned at the path: a wrong signature or a result that is not `Display` is
            // reported at `key_fn = path`.
            let call = quote_spanned!(key_fn.span()=> #key_fn(#receiver #(&#params),*));
            let path = function_path(plan, written_in, 16);
            quote! {{
                #path
                __cache_key.literal(":");
                __cache_key.argument(&#call);
                __cache_key
            }}
        }
    }
}

/// The statements that write a template's text and values into `__cache_key` (a `KeyBuilder`, or
/// `Tags`, which derefs to one), and how many bytes they are expected to write. A key template and
/// each tag are written alike.
fn template_pushes(func: &Function, segments: &[Segment]) -> (usize, Vec<TokenStream>) {
    let mut capacity = 0usize;
    let mut pushes = Vec::new();
    for segment in segments {
        match segment {
            Segment::Literal(text) => {
                capacity += text.len();
                pushes.push(quote!(__cache_key.literal(#text);));
            }
            Segment::Placeholder(placeholder) => {
                capacity += 8;
                let root = &placeholder.root;
                let members = placeholder.members.iter().map(|m| quote!(.#m));
                let push = match placeholder.members.is_empty() && !placeholder.debug {
                    true => writer(func, root),
                    false => Writer::Other,
                };
                pushes.push(match push {
                    Writer::Integer(derefs) => {
                        quote_spanned!(placeholder.span=> __cache_key.integer(#(#derefs)* #root);)
                    }
                    Writer::Text => quote_spanned!(placeholder.span=>
                        __cache_key.text(::core::convert::AsRef::<str>::as_ref(&#root));),
                    Writer::Other if placeholder.debug => {
                        quote_spanned!(placeholder.span=> __cache_key.debug(&#root #(#members)*);)
                    }
                    Writer::Other => {
                        quote_spanned!(placeholder.span=> __cache_key.value(&#root #(#members)*);)
                    }
                });
            }
        }
    }
    (capacity, pushes)
}

/// `let __cache_tags = ...;`: `NoTags` for a function without tags, which costs nothing; otherwise
/// `Tags` holding each tag, written as a key template is, and ended by `end_tag`.
fn tags_expr(plan: &Plan, func: &Function) -> TokenStream {
    if plan.tags.is_empty() {
        return quote!(let __cache_tags = ::cache_runtime::__private::NoTags;);
    }
    let mut capacity = 0usize;
    let mut pushes = Vec::new();
    for segments in &plan.tags {
        let (tag_capacity, tag_pushes) = template_pushes(func, segments);
        capacity += tag_capacity + 1;
        pushes.push(quote!(#(#tag_pushes)* __cache_key.end_tag();));
    }
    quote! {
        let __cache_tags = {
            let mut __cache_key = ::cache_runtime::__private::Tags::with_capacity(#capacity);
            #(#pushes)*
            __cache_key
        };
    }
}

/// `let mut __cache_key = ...;` holding the function's path as the compiler names it, with room
/// for `capacity` more bytes.
fn function_path(plan: &Plan, written_in: &str, capacity: usize) -> TokenStream {
    let name = &plan.name;
    quote! {
        let __cache_marker = || ();
        let __cache_path = ::cache_runtime::__private::function_path(
            ::core::any::type_name_of_val(&__cache_marker),
            #written_in,
            #name,
        );
        let mut __cache_key =
            ::cache_runtime::__private::KeyBuilder::with_capacity(__cache_path.len() + #capacity);
        __cache_key.literal(&__cache_path);
    }
}

/// How a key value is written: the declared type of a parameter read whole decides.
enum Writer {
    /// A primitive integer (behind this many `&`s, as `*` tokens): `KeyBuilder::integer`, which
    /// writes what `Display` does without `fmt`.
    Integer(Vec<TokenStream>),
    /// `String`, `&str` or `&String`: `KeyBuilder::text`, the same escaped text as `Display`.
    Text,
    /// Anything else: `Display` in a template (`Debug` for `{x:?}`); in a default key, `Display`
    /// where the type has it and `Debug` otherwise.
    Other,
}

/// The writer of the parameter `name`, from the type it is declared with. Only the types whose
/// `Display` the fast writers reproduce exactly are picked, by their plain names.
fn writer(func: &Function, name: &syn::Ident) -> Writer {
    let Some(param) = func.params.iter().find(|param| param.name.as_ref() == Some(name)) else {
        return Writer::Other;
    };
    let mut ty = &param.ty;
    let mut derefs = Vec::new();
    while let syn::Type::Reference(reference) = ty {
        ty = &reference.elem;
        derefs.push(quote!(*));
    }
    let syn::Type::Path(path) = ty else { return Writer::Other };
    let Some(ident) = path.path.get_ident().filter(|_| path.qself.is_none()) else {
        return Writer::Other;
    };
    const INTEGERS: [&str; 12] =
        ["u8", "u16", "u32", "u64", "u128", "usize", "i8", "i16", "i32", "i64", "i128", "isize"];
    let ident = ident.to_string();
    if INTEGERS.contains(&ident.as_str()) {
        Writer::Integer(derefs)
    } else if (ident == "str" && derefs.len() == 1) || (ident == "String" && derefs.len() <= 1) {
        Writer::Text
    } else {
        Writer::Other
    }
}

/// `let __cache_ttl = ...;`. For an expression, the declared type is spanned at the `ttl` option,
/// so that a type error reads "expected `Duration`, found `u32`" at the expression and "expected
/// due to this" at `ttl`.
fn ttl_expr(plan: &Plan) -> TokenStream {
    let ms = match &plan.ttl {
        Some(Given { name, value: Ttl::Expr(expr), .. }) => {
            let duration = quote_spanned!(name.span()=> ::cache_runtime::__private::Duration);
            return quote!(let __cache_ttl: #duration = #expr;);
        }
        Some(Given { value: Ttl::Fixed(ms), .. }) => *ms,
        None => DEFAULT_TTL_MS,
    };
    quote! {
        let __cache_ttl: ::cache_runtime::__private::Duration = ::cache_runtime::__private::Duration::from_millis(#ms);
    }
}

/// `tokens` with every token, at any depth, spanned at `span`.
fn respan(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|mut token| {
            if let TokenTree::Group(group) = &token {
                let mut inner = Group::new(group.delimiter(), respan(group.stream(), span));
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
    use quote::quote;

    use super::cached;

    /// Tokens as `quote` prints them, without the spaces it puts between tokens.
    fn compact(tokens: proc_macro2::TokenStream) -> String {
        tokens.to_string().split_whitespace().collect()
    }

    #[test]
    fn a_body_that_does_not_parse_still_expands_the_function_and_its_helper() {
        let out = cached(
            quote!(key = "user:{id}"),
            quote! {
                pub async fn get_user(id: u64) -> Option<String> {
                    let name = ;
                    match id { 1 => }
                }
            },
        );
        let text = compact(out);
        assert!(!text.contains("compile_error"), "the macro leaves the body's error to rustc: {text}");
        assert!(text.contains("pubasyncfnget_user(id:u64)->Option<String>{"), "{text}");
        assert!(text.contains("{letname=;matchid{1=>}}"), "{text}");
        assert!(text.contains("pubasyncfnget_user_invalidate(id:u64)->bool"), "{text}");
    }

    #[test]
    fn with_an_option_error_too_the_body_is_kept_as_written() {
        let out = cached(quote!(ttl = 0), quote!(async fn count(n: u8) -> u8 { n + }));
        let text = compact(out);
        assert!(text.contains("compile_error"), "{text}");
        assert!(text.contains("asyncfncount(n:u8)->u8{n+}"), "{text}");
        assert!(text.contains("asyncfncount_invalidate(n:u8)->bool"), "{text}");
    }

    #[test]
    fn the_function_registers_itself_in_its_body() {
        let text = compact(cached(
            quote!(ttl = "5m", key = "user:{id}", provider = "users"),
            quote!(
                async fn user(id: u64) -> u64 {
                    id
                }
            ),
        ));
        let body = text.find("asyncfnuser(id:u64)->u64{").expect("the function");
        let registration = text.find("::cache_runtime::__private::inventory::submit!").expect("a registration");
        let helper = text.find("asyncfnuser_invalidate").expect("the helper");
        assert!(body < registration && registration < helper, "{text}");
        assert!(text.contains(
            "cached_function(::core::concat!(::core::module_path!(),\"::\",\"user\"),::core::option::Option::Some(\"user:{id}\"),\"users\",::cache_runtime::FunctionTtl::Fixed(::cache_runtime::__private::Duration::from_millis(300000u64)))"
        ), "{text}");
    }

    #[test]
    fn a_ttl_expression_is_registered_as_written() {
        assert_eq!(super::compact(quote!(settings::cache_ttl())), "settings::cache_ttl()");
        assert_eq!(super::compact(quote!(Duration::from_secs(n * 2 + base))), "Duration::from_secs(n * 2 + base)");
        assert_eq!(super::compact(quote!(pick(a, -1, &[b]))), "pick(a, -1, &[b])");
        assert_eq!(super::compact(quote!(x as u64)), "x as u64");
        let text = cached(
            quote!(ttl = settings::cache_ttl()),
            quote!(
                async fn f() -> u8 {
                    1
                }
            ),
        )
        .to_string();
        assert!(text.contains("FunctionTtl :: PerCall (\"settings::cache_ttl()\")"), "{text}");
    }

    #[test]
    fn the_default_key_starts_with_the_path_the_compiler_gives_the_function() {
        let text = compact(cached(
            quote!(),
            quote!(
                async fn count<T>(n: u8) -> u8 {
                    n
                }
            ),
        ));
        // In the function, and in the helper, which names the function it serves.
        assert!(text.contains("function_path(::core::any::type_name_of_val(&__cache_marker),\"count\",\"count\",)"));
        assert!(text
            .contains("function_path(::core::any::type_name_of_val(&__cache_marker),\"count_invalidate\",\"count\",)"));
        assert!(text.contains("__cache_key.literal(\":\");__cache_key.integer(n);"), "{text}");
        assert!(text.contains("asyncfncount_invalidate<T>(n:u8)->bool"), "{text}");
    }

    #[test]
    fn tags_are_written_as_key_templates_are_and_only_where_given() {
        let text = compact(cached(
            quote!(key = "order:{id}", tags = ["user:{user_id}", "orders"]),
            quote!(
                async fn order(id: u64, user_id: u64) -> u64 {
                    id
                }
            ),
        ));
        let tags = "let__cache_tags={letmut__cache_key=::cache_runtime::__private::Tags::with_capacity(21usize);\
                    __cache_key.literal(\"user:\");__cache_key.integer(user_id);__cache_key.end_tag();\
                    __cache_key.literal(\"orders\");__cache_key.end_tag();__cache_key};";
        // In the function and in `order_refresh`, which stores as the function does.
        assert_eq!(text.matches(tags).count(), 2, "{text}");
        assert!(!text.contains("NoTags"), "{text}");
        let untagged = compact(cached(
            quote!(key = "order:{id}"),
            quote!(
                async fn order(id: u64) -> u64 {
                    id
                }
            ),
        ));
        assert_eq!(untagged.matches("let__cache_tags=::cache_runtime::__private::NoTags;").count(), 2, "{untagged}");
    }
}
