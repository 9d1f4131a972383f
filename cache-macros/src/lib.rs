//! The `#[cached]` attribute of `cache-runtime`. Depend on `cache-runtime` and write
//! `use cache_runtime::cached;`: the generated code calls `::cache_runtime::__private`.
//!
//! One module per phase: `ast` reads the function (its body left as tokens), `attr` the options,
//! `key` a key template; `valid` checks them together into the `ctxt`, `plan` works out what to
//! generate, and `expand` generates it.

mod ast;
mod attr;
mod ctxt;
mod expand;
mod key;
mod plan;
mod valid;

use proc_macro::TokenStream;

/// Caches an async function; see the `cache_runtime` crate for the options and the rules.
#[proc_macro_attribute]
pub fn cached(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::cached(args.into(), item.into()).into()
}
