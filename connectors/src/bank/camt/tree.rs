//! The XML underneath camt: one element read whole into a small tree, paths and line
//! numbers for errors, and a depth limit so hostile nesting costs nothing.

use quick_xml::Reader;
use quick_xml::XmlVersion;
use quick_xml::events::{BytesStart, Event};

use crate::bank::{Format, ParseError, Position};

/// Deeper than any camt element; refusing deeper input keeps trees small and drops cheap.
pub(super) const MAX_DEPTH: usize = 40;

/// An element with its text and children.
#[derive(Debug, Default)]
pub(super) struct Node {
    pub(super) name: String,
    pub(super) ccy: Option<String>,
    pub(super) text: String,
    pub(super) children: Vec<Node>,
    pub(super) offset: usize,
}

impl Node {
    pub(super) fn child(&self, name: &str) -> Option<&Node> {
        self.children.iter().find(|c| c.name == name)
    }

    pub(super) fn children<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Node> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    pub(super) fn get(&self, path: &str) -> Option<&Node> {
        path.split('/').try_fold(self, |n, name| n.child(name))
    }

    /// Trimmed text at `path`, if there is any.
    pub(super) fn text_at(&self, path: &str) -> Option<&str> {
        self.get(path)
            .map(|n| n.text.trim())
            .filter(|t| !t.is_empty())
    }
}

/// Builds errors with element paths and line numbers.
pub(super) struct Ctx<'a> {
    pub(super) text: &'a str,
    /// Offsets of the line breaks, so a line number costs a binary search rather than a
    /// scan from the start (a statement has one position per entry).
    newlines: Vec<usize>,
}

impl<'a> Ctx<'a> {
    pub(super) fn new(text: &'a str) -> Ctx<'a> {
        let newlines = text
            .bytes()
            .enumerate()
            .filter(|(_, b)| *b == b'\n')
            .map(|(i, _)| i)
            .collect();
        Ctx { text, newlines }
    }

    pub(super) fn line_of(&self, offset: usize) -> usize {
        let end = offset.min(self.text.len());
        1 + self.newlines.partition_point(|&n| n < end)
    }

    pub(super) fn err(
        &self,
        format: Format,
        offset: usize,
        path: String,
        msg: impl Into<String>,
    ) -> ParseError {
        ParseError::new(
            format,
            Position::Xml {
                line: self.line_of(offset),
                path,
            },
            msg,
        )
    }
}

pub(super) fn path_of(stack: &[String]) -> String {
    let mut p = String::new();
    for s in stack {
        p.push('/');
        p.push_str(s);
    }
    if p.is_empty() {
        p.push('/');
    }
    p
}

pub(super) fn new_node(e: &BytesStart<'_>, offset: usize) -> Node {
    let ccy = e.attributes().flatten().find_map(|a| {
        (a.key.local_name().as_ref() == "Ccy")
            .then(|| a.normalized_value(XmlVersion::Implicit1_0).ok())
            .flatten()
            .map(|v| v.into_owned())
    });
    Node {
        name: e.local_name().as_ref().to_string(),
        ccy,
        offset,
        ..Node::default()
    }
}

/// Reads the element just started (`start`) up to its end into a tree.
pub(super) fn read_node(
    reader: &mut Reader<&[u8]>,
    ctx: &Ctx<'_>,
    format: Format,
    start: &BytesStart<'_>,
    offset: usize,
    base: &str,
) -> Result<Node, ParseError> {
    let root = new_node(start, offset);
    let mut open: Vec<Node> = vec![root];
    let path = |open: &[Node]| {
        let mut p = base.to_string();
        for n in open {
            p.push('/');
            p.push_str(&n.name);
        }
        p
    };
    loop {
        let at = usize::try_from(reader.buffer_position()).unwrap_or(usize::MAX);
        let event = reader.read_event().map_err(|e| {
            let pos = usize::try_from(reader.error_position()).unwrap_or(usize::MAX);
            ctx.err(format, pos, path(&open), format!("malformed XML: {e}"))
        })?;
        match event {
            Event::Start(e) => {
                if open.len() >= MAX_DEPTH {
                    return Err(ctx.err(
                        format,
                        at,
                        path(&open),
                        "elements nested too deep for a camt document",
                    ));
                }
                open.push(new_node(&e, at));
            }
            Event::Empty(e) => {
                let n = new_node(&e, at);
                if let Some(parent) = open.last_mut() {
                    parent.children.push(n);
                }
            }
            Event::Text(t) => {
                if let Some(n) = open.last_mut() {
                    n.text.push_str(&t.xml10_content());
                }
            }
            Event::CData(t) => {
                if let Some(n) = open.last_mut() {
                    n.text.push_str(&t.into_inner());
                }
            }
            Event::GeneralRef(r) => {
                let c = match r.resolve_char_ref() {
                    Ok(Some(c)) => c,
                    _ => match &*r {
                        "lt" => '<',
                        "gt" => '>',
                        "amp" => '&',
                        "apos" => '\'',
                        "quot" => '"',
                        other => {
                            return Err(ctx.err(
                                format,
                                at,
                                path(&open),
                                format!("unknown entity &{other};"),
                            ));
                        }
                    },
                };
                if let Some(n) = open.last_mut() {
                    n.text.push(c);
                }
            }
            Event::End(_) => {
                let Some(done) = open.pop() else {
                    break;
                };
                match open.last_mut() {
                    Some(parent) => parent.children.push(done),
                    None => return Ok(done),
                }
            }
            Event::Eof => {
                return Err(ctx.err(format, at, path(&open), "the file ends inside this element"));
            }
            _ => {}
        }
    }
    Err(ctx.err(format, offset, base.to_string(), "unbalanced element"))
}
