//! Checks the function and the options together. Every check reports to the `Ctxt` and goes on;
//! nothing here builds what is generated (that is `plan.rs`).

use syn::Ident;

use crate::ast::{is_async_trait, Function, Shape};
use crate::attr::{Given, Options, Ttl};
use crate::ctxt::Ctxt;
use crate::key::{self, Kind, Placeholder, Segment, Template};
use crate::plan;

pub fn check(cx: &mut Ctxt, options: &Options, func: &Function) {
    if let Some(attr) = func.attrs.iter().find(|attr| is_async_trait(attr)) {
        cx.error_at(
            attr,
            "`#[async_trait]` goes on the trait and on the `impl` block, not on a method: move it to the `impl` \
             block, and add `companions = false` to `#[cached]`",
        );
    } else if func.async_trait {
        companions_in_trait_impl(cx, options, func);
    } else if func.sig.asyncness.is_none() {
        cx.error_at(func.sig.fn_token, "`#[cached]` works on `async fn` only: make this function async");
    }
    match (&options.key, &options.key_fn) {
        (Some(_), Some(key_fn)) => cx.error_at(
            &key_fn.tokens,
            "`key` and `key_fn` both give the key: keep `key` for a template of the arguments, or `key_fn` to \
             compute the key with a function",
        ),
        (None, Some(_)) => every_parameter_named(cx, func, "`key_fn` is called with every parameter"),
        (None, None) => default_key(cx, func),
        (Some(_), None) => {}
    }
    if let Some(template) = &options.key {
        placeholders(cx, &template.value, func);
        separated(cx, &template.value);
    }
    if let Some(tags) = &options.tags {
        self::tags(cx, &tags.value, func);
    }
    if let (Some(flag), false) = (&options.cache_none, matches!(func.shape, Shape::Option(_))) {
        cx.error_at(
            &flag.tokens,
            format!(
                "`cache_none` applies to functions that return an `Option`, and `{}` does not: remove `cache_none`",
                func.sig.ident
            ),
        );
    }
    fresh(cx, options, func);
    let cache_none = options.cache_none.as_ref().is_some_and(|flag| flag.value);
    let (_, value_ty) = plan::stored(func, cache_none);
    if let syn::Type::ImplTrait(_) = value_ty {
        cx.error_at(
            &value_ty,
            "a cached function returns a named type: the value is stored, cloned and decoded, which an `impl Trait` \
             type cannot be; write the type out",
        );
    }
}

/// A method that `#[async_trait]` rewrote is in a trait impl, which holds only the trait's methods:
/// `<fn>_invalidate` cannot stand beside it, and the user says so with `companions = false` (as
/// with a native `async fn` in a trait impl, which the macro cannot tell from an inherent one).
fn companions_in_trait_impl(cx: &mut Ctxt, options: &Options, func: &Function) {
    if options.companions.as_ref().is_some_and(|given| !given.value) {
        return;
    }
    let message = format!(
        "`{name}` is in a trait impl (`#[async_trait]` rewrote it), which can hold only the trait's methods, so \
         `#[cached]` cannot generate `{helper}` beside it: add `companions = false` to `#[cached]`, and remove \
         entries with `cache_runtime::delete` and the key",
        name = func.sig.ident,
        helper = func.helper_name(),
    );
    match &options.companions {
        Some(given) => cx.error_at(&given.tokens, message),
        None => cx.error_at(&func.sig.ident, message),
    }
}

/// The default key names the function and every parameter. It cannot name a parameter without a
/// name, and it never silently leaves out the receiver: two receivers would share every entry.
fn default_key(cx: &mut Ctxt, func: &Function) {
    if let Some(receiver) = &func.receiver {
        // The fix is a `key`, which settles the parameters without a name too.
        cx.error_at(receiver, receiver_without_key(func));
        return;
    }
    every_parameter_named(cx, func, "the default key names every parameter");
}

/// A key made of every parameter cannot take one without a name (`(a, b): (u8, u8)`).
fn every_parameter_named(cx: &mut Ctxt, func: &Function, what: &str) {
    for param in func.params.iter().filter(|param| param.name.is_none()) {
        cx.error_at(&param.pat, format!("{what}, and this one has no name: bind it to a name, or give a `key`"));
    }
}

