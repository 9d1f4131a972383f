//! The path of a `#[cached]` function as its default key starts: module, `Self` type and type
//! arguments included, so that two functions never share a default key.
//!
//! The macro cannot see the `Self` type of the impl block it sits in, nor the type arguments of
//! a call. The compiler can: a closure defined inside a function has a type whose name is the
//! function's full path (`app::Users::name_by_id::{{closure}}`, or
//! `app::count<app::Order>::{{closure}}::{{closure}}` inside a generic async fn). The generated
//! code passes that name here; what comes before its trailing `::{{closure}}`s is the function.

use std::borrow::Cow;

/// What a closure's type name adds after the path of the function that holds it.
const CLOSURE: &str = "::{{closure}}";

/// The path of the function in which a closure of type name `closure_type` was written.
///
/// `written_in` is the name of the function that holds the closure and `function` the name of
/// the cached function: they differ in the generated helpers (`get_user_invalidate` holds the
/// closure, `get_user` is the function), and the result names `function` in either case. Bytes
/// that a glob would read (`* ? [ ] \`), white space and `%` are escaped as `%XX`, so that a
/// pattern built from the path matches it literally.
///
/// ```
/// use cache_runtime::__private::function_path;
///
/// assert_eq!(function_path("app::Users::find::{{closure}}::{{closure}}", "find", "find"), "app::Users::find");
/// assert_eq!(function_path("app::count_invalidate<app::Order>::{{closure}}", "count_invalidate", "count"), "app::count<app::Order>");
/// assert_eq!(function_path("app::first<[u8; 4]>::{{closure}}", "first", "first"), "app::first<%5Bu8;%204%5D>");
/// ```
pub fn function_path(closure_type: &'static str, written_in: &str, function: &str) -> Cow<'static, str> {
    // Only the trailing `{{closure}}`s are the marker's (and the async fn's): one before the
    // function's name is a block the function was declared in.
    let mut path = closure_type;
    while let Some(outer) = path.strip_suffix(CLOSURE) {
        path = outer;
    }
    let path: Cow<'static, str> =
        if written_in == function { Cow::Borrowed(path) } else { Cow::Owned(rename_last(path, written_in, function)) };
    if path.bytes().any(needs_escape) {
        Cow::Owned(escape(&path))
    } else {
        path
    }
}

/// Renames the function `from` to `to` where it ends `path` (before its type arguments, if any).
fn rename_last(path: &str, from: &str, to: &str) -> String {
    let mut search = path.len();
    while let Some(at) = path[..search].rfind(from) {
        let after = &path[at + from.len()..];
        let starts_segment = path[..at].ends_with("::") || at == 0;
        if starts_segment && (after.is_empty() || after.starts_with('<')) {
            return format!("{}{to}{after}", &path[..at]);
        }
        search = at;
    }
    path.to_owned()
}

fn needs_escape(b: u8) -> bool {
    matches!(b, b'*' | b'?' | b'[' | b']' | b'\\' | b'%') || b.is_ascii_whitespace()
}

fn escape(path: &str) -> String {
    let mut out = String::with_capacity(path.len() + 8);
    for c in path.chars() {
        if c.is_ascii() && needs_escape(c as u8) {
            out.push_str(&format!("%{:02X}", c as u8));
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::function_path;

    #[test]
    fn the_self_type_and_type_arguments_are_part_of_the_path() {
        let users = function_path("app::Users::name_by_id::{{closure}}::{{closure}}", "name_by_id", "name_by_id");
        let orders = function_path("app::Orders::name_by_id::{{closure}}::{{closure}}", "name_by_id", "name_by_id");
        assert_ne!(users, orders);
        assert_eq!(function_path("app::Repo<u8>::get::{{closure}}", "get", "get"), "app::Repo<u8>::get");
    }

    #[test]
    fn a_function_declared_in_a_block_keeps_its_own_name() {
        assert_eq!(
            function_path("app::t::{{closure}}::first::{{closure}}::{{closure}}", "first", "first"),
            "app::t::{{closure}}::first"
        );
    }

    #[test]
    fn a_helper_names_the_function_it_serves() {
        assert_eq!(
            function_path("app::Repo<u8>::get_invalidate::{{closure}}", "get_invalidate", "get"),
            "app::Repo<u8>::get"
        );
        // A type argument that happens to hold the helper's name is left alone.
        assert_eq!(
            function_path("app::f_invalidate<app::f_invalidate>::{{closure}}", "f_invalidate", "f"),
            "app::f<app::f_invalidate>"
        );
    }
}
