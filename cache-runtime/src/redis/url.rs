//! Redis URLs as logs, `Debug` and errors may show them: [`mask_password`] hides a URL's secrets,
//! [`scrub`] removes them from any text (such as a redis-rs error that echoes the URL).
//!
//! The secrets of a URL are found without parsing it as a URL: a generated password may hold a
//! raw `/`, `?`, `#`, `@`, `:` or `%`, which a URL parser reads as the end of the authority, a
//! query, a fragment or a port, and would then show the rest of the password as a path. Instead:
//!
//! - the user info runs from `://` to the **last** `@` of the URL (a host cannot hold an `@`);
//!   what follows its first `:` is the password. With no `:`, the whole user info is taken for a
//!   secret: redis-rs reads it as a user name, but people put passwords (or tokens) there.
//! - in the query, the value of `pass=` or `password=` (any case) runs to the next `&` that starts
//!   a parameter redis-rs knows (`db`, `user`, `pass`, `password`, `protocol`), or to a final
//!   `#insecure`, or to the end: a raw `&` or `#` in it does not end it.
//!
//! Both rules can hide more than the secret (a `@` in a query puts the host in the user info),
//! never less.

use std::ops::Range;

/// What replaces a secret.
const MASK: &str = "***";

/// What [`mask_password`] shows for a string that is not `scheme://...`.
const UNPARSABLE: &str = "<unparsable url>";

/// Query parameters that can hold a password.
const PASSWORD_PARAMS: [&str; 2] = ["pass=", "password="];

/// Query parameters redis-rs reads: one of them after a password ends it.
const KNOWN_PARAMS: [&str; 5] = ["&db=", "&user=", "&pass=", "&password=", "&protocol="];

/// The only fragment redis-rs reads (`rediss://host/#insecure`).
const INSECURE: &str = "#insecure";

/// The nodes of a cluster URL, `redis+cluster://[user:password@]h1:7000,h2:7001,h3:7002` (or
/// `rediss+cluster://` for TLS): one `redis://[user:password@]host:port` URL per host, each with
/// the credentials. `None` for any other URL.
pub(crate) fn cluster_nodes(url: &str) -> Option<Vec<String>> {
    let (scheme, rest) = url.split_once("://")?;
    let base = match scheme.to_ascii_lowercase().as_str() {
        "redis+cluster" => "redis",
        "rediss+cluster" => "rediss",
        _ => return None,
    };
    let (credentials, hosts) = match rest.rsplit_once('@') {
        Some((credentials, hosts)) => (format!("{credentials}@"), hosts),
        None => (String::new(), rest),
    };
    Some(
        hosts
            .split(',')
            .map(str::trim)
            .filter(|host| !host.is_empty())
            .map(|host| format!("{base}://{credentials}{host}"))
            .collect(),
    )
}

/// The URL with its secrets replaced by `***`: the password of the user info
/// (`redis://user:***@host`), a user info without password (`redis://***@host`), and `pass=` /
/// `password=` query values. Everything else is kept, so that logs still say which server and
/// database are meant. The rules are in the [module docs](self); a string that is not
/// `scheme://...` shows as `<unparsable url>`.
pub(crate) fn mask_password(url: &str) -> String {
    let Some(secrets) = secret_ranges(url) else {
        // Not a URL we could read: it may hold anything, show none of it.
        return UNPARSABLE.to_owned();
    };
    let mut out = String::with_capacity(url.len());
    let mut shown = 0;
    for secret in secrets {
        out.push_str(&url[shown..secret.start]);
        out.push_str(MASK);
        shown = secret.end;
    }
    out.push_str(&url[shown..]);
    out
}

/// `text` without the secrets of `url`: each occurrence of `url` itself becomes
/// [`mask_password(url)`](mask_password), and each form of each of its secrets (as written in the
/// URL, percent-decoded, percent-encoded, form-encoded, `Debug`-escaped) becomes `***`. For the
/// messages of errors that may echo the URL. An unparsable `url` is a secret as a whole.
pub(crate) fn scrub(text: &str, url: &str) -> String {
    let forms = secret_forms(url);
    let scrub_part = |part: &str| {
        let mut part = part.to_owned();
        for form in &forms {
            if part.contains(form.as_str()) {
                part = part.replace(form.as_str(), MASK);
            }
        }
        part
    };
    if url.is_empty() {
        return scrub_part(text);
    }
    // The masked URL is put in after the scrubbing, so that a short secret which also occurs in
    // the host (say) does not mangle it.
    let masked = mask_password(url);
    text.split(url).map(scrub_part).collect::<Vec<_>>().join(&masked)
}

