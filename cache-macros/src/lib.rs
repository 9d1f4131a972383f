//! The `#[cached]` attribute of `cache-runtime`. Depend on `cache-runtime` and write
//! `use cache_runtime::cached;`: the generated code calls `::cache_runtime::__private`.

mod attr;
mod expand;
mod key;
mod valid;

use proc_macro::TokenStream;

/// Caches an async function; see the `cache_runtime` crate for the options and the rules.
#[proc_macro_attribute]
pub fn cached(args: TokenStream, item: TokenStream) -> TokenStream {
    let func = match valid::function(item.into()) {
        Ok(func) => func,
        // The item as it was, with the error: nothing else to report about it.
        Err(fallback) => return fallback.into(),
    };
    let mut cx = attr::Ctxt::default();
    let options = attr::Options::parse(&mut cx, args.into());
    let plan = valid::check(&mut cx, options, &func);
    match cx.check() {
        Ok(()) => expand::expand(&plan, &func).into(),
        Err(errors) => expand::fallback(errors, &plan, &func).into(),
    }
}
