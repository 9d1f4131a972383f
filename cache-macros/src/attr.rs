//! Parses the options into a typed config that keeps where each one was written.

use proc_macro2::{TokenStream, TokenTree};
use quote::ToTokens;
use syn::ext::IdentExt;
use syn::parse::{ParseStream, Parser};
use syn::{Expr, ExprLit, ExprUnary, Ident, Lit, LitBool, LitFloat, LitInt, LitStr, Token, UnOp};

use crate::ctxt::Ctxt;
use crate::key::{Kind, Template};

/// An option as given: its name, the whole `name = value`, and the value that was read.
pub struct Given<T> {
    /// The option's name, where "expected due to this" points for a `ttl` expression.
    pub name: Ident,
    /// `name = value` as written, where errors about the option as a whole point.
    pub tokens: TokenStream,
    pub value: T,
}

/// An option that may be given once (serde's `Attr`): a second one is an error at its name,
/// whether or not either value is valid.
struct Once<T> {
    name: &'static str,
    seen: bool,
    value: Option<Given<T>>,
}

impl<T> Once<T> {
    fn new(name: &'static str) -> Self {
        Once { name, seen: false, value: None }
    }

    /// Records `option`'s value, `None` when it was invalid (its error is already recorded).
    fn set(&mut self, cx: &mut Ctxt, option: &RawOption, value: Option<T>) {
        if self.seen {
            cx.error_at(&option.name, format!("duplicate option `{}`: give it once", self.name));
            return;
        }
        self.seen = true;
        self.value = value.map(|value| Given { name: option.name.clone(), tokens: option.to_token_stream(), value });
    }

    fn get(self) -> Option<Given<T>> {
        self.value
    }
}

/// How long entries live.
pub enum Ttl {
    /// Known at compile time, in milliseconds.
    Fixed(u64),
    /// A `Duration` expression, evaluated at each call.
    Expr(Box<Expr>),
}

/// The options of `#[cached(...)]`, each with where it was written.
pub struct Options {
    pub ttl: Option<Given<Ttl>>,
    pub key: Option<Given<Template>>,
    /// `key_fn = path`: a function of the arguments gives the key's last part.
    pub key_fn: Option<Given<syn::Path>>,
    pub provider: Option<Given<LitStr>>,
    pub cache_none: Option<Given<bool>>,
    /// `companions = false`: no `<fn>_invalidate` beside the function, as in a trait impl.
    pub companions: Option<Given<bool>>,
    /// `cache_if = path`: a predicate `fn(&V) -> bool` on the value that would be stored.
    pub cache_if: Option<Given<syn::ExprPath>>,
    /// `max_entries = N`, at least 1.
    pub max_entries: Option<Given<u64>>,
    /// `local` (or `local = true`): the values never leave the process and need only `Clone`.
    pub local: Option<Given<bool>>,
    /// `stale = ...`: an entry older than `ttl` is kept this much longer, and served when the
    /// body fails.
    pub stale: Option<Given<Ttl>>,
    /// `soft_timeout = ...`: with a stale value at hand, how long a caller waits for the body.
    pub soft_timeout: Option<Given<Ttl>>,
    /// `hard_timeout = ...`: with a stale value at hand, when the body is dropped.
    pub hard_timeout: Option<Given<Ttl>>,
    /// `refresh_ahead = ...`: a hit on an entry older than this starts a background refresh.
    pub refresh_ahead: Option<Given<Ttl>>,
    /// `tags = ["user:{user_id}", "orders"]`: the templates of the tags each entry carries, in
    /// order (the elements that were not string literals left out, their errors recorded).
    pub tags: Option<Given<Vec<Template>>>,
}

const KNOWN: [&str; 14] = [
    "ttl",
    "key",
    "key_fn",
    "provider",
    "cache_none",
    "cache_if",
    "max_entries",
    "companions",
    "local",
    "stale",
    "soft_timeout",
    "hard_timeout",
    "refresh_ahead",
    "tags",
];
const KNOWN_LIST: &str =
    "`ttl`, `key`, `key_fn`, `provider`, `cache_none`, `cache_if`, `max_entries`, `companions`, `local`, \
                          `stale`, `soft_timeout`, `hard_timeout`, `refresh_ahead` and `tags`";