/// Both fixes, written for this method: `count(&self, a: u8)` gets `"count:{self.id}:{a}"` and
/// `"count:{a}"`.
fn receiver_without_key(func: &Function) -> String {
    let name = func.name();
    let params: String =
        func.params.iter().filter_map(|param| param.name.as_ref()).map(|p| format!(":{{{p}}}")).collect();
    format!(
        "a method's default key would ignore `self`: name what identifies the receiver, as in \
         `key = \"{name}:{{self.id}}{params}\"`, or, if every receiver gives the same value, \
         `key = \"{name}{params}\"`"
    )
}

/// Each tag is a template as a key is, and more: its text holds no control character (a newline
/// separates the tags of an entry), and no template is given twice.
fn tags(cx: &mut Ctxt, tags: &[Template], func: &Function) {
    for (n, template) in tags.iter().enumerate() {
        placeholders(cx, template, func);
        separated(cx, template);
        let control = template.segments.iter().find_map(|segment| match segment {
            Segment::Literal(text) => text.chars().find(|c| c.is_control()),
            Segment::Placeholder(_) => None,
        });
        if let Some(c) = control {
            cx.error_at(
                &template.literal,
                format!(
                    "this tag holds the control character `{}`: an entry's tags are kept one per line, and a tag is \
                     text without control characters; remove it",
                    c.escape_default()
                ),
            );
        }
        let text = template.literal.value();
        if tags[..n].iter().any(|earlier| earlier.literal.value() == text) {
            cx.error_at(&template.literal, format!("the tag {text:?} is given twice: remove this one"));
        }
    }
}

/// Each placeholder names a parameter, or `self` in a method.
fn placeholders(cx: &mut Ctxt, template: &Template, func: &Function) {
    let names: Vec<&Ident> = func.params.iter().filter_map(|param| param.name.as_ref()).collect();
    for placeholder in template.placeholders() {
        let root = &placeholder.root;
        if root == "self" {
            if func.receiver.is_none() {
                cx.error_span(
                    placeholder.span,
                    format!(
                        "`{{{}}}` names `self`, but `{}` takes no `self`: add a `&self` parameter, or name a parameter instead",
                        placeholder.text(),
                        func.sig.ident
                    ),
                );
            }
        } else if !names.contains(&root) {
            let known: Vec<String> = names.iter().map(|name| format!("`{name}`")).collect();
            let known = match known.as_slice() {
                [] => "which has no parameters to name".to_string(),
                [one] => format!("whose only parameter is {one}"),
                [init @ .., last] => format!("whose parameters are {} and {last}", init.join(", ")),
            };
            cx.error_span(
                placeholder.span,
                format!("`{{{}}}` names no parameter of `{}`, {known}", placeholder.text(), func.sig.ident),
            );
        }
    }
}

/// Two placeholders need a character between them that no escaped value holds, or the key would
/// not say where one value ends: `{a}{b}` gives `123` for both `1, 23` and `12, 3`.
fn separated(cx: &mut Ctxt, template: &Template) {
    let mut previous: Option<&Placeholder> = None;
    let mut between = String::new();
    for segment in &template.segments {
        match segment {
            Segment::Literal(text) => between.push_str(text),
            Segment::Placeholder(placeholder) => {
                if let Some(before) = previous {
                    if between.chars().all(key::may_appear_in_value) {
                        cx.error_at(&template.literal, not_separated(before, &between, placeholder, template.kind));
                    }
                }
                previous = Some(placeholder);
                between.clear();
            }
        }
    }
}

fn not_separated(before: &Placeholder, between: &str, after: &Placeholder, kind: Kind) -> String {
    let (before, after) = (before.text(), after.text());
    let noun = kind.noun();
    if between.is_empty() {
        format!(
            "`{{{before}}}{{{after}}}`: put a separator such as `:` or `/` between the two placeholders; \
             without one, two different argument lists could give the same {noun} (`1`,`23` and `12`,`3` both give `123`)"
        )
    } else {
        format!(
            "`{{{before}}}{between}{{{after}}}`: `{between}` does not separate the two placeholders, because escaped values \
             keep letters, digits, `_`, `.`, `-` and `%` as they are; use a separator such as `:` or `/`"
        )
    }
}

