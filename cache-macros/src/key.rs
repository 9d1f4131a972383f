//! Parses key and tag templates: literal text with `{param}` and `{param.field}` placeholders,
//! written with `Display`, and `{param:?}` ones, written with `Debug`.

use proc_macro2::Span;
use syn::{Ident, LitStr, Member};

use crate::ctxt::Ctxt;

/// What a template gives: the rules are the same, the messages name it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `key = "..."`.
    Key,
    /// One of `tags = [...]`. A tag is never read as a glob pattern, so its text may hold `*`.
    Tag,
}

impl Kind {
    /// What the template gives, in messages: `key` or `tag`.
    pub fn noun(self) -> &'static str {
        match self {
            Kind::Key => "key",
            Kind::Tag => "tag",
        }
    }
}

/// `key = "..."`, or a tag of `tags = [...]`: the literal as written and what was read from it.
pub struct Template {
    /// Where errors about the template point.
    pub literal: LitStr,
    pub kind: Kind,
    pub segments: Vec<Segment>,
}

impl Template {
    /// Parses `literal`; errors go to `cx`, see [`parse`].
    pub fn parse(cx: &mut Ctxt, literal: LitStr, kind: Kind) -> Template {
        let segments = parse(cx, &literal, kind);
        Template { literal, kind, segments }
    }

    /// The placeholders, in template order.
    pub fn placeholders(&self) -> impl Iterator<Item = &Placeholder> {
        self.segments.iter().filter_map(|segment| match segment {
            Segment::Placeholder(placeholder) => Some(placeholder),
            Segment::Literal(_) => None,
        })
    }
}

/// One piece of a template.
pub enum Segment {
    /// Text written into the key as it is.
    Literal(String),
    /// A value written into the key, escaped.
    Placeholder(Placeholder),
}

/// `{root.member.member}`, or `{root.member:?}`.
pub struct Placeholder {
    /// The parameter (or `self`).
    pub root: Ident,
    /// Fields read from it.
    pub members: Vec<Member>,
    /// `:?`: written with `Debug` rather than `Display`.
    pub debug: bool,
    /// Where errors about it point.
    pub span: Span,
}

impl Placeholder {
    /// The placeholder as written, for messages.
    pub fn text(&self) -> String {
        let mut text = self.root.to_string();
        for member in &self.members {
            text.push('.');
            match member {
                Member::Named(ident) => text.push_str(&ident.to_string()),
                Member::Unnamed(index) => text.push_str(&index.index.to_string()),
            }
        }
        if self.debug {
            text.push_str(":?");
        }
        text
    }
}

/// Characters a key template's literal text may not hold: a key is also a glob pattern.
pub const GLOB_CHARS: &[char] = &['*', '?', '[', ']', '\\'];

/// Parses `template`. Errors go to `cx` and parsing goes on, so that every error is reported and
/// the placeholders that could be read still shape the invalidation helper. Every error points at
/// the string literal (a span inside a string is not available on stable Rust), and its message
/// names the placeholder or character at fault.
fn parse(cx: &mut Ctxt, template: &LitStr, kind: Kind) -> Vec<Segment> {
    let text = template.value();
    let span = template.span();
    let noun = kind.noun();
    if text.is_empty() {
        let message = match kind {
            Kind::Key => "the key template is empty: write a prefix and placeholders, such as \"user:{id}\", or remove `key` for the default key",
            Kind::Tag => "this tag is empty: write its text, such as \"orders\" or \"user:{user_id}\", or remove it from `tags`",
        };
        cx.error_span(span, message);
    }
    let mut segments = Vec::new();
    let mut literal = String::new();
    let mut reported_glob = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                literal.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                literal.push('}');
            }
            '}' => {
                cx.error_span(span, format!("unmatched `}}` in the {noun} template: write `}}}}` for a literal brace"))
            }
            '{' => {
                let mut inner = String::new();
                let mut closed = false;
                for c in chars.by_ref() {
                    if c == '}' {
                        closed = true;
                        break;
                    }
                    inner.push(c);
                }
                if !closed {
                    let name = inner.split(':').next().unwrap_or_default().to_string();
                    let message = if name.trim().is_empty() {
                        format!("unclosed `{{{inner}` in the {noun} template: close the placeholder with `}}`, or write `{{{{` for a literal brace")
                    } else {
                        format!("unclosed `{{{inner}` in the {noun} template: write `{{{name}}}`")
                    };
                    cx.error_span(span, message);
                    if name.trim().is_empty() {
                        continue;
                    }
                    inner = name;
                }
                if !literal.is_empty() {
                    segments.push(Segment::Literal(std::mem::take(&mut literal)));
                }
                if let Some(placeholder) = placeholder(cx, &inner, span, kind) {
                    segments.push(Segment::Placeholder(placeholder));
                }
            }
            c if kind == Kind::Key && GLOB_CHARS.contains(&c) && reported_glob.contains(&c) => {}
            c if kind == Kind::Key && GLOB_CHARS.contains(&c) => {
                reported_glob.push(c);
                cx.error_span(
                    span,
                    format!(
                    "`{c}` cannot appear in a key template: keys are also matched by `clear_pattern`, where `*`, `?`, \
                     `[`, `]` and `\\` are special; remove it (to clear many entries at once, call \
                     `cache_runtime::clear_pattern(\"prefix:*\")`)"
                ),
                )
            }
            c => literal.push(c),
        }
    }
    if !literal.is_empty() {
        segments.push(Segment::Literal(literal));
    }
    segments
}

