//! The function under `#[cached]`, read into a typed view before anything is checked.
//!
//! The body stays raw tokens (tracing-attributes' `MaybeItemFn`): the attributes, the visibility
//! and the signature are parsed, the brace-delimited body is kept as it was written. So a body that
//! does not parse yet (the user is typing) still expands to the function and its helper, and rustc
//! reports the body's own error at the body instead of the macro reporting it at the attribute.

use proc_macro2::{Delimiter, Group, Span, TokenStream, TokenTree};
use quote::format_ident;
use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream};
use syn::{
    Attribute, FnArg, GenericArgument, Ident, Item, Pat, PathArguments, Receiver, ReturnType, Signature, Type,
    Visibility,
};

/// An `fn` item, its body unparsed.
pub struct Function {
    pub attrs: Vec<Attribute>,
    pub vis: Visibility,
    pub sig: Signature,
    /// The body as written, braces included.
    pub body: Group,
    /// `self`, `&self`, `&mut self`, `self: Arc<Self>`, ...
    pub receiver: Option<Receiver>,
    /// The parameters after the receiver, in signature order.
    pub params: Vec<Param>,
    /// The return type as written (`()` when there is none).
    pub output: Type,
    /// What the return type says about what is stored.
    pub shape: Shape,
    /// `#[async_trait]` on the impl block rewrote this method before `#[cached]` saw it: an
    /// `fn` that returns `Pin<Box<dyn Future<Output = T> + .. + 'async_trait>>`. Then `output`
    /// and `shape` are those of `T`, the return type the method was written with.
    pub async_trait: bool,
}

/// A parameter other than the receiver.
pub struct Param {
    /// Its name, when the pattern is a plain binding (`id: u64`, `mut id: u64`).
    pub name: Option<Ident>,
    pub pat: Pat,
    pub ty: Type,
}

/// The return type, as far as the macro can tell from the tokens.
pub enum Shape {
    /// A path ending in `Result` (`Result`, `io::Result`, `anyhow::Result`), with its first type
    /// argument.
    Result(Type),
    /// A path ending in `Option`, with its type argument.
    Option(Type),
    /// Anything else, aliases under other names included: cached whole.
    Other,
}

impl Function {
    /// Reads the item under `#[cached]`. Anything but an `fn` with a body is an error at its
    /// keyword (`struct`, `impl`, ...), returned with the item as it was, so that it is the only
    /// error.
    pub fn parse(item: TokenStream) -> Result<Function, TokenStream> {
        match syn::parse2::<Function>(item.clone()) {
            Ok(func) => Ok(func),
            Err(error) => {
                let mut out = not_a_function(&item, error).to_compile_error();
                out.extend(item);
                Err(out)
            }
        }
    }

    /// The function's name as rustc prints it in paths (`type` for `r#type`).
    pub fn name(&self) -> String {
        self.sig.ident.unraw().to_string()
    }

    /// The name of the generated invalidation helper.
    pub fn helper_name(&self) -> Ident {
        format_ident!("{}_invalidate", self.sig.ident)
    }

    /// The function as it was written, less an `#[async_trait]` on it (see [`is_async_trait`]).
    pub fn original(&self) -> TokenStream {
        let Function { attrs, vis, sig, body, .. } = self;
        let attrs = attrs.iter().filter(|attr| !is_async_trait(attr));
        quote::quote!(#(#attrs)* #vis #sig #body)
    }
}

/// `#[async_trait]` under any path (`#[async_trait::async_trait]`). On a method it is an error
/// of ours that says where it goes; the fallback leaves it out, so that it does not report an
/// error of its own about the same thing.
pub fn is_async_trait(attr: &Attribute) -> bool {
    attr.path().segments.last().is_some_and(|segment| segment.ident == "async_trait")
}

impl Parse for Function {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let attrs = input.call(Attribute::parse_outer)?;
        let vis: Visibility = input.parse()?;
        let sig: Signature = input.parse()?;
        let body = match input.parse::<TokenTree>() {
            Ok(TokenTree::Group(group)) if group.delimiter() == Delimiter::Brace => group,
            Ok(other) => return Err(syn::Error::new(other.span(), "expected the function's body")),
            Err(error) => return Err(error),
        };
        if !input.is_empty() {
            return Err(input.error("unexpected tokens after the function's body"));
        }

        let mut receiver = None;
        let mut params = Vec::new();
        for input in &sig.inputs {
            match input {
                FnArg::Receiver(found) => receiver = Some(found.clone()),
                FnArg::Typed(typed) => {
                    let name = match &*typed.pat {
                        Pat::Ident(pat) if pat.subpat.is_none() => Some(pat.ident.clone()),
                        _ => None,
                    };
                    params.push(Param { name, pat: (*typed.pat).clone(), ty: (*typed.ty).clone() });
                }
            }
        }
        let mut output: Type = match &sig.output {
            ReturnType::Default => syn::parse_quote!(()),
            ReturnType::Type(_, ty) => (**ty).clone(),
        };
        let async_trait = match async_trait_output(&sig, &output) {
            Some(written) => {
                output = written;
                true
            }
            None => false,
        };
        let shape = shape(&output);
        Ok(Function { attrs, vis, sig, body, receiver, params, output, shape, async_trait })
    }
}

