//! The `#[cached]` attribute of `cache-runtime`. Depend on `cache-runtime` and write
//! `use cache_runtime::cached;`: the generated code calls `::cache_runtime::__private`.

mod attr;
mod expand;
mod key;
mod valid;

use proc_macro::TokenStream;
use quote::ToTokens;

/// Caches an async function; see the `cache_runtime` crate for the options and the rules.
#[proc_macro_attribute]
pub fn cached(args: TokenStream, item: TokenStream) -> TokenStream {
    let func = match syn::parse::<syn::ItemFn>(item.clone()) {
        Ok(func) => func,
        Err(error) => {
            let message = format!("{error}; `#[cached]` goes on an `async fn` with a body");
            let mut out = syn::Error::new(error.span(), message).to_compile_error();
            out.extend(proc_macro2::TokenStream::from(item));
            return out.into();
        }
    };
    let mut cx = attr::Ctxt::default();
    let options = attr::Options::parse(&mut cx, args.into());
    let plan = valid::check(&mut cx, options, &func);
    match (cx.check(), plan) {
        (Ok(()), Some(plan)) => expand::expand(&plan, &func).into(),
        (result, _) => {
            // One clear error and the function as it was: no cascade of follow-up errors.
            let mut out = result.err().map(|e| e.to_compile_error()).unwrap_or_default();
            func.to_token_stream().to_tokens(&mut out);
            out.into()
        }
    }
}