/// The options that may be written alone, as a flag: `local` is `local = true`.
const BARE_FLAGS: [&str; 1] = ["local"];

/// One `name = value` as written, before its value is checked.
struct RawOption {
    name: Ident,
    eq_token: Token![=],
    value: Expr,
}

impl ToTokens for RawOption {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        self.name.to_tokens(tokens);
        self.eq_token.to_tokens(tokens);
        self.value.to_tokens(tokens);
    }
}

impl Options {
    /// Parses the attribute's arguments; errors go to `cx`, and what could be read is returned.
    pub fn parse(cx: &mut Ctxt, args: TokenStream) -> Options {
        let mut ttl = Once::new("ttl");
        let mut key = Once::new("key");
        let mut key_fn = Once::new("key_fn");
        let mut provider = Once::new("provider");
        let mut cache_none = Once::new("cache_none");
        let mut companions = Once::new("companions");
        let mut cache_if = Once::new("cache_if");
        let mut max_entries = Once::new("max_entries");
        let mut local = Once::new("local");
        let mut stale = Once::new("stale");
        let mut soft_timeout = Once::new("soft_timeout");
        let mut hard_timeout = Once::new("hard_timeout");
        let mut refresh_ahead = Once::new("refresh_ahead");
        let mut tags = Once::new("tags");
        for option in parse_list(args) {
            let option = match option {
                Ok(option) => option,
                Err(error) => {
                    cx.push(error);
                    continue;
                }
            };
            let value = &option.value;
            match option.name.to_string().as_str() {
                "ttl" => {
                    let parsed = parse_ttl(cx, value, "ttl");
                    ttl.set(cx, &option, parsed);
                }
                name @ ("stale" | "soft_timeout" | "hard_timeout" | "refresh_ahead") => {
                    let parsed = parse_ttl(cx, value, name);
                    let slot = match name {
                        "stale" => &mut stale,
                        "soft_timeout" => &mut soft_timeout,
                        "hard_timeout" => &mut hard_timeout,
                        _ => &mut refresh_ahead,
                    };
                    slot.set(cx, &option, parsed);
                }
                "key" => {
                    let parsed = string(cx, value, "key", "a template such as \"user:{id}\"");
                    key.set(cx, &option, parsed);
                }
                "key_fn" => {
                    let parsed = match value {
                        Expr::Path(path) if path.qself.is_none() && path.attrs.is_empty() => Some(path.path.clone()),
                        other => {
                            cx.error_at(
                                other,
                                "`key_fn` takes the path of a function, such as `key_fn = user_key`, which is called \
                                 with references to the arguments",
                            );
                            None
                        }
                    };
                    key_fn.set(cx, &option, parsed);
                }
                "provider" => {
                    let parsed = parse_provider(cx, value);
                    provider.set(cx, &option, parsed);
                }
                "cache_none" => {
                    let parsed = flag(cx, value, "cache_none");
                    cache_none.set(cx, &option, parsed);
                }
                "companions" => {
                    let parsed = flag(cx, value, "companions");
                    companions.set(cx, &option, parsed);
                }
                "cache_if" => {
                    let parsed = match value {
                        Expr::Path(path) => Some(path.clone()),
                        other => {
                            cx.error_at(
                                other,
                                "`cache_if` takes the path of a function `fn(&V) -> bool`, such as `cache_if = is_complete`",
                            );
                            None
                        }
                    };
                    cache_if.set(cx, &option, parsed);
                }
                "max_entries" => {
                    let parsed = parse_max_entries(cx, value);
                    max_entries.set(cx, &option, parsed);
                }
                "local" => {
                    let parsed = flag(cx, value, "local");
                    local.set(cx, &option, parsed);
                }
                "tags" => {
                    let parsed = parse_tags(cx, value);
                    tags.set(cx, &option, parsed);
                }
                unknown => {
                    let hint = suggest(unknown).map(|known| format!("did you mean `{known}`? ")).unwrap_or_default();
                    cx.error_at(
                        &option.name,
                        format!("unknown option `{unknown}`: {hint}`#[cached]` takes {KNOWN_LIST}"),
                    );
                }
            }
        }
        // The template is read once the options are: its errors come after theirs.
        let key = key.get().map(|Given { name, tokens, value }| {
            let value = Template::parse(cx, value, Kind::Key);
            Given { name, tokens, value }
        });
        let tags = tags.get().map(|Given { name, tokens, value }| {
            let value = value.into_iter().map(|literal| Template::parse(cx, literal, Kind::Tag)).collect();
            Given { name, tokens, value }
        });
        Options {
            ttl: ttl.get(),
            key,
            key_fn: key_fn.get(),
            provider: provider.get(),
            cache_none: cache_none.get(),
            cache_if: cache_if.get(),
            max_entries: max_entries.get(),
            companions: companions.get(),
            local: local.get(),
            stale: stale.get(),
            soft_timeout: soft_timeout.get(),
            hard_timeout: hard_timeout.get(),
            refresh_ahead: refresh_ahead.get(),
            tags,
        }
    }
}

