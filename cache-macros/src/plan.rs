//! What the expansion generates, worked out from the function and the options: how the value is
//! stored, the whole key, and the helper's signature.
//!
//! The plan is built even when [`valid`](crate::valid) reported errors, from what could be read,
//! so that the fallback expansion declares the helper the user expects and the macro's errors are
//! the only ones.

use std::collections::BTreeSet;

use proc_macro2::TokenStream;
use quote::ToTokens;
use syn::punctuated::Punctuated;
use syn::{GenericParam, Generics, Ident, Type, WherePredicate};

use crate::ast::{Function, Shape};
use crate::attr::{Given, Options, Ttl};
use crate::key::Segment;

/// The ttl without a `ttl` option, in milliseconds.
pub const DEFAULT_TTL_MS: u64 = 300_000;

/// Everything the expansion needs.
pub struct Plan {
    /// The function's name as rustc prints it in paths.
    pub name: String,
    /// `None`: the default ttl.
    pub ttl: Option<Given<Ttl>>,
    pub provider: String,
    pub mode: Mode,
    /// The type that is stored, where errors about it point.
    pub value_ty: Type,
    /// The return type as written (`()` when there is none).
    pub ret_ty: Type,
    pub key: Key,
    /// The `key` template as written, for the function's registration; `None`: the default key.
    pub template: Option<String>,
    pub helper: Helper,
    /// Whether `<name>_invalidate` is generated beside the function: not with `companions =
    /// false`, nor in a method that `#[async_trait]` rewrote (a trait impl cannot hold it).
    pub companions: bool,
    /// `cache_if = path`.
    pub cache_if: Option<syn::ExprPath>,
    /// `max_entries = N`.
    pub max_entries: Option<u64>,
    /// `local`: the values need only `Clone` and are kept in memory, whatever the provider.
    pub local: bool,
    /// `stale`, `soft_timeout`, `hard_timeout`, `refresh_ahead`: `None` when none is given.
    pub fresh: Option<Fresh>,
    /// `tags = [...]`: each tag's template, in order; empty without tags.
    pub tags: Vec<Vec<Segment>>,
}

/// The options of "fresh, stale, refreshed", as given.
pub struct Fresh {
    pub stale: Option<Given<Ttl>>,
    pub soft_timeout: Option<Given<Ttl>>,
    pub hard_timeout: Option<Given<Ttl>>,
    pub refresh_ahead: Option<Given<Ttl>>,
}

impl Fresh {
    /// Whether a body may go on after its caller returned (`soft_timeout`, `refresh_ahead`): it
    /// then runs in a task of its own, and must be `Send + 'static`.
    pub fn runs_in_background(&self) -> bool {
        self.soft_timeout.is_some() || self.refresh_ahead.is_some()
    }
}

/// How the return type is cached.
pub enum Mode {
    /// The whole value.
    Whole,
    /// `Ok` of a `Result`.
    OkOnly,
    /// `Some` of an `Option`.
    SomeOnly,
}

/// The whole key, built from the same plan in the function and in its helper.
pub enum Key {
    /// `key = "..."`: literal text and escaped placeholder values.
    Template(Vec<Segment>),
    /// No `key`: the function's path as the compiler names it (module, `Self` type and type
    /// arguments included), then `:` and each parameter, in signature order.
    Default(Vec<Ident>),
    /// `key_fn = path`: the default key's function path, then `:` and the escaped `Display` of
    /// `path(&receiver, &param, ...)`, called with a reference to the receiver (as `&Self`) if
    /// there is one and to every parameter, in signature order.
    Function { path: syn::Path, receiver: bool, params: Vec<Ident> },
}

/// `<name>_invalidate`: the parameters the key names, `&self` where it names `self`, and the
/// generic parameters the key depends on.
pub struct Helper {
    pub name: Ident,
    pub receiver: bool,
    pub params: Vec<KeyParam>,
    pub generics: Generics,
}

/// A parameter that the key names, as the helper declares it.
pub struct KeyParam {
    pub name: Ident,
    pub ty: Type,
}