/// The byte ranges of `url` that hold secrets, sorted and merged; `None` unless `url` is
/// `scheme://...`. A range may be empty (`redis://user:@host`): it still shows as `***`.
fn secret_ranges(url: &str) -> Option<Vec<Range<usize>>> {
    let mut ranges = secrets(url)?;
    ranges.sort_by_key(|range| (range.start, range.end));
    let mut merged: Vec<Range<usize>> = Vec::with_capacity(ranges.len());
    for range in ranges {
        match merged.last_mut() {
            Some(last) if range.start <= last.end => last.end = last.end.max(range.end),
            _ => merged.push(range),
        }
    }
    Some(merged)
}

/// The byte ranges of `url` that hold secrets, one per secret (they may overlap); `None` unless
/// `url` is `scheme://...`.
fn secrets(url: &str) -> Option<Vec<Range<usize>>> {
    let (scheme, rest) = url.split_once("://")?;
    if !is_scheme(scheme) {
        return None;
    }
    let base = scheme.len() + "://".len();
    let mut ranges = Vec::new();
    // The user info ends at the last `@`: a host cannot hold one, a password can.
    if let Some(at) = rest.rfind('@') {
        let start = rest[..at].find(':').map_or(0, |colon| colon + 1);
        ranges.push(base + start..base + at);
    }
    // ASCII lowercasing keeps every byte where it is.
    let lower = rest.to_ascii_lowercase();
    for param in PASSWORD_PARAMS {
        for (at, _) in lower.match_indices(param) {
            if at == 0 || !matches!(lower.as_bytes()[at - 1], b'?' | b'&') {
                continue;
            }
            let start = at + param.len();
            ranges.push(base + start..base + query_value_end(rest, &lower, start));
        }
    }
    Some(ranges)
}

/// Where the password value starting at `start` of `rest` ends: at the next known parameter, a
/// final `#insecure`, or the end.
fn query_value_end(rest: &str, lower: &str, start: usize) -> usize {
    let mut end = rest.len();
    if rest.len() - start >= INSECURE.len() && rest.ends_with(INSECURE) {
        end = rest.len() - INSECURE.len();
    }
    KNOWN_PARAMS.iter().filter_map(|param| lower[start..].find(param).map(|at| start + at)).fold(end, usize::min)
}

/// Whether `url` asks for TLS: its scheme is `rediss` or `valkeys`, read as redis-rs (through
/// the `url` crate) reads it: in any case, after leading spaces and control characters, without
/// tabs and line breaks.
#[cfg(not(feature = "redis-tls"))]
pub(crate) fn is_tls(url: &str) -> bool {
    let url = url.trim_start_matches(|c: char| c <= ' ');
    url.split_once(':').is_some_and(|(scheme, _)| {
        let scheme: String = scheme.chars().filter(|c| !matches!(c, '\t' | '\n' | '\r')).collect();
        scheme.eq_ignore_ascii_case("rediss") || scheme.eq_ignore_ascii_case("valkeys")
    })
}