fn flag(cx: &mut Ctxt, value: &Expr, option: &str) -> Option<bool> {
    match value {
        Expr::Lit(ExprLit { lit: Lit::Bool(LitBool { value: flag, .. }), .. }) => Some(*flag),
        other => {
            cx.error_at(other, format!("`{option}` takes `true` or `false`"));
            None
        }
    }
}

/// Reads `name = value, ...`. An option that does not parse is an error in its place, and the
/// input is skipped up to the next comma, so that the others are still read and checked.
fn parse_list(args: TokenStream) -> Vec<syn::Result<RawOption>> {
    let parser = |input: ParseStream| -> syn::Result<Vec<syn::Result<RawOption>>> {
        let mut options = Vec::new();
        while !input.is_empty() {
            let option = parse_option(input);
            if option.is_err() {
                while !input.is_empty() && !input.peek(Token![,]) {
                    input.parse::<TokenTree>()?;
                }
            }
            options.push(option);
            if !input.is_empty() {
                input.parse::<Token![,]>()?;
            }
        }
        Ok(options)
    };
    // The parser itself never fails: every error was recorded and skipped.
    parser.parse2(args).unwrap_or_default()
}

fn parse_option(input: ParseStream) -> syn::Result<RawOption> {
    let name = input.call(Ident::parse_any).map_err(|error| {
        syn::Error::new(
            error.span(),
            format!("expected an option: `#[cached]` takes {KNOWN_LIST}, written `name = value`"),
        )
    })?;
    let bare = !input.peek(Token![=]);
    if bare && BARE_FLAGS.contains(&name.to_string().as_str()) && (input.is_empty() || input.peek(Token![,])) {
        // `local` alone reads as `local = true`, spanned at the name.
        let value = Expr::Lit(ExprLit { attrs: Vec::new(), lit: Lit::Bool(LitBool::new(true, name.span())) });
        return Ok(RawOption { eq_token: Token![=](name.span()), name, value });
    }
    if bare {
        let example = match name.to_string().as_str() {
            "ttl" => "`ttl = 300`",
            "key" => "`key = \"user:{id}\"`",
            "key_fn" => "`key_fn = user_key`",
            "provider" => "`provider = \"sessions\"`",
            "cache_none" => "`cache_none = true`",
            "companions" => "`companions = false`",
            "cache_if" => "`cache_if = is_complete`",
            "max_entries" => "`max_entries = 1000`",
            "local" => "`local` or `local = true`",
            "stale" => "`stale = \"1h\"`",
            "soft_timeout" => "`soft_timeout = \"200ms\"`",
            "hard_timeout" => "`hard_timeout = \"3s\"`",
            "refresh_ahead" => "`refresh_ahead = \"4m\"`",
            "tags" => "`tags = [\"user:{user_id}\", \"orders\"]`",
            _ => "`name = value`",
        };
        return Err(syn::Error::new(name.span(), format!("`{name}` needs a value: write {example}")));
    }
    let eq_token = input.parse()?;
    let value: Expr = input.parse()?;
    if !input.is_empty() && !input.peek(Token![,]) {
        return Err(input.error("expected `,` between options"));
    }
    Ok(RawOption { name, eq_token, value })
}

