//! Parses key templates: literal text with `{param}` and `{param.field}` placeholders.

use proc_macro2::Span;
use syn::{Ident, LitStr, Member};

/// One piece of a template.
pub enum Segment {
    /// Text written into the key as it is.
    Literal(String),
    /// A value written into the key, escaped.
    Placeholder(Placeholder),
}

/// `{root.member.member}`.
pub struct Placeholder {
    /// The parameter (or `self`).
    pub root: Ident,
    /// Fields read from it.
    pub members: Vec<Member>,
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
        text
    }
}

/// Characters a key template's literal text may not hold: a key is also a glob pattern.
pub const GLOB_CHARS: &[char] = &['*', '?', '[', ']', '\\'];

/// Parses `template`; every error points at the string literal (a span inside a string is not
/// available on stable Rust), with the placeholder named in the message.
pub fn parse(template: &LitStr) -> Result<Vec<Segment>, syn::Error> {
    let text = template.value();
    let span = template.span();
    let err = |message: String| syn::Error::new(span, message);
    let mut segments = Vec::new();
    let mut literal = String::new();
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
            '}' => return Err(err("unmatched `}` in the key template: write `}}` for a literal brace".into())),
            '{' => {
                let mut inner = String::new();
                loop {
                    match chars.next() {
                        Some('}') => break,
                        Some(c) => inner.push(c),
                        None => return Err(err(format!("unclosed `{{{inner}` in the key template: add `}}`"))),
                    }
                }
                if !literal.is_empty() {
                    segments.push(Segment::Literal(std::mem::take(&mut literal)));
                }
                segments.push(Segment::Placeholder(placeholder(&inner, span)?));
            }
            c if GLOB_CHARS.contains(&c) => {
                return Err(err(format!(
                    "`{c}` cannot appear in a key template: keys are matched as glob patterns by clear_pattern"
                )))
            }
            c => literal.push(c),
        }
    }
    if !literal.is_empty() {
        segments.push(Segment::Literal(literal));
    }
    Ok(segments)
}

fn placeholder(inner: &str, span: Span) -> Result<Placeholder, syn::Error> {
    let err = |message: String| syn::Error::new(span, message);
    if inner.is_empty() {
        return Err(err("empty `{}` in the key template: name a parameter, such as `{id}`".into()));
    }
    if let Some((name, _)) = inner.split_once(':') {
        return Err(err(format!(
            "`{{{inner}}}`: format specs are not supported in keys; placeholders use Display, write `{{{name}}}`"
        )));
    }
    let mut parts = inner.split('.');
    let root = parts.next().unwrap_or_default();
    let root = syn::parse_str::<Ident>(root)
        .or_else(|_| if root == "self" { Ok(Ident::new("self", span)) } else { Err(()) })
        .map_err(|()| err(format!("`{{{inner}}}` is not a placeholder: write `{{param}}` or `{{param.field}}`")))?;
    let root = Ident::new(&root.to_string(), span);
    let mut members = Vec::new();
    for part in parts {
        let member = if let Ok(index) = part.parse::<u32>() {
            Member::Unnamed(syn::Index { index, span })
        } else if syn::parse_str::<Ident>(part).is_ok() {
            Member::Named(Ident::new(part, span))
        } else {
            return Err(err(format!("`{{{inner}}}`: `{part}` is not a field name")));
        };
        members.push(member);
    }
    Ok(Placeholder { root, members, span })
}

/// Whether a character may appear in an escaped value; literal text between two placeholders must
/// hold one character that may not, so that the key says where each value ends.
pub fn may_appear_in_value(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | '%')
}