/// Reads `root.member...` and an optional `:?`; any other format spec is reported, and the
/// placeholder before it is kept.
fn placeholder(cx: &mut Ctxt, inner: &str, span: Span, kind: Kind) -> Option<Placeholder> {
    let noun = kind.noun();
    if inner.trim().is_empty() {
        cx.error_span(
            span,
            format!(
                "empty `{{}}` in the {noun} template: name a parameter, such as `{{id}}`; write `{{{{}}}}` for literal braces"
            ),
        );
        return None;
    }
    // Only `:?`: width, fill and precision would make two values share a key (`{x:.1}`), and
    // `:#?` spreads a value over lines for people, not keys.
    let (path, debug) = match inner.split_once(':') {
        Some((path, "?")) => (path, true),
        Some((path, spec)) => {
            cx.error_span(
                span,
                format!(
                    "`{{{inner}}}`: `:{spec}` is not a format spec of {noun}s, which take only `:?`: write `{{{path}}}` \
                     for the value's `Display`, or `{{{path}:?}}` for its `Debug`"
                ),
            );
            (path, false)
        }
        None => (inner, false),
    };
    let not_a_placeholder = |cx: &mut Ctxt| {
        cx.error_span(
            span,
            format!("`{{{inner}}}` is not a placeholder: write `{{param}}`, `{{param.field}}` or `{{self.field}}`"),
        );
    };
    let mut parts = path.split('.');
    let root = parts.next().unwrap_or_default();
    // `self` is a keyword, which `parse_str` refuses; `r#type` is a raw identifier, which
    // `Ident::new` refuses.
    let mut root = if root == "self" {
        Ident::new("self", span)
    } else if let Ok(ident) = syn::parse_str::<Ident>(root) {
        ident
    } else {
        not_a_placeholder(cx);
        return None;
    };
    root.set_span(span);
    let mut members = Vec::new();
    for part in parts {
        let member = if let Ok(index) = part.parse::<u32>() {
            Member::Unnamed(syn::Index { index, span })
        } else if let Ok(mut ident) = syn::parse_str::<Ident>(part) {
            ident.set_span(span);
            Member::Named(ident)
        } else {
            not_a_placeholder(cx);
            return None;
        };
        members.push(member);
    }
    Some(Placeholder { root, members, debug, span })
}

/// Whether a character may appear in an escaped value; literal text between two placeholders must
/// hold one character that may not, so that the key says where each value ends.
pub fn may_appear_in_value(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | '%')
}

#[cfg(test)]
mod tests {
    use super::{parse, Kind, Segment};
    use crate::ctxt::Ctxt;
    use proc_macro2::Span;
    use syn::LitStr;

    /// The macro asks for a separator between two placeholders that no escaped value can hold;
    /// which characters those are is the runtime's escaping, checked here against it.
    #[test]
    fn what_a_value_may_hold_is_what_the_runtime_escaping_leaves() {
        for c in (0u8..128).map(char::from) {
            let text = c.to_string();
            let escaped = cache_runtime::key::escape(&text);
            // `%` starts every escape, so it may appear even though it is itself escaped.
            let may_appear = escaped == text || c == '%';
            assert_eq!(super::may_appear_in_value(c), may_appear, "{c:?} escapes to {escaped:?}");
        }
    }