/// A known option close to `unknown`: `ttl_secs` and `tll` give `ttl`.
fn suggest(unknown: &str) -> Option<&'static str> {
    let unknown = unknown.to_ascii_lowercase();
    KNOWN.into_iter().find(|known| {
        unknown.starts_with(known) || known.starts_with(unknown.as_str()) || edit_distance(&unknown, known) <= 2
    })
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (diagonal + usize::from(ca != *cb)).min(row[j] + 1).min(above + 1);
            diagonal = above;
        }
    }
    row[b.len()]
}

fn parse_provider(cx: &mut Ctxt, value: &Expr) -> Option<LitStr> {
    let name = string(cx, value, "provider", "the name it was registered under, such as \"sessions\"")?;
    if name.value().is_empty() {
        cx.error_at(&name, "`provider` names a registered provider; to use the default one, remove `provider`");
        return None;
    }
    Some(name)
}

/// `max_entries = 1000`: a whole number of entries, at least 1.
fn parse_max_entries(cx: &mut Ctxt, value: &Expr) -> Option<u64> {
    let Expr::Lit(ExprLit { lit: Lit::Int(int), .. }) = value else {
        cx.error_at(value, "`max_entries` takes a whole number of entries, such as `max_entries = 1000`");
        return None;
    };
    match int.base10_parse::<u64>() {
        Ok(0) => cx.error_at(int, "`max_entries` must be at least 1; to not cache, remove `#[cached]`"),
        Ok(n) => return Some(n),
        Err(_) => cx.error_at(int, "`max_entries` takes a whole number of entries between 1 and u64::MAX"),
    }
    None
}

/// `tags = ["user:{user_id}", "orders"]`: the string literals of the array, each a template read
/// later. An element that is not a string literal is an error at it, and the others are kept.
fn parse_tags(cx: &mut Ctxt, value: &Expr) -> Option<Vec<LitStr>> {
    let Expr::Array(array) = value else {
        let hint = match value {
            Expr::Lit(ExprLit { lit: Lit::Str(tag), .. }) => format!(": for one tag, write `tags = [{}]`", tag.token()),
            _ => ", such as `tags = [\"user:{user_id}\", \"orders\"]`".to_string(),
        };
        cx.error_at(value, format!("`tags` takes a list of string literals in brackets{hint}"));
        return None;
    };
    if array.elems.is_empty() {
        cx.error_at(
            value,
            "`tags = []` gives no tag: list the tags each entry carries, such as `tags = [\"user:{user_id}\"]`, \
             or remove `tags`",
        );
        return None;
    }
    let literals = array
        .elems
        .iter()
        .filter_map(|element| match element {
            Expr::Lit(ExprLit { lit: Lit::Str(tag), .. }) => Some(tag.clone()),
            other => {
                cx.error_at(
                    other,
                    "each tag is a string literal, a template such as \"user:{user_id}\" or \"orders\": the macro reads \
                     it at compile time, so a constant or an expression cannot stand here",
                );
                None
            }
        })
        .collect();
    Some(literals)
}

fn string(cx: &mut Ctxt, value: &Expr, option: &str, example: &str) -> Option<LitStr> {
    match value {
        Expr::Lit(ExprLit { lit: Lit::Str(s), .. }) => Some(s.clone()),
        other => {
            cx.error_at(other, format!("`{option}` takes a string literal, {example}"));
            None
        }
    }
}

fn forms(option: &str) -> String {
    format!(
        "`{option}` takes whole seconds (`{option} = 300`), a string with a unit (`\"250ms\"`, `\"30s\"`, `\"5m\"`, `\"24h\"`, `\"7d\"`), or a `Duration` expression"
    )
}

