//! A Redis URL's password never shows in the builder's `Debug` or in a `connect` error, whatever
//! it holds: generated passwords full of `/ # ? @ : % +` and spaces, written raw or
//! percent-encoded, after a user, alone, or as a lone user info (which may be a token).
#![cfg(feature = "redis")]

use std::time::Duration;

use cache_runtime::RedisProvider;
use proptest::prelude::*;

/// A closed port: connecting is refused at once.
const HOST: &str = "127.0.0.1:1";

/// Letters, digits and every character that could end a user info early or be read as an escape.
/// Eight characters at least, so that no check is a false alarm on a substring of the output.
fn password() -> impl Strategy<Value = String> {
    proptest::string::string_regex("[a-zA-Z0-9/#?@:%+ ]{8,20}").unwrap()
}

/// A user info without `:`: redis-rs reads it as a user name, it may be a token.
fn lone_user_info() -> impl Strategy<Value = String> {
    proptest::string::string_regex("[a-zA-Z0-9/#?@%+ ]{8,20}").unwrap()
}

/// Short (so that it cannot hold a password of 8 or more), no `:` (it would end the user).
fn user() -> impl Strategy<Value = Option<String>> {
    prop_oneof![Just(None), proptest::string::string_regex("[a-zA-Z0-9/#?@%+ ]{1,6}").unwrap().prop_map(Some)]
}

#[derive(Clone, Copy, Debug)]
enum Writing {
    /// As it is: a parser may read a `/`, `?` or `#` in it as the end of the authority.
    Raw,
    /// Every byte but the RFC 3986 unreserved characters as `%XX`.
    Encoded,
    /// Only the characters the WHATWG user info set encodes (a raw `%` stays), as `url` does.
    Userinfo,
}

fn writing() -> impl Strategy<Value = Writing> {
    prop_oneof![Just(Writing::Raw), Just(Writing::Encoded), Just(Writing::Userinfo)]
}

fn write(secret: &str, writing: Writing) -> String {
    match writing {
        Writing::Raw => secret.to_owned(),
        Writing::Encoded => encode(secret, is_unreserved),
        Writing::Userinfo => encode(secret, is_userinfo_safe),
    }
}

fn encode(text: &str, keep: fn(u8) -> bool) -> String {
    text.bytes().map(|b| if keep(b) { char::from(b).to_string() } else { format!("%{b:02X}") }).collect()
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

fn is_userinfo_safe(b: u8) -> bool {
    (0x21..0x7F).contains(&b) && !b"\"#<>?`{}/:;=@[\\]^|".contains(&b)
}

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push(u8::try_from(h * 16 + l).unwrap());
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Every form of `secret` (as generated, as written in the URL) that must not show: as is,
/// percent-decoded, percent-encoded both ways. Forms shorter than 4 are skipped: they would be
/// found in any text.
fn forms(secret: &str, written: &str) -> Vec<String> {
    let mut forms = Vec::new();
    for text in [secret, written] {
        for form in [text.to_owned(), decode(text), encode(text, is_unreserved), encode(text, is_userinfo_safe)] {
            if form.chars().count() >= 4 && !forms.contains(&form) {
                forms.push(form);
            }
        }
    }
    forms
}

/// The URL, and the forms of its secret that must not show.
fn url(scheme: &str, user: Option<&str>, secret: &str, writing: Writing) -> (String, Vec<String>) {
    let written = write(secret, writing);
    let user_info = match user {
        Some(user) => format!("{}:{written}", write(user, writing)),
        None => format!(":{written}"),
    };
    (format!("{scheme}://{user_info}@{HOST}/0"), forms(secret, &written))
}

fn assert_hidden(what: &str, shown: &str, url: &str, forms: &[String]) -> Result<(), TestCaseError> {
    for form in forms {
        prop_assert!(!shown.contains(form.as_str()), "{what} of {url:?} shows {form:?}: {shown}");
    }
    Ok(())
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

/// `Debug` and `Display` of the error of `connect` hide `forms`. `None` when it connected (it
/// cannot: nothing listens) or timed out (no message to check).
async fn check_connect_error(url: &str, forms: &[String]) -> Result<(), TestCaseError> {
    let result = RedisProvider::builder(url).connect_timeout(Duration::from_millis(300)).connect().await;
    if let Err(error) = result {
        assert_hidden("the connect error", &error.to_string(), url, forms)?;
        assert_hidden("the connect error's Debug", &format!("{error:?}"), url, forms)?;
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn the_builder_debug_never_shows_the_password(
        scheme in prop_oneof![Just("redis"), Just("rediss")],
        user in user(),
        secret in password(),
        writing in writing(),
    ) {
        let (url, forms) = url(scheme, user.as_deref(), &secret, writing);
        let debug = format!("{:?}", RedisProvider::builder(url.clone()));
        assert_hidden("the builder's Debug", &debug, &url, &forms)?;
        // The password field is there, masked.
        prop_assert!(debug.contains(":***@"), "{debug}");
    }

    #[test]
    fn the_builder_debug_never_shows_a_lone_user_info(secret in lone_user_info(), writing in writing()) {
        let written = write(&secret, writing);
        let url = format!("redis://{written}@{HOST}/0");
        let debug = format!("{:?}", RedisProvider::builder(url.clone()));
        assert_hidden("the builder's Debug", &debug, &url, &forms(&secret, &written))?;
    }
}

proptest! {
    // Each case connects (and is refused): fewer of them.
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn the_connect_error_never_shows_the_password(
        scheme in prop_oneof![Just("redis"), Just("rediss")],
        user in user(),
        secret in password(),
        writing in writing(),
    ) {
        let (url, forms) = url(scheme, user.as_deref(), &secret, writing);
        runtime().block_on(check_connect_error(&url, &forms))?;
    }

    #[test]
    fn the_connect_error_never_shows_a_lone_user_info(secret in lone_user_info(), writing in writing()) {
        let written = write(&secret, writing);
        let url = format!("redis://{written}@{HOST}/0");
        runtime().block_on(check_connect_error(&url, &forms(&secret, &written)))?;
    }
}

/// The cases the issue names, written out: each must fail without showing its password.
#[tokio::test]
async fn the_issue_examples_hide_their_password() {
    for secret in ["pa/ss#wo?rd", "p%2Fss%23wo%3Frd", "ab@cd:ef%gh", "?pass=word@x", "#fragment/word"] {
        for url in [format!("redis://user:{secret}@{HOST}/0"), format!("rediss://:{secret}@{HOST}")] {
            let forms = forms(secret, secret);
            let debug = format!("{:?}", RedisProvider::builder(url.clone()));
            assert_hidden("the builder's Debug", &debug, &url, &forms).unwrap();
            check_connect_error(&url, &forms).await.unwrap();
        }
    }
}
