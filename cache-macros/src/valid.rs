//! Checks the function and the options together, and works out what the expansion needs.

use proc_macro2::{Span, TokenStream, TokenTree};
use quote::format_ident;
use syn::{FnArg, GenericArgument, Ident, Item, ItemFn, LitStr, Pat, PathArguments, ReturnType, Type};

use crate::attr::{Ctxt, Options, Ttl};
use crate::key::{self, Placeholder, Segment};

/// How the return type is cached.
pub enum Mode {
    /// The whole value.
    Whole,
    /// `Ok` of a `Result`.
    OkOnly,
    /// `Some` of an `Option`.
    SomeOnly,
}

/// A parameter that the key names, as the invalidation helper declares it.
pub struct KeyParam {
    pub name: Ident,
    pub ty: Type,
}

/// Everything the expansion needs, checked.
pub struct Plan {
    pub ttl: Ttl,
    pub provider: String,
    pub mode: Mode,
    /// The type that is stored, where errors about it point.
    pub value_ty: Type,
    /// The return type as written (`()` when there is none).
    pub ret_ty: Type,
    pub segments: Vec<Segment>,
    /// Whether the key names `self`: the helper then takes `&self`.
    pub key_uses_self: bool,
    pub key_params: Vec<KeyParam>,
    /// No `key` was given: the key starts with the module path and the function's name.
    pub default_key: bool,
    /// The function's name.
    pub function: String,
}

/// The function under `#[cached]`. Any other item is an error at its keyword (`struct`, `impl`,
/// ...), returned with the item as it was so that it is the only error.
pub fn function(item: TokenStream) -> Result<ItemFn, TokenStream> {
    let (span, message) = match syn::parse2::<Item>(item.clone()) {
        Ok(Item::Fn(func)) => return Ok(func),
        Ok(Item::Impl(item)) => {
            (item.impl_token.span, "`#[cached]` goes on each `async fn` of an impl block, not on the block".to_string())
        }
        Ok(other) => {
            let (span, what) = match &other {
                Item::Struct(item) => (item.struct_token.span, "a struct"),
                Item::Enum(item) => (item.enum_token.span, "an enum"),
                Item::Union(item) => (item.union_token.span, "a union"),
                Item::Trait(item) => (item.trait_token.span, "a trait"),
                Item::Mod(item) => (item.mod_token.span, "a module"),
                Item::Const(item) => (item.const_token.span, "a const"),
                Item::Static(item) => (item.static_token.span, "a static"),
                Item::Type(item) => (item.type_token.span, "a type alias"),
                Item::Use(item) => (item.use_token.span, "a `use`"),
                Item::ForeignMod(item) => (item.abi.extern_token.span, "an extern block"),
                _ => (keyword_span(&item), "this item"),
            };
            let message = if matches!(other, Item::Verbatim(_)) && has_fn_token(&item) {
                "`#[cached]` goes on an `async fn` with a body".to_string()
            } else {
                format!("`#[cached]` goes on an `async fn`, not on {what}")
            };
            (span, message)
        }
        Err(error) => (error.span(), format!("{error}; `#[cached]` goes on an `async fn` with a body")),
    };
    let mut out = syn::Error::new(span, message).to_compile_error();
    out.extend(item);
    Err(out)
}

/// The `fn` keyword when there is one, else the first token that is not an attribute.
fn keyword_span(item: &TokenStream) -> Span {
    let mut tokens = item.clone().into_iter().peekable();
    let mut first = None;
    while let Some(token) = tokens.next() {
        match &token {
            TokenTree::Punct(punct) if punct.as_char() == '#' => {
                tokens.next();
                continue;
            }
            TokenTree::Ident(ident) if ident == "fn" => return ident.span(),
            _ => {}
        }
        first.get_or_insert(token.span());
    }
    first.unwrap_or_else(Span::call_site)
}

fn has_fn_token(item: &TokenStream) -> bool {
    item.clone().into_iter().any(|token| matches!(token, TokenTree::Ident(ident) if ident == "fn"))
}