/// The options of "fresh, stale, refreshed" together: literal values that contradict each other,
/// a timeout without a stale value to serve, and a body that must run in the background but
/// borrows its arguments.
fn fresh(cx: &mut Ctxt, options: &Options, func: &Function) {
    let fixed = |given: &Option<Given<Ttl>>| match given {
        Some(Given { value: Ttl::Fixed(ms), .. }) => Some(*ms),
        _ => None,
    };
    if options.stale.is_none() {
        for (name, given) in [("soft_timeout", &options.soft_timeout), ("hard_timeout", &options.hard_timeout)] {
            if let Some(given) = given {
                cx.error_at(
                    &given.name,
                    format!(
                        "`{name}` applies when a stale value is at hand, and without `stale` there never is one: \
                         add `stale = \"1h\"` (how long an entry is kept past its ttl), or remove `{name}`"
                    ),
                );
            }
        }
    }
    if let (Some(soft), Some(hard)) = (fixed(&options.soft_timeout), fixed(&options.hard_timeout)) {
        if soft >= hard {
            let given = options.soft_timeout.as_ref().map(|given| &given.tokens);
            cx.error_at(
                given,
                format!(
                    "`soft_timeout` ({}) must be shorter than `hard_timeout` ({}): the caller gets the stale value at \
                     `soft_timeout` while the body goes on until `hard_timeout`",
                    human(soft),
                    human(hard)
                ),
            );
        }
    }
    let ttl = match &options.ttl {
        None => Some(plan::DEFAULT_TTL_MS),
        given => fixed(given),
    };
    if let (Some(ahead), Some(ttl)) = (fixed(&options.refresh_ahead), ttl) {
        if ahead >= ttl {
            let given = options.refresh_ahead.as_ref().map(|given| &given.tokens);
            let ttl_text = if options.ttl.is_some() { "" } else { ", the default" };
            cx.error_at(
                given,
                format!(
                    "`refresh_ahead` ({}) must be shorter than `ttl` ({}{ttl_text}): a hit on an entry older than \
                     `refresh_ahead` refreshes it before it expires",
                    human(ahead),
                    human(ttl)
                ),
            );
        }
    }
    let background = [("soft_timeout", &options.soft_timeout), ("refresh_ahead", &options.refresh_ahead)];
    let Some((option, _)) = background.iter().find(|(_, given)| given.is_some()) else { return };
    if let Some(receiver) = &func.receiver {
        cx.error_at(
            receiver,
            format!(
                "`{option}` runs the body in the background, where it cannot borrow `self`: cache a free function \
                 that takes what it needs by value, and call it from the method"
            ),
        );
    }
    for param in &func.params {
        if let syn::Type::Reference(reference) = &param.ty {
            let owned = match &*reference.elem {
                syn::Type::Path(path) if path.path.is_ident("str") => "`String`".to_string(),
                syn::Type::Slice(slice) => format!("`Vec<{}>`", quote::ToTokens::to_token_stream(&slice.elem)),
                _ => "an owned value (or an `Arc`)".to_string(),
            };
            cx.error_at(
                &param.ty,
                format!(
                    "`{option}` runs the body in the background, which outlives a borrowed argument: take {owned} here"
                ),
            );
        }
    }
}

/// A duration in milliseconds as the options write it: `"250ms"`, `"30s"`, `"5m"`.
fn human(ms: u64) -> String {
    match ms {
        ms if ms % 3_600_000 == 0 => format!("\"{}h\"", ms / 3_600_000),
        ms if ms % 60_000 == 0 => format!("\"{}m\"", ms / 60_000),
        ms if ms % 1_000 == 0 => format!("\"{}s\"", ms / 1_000),
        ms => format!("\"{ms}ms\""),
    }
}

#[cfg(test)]
mod tests {
    use proc_macro2::TokenStream;
    use quote::quote;

    use crate::ast::Function;
    use crate::attr::Options;
    use crate::ctxt::Ctxt;

    fn errors(args: TokenStream, func: TokenStream) -> Vec<String> {
        let func = Function::parse(func).unwrap_or_else(|_| panic!("a function"));
        let mut cx = Ctxt::default();
        let options = Options::parse(&mut cx, args);
        super::check(&mut cx, &options, &func);
        cx.check().err().map(|e| e.into_iter().map(|e| e.to_string()).collect()).unwrap_or_default()
    }

