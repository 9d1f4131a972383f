//! Parses the attribute's options into a typed config that keeps each value's span.

use proc_macro2::{Span, TokenStream};
use quote::ToTokens;
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::{Expr, ExprLit, ExprUnary, Lit, LitBool, LitStr, MetaNameValue, Token, UnOp};

/// Collects errors so that all of them are reported at once (serde's `Ctxt`).
#[derive(Default)]
pub struct Ctxt {
    errors: Vec<syn::Error>,
}

impl Ctxt {
    /// Records an error spanned at `tokens`.
    pub fn error_at(&mut self, tokens: impl ToTokens, message: impl std::fmt::Display) {
        self.errors.push(syn::Error::new_spanned(tokens, message));
    }

    /// Records an error at `span`.
    pub fn error_span(&mut self, span: Span, message: impl std::fmt::Display) {
        self.errors.push(syn::Error::new(span, message));
    }

    /// Records an error already built.
    pub fn push(&mut self, error: syn::Error) {
        self.errors.push(error);
    }

    /// All errors as one, if there were any.
    pub fn check(self) -> Result<(), syn::Error> {
        let mut errors = self.errors.into_iter();
        let Some(mut first) = errors.next() else { return Ok(()) };
        for error in errors {
            first.combine(error);
        }
        Err(first)
    }
}

/// An option that may be given once (serde's `Attr`): a second one is an error at its name.
struct Once<T> {
    name: &'static str,
    value: Option<T>,
}

impl<T> Once<T> {
    fn new(name: &'static str) -> Self {
        Once { name, value: None }
    }

    fn set(&mut self, cx: &mut Ctxt, at: &syn::Path, value: T) {
        if self.value.is_some() {
            cx.error_at(at, format!("duplicate option `{}`", self.name));
        } else {
            self.value = Some(value);
        }
    }
}

/// How long entries live.
pub enum Ttl {
    /// Known at compile time, in milliseconds.
    Fixed(u64),
    /// A `Duration` expression, evaluated at each call.
    Expr(Box<Expr>),
}

/// The options of `#[cached(...)]`.
pub struct Options {
    pub ttl: Option<Ttl>,
    pub key: Option<LitStr>,
    pub provider: Option<LitStr>,
    pub cache_none: Option<LitBool>,
}

const KNOWN: &str = "`ttl`, `key`, `provider` and `cache_none`";

impl Options {
    /// Parses the attribute's arguments; errors go to `cx`, and what could be read is returned.
    pub fn parse(cx: &mut Ctxt, args: TokenStream) -> Options {
        let mut ttl = Once::new("ttl");
        let mut key = Once::new("key");
        let mut provider = Once::new("provider");
        let mut cache_none = Once::new("cache_none");
        let pairs = match Punctuated::<MetaNameValue, Token![,]>::parse_terminated.parse2(args) {
            Ok(pairs) => pairs,
            Err(error) => {
                cx.push(syn::Error::new(
                    error.span(),
                    format!("{error}: options are written `name = value`, one of {KNOWN}"),
                ));
                Punctuated::new()
            }
        };
        for pair in pairs {
            let name = pair.path.get_ident().map(ToString::to_string).unwrap_or_default();
            match name.as_str() {
                "ttl" => {
                    if let Some(value) = parse_ttl(cx, pair.value) {
                        ttl.set(cx, &pair.path, value);
                    }
                }
                "key" => {
                    if let Some(value) = string(cx, &pair.value, "key", "a template such as \"user:{id}\"") {
                        key.set(cx, &pair.path, value);
                    }
                }
                "provider" => {
                    if let Some(value) = string(cx, &pair.value, "provider", "a registered name such as \"sessions\"") {
                        provider.set(cx, &pair.path, value);
                    }
                }
                "cache_none" => match &pair.value {
                    Expr::Lit(ExprLit { lit: Lit::Bool(value), .. }) => cache_none.set(cx, &pair.path, value.clone()),
                    other => cx.error_at(other, "`cache_none` takes `true` or `false`"),
                },
                _ => cx.error_at(&pair.path, format!("unknown option: `#[cached]` takes {KNOWN}")),
            }
        }
        Options { ttl: ttl.value, key: key.value, provider: provider.value, cache_none: cache_none.value }
    }
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

const TTL_FORMS: &str = "integer seconds (`ttl = 300`), a string with a unit (`\"250ms\"`, `\"30s\"`, `\"5m\"`, `\"24h\"`, `\"7d\"`), or a `Duration` expression";

fn parse_ttl(cx: &mut Ctxt, value: Expr) -> Option<Ttl> {
    match &value {
        Expr::Lit(ExprLit { lit: Lit::Int(int), .. }) => match int.base10_parse::<u64>() {
            Ok(0) => cx.error_at(int, "`ttl` must be at least 1 second; to not cache, remove `#[cached]`"),
            Ok(secs) => match secs.checked_mul(1000) {
                Some(ms) => return Some(Ttl::Fixed(ms)),
                None => cx.error_at(int, "`ttl` is too large"),
            },
            Err(_) => cx.error_at(int, format!("`ttl` takes {TTL_FORMS}")),
        },
        Expr::Lit(ExprLit { lit: Lit::Str(text), .. }) => match parse_duration(&text.value()) {
            Ok(ms) => return Some(Ttl::Fixed(ms)),
            Err(reason) => cx.error_at(text, format!("bad ttl {:?}: {reason}", text.value())),
        },
        Expr::Lit(other) => cx.error_at(other, format!("`ttl` takes {TTL_FORMS}")),
        Expr::Unary(ExprUnary { op: UnOp::Neg(_), expr, .. }) if matches!(**expr, Expr::Lit(_)) => {
            cx.error_at(&value, "`ttl` cannot be negative")
        }
        _ => return Some(Ttl::Expr(Box::new(value))),
    }
    None
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
        other => return Err(format!("unknown unit `{other}`: use ms, s, m, h or d")),
    };
    match number.checked_mul(scale) {
        Some(0) => Err("a ttl must be longer than zero".into()),
        Some(ms) => Ok(ms),
        None => Err("the duration is too large".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_duration;

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
    }
}
