//! RediSearch's text rules, byte for byte: how it splits and normalizes words
//! (its `toksep.h` and `DefaultNormalize`), its stop words, and the limits
//! past which a value is indexed truncated or a pattern matches nothing.

/// RediSearch's default stop words: they are not indexed, so a query term
/// that is one of them would match nothing.
pub(super) const STOP_WORDS: &[&str] = &[
    "a", "is", "the", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into",
    "it", "no", "not", "of", "on", "or", "such", "that", "their", "then", "there", "these", "they",
    "this", "to", "was", "will", "with",
];

/// The bytes at which RediSearch splits text into words (`ToksepMap_g` in its
/// `toksep.h`): ASCII space, tab and punctuation other than `_` and `\\`.
/// Nothing else separates words: not a newline, not a no-break space.
fn is_word_break(b: u8) -> bool {
    matches!(
        b,
        b' ' | b'\t'
            | b','
            | b'.'
            | b'/'
            | b'('
            | b')'
            | b'{'
            | b'}'
            | b'['
            | b']'
            | b':'
            | b';'
            | b'~'
            | b'!'
            | b'@'
            | b'#'
            | b'$'
            | b'%'
            | b'^'
            | b'&'
            | b'*'
            | b'-'
            | b'='
            | b'+'
            | b'|'
            | b'\''
            | b'`'
            | b'"'
            | b'<'
            | b'>'
            | b'?'
    )
}

/// The words of `text` exactly as RediSearch indexes them (its tokenizer and
/// `DefaultNormalize`, byte by byte):
/// - a separator byte ends a word unless a backslash escapes it (a backslash
///   that is not itself escaped);
/// - in a word, ASCII letters are lowercased (no other letter is: `É` stays);
///   control characters (newline included) are dropped, so `a\nb` is `ab`;
///   a backslash is dropped and keeps the next byte, even a space.
///
/// Stop words are not removed here.
pub(crate) fn words(text: &str) -> Vec<String> {
    let bytes = text.as_bytes();
    let mut words = Vec::new();
    let mut start = 0;
    let mut escaped = false;
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'\\' && !escaped {
            escaped = true;
            continue;
        }
        if is_word_break(b) && !escaped {
            push_word(&mut words, &bytes[start..i]);
            start = i + 1;
        }
        escaped = false;
    }
    push_word(&mut words, &bytes[start..]);
    words
}

fn push_word(words: &mut Vec<String>, token: &[u8]) {
    let word = normalize(token);
    if !word.is_empty() {
        words.push(word);
    }
}

/// One token normalized as RediSearch does (see [`words`]).
fn normalize(token: &[u8]) -> String {
    let mut out = Vec::with_capacity(token.len());
    let mut escaped = false;
    for &b in token {
        if b.is_ascii_uppercase() {
            out.push(b.to_ascii_lowercase());
        } else if (matches!(b, b' ' | b'\t') && !escaped) || b.is_ascii_control() {
        } else if b == b'\\' && !escaped {
            escaped = true;
            continue;
        } else {
            out.push(b);
        }
        escaped = false;
    }
    // Only ASCII bytes were dropped or changed, so the rest is still UTF-8.
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// The longest word RediSearch indexes whole: a longer one is indexed as its
/// first 128 bytes, so no query for the whole word can match it.
pub const MAX_WORD_BYTES: usize = 128;
/// The most distinct words one full-text condition may hold: the server's
/// query parser overflows at about 250.
pub const MAX_TEXT_WORDS: usize = 128;
/// The longest tag RediSearch indexes whole (a longer value is indexed as its
/// first 4,096 bytes, so no query for the whole value can match it).
pub const MAX_TAG_BYTES: usize = 4096;
/// The fewest characters a prefix, suffix or infix pattern needs: RediSearch's
/// `MINPREFIX` (2 by default); a shorter one matches nothing.
pub const MIN_PATTERN_CHARS: usize = 2;