    /// The segments as text (`lit:` and `{...}`) and the error messages.
    fn run(template: &str) -> (Vec<String>, Vec<String>) {
        run_as(template, Kind::Key)
    }

    fn run_as(template: &str, kind: Kind) -> (Vec<String>, Vec<String>) {
        let mut cx = Ctxt::default();
        let segments = parse(&mut cx, &LitStr::new(template, Span::call_site()), kind);
        let segments = segments
            .iter()
            .map(|segment| match segment {
                Segment::Literal(text) => format!("lit:{text}"),
                Segment::Placeholder(placeholder) => format!("{{{}}}", placeholder.text()),
            })
            .collect();
        let errors = cx.check().err().map(|e| e.into_iter().map(|e| e.to_string()).collect()).unwrap_or_default();
        (segments, errors)
    }

    #[test]
    fn placeholders_fields_and_escaped_braces() {
        let (segments, errors) = run("page:{self.tenant}/{query.page}/{pair.0}:{{x}}");
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(segments, ["lit:page:", "{self.tenant}", "lit:/", "{query.page}", "lit:/", "{pair.0}", "lit::{x}"]);
    }

    #[test]
    fn errors_keep_the_placeholders_that_could_be_read() {
        let (segments, errors) = run("user:{id:>5}:{name");
        assert_eq!(segments, ["lit:user:", "{id}", "lit::", "{name}"]);
        assert_eq!(errors.len(), 2);
        assert!(errors[0].contains("write `{id}` for the value's `Display`, or `{id:?}`"), "{errors:?}");
        assert!(errors[1].contains("unclosed `{name`"), "{errors:?}");
    }

    #[test]
    fn debug_placeholders_on_parameters_and_fields() {
        let (segments, errors) = run("search:{filter:?}:{filter.kind:?}:{self.0:?}:{page}");
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(
            segments,
            ["lit:search:", "{filter:?}", "lit::", "{filter.kind:?}", "lit::", "{self.0:?}", "lit::", "{page}"]
        );
    }

    #[test]
    fn only_the_debug_spec_is_a_format_spec() {
        for template in ["a:{x:#?}", "a:{x:>5}", "a:{x:}", "a:{x:??}", "a:{x: ?}", "a:{x:x}", "a:{x:?:?}"] {
            let (segments, errors) = run(template);
            assert_eq!(errors.len(), 1, "{template}: {errors:?}");
            assert!(errors[0].contains("which take only `:?`"), "{template}: {errors:?}");
            assert_eq!(segments, ["lit:a:", "{x}"], "{template}");
        }
    }

    #[test]
    fn each_glob_character_is_reported_once() {
        let (_, errors) = run("a:*:*:?");
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(errors[0].starts_with("`*` cannot appear"));
        assert!(errors[1].starts_with("`?` cannot appear"));
    }

    #[test]
    fn malformed_placeholders() {
        for template in ["", "a:{}", "a:{1x}", "a:{id.}", "a:}", "a:{"] {
            let (_, errors) = run(template);
            assert_eq!(errors.len(), 1, "{template}: {errors:?}");
        }
    }

    #[test]
    fn a_tag_follows_the_key_rules_and_its_messages_say_tag() {
        let (segments, errors) = run_as("user:{user_id}:{filter:?}:{{x}}", Kind::Tag);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(segments, ["lit:user:", "{user_id}", "lit::", "{filter:?}", "lit::{x}"]);
        let (_, errors) = run_as("user:{id:>5}:{", Kind::Tag);
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(errors[0].contains("is not a format spec of tags"), "{errors:?}");
        assert!(errors[1].contains("in the tag template"), "{errors:?}");
        let (_, errors) = run_as("", Kind::Tag);
        assert_eq!(
            errors,
            ["this tag is empty: write its text, such as \"orders\" or \"user:{user_id}\", or remove it from `tags`"]
        );
    }

    #[test]
    fn a_tag_is_no_glob_pattern_and_may_hold_its_characters() {
        let (segments, errors) = run_as("region[eu]*", Kind::Tag);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(segments, ["lit:region[eu]*"]);
    }
}