/// The `T` of `Pin<Box<dyn Future<Output = T> + ..>>` in a signature that `#[async_trait]`
/// rewrote: not `async`, with its `'async_trait` lifetime among the generics.
fn async_trait_output(sig: &Signature, output: &Type) -> Option<Type> {
    if sig.asyncness.is_some() || !sig.generics.lifetimes().any(|lt| lt.lifetime.ident == "async_trait") {
        return None;
    }
    let boxed = only_argument(output, "Pin")?;
    let Type::TraitObject(object) = only_argument(boxed, "Box")? else { return None };
    object.bounds.iter().find_map(|bound| {
        let syn::TypeParamBound::Trait(bound) = bound else { return None };
        let future = bound.path.segments.last().filter(|segment| segment.ident == "Future")?;
        let PathArguments::AngleBracketed(args) = &future.arguments else { return None };
        args.args.iter().find_map(|arg| match arg {
            GenericArgument::AssocType(assoc) if assoc.ident == "Output" => Some(assoc.ty.clone()),
            _ => None,
        })
    })
}

/// `T` in `Wrapper<T>` (any path ending in `Wrapper`).
fn only_argument<'a>(ty: &'a Type, wrapper: &str) -> Option<&'a Type> {
    let Type::Path(path) = ty else { return None };
    let last = path.path.segments.last().filter(|segment| segment.ident == wrapper)?;
    let PathArguments::AngleBracketed(args) = &last.arguments else { return None };
    match args.args.first()? {
        GenericArgument::Type(ty) => Some(ty),
        _ => None,
    }
}

/// Reads the return type as written. Aliases under other names are not seen through.
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

/// Why an item that is not an `fn` with a body cannot be cached, at its keyword.
fn not_a_function(item: &TokenStream, error: syn::Error) -> syn::Error {
    let (span, message) = match syn::parse2::<Item>(item.clone()) {
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
                _ => (keyword_span(item), "this item"),
            };
            let message = if matches!(other, Item::Verbatim(_)) && has_fn_token(item) {
                "`#[cached]` goes on an `async fn` with a body".to_string()
            } else {
                format!("`#[cached]` goes on an `async fn`, not on {what}")
            };
            (span, message)
        }
        // Neither an item nor a function: the error of the function's parser says where.
        Err(_) => (error.span(), format!("{error}; `#[cached]` goes on an `async fn` with a body")),
    };
    syn::Error::new(span, message)
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

#[cfg(test)]
mod tests {
    use super::{Function, Shape};
    use quote::quote;

    #[test]
    fn the_body_is_kept_as_written_even_when_it_does_not_parse() {
        let func = Function::parse(quote! {
            /// Doc.
            pub async fn get(&self, id: u64, (a, b): (u8, u8)) -> Result<User, E> { let = ; }
        })
        .unwrap_or_else(|_| panic!("an fn with a body"));
        assert_eq!(func.name(), "get");
        assert!(func.receiver.is_some());
        let names: Vec<_> = func.params.iter().map(|p| p.name.as_ref().map(|n| n.to_string())).collect();
        assert_eq!(names, [Some("id".to_string()), None]);
        assert!(matches!(func.shape, Shape::Result(_)));
        assert_eq!(func.body.stream().to_string(), quote!(let = ;).to_string());
    }

    #[test]
    fn a_method_that_async_trait_rewrote_is_read_with_the_return_type_it_was_written_with() {
        let func = Function::parse(quote! {
            fn get<'life0, 'async_trait>(&'life0 self, id: u64)
                -> ::core::pin::Pin<Box<dyn ::core::future::Future<Output = Result<User, E>> + ::core::marker::Send + 'async_trait>>
            where 'life0: 'async_trait, Self: 'async_trait
            { Box::pin(async move { let __self = self; Ok(User) }) }
        })
        .unwrap_or_else(|_| panic!("an fn with a body"));
        assert!(func.async_trait);
        assert_eq!(quote::ToTokens::to_token_stream(&func.output).to_string(), quote!(Result<User, E>).to_string());
        assert!(matches!(func.shape, Shape::Result(_)));

        // The same return type written by hand, without async_trait's lifetime, is not taken for it.
        let by_hand = Function::parse(quote! {
            fn get(&self) -> Pin<Box<dyn Future<Output = u8> + Send + '_>> { Box::pin(async { 1 }) }
        })
        .unwrap_or_else(|_| panic!("an fn with a body"));
        assert!(!by_hand.async_trait);
    }

    #[test]
    fn other_items_are_an_error_returned_with_the_item() {
        for item in [
            quote!(
                struct S;
            ),
            quote!(
                fn f();
            ),
            quote!(impl S {}),
            quote!(async fn f() {}, extra),
        ] {
            let fallback = Function::parse(item.clone()).err().expect("an error");
            let text = fallback.to_string();
            assert!(text.contains("compile_error"), "{text}");
            assert!(text.ends_with(&item.to_string()), "{text}");
        }
    }
}