/// A duration option (`ttl`, `stale`, the timeouts, `refresh_ahead`), named `option` in errors.
fn parse_ttl(cx: &mut Ctxt, value: &Expr, option: &str) -> Option<Ttl> {
    match value {
        Expr::Lit(ExprLit { lit: Lit::Int(int), .. }) => return ttl_int(cx, int, option),
        Expr::Lit(ExprLit { lit: Lit::Float(float), .. }) => ttl_float(cx, float, option),
        Expr::Lit(ExprLit { lit: Lit::Str(text), .. }) => match parse_duration(&text.value()) {
            Ok(ms) => return Some(Ttl::Fixed(ms)),
            Err(reason) => cx.error_at(text, format!("bad {option} {:?}: {reason}", text.value())),
        },
        Expr::Lit(other) => cx.error_at(other, forms(option)),
        Expr::Unary(ExprUnary { op: UnOp::Neg(_), expr, .. }) if matches!(**expr, Expr::Lit(_)) => cx.error_at(
            value,
            format!("`{option}` cannot be negative: give a number of seconds, such as `{option} = 300`"),
        ),
        _ => return Some(Ttl::Expr(Box::new(value.clone()))),
    }
    None
}

/// `ttl = 300` (also `300u64`): seconds. A unit written as a suffix (`300ms`) is an error, not seconds.
fn ttl_int(cx: &mut Ctxt, int: &LitInt, option: &str) -> Option<Ttl> {
    let suffix = int.suffix();
    let digits = int.base10_digits();
    let integer_types = ["", "u8", "u16", "u32", "u64", "u128", "usize", "i8", "i16", "i32", "i64", "i128", "isize"];
    if !integer_types.contains(&suffix) {
        let message = if matches!(suffix, "ms" | "s" | "m" | "h" | "d") {
            format!("write the unit inside a string: `{option} = \"{digits}{suffix}\"`")
        } else {
            format!("unknown suffix `{suffix}`: {}", forms(option))
        };
        cx.error_at(int, message);
        return None;
    }
    if digits.starts_with('-') {
        cx.error_at(int, format!("`{option}` cannot be negative: give a number of seconds, such as `{option} = 300`"));
        return None;
    }
    match digits.parse::<u64>().map(|secs| secs.checked_mul(1000)) {
        Ok(Some(0)) if option == "ttl" => {
            cx.error_at(int, "`ttl` must be at least 1 second; to not cache, remove `#[cached]`")
        }
        Ok(Some(0)) => {
            cx.error_at(int, format!("`{option}` must be at least 1 second; to not use it, remove `{option}`"))
        }
        Ok(Some(ms)) => return Some(Ttl::Fixed(ms)),
        Ok(None) | Err(_) => cx.error_at(int, format!("`{option}` is too large: the longest is u64::MAX milliseconds")),
    }
    None
}

/// `ttl = 1.5` is an error that says how to write it: `"1500ms"`.
fn ttl_float(cx: &mut Ctxt, float: &LitFloat, option: &str) {
    let ms = float.base10_parse::<f64>().ok().map(|secs| secs * 1000.0);
    let message = match ms {
        Some(ms) if ms >= 1.0 && ms.fract() == 0.0 && ms < 1e15 => {
            format!(
                "`{option}` takes whole seconds; for {} seconds write `{option} = \"{ms}ms\"`",
                float.base10_digits()
            )
        }
        _ => forms(option),
    };
    cx.error_at(float, message);
}