/// RFC 3986: `ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )`. Anything else before `://` may be a
/// secret (`user:pass@host://...`).
fn is_scheme(scheme: &str) -> bool {
    let mut chars = scheme.chars();
    chars.next().is_some_and(|first| first.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

/// Every form in which a secret of `url` could show in a message, longest first (so that a
/// shorter form does not leave pieces of a longer one), without duplicates or empty strings.
fn secret_forms(url: &str) -> Vec<String> {
    let secrets: Vec<&str> = match secrets(url) {
        Some(ranges) => ranges.into_iter().map(|range| &url[range]).collect(),
        None => vec![url],
    };
    // Where the rules hide more than the secret (an `@` in the password or after the host, a `&`
    // or `#` in a query password), what a parser reads as the secret is a prefix of it. Such a
    // guess is left out under 4 characters: it would mangle every message.
    let candidates = secrets.iter().flat_map(|secret| {
        secret
            .match_indices(['@', '&', '#'])
            .map(|(at, _)| &secret[..at])
            .filter(|prefix| prefix.chars().count() >= 4)
            .chain([*secret])
    });
    let mut forms = Vec::new();
    for raw in candidates.filter(|raw| !raw.is_empty()) {
        let decoded = percent_decode(raw);
        let form_decoded = percent_decode(&raw.replace('+', " "));
        for text in [raw, decoded.as_str(), form_decoded.as_str()] {
            forms.push(text.to_owned());
            // As a URL parser re-encodes a user info (`url::Url::password`).
            forms.push(percent_encode(text, is_userinfo_safe, false));
            // Everything but the unreserved characters, in either case.
            forms.push(percent_encode(text, is_unreserved, false));
            forms.push(percent_encode(text, is_unreserved, true));
            // application/x-www-form-urlencoded.
            forms.push(percent_encode(text, is_form_safe, false).replace("%20", "+"));
            // As `{:?}` of a string holding it shows it.
            forms.push(text.escape_debug().to_string());
            forms.push(text.escape_default().to_string());
        }
    }
    forms.retain(|form| !form.is_empty());
    forms.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
    forms.dedup();
    forms
}

/// `%XX` (either case) becomes the byte it stands for; anything else, a lone `%` included, stays.
/// Bytes that are not UTF-8 come out as U+FFFD.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(high), Some(low)) = (hex_value(bytes[i + 1]), hex_value(bytes[i + 2])) {
                out.push(high << 4 | low);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_value(byte: u8) -> Option<u8> {
    char::from(byte).to_digit(16).and_then(|digit| u8::try_from(digit).ok())
}

/// Each byte of `text` that `keep` refuses becomes `%XX`.
fn percent_encode(text: &str, keep: fn(u8) -> bool, lowercase: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for &byte in text.as_bytes() {
        if keep(byte) {
            out.push(char::from(byte));
        } else if lowercase {
            out.push_str(&format!("%{byte:02x}"));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// RFC 3986 unreserved characters.
fn is_unreserved(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~')
}

/// What the WHATWG URL standard leaves unencoded in a user info (its userinfo percent-encode set
/// is the complement): a raw `%` stays.
fn is_userinfo_safe(byte: u8) -> bool {
    (0x21..0x7F).contains(&byte)
        && !matches!(
            byte,
            b'"' | b'#'
                | b'<'
                | b'>'
                | b'?'
                | b'`'
                | b'{'
                | b'}'
                | b'/'
                | b':'
                | b';'
                | b'='
                | b'@'
                | b'['
                | b'\\'
                | b']'
                | b'^'
                | b'|'
        )
}

/// What application/x-www-form-urlencoded leaves unencoded (a space becomes `+`).
fn is_form_safe(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'*' | b'-' | b'.' | b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(not(feature = "redis-tls"))]
    fn only_tls_schemes_are_tls() {
        for url in ["redis://host", "redis://user:rediss@host", "memory://", "rediss", ""] {
            assert!(!is_tls(url), "{url}");
        }
    }

    #[test]
    fn passwords_are_masked_and_the_rest_is_kept() {
        assert_eq!(mask_password("redis://127.0.0.1:6379/0"), "redis://127.0.0.1:6379/0");
        assert_eq!(mask_password("redis://:s3cret@host:6379/2"), "redis://:***@host:6379/2");
        assert_eq!(mask_password("rediss://alice:p%40ss@host"), "rediss://alice:***@host");
        assert_eq!(mask_password("redis://a:b:c@d@host/1"), "redis://a:***@host/1");
        assert_eq!(mask_password("redis://:s3cret@[::1]:6379/0"), "redis://:***@[::1]:6379/0");
        assert_eq!(mask_password("rediss://u:s3cret@host:6380/0#insecure"), "rediss://u:***@host:6380/0#insecure");
        assert_eq!(mask_password("redis://host/0?protocol=resp3"), "redis://host/0?protocol=resp3");
    }

    #[test]
    fn raw_separators_in_the_password_do_not_end_it() {
        assert_eq!(mask_password("redis://user:ab/cd@host:6379/0"), "redis://user:***@host:6379/0");
        assert_eq!(mask_password("redis://user:ab#cd@host:6379/0"), "redis://user:***@host:6379/0");
        assert_eq!(mask_password("redis://user:ab?cd@host:6379/0"), "redis://user:***@host:6379/0");
        assert_eq!(mask_password("redis://user:a@b:c/d?e#f@host/3"), "redis://user:***@host/3");
        assert_eq!(mask_password("redis://:/?#@%:+ x@host"), "redis://:***@host");
        // A password that starts like a port, a path or a query.
        assert_eq!(mask_password("redis://user:6379/0@host"), "redis://user:***@host");
        // One that looks like a query password too: the query rule hides the host as well.
        assert_eq!(mask_password("rediss://user:?pass=x@host"), "rediss://user:***");
        assert_eq!(mask_password("redis://user:%2F%23%3F%40%3A%25@host"), "redis://user:***@host");
        assert_eq!(mask_password("redis://user:100%@host"), "redis://user:***@host");
    }

    #[test]
    fn a_user_info_without_password_is_hidden_whole() {
        assert_eq!(mask_password("redis://s3cret@host"), "redis://***@host");
        assert_eq!(mask_password("redis://tok/en#x@host/0"), "redis://***@host/0");
        // An empty password still shows as masked, and an empty user stays empty.
        assert_eq!(mask_password("redis://user:@host"), "redis://user:***@host");
        assert_eq!(mask_password("redis://@host"), "redis://***@host");
    }

    #[test]
    fn query_passwords_are_masked_to_the_next_known_parameter() {
        assert_eq!(
            mask_password("redis+unix:///tmp/r.sock?db=1&pass=s3cret&protocol=resp3"),
            "redis+unix:///tmp/r.sock?db=1&pass=***&protocol=resp3"
        );
        assert_eq!(mask_password("unix:///tmp/r.sock?PASSWORD=a&b#c"), "unix:///tmp/r.sock?PASSWORD=***");
        assert_eq!(mask_password("redis+unix:///tmp/r.sock?pass=s3cret#x"), "redis+unix:///tmp/r.sock?pass=***");
        assert_eq!(
            mask_password("redis+unix:///tmp/r.sock?user=bob&pass=a&db=2&pass=b#insecure"),
            "redis+unix:///tmp/r.sock?user=bob&pass=***&db=2&pass=***#insecure"
        );
        // `bypass=` is not a password parameter.
        assert_eq!(mask_password("redis+unix:///tmp/r.sock?bypass=1"), "redis+unix:///tmp/r.sock?bypass=1");
    }

    #[test]
    fn an_at_sign_after_the_host_hides_more_never_less() {
        // The query password holds an `@`: the user info rule and the query rule both apply.
        assert_eq!(mask_password("redis+unix:///tmp/r.sock?pass=a@b:c"), "redis+unix://***");
        // An `@` in a query with no password puts the host in the user info.
        assert_eq!(mask_password("redis://host:6379/0?lib=a@b"), "redis://host:***@b");
        let masked = mask_password("redis://u:pw@host/0?pass=x@y");
        assert_eq!(masked, "redis://u:***");
    }

    #[test]
    fn what_is_not_scheme_colon_slash_slash_shows_nothing() {
        assert_eq!(mask_password("s3cret"), UNPARSABLE);
        assert_eq!(mask_password("redis:s3cret@host"), UNPARSABLE);
        assert_eq!(mask_password("user:s3cret@host://x"), UNPARSABLE);
        assert_eq!(mask_password(""), UNPARSABLE);
    }

    #[test]
    fn scrub_removes_every_form_of_the_password() {
        let url = "redis://alice:p%40ss/w#rd x@host:6379/0";
        let text = format!(
            "raw {url}; as written p%40ss/w#rd x; decoded p@ss/w#rd x; encoded p%40ss%2Fw%23rd%20x; \
             lower p%40ss%2fw%23rd%20x; form p%40ss%2Fw%23rd+x; parsed p%40ss%2Fw%23rd%20x"
        );
        let scrubbed = scrub(&text, url);
        assert_eq!(
            scrubbed,
            "raw redis://alice:***@host:6379/0; as written ***; decoded ***; encoded ***; \
             lower ***; form ***; parsed ***"
        );
        assert!(!scrubbed.contains("ss"), "{scrubbed}");
    }

    #[test]
    fn scrub_removes_the_re_encoded_raw_password_and_debug_escapes() {
        // A URL parser encodes the raw space and keeps the `%41` it was given.
        let url = "redis://:a b%41\"\\c@host";
        let scrubbed = scrub("password Some(\"a%20b%41%22%5Cc\") or \"a bA\\\"\\\\c\"", url);
        assert_eq!(scrubbed, "password Some(\"***\") or \"***\"");
    }

    #[test]
    fn scrub_removes_what_a_parser_may_read_as_the_secret() {
        // A `@` in the query puts the host in the user info; the password is still scrubbed alone.
        let url = "redis://u:s3cret@host/0?pass=x@y";
        assert_eq!(
            scrub("auth s3cret failed at redis://u:s3cret@host/0?pass=x@y", url),
            "auth *** failed at redis://u:***"
        );
        // redis-rs reads `pass=a&b` as `a`, a URL parser `p@ss#w` as `p@ss`.
        assert_eq!(scrub("pass a1b2c3", "unix:///r.sock?pass=a1b2c3&x"), "pass ***");
        assert_eq!(scrub("password p%40ss", "redis://u:p@ss#w@host"), "password ***");
        assert_eq!(scrub("password pas", "redis://u:pas@w@host"), "password pas");
    }

    #[test]
    fn scrub_keeps_what_is_not_secret() {
        let url = "redis://alice:s3cret@127.0.0.1:1/0";
        assert_eq!(scrub("Connection refused (os error 111)", url), "Connection refused (os error 111)");
        assert_eq!(scrub("alice at 127.0.0.1:1", url), "alice at 127.0.0.1:1");
        // No password: nothing to remove but the URL, which is masked all the same.
        assert_eq!(scrub("bad redis://host/x", "redis://host/x"), "bad redis://host/x");
        // A lone user info is a secret, as in mask_password.
        assert_eq!(scrub("token t0k3n; redis://t0k3n@host", "redis://t0k3n@host"), "token ***; redis://***@host");
        // The masked URL is put back whole even when the password also occurs in it.
        assert_eq!(scrub("redis://host:host@host: host", "redis://host:host@host"), "redis://host:***@host: ***");
    }

    #[test]
    fn scrub_of_an_unparsable_url_removes_it_whole() {
        assert_eq!(scrub("did not parse: p@ss w", "p@ss w"), "did not parse: <unparsable url>");
        assert_eq!(scrub("encoded p%40ss%20w", "p@ss w"), "encoded ***");
        assert_eq!(scrub("nothing", ""), "nothing");
    }

    #[test]
    fn percent_decoding_keeps_what_is_not_an_escape() {
        assert_eq!(percent_decode("a%41%4a%4A%"), "aAJJ%");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%2"), "%zz%2");
        assert_eq!(percent_decode("%C3%A9"), "é");
    }

    #[test]
    fn a_cluster_url_gives_one_url_per_node_with_the_credentials() {
        assert_eq!(
            cluster_nodes("redis+cluster://h1:7000,h2:7001, h3:7002").unwrap(),
            ["redis://h1:7000", "redis://h2:7001", "redis://h3:7002"]
        );
        assert_eq!(
            cluster_nodes("REDISS+CLUSTER://app:p@ss,w@h1:7000,h2:7001").unwrap(),
            ["rediss://app:p@ss,w@h1:7000", "rediss://app:p@ss,w@h2:7001"]
        );
        assert_eq!(cluster_nodes("redis://h1:7000"), None);
        assert_eq!(
            mask_password("redis+cluster://app:secret@h1:7000,h2:7001"),
            "redis+cluster://app:***@h1:7000,h2:7001"
        );
    }
}