    #[test]
    fn a_method_without_a_key_names_both_fixes_with_its_own_parameters() {
        let found = errors(
            quote!(),
            quote!(
                async fn count(&self, a: u8, (x, y): (u8, u8), r#type: u8) -> u8 {
                    a
                }
            ),
        );
        assert_eq!(
            found,
            ["a method's default key would ignore `self`: name what identifies the receiver, as in \
              `key = \"count:{self.id}:{a}:{r#type}\"`, or, if every receiver gives the same value, \
              `key = \"count:{a}:{r#type}\"`"]
        );
        assert_eq!(
            errors(
                quote!(),
                quote!(
                    async fn count(self: Arc<Self>) -> u8 {
                        1
                    }
                )
            )
            .len(),
            1
        );
        assert!(errors(
            quote!(key = "count:{self.id}"),
            quote!(
                async fn count(&self) -> u8 {
                    1
                }
            )
        )
        .is_empty());
        assert!(errors(
            quote!(key = "count"),
            quote!(
                async fn count(&mut self) -> u8 {
                    1
                }
            )
        )
        .is_empty());
    }

    #[test]
    fn key_fn_takes_every_parameter_and_excludes_key() {
        let func = quote!(
            async fn count(&self, a: u8) -> u8 {
                a
            }
        );
        assert!(errors(quote!(key_fn = keys::count), func.clone()).is_empty(), "a receiver is passed to it");
        let both = errors(quote!(key = "count:{a}", key_fn = count_key), func);
        assert_eq!(both.len(), 1, "{both:?}");
        assert!(both[0].starts_with("`key` and `key_fn` both give the key"), "{both:?}");
        let unnamed = errors(
            quote!(key_fn = count_key),
            quote!(
                async fn count((a, b): (u8, u8)) -> u8 {
                    a + b
                }
            ),
        );
        assert_eq!(
            unnamed,
            ["`key_fn` is called with every parameter, and this one has no name: bind it to a name, or give a `key`"]
        );
        assert_eq!(
            errors(quote!(key_fn = "count_key"), quote!(async fn count() -> u8 { 1 })),
            ["`key_fn` takes the path of a function, such as `key_fn = user_key`, which is called with references to the arguments"]
        );
    }

    #[test]
    fn a_suggested_key_is_a_valid_key() {
        let func = quote!(
            async fn count(&self, a: u8, r#type: u8) -> u8 {
                a
            }
        );
        assert!(errors(quote!(key = "count:{self.id}:{a}:{r#type}"), func.clone()).is_empty());
        assert!(errors(quote!(key = "count:{a}:{r#type}"), func).is_empty());
    }

    #[test]
    fn tags_are_checked_as_keys_are_and_for_what_only_tags_refuse() {
        let func = quote!(
            async fn order(id: u64, user_id: u64) -> u64 {
                id
            }
        );
        assert!(errors(quote!(key = "order:{id}", tags = ["user:{user_id}", "orders"]), func.clone()).is_empty());
        assert!(errors(quote!(tags = ["user:{user_id}", "all:{id:?}"]), func.clone()).is_empty(), "the default key");
        assert_eq!(
            errors(quote!(tags = ["user:{user}"]), func.clone()),
            ["`{user}` names no parameter of `order`, whose parameters are `id` and `user_id`"]
        );
        assert_eq!(
            errors(quote!(tags = ["orders", "user:{user_id}", "orders"]), func.clone()),
            ["the tag \"orders\" is given twice: remove this one"]
        );
        assert_eq!(
            errors(quote!(tags = ["a\nb"]), func.clone()),
            ["this tag holds the control character `\\n`: an entry's tags are kept one per line, and a tag is text \
              without control characters; remove it"]
        );
        let glued = errors(quote!(tags = ["{id}{user_id}"]), func.clone());
        assert!(glued[0].ends_with("could give the same tag (`1`,`23` and `12`,`3` both give `123`)"), "{glued:?}");
        assert!(errors(quote!(tags = ["{self.tenant}"]), func)[0].contains("names `self`, but `order` takes no `self`"));
    }
}