/// `"250ms"`, `"30s"`, `"5m"`, `"24h"`, `"7d"` in milliseconds.
fn parse_duration(text: &str) -> Result<u64, String> {
    let digits = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(digits);
    if number.is_empty() {
        return Err("write a whole number and a unit, such as \"30s\" or \"5m\"".into());
    }
    let number: u64 = number.parse().map_err(|_| "the number is too large".to_string())?;
    let scale: u64 = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        "" => return Err(format!("add a unit: \"{number}s\" for seconds (or write `ttl = {number}`)")),
        other => return Err(format!("unknown unit `{other}`: use ms, s, m, h or d, such as \"{number}s\"")),
    };
    match number.checked_mul(scale) {
        Some(0) => Err("a ttl must be longer than zero; to not cache, remove `#[cached]`".into()),
        Some(ms) => Ok(ms),
        None => Err("the duration is too large".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::{parse_duration, suggest, Options, Ttl};
    use crate::ctxt::Ctxt;
    use quote::quote;

    /// The runtime reads durations from settings with the same rules as `ttl` strings here.
    #[test]
    fn ttl_strings_read_as_the_runtime_reads_durations() {
        let inputs = [
            "250ms",
            "30s",
            "5m",
            "24h",
            "7d",
            "1ms",
            "30",
            "5 m",
            " 5m",
            "1.5h",
            "h",
            "5M",
            "5mins",
            "99999999999999999999s",
            "999999999999999d",
            "",
        ];
        for text in inputs {
            let ours = parse_duration(text);
            let runtime = cache_runtime::duration::parse(text).map(|d| d.as_millis() as u64);
            assert_eq!(ours.is_ok(), runtime.is_ok(), "{text:?}: {ours:?} against {runtime:?}");
            if let (Ok(ours), Ok(runtime)) = (ours, runtime) {
                assert_eq!(ours, runtime, "{text:?}");
            }
        }
    }

    #[test]
    fn durations_with_units() {
        assert_eq!(parse_duration("250ms"), Ok(250));
        assert_eq!(parse_duration("30s"), Ok(30_000));
        assert_eq!(parse_duration("5m"), Ok(300_000));
        assert_eq!(parse_duration("24h"), Ok(86_400_000));
        assert_eq!(parse_duration("7d"), Ok(604_800_000));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("30").is_err());
        assert!(parse_duration("5 m").is_err());
        assert!(parse_duration("1.5h").is_err());
        assert!(parse_duration("h").is_err());
        assert!(parse_duration("99999999999999999999s").is_err());
        assert!(parse_duration("999999999999999d").is_err());
    }

    fn errors(args: proc_macro2::TokenStream) -> Vec<String> {
        let mut cx = Ctxt::default();
        Options::parse(&mut cx, args);
        cx.check().err().map(|e| e.into_iter().map(|e| e.to_string()).collect()).unwrap_or_default()
    }

    fn fixed_ttl(args: proc_macro2::TokenStream) -> Option<u64> {
        let mut cx = Ctxt::default();
        match Options::parse(&mut cx, args).ttl.map(|ttl| ttl.value) {
            Some(Ttl::Fixed(ms)) => Some(ms),
            _ => None,
        }
    }

    #[test]
    fn integer_ttls_are_seconds_and_units_go_in_strings() {
        assert_eq!(fixed_ttl(quote!(ttl = 300)), Some(300_000));
        assert_eq!(fixed_ttl(quote!(ttl = 300u64)), Some(300_000));
        assert_eq!(fixed_ttl(quote!(ttl = "250ms")), Some(250));
        assert_eq!(fixed_ttl(quote!(ttl = 300ms)), None);
        assert_eq!(errors(quote!(ttl = 300ms)), ["write the unit inside a string: `ttl = \"300ms\"`"]);
        assert_eq!(errors(quote!(ttl = 1.5)), ["`ttl` takes whole seconds; for 1.5 seconds write `ttl = \"1500ms\"`"]);
        assert!(errors(quote!(ttl = -5))[0].contains("cannot be negative"));
        assert!(errors(quote!(ttl = -5, key = "a"))[0].contains("cannot be negative"));
        let ttl = Options::parse(&mut Ctxt::default(), quote!(ttl = -x)).ttl.map(|ttl| ttl.value);
        assert!(matches!(ttl, Some(Ttl::Expr(_))));
    }

    #[test]
    fn every_error_is_reported_and_the_other_options_still_read() {
        let errors = errors(quote!(ttl, key = 5, ttl = 0, provider = "", tll = 3, cache_none = 1 2, key = "a"));
        assert_eq!(
            errors,
            [
                "`ttl` needs a value: write `ttl = 300`",
                "`key` takes a string literal, a template such as \"user:{id}\"",
                "`ttl` must be at least 1 second; to not cache, remove `#[cached]`",
                "`provider` names a registered provider; to use the default one, remove `provider`",
                "unknown option `tll`: did you mean `ttl`? `#[cached]` takes `ttl`, `key`, `key_fn`, `provider`, `cache_none`, `cache_if`, `max_entries`, `companions`, `local`, \
`stale`, `soft_timeout`, `hard_timeout`, `refresh_ahead` and `tags`",
                "expected `,` between options",
                "duplicate option `key`: give it once",
            ]
        );
    }

    #[test]
    fn duplicates_are_reported_even_when_the_first_value_is_bad() {
        assert_eq!(errors(quote!(ttl = "0s", ttl = 30))[1], "duplicate option `ttl`: give it once");
    }

    #[test]
    fn suggestions() {
        assert_eq!(suggest("ttl_secs"), Some("ttl"));
        assert_eq!(suggest("keys"), Some("key"));
        assert_eq!(suggest("cache_nones"), Some("cache_none"));
        assert_eq!(suggest("provder"), Some("provider"));
        assert_eq!(suggest("size"), None);
        assert_eq!(suggest("max_entrys"), Some("max_entries"));
    }

    #[test]
    fn cache_if_takes_a_path_and_max_entries_a_positive_count() {
        assert!(errors(quote!(cache_if = is_complete, max_entries = 10)).is_empty());
        assert!(errors(quote!(cache_if = crate::rules::is_complete)).is_empty());
        assert_eq!(
            errors(quote!(cache_if = |v| true)),
            ["`cache_if` takes the path of a function `fn(&V) -> bool`, such as `cache_if = is_complete`"]
        );
        assert_eq!(
            errors(quote!(max_entries = 0)),
            ["`max_entries` must be at least 1; to not cache, remove `#[cached]`"]
        );
        assert!(errors(quote!(max_entries = "10"))[0].starts_with("`max_entries` takes a whole number"));
        assert!(errors(quote!(max_entries = -1))[0].starts_with("`max_entries` takes a whole number"));
        assert_eq!(errors(quote!(max_entries = 1, max_entries = 2)), ["duplicate option `max_entries`: give it once"]);
    }

    #[test]
    fn local_is_a_bare_flag_or_a_bool() {
        let local = |args| Options::parse(&mut Ctxt::default(), args).local.map(|given| given.value);
        assert_eq!(local(quote!(local)), Some(true));
        assert_eq!(local(quote!(ttl = 5, local, key = "a")), Some(true));
        assert_eq!(local(quote!(local = false)), Some(false));
        assert_eq!(local(quote!(ttl = 5)), None);
        assert!(errors(quote!(local, ttl = "1m")).is_empty());
        assert_eq!(errors(quote!(local = 1)), ["`local` takes `true` or `false`"]);
        assert_eq!(errors(quote!(local, local = true)), ["duplicate option `local`: give it once"]);
        assert_eq!(errors(quote!(local x)), ["`local` needs a value: write `local` or `local = true`"]);
        // Only `local` is a flag: the others still need their value.
        assert_eq!(errors(quote!(cache_none)), ["`cache_none` needs a value: write `cache_none = true`"]);
    }

    #[test]
    fn tags_take_an_array_of_string_literals() {
        let tags = |args| {
            let options = Options::parse(&mut Ctxt::default(), args);
            options.tags.map(|given| given.value.iter().map(|tag| tag.literal.value()).collect::<Vec<_>>())
        };
        assert_eq!(
            tags(quote!(tags = ["user:{user_id}", "orders"])),
            Some(vec!["user:{user_id}".into(), "orders".into()])
        );
        assert_eq!(tags(quote!(ttl = 5)), None);
        assert!(errors(quote!(tags = ["user:{user_id}", "orders"], key = "a:{id}")).is_empty());
        assert_eq!(
            errors(quote!(tags = "orders")),
            ["`tags` takes a list of string literals in brackets: for one tag, write `tags = [\"orders\"]`"]
        );
        assert!(errors(quote!(tags = orders()))[0]
            .starts_with("`tags` takes a list of string literals in brackets, such as"));
        // The element that is not a string is reported, and the others are still read.
        assert_eq!(tags(quote!(tags = [ORDERS, "user:{id}"])), Some(vec!["user:{id}".into()]));
        assert!(errors(quote!(tags = [ORDERS, "user:{id}"]))[0].starts_with("each tag is a string literal"));
        assert!(errors(quote!(tags = []))[0].starts_with("`tags = []` gives no tag"));
        assert_eq!(errors(quote!(tags = ["a"], tags = ["b"])), ["duplicate option `tags`: give it once"]);
        assert_eq!(errors(quote!(tags)), ["`tags` needs a value: write `tags = [\"user:{user_id}\", \"orders\"]`"]);
    }
}
