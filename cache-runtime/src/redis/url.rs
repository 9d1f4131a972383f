//! URLs as logs may show them, and key prefixes as Redis globs.

/// The URL with its password replaced by `***`: in the user info (`redis://user:secret@host`)
/// and in `password=` / `pass=` query parameters. Everything else is kept, so that logs still say
/// which server and database are meant.
pub(crate) fn mask_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        // Not a URL we could parse: it may hold anything, show none of it.
        return "<unparsable url>".to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let mut out = format!("{scheme}://");
    match authority.rsplit_once('@') {
        Some((user_info, host)) => {
            match user_info.split_once(':') {
                Some((user, _password)) => {
                    out.push_str(user);
                    out.push_str(":***");
                }
                // `redis://secret@host`: redis-rs reads a lone user info as a user name, but people
                // write passwords there; hide it too.
                None => out.push_str("***"),
            }
            out.push('@');
            out.push_str(host);
        }
        None => out.push_str(authority),
    }
    out.push_str(&mask_query(tail));
    out
}

fn mask_query(tail: &str) -> String {
    let Some((path, query)) = tail.split_once('?') else {
        return tail.to_owned();
    };
    let (query, fragment) = match query.split_once('#') {
        Some((query, fragment)) => (query, Some(fragment)),
        None => (query, None),
    };
    let masked: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, _)) if name.eq_ignore_ascii_case("password") || name.eq_ignore_ascii_case("pass") => {
                format!("{name}=***")
            }
            _ => pair.to_owned(),
        })
        .collect();
    let mut out = format!("{path}?{}", masked.join("&"));
    if let Some(fragment) = fragment {
        out.push('#');
        out.push_str(fragment);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_masked_and_the_rest_is_kept() {
        assert_eq!(mask_password("redis://127.0.0.1:6379/0"), "redis://127.0.0.1:6379/0");
        assert_eq!(mask_password("redis://:s3cret@host:6379/2"), "redis://:***@host:6379/2");
        assert_eq!(mask_password("rediss://alice:p%40ss@host"), "rediss://alice:***@host");
        assert_eq!(mask_password("redis://s3cret@host"), "redis://***@host");
        assert_eq!(mask_password("redis://a:b:c@d@host/1"), "redis://a:***@host/1");
        assert_eq!(
            mask_password("redis+unix:///tmp/r.sock?db=1&pass=s3cret#x"),
            "redis+unix:///tmp/r.sock?db=1&pass=***#x"
        );
        assert_eq!(mask_password("s3cret"), "<unparsable url>");
    }
}