impl Plan {
    pub fn new(options: Options, func: &Function) -> Plan {
        let cache_none = options.cache_none.as_ref().is_some_and(|flag| flag.value);
        let (mode, value_ty) = stored(func, cache_none);
        let named = func.params.iter().filter_map(|param| Some((param.name.as_ref()?, &param.ty)));

        let template = options.key.as_ref().map(|given| given.value.literal.value());
        let tags =
            options.tags.map_or_else(Vec::new, |given| given.value.into_iter().map(|tag| tag.segments).collect());
        let companions = options.companions.as_ref().is_none_or(|given| given.value) && !func.async_trait;
        let (key, helper_receiver, params) = match (options.key, options.key_fn) {
            (None, Some(key_fn)) => {
                let params: Vec<KeyParam> =
                    named.map(|(name, ty)| KeyParam { name: name.clone(), ty: ty.clone() }).collect();
                let receiver = func.receiver.is_some();
                let names = params.iter().map(|param| param.name.clone()).collect();
                (Key::Function { path: key_fn.value, receiver, params: names }, receiver, params)
            }
            (None, None) => {
                let params: Vec<KeyParam> =
                    named.map(|(name, ty)| KeyParam { name: name.clone(), ty: ty.clone() }).collect();
                (Key::Default(params.iter().map(|param| param.name.clone()).collect()), false, params)
            }
            // With both (an error), the template shapes the helper.
            (Some(template), _) => {
                let template = template.value;
                let roots: Vec<&Ident> = template.placeholders().map(|placeholder| &placeholder.root).collect();
                let receiver = func.receiver.is_some() && roots.iter().any(|root| *root == "self");
                let params = named
                    .filter(|(name, _)| roots.contains(name))
                    .map(|(name, ty)| KeyParam { name: name.clone(), ty: ty.clone() })
                    .collect();
                (Key::Template(template.segments), receiver, params)
            }
        };
        let generics = match &key {
            // The key holds the function's type arguments: the helper takes every one of them,
            // in the same order, so that its path names the same instance.
            Key::Default(_) | Key::Function { .. } => func.sig.generics.clone(),
            Key::Template(_) => helper_generics(&func.sig.generics, &params),
        };

        Plan {
            name: func.name(),
            ttl: options.ttl,
            provider: options.provider.as_ref().map_or_else(|| "default".to_string(), |given| given.value.value()),
            mode,
            value_ty,
            ret_ty: func.output.clone(),
            key,
            template,
            helper: Helper { name: func.helper_name(), receiver: helper_receiver, params, generics },
            companions,
            cache_if: options.cache_if.map(|given| given.value),
            max_entries: options.max_entries.map(|given| given.value),
            local: options.local.is_some_and(|given| given.value),
            fresh: match (options.stale, options.soft_timeout, options.hard_timeout, options.refresh_ahead) {
                (None, None, None, None) => None,
                (stale, soft_timeout, hard_timeout, refresh_ahead) => {
                    Some(Fresh { stale, soft_timeout, hard_timeout, refresh_ahead })
                }
            },
            tags,
        }
    }
}

/// How `func`'s return value is stored, and the type that is.
pub fn stored(func: &Function, cache_none: bool) -> (Mode, Type) {
    match &func.shape {
        Shape::Result(ok) => (Mode::OkOnly, ok.clone()),
        Shape::Option(_) if cache_none => (Mode::Whole, func.output.clone()),
        Shape::Option(some) => (Mode::SomeOnly, some.clone()),
        Shape::Other => (Mode::Whole, func.output.clone()),
    }
}

/// The function's generic parameters that the helper's parameters use, directly or through the
/// bounds of a kept parameter (in its declaration or in a where-clause about it), and the
/// where-clauses that name only kept parameters: a parameter that no key value mentions could not
/// be inferred when the helper is called.
fn helper_generics(generics: &Generics, params: &[KeyParam]) -> Generics {
    let param_name = |param: &GenericParam| match param {
        GenericParam::Type(ty) => ty.ident.to_string(),
        GenericParam::Lifetime(lt) => lt.lifetime.to_string(),
        GenericParam::Const(c) => c.ident.to_string(),
    };
    let declared: BTreeSet<String> = generics.params.iter().map(param_name).collect();
    let mut used = BTreeSet::new();
    for param in params {
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
            proc_macro2::TokenTree::Group(group) => names_in(group.stream(), declared, out),
            proc_macro2::TokenTree::Ident(ident) => {
                let name = if after_quote { format!("'{ident}") } else { ident.to_string() };
                if declared.contains(&name) {
                    out.insert(name);
                }
            }
            proc_macro2::TokenTree::Punct(_) | proc_macro2::TokenTree::Literal(_) => {}
        }
        after_quote = matches!(&token, proc_macro2::TokenTree::Punct(punct) if punct.as_char() == '\'');
    }
}

#[cfg(test)]
mod tests {
    use proc_macro2::TokenStream;
    use quote::quote;

    use super::{Key, Plan};
    use crate::ast::Function;
    use crate::attr::Options;
    use crate::ctxt::Ctxt;
    use crate::valid;

    fn plan(args: TokenStream, func: TokenStream) -> Plan {
        let func = Function::parse(func).unwrap_or_else(|_| panic!("a function"));
        let mut cx = Ctxt::default();
        let options = Options::parse(&mut cx, args);
        valid::check(&mut cx, &options, &func);
        assert!(cx.check().is_ok());
        Plan::new(options, &func)
    }

    /// The helper's generics and where-clause, as tokens in a string.
    fn helper_generics_of(args: TokenStream, func: TokenStream) -> String {
        let plan = plan(args, func);
        let (impl_generics, _, where_clause) = plan.helper.generics.split_for_impl();
        quote!(#impl_generics #where_clause).to_string()
    }

    #[test]
    fn the_helper_keeps_the_generics_its_parameters_use() {
        let kept = helper_generics_of(
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
        let kept = helper_generics_of(
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

    #[test]
    fn with_the_default_key_the_helper_takes_every_generic_parameter() {
        let kept = helper_generics_of(
            quote!(),
            quote!(
                async fn decode<'a, V, const N: usize>(id: &'a str) -> Option<V>
                where
                    V: Clone,
                {
                    make()
                }
            ),
        );
        assert_eq!(kept, quote!(<'a, V, const N: usize> where V: Clone,).to_string());
    }

    #[test]
    fn the_default_key_names_every_parameter_in_signature_order() {
        let plan = plan(
            quote!(),
            quote!(
                async fn f(b: u8, a: String) -> u8 {
                    1
                }
            ),
        );
        let Key::Default(params) = &plan.key else { panic!("the default key") };
        assert_eq!(params.iter().map(ToString::to_string).collect::<Vec<_>>(), ["b", "a"]);
        let helper: Vec<_> = plan.helper.params.iter().map(|param| param.name.to_string()).collect();
        assert_eq!(helper, ["b", "a"]);
        assert!(!plan.helper.receiver);
    }
}