/// Checks `func` against `options`; errors go to `cx`. The plan is built even when there are
/// errors, from what could be read, so that the fallback expansion declares the helper the user
/// expects and the macro's error is the only one.
pub fn check(cx: &mut Ctxt, options: Options, func: &ItemFn) -> Plan {
    let sig = &func.sig;
    if sig.asyncness.is_none() {
        cx.error_at(sig.fn_token, "`#[cached]` works on `async fn` only: make this function async");
    }

    let mut receiver = false;
    let mut params: Vec<(Ident, Type)> = Vec::new();
    let mut unnamed: Vec<&Pat> = Vec::new();
    for input in &sig.inputs {
        match input {
            FnArg::Receiver(_) => receiver = true,
            FnArg::Typed(typed) => match &*typed.pat {
                Pat::Ident(pat) if pat.subpat.is_none() => params.push((pat.ident.clone(), (*typed.ty).clone())),
                other => unnamed.push(other),
            },
        }
    }

    let segments = match &options.key {
        Some(template) => key::parse(cx, template),
        None => {
            for pat in &unnamed {
                cx.error_at(
                    pat,
                    "the default key names every parameter, and this one has no name: bind it to a name, or give a `key`",
                );
            }
            default_segments(&params)
        }
    };

    let mut key_uses_self = false;
    let mut named: Vec<&Ident> = Vec::new();
    for segment in &segments {
        let Segment::Placeholder(placeholder) = segment else { continue };
        let root = &placeholder.root;
        if root == "self" {
            if receiver {
                key_uses_self = true;
            } else {
                cx.error_span(
                    placeholder.span,
                    format!(
                        "`{{{}}}` names `self`, but `{}` takes no `self`: add a `&self` parameter, or name a parameter instead",
                        placeholder.text(),
                        sig.ident
                    ),
                );
            }
        } else if let Some((name, _)) = params.iter().find(|(name, _)| name == root) {
            if !named.contains(&name) {
                named.push(name);
            }
        } else {
            let known: Vec<String> = params.iter().map(|(name, _)| format!("`{name}`")).collect();
            let known = match known.as_slice() {
                [] => "which has no parameters to name".to_string(),
                [one] => format!("whose only parameter is {one}"),
                [init @ .., last] => format!("whose parameters are {} and {last}", init.join(", ")),
            };
            cx.error_span(
                placeholder.span,
                format!("`{{{}}}` names no parameter of `{}`, {known}", placeholder.text(), sig.ident),
            );
        }
    }
    check_separated(cx, options.key.as_ref(), &segments);

    let key_params = params
        .iter()
        .filter(|(name, _)| named.contains(&name))
        .map(|(name, ty)| KeyParam { name: name.clone(), ty: ty.clone() })
        .collect();

    let ret_ty: Type = match &sig.output {
        ReturnType::Default => syn::parse_quote!(()),
        ReturnType::Type(_, ty) => (**ty).clone(),
    };
    let cache_none = options.cache_none.as_ref().is_some_and(|flag| flag.value);
    let shape = shape(&ret_ty);
    if let (Some(flag), false) = (&options.cache_none, matches!(shape, Shape::Option(_))) {
        cx.error_at(
            &flag.tokens,
            format!(
                "`cache_none` applies to functions that return an `Option`, and `{}` does not: remove `cache_none`",
                sig.ident
            ),
        );
    }
    let (mode, value_ty) = match shape {
        Shape::Result(ok) => (Mode::OkOnly, ok),
        Shape::Option(_) if cache_none => (Mode::Whole, ret_ty.clone()),
        Shape::Option(some) => (Mode::SomeOnly, some),
        Shape::Other => (Mode::Whole, ret_ty.clone()),
    };
    if let Type::ImplTrait(_) = value_ty {
        cx.error_at(
            &value_ty,
            "a cached function returns a named type: the value is stored, cloned and decoded, which an `impl Trait` \
             type cannot be; write the type out",
        );
    }

    Plan {
        ttl: options.ttl.unwrap_or(Ttl::Fixed(300_000)),
        provider: options.provider.as_ref().map_or_else(|| "default".to_string(), LitStr::value),
        mode,
        value_ty,
        ret_ty,
        segments,
        key_uses_self,
        key_params,
        default_key: options.key.is_none(),
        function: sig.ident.to_string(),
    }
}

/// `module::path::function` and then `:{param}` for each parameter; the module path is added by
/// the expansion.
fn default_segments(params: &[(Ident, Type)]) -> Vec<Segment> {
    let mut segments = Vec::new();
    for (name, _) in params {
        segments.push(Segment::Literal(":".into()));
        segments.push(Segment::Placeholder(Placeholder { root: name.clone(), members: Vec::new(), span: name.span() }));
    }
    segments
}

/// Two placeholders need a character between them that no escaped value holds, or the key would
/// not say where one value ends: `{a}{b}` gives `123` for both `1, 23` and `12, 3`.
fn check_separated(cx: &mut Ctxt, template: Option<&LitStr>, segments: &[Segment]) {
    let Some(template) = template else { return };
    let mut previous: Option<&Placeholder> = None;
    let mut between = String::new();
    for segment in segments {
        match segment {
            Segment::Literal(text) => between.push_str(text),
            Segment::Placeholder(placeholder) => {
                if let Some(before) = previous {
                    if between.chars().all(key::may_appear_in_value) {
                        cx.error_at(template, not_separated(before, &between, placeholder));
                    }
                }
                previous = Some(placeholder);
                between.clear();
            }
        }
    }
}

fn not_separated(before: &Placeholder, between: &str, after: &Placeholder) -> String {
    let (before, after) = (before.text(), after.text());
    if between.is_empty() {
        format!(
            "`{{{before}}}{{{after}}}`: put a separator such as `:` or `/` between the two placeholders; \
             without one, two different argument lists could give the same key (`1`,`23` and `12`,`3` both give `123`)"
        )
    } else {
        format!(
            "`{{{before}}}{between}{{{after}}}`: `{between}` does not separate the two placeholders, because escaped values \
             keep letters, digits, `_`, `.`, `-` and `%` as they are; use a separator such as `:` or `/`"
        )
    }
}

enum Shape {
    Result(Type),
    Option(Type),
    Other,
}

/// Reads the return type as written: a path ending in `Result` (`Result`, `io::Result`,
/// `anyhow::Result`) with its first type argument, or in `Option`. Aliases under other names are
/// not seen through: they are cached whole.
fn shape(ty: &Type) -> Shape {
    let Type::Path(path) = ty else { return Shape::Other };
    let Some(last) = path.path.segments.last() else { return Shape::Other };
    let PathArguments::AngleBracketed(args) = &last.arguments else { return Shape::Other };
    let first = args.args.iter().find_map(|arg| match arg {
        GenericArgument::Type(ty) => Some(ty.clone()),
        _ => None,
    });
    match (last.ident.to_string().as_str(), first) {
        ("Result", Some(ok)) => Shape::Result(ok),
        ("Option", Some(some)) => Shape::Option(some),
        _ => Shape::Other,
    }
}

/// The name of the generated helper.
pub fn helper_name(func: &ItemFn) -> Ident {
    format_ident!("{}_invalidate", func.sig.ident)
}
