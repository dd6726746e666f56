//! Letters as PDF: A4 pages with a letterhead, the recipient's address block (where a window
//! envelope shows it), marks such as "registered letter" or "duplicate", paragraphs,
//! headings and tables that break across pages with their header repeated. The font is
//! DejaVu Sans (shipped in `fonts/`, with its licence), embedded as a subset with a
//! ToUnicode map, so Polish diacritics print and the text can be extracted and searched.
//!
//! This crate owns layout and PDF writing only. What a letter says (templates, money and
//! date formats, the open items) is decided by the engine's correspondence module, which
//! hands over a [`Letter`]. Several letters make one PDF (the day's print batch), each
//! starting on a new page.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use pdf_writer::types::{CidFontType, FontFlags, SystemInfo, UnicodeCmap};
use pdf_writer::{Content, Finish, Name, Pdf, Rect, Ref, Str, TextStr};

static REGULAR_DATA: &[u8] = include_bytes!("../fonts/DejaVuSans.ttf");
static BOLD_DATA: &[u8] = include_bytes!("../fonts/DejaVuSans-Bold.ttf");

struct FontFace {
    face: ttf_parser::Face<'static>,
    data: &'static [u8],
    name: &'static [u8],
}

static REGULAR: LazyLock<Option<FontFace>> = LazyLock::new(|| load(REGULAR_DATA, b"DejaVuSans"));
static BOLD: LazyLock<Option<FontFace>> = LazyLock::new(|| load(BOLD_DATA, b"DejaVuSans-Bold"));

fn load(data: &'static [u8], name: &'static [u8]) -> Option<FontFace> {
    ttf_parser::Face::parse(data, 0)
        .ok()
        .map(|face| FontFace { face, data, name })
}

#[derive(Debug, thiserror::Error)]
pub enum PdfError {
    #[error("the embedded font could not be read")]
    Font,
    #[error("the font could not be subset: {0}")]
    Subset(String),
}

/// A4 in points.
const PAGE_W: f32 = 595.28;
const PAGE_H: f32 = 841.89;
const MARGIN_X: f32 = 62.0;
const TOP: f32 = 800.0;
const BOTTOM: f32 = 70.0;
const BODY_SIZE: f32 = 10.0;
const LEADING: f32 = 1.35;

/// One letter: who sends it, to whom, and what it says.
#[derive(Debug, Clone, Default)]
pub struct Letter {
    /// The sender's name (bold) and lines under it (address, bank account, contact).
    pub letterhead: Vec<String>,
    /// The recipient's name and postal address, one line each.
    pub address: Vec<String>,
    /// Place and date, printed on the right above the body.
    pub dateline: Option<String>,
    /// Marks printed boldly above the address: "LIST POLECONY", "DUPLICATE".
    pub marks: Vec<String>,
    pub body: Vec<Block>,
    /// A line printed small at the foot of every page (a reference); the page number
    /// follows it.
    pub footer: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Block {
    Heading(String),
    Paragraph(String),
    /// The first row is the header (bold, repeated on a new page). Columns after the first
    /// are right-aligned when every body cell of the column starts with a digit or a sign.
    Table(Vec<Vec<String>>),
}

impl Block {
    /// Reads a letter body written as text: `# ` starts a heading, lines starting with `|`
    /// are table rows (cells between bars, the first row the header), a blank line ends a
    /// paragraph, and the lines of a paragraph are kept as written.
    pub fn parse(text: &str) -> Vec<Block> {
        let mut out = Vec::new();
        let mut para: Vec<&str> = Vec::new();
        let mut table: Vec<Vec<String>> = Vec::new();
        let flush_para = |para: &mut Vec<&str>, out: &mut Vec<Block>| {
            if !para.is_empty() {
                out.push(Block::Paragraph(para.join("\n")));
                para.clear();
            }
        };
        let flush_table = |table: &mut Vec<Vec<String>>, out: &mut Vec<Block>| {
            if !table.is_empty() {
                out.push(Block::Table(std::mem::take(table)));
            }
        };
        for line in text.lines() {
            let t = line.trim();
            if let Some(row) = t.strip_prefix('|') {
                flush_para(&mut para, &mut out);
                let row = row.strip_suffix('|').unwrap_or(row);
                table.push(row.split('|').map(|c| c.trim().to_string()).collect());
                continue;
            }
            flush_table(&mut table, &mut out);
            if let Some(h) = t.strip_prefix("# ") {
                flush_para(&mut para, &mut out);
                out.push(Block::Heading(h.trim().to_string()));
            } else if t.is_empty() {
                flush_para(&mut para, &mut out);
            } else {
                para.push(t);
            }
        }
        flush_table(&mut table, &mut out);
        flush_para(&mut para, &mut out);
        out
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Style {
    Regular,
    Bold,
}

/// A run of glyphs (original glyph ids) at a position.
struct Run {
    style: Style,
    size: f32,
    x: f32,
    y: f32,
    glyphs: Vec<u16>,
}

#[derive(Default)]
struct Page {
    runs: Vec<Run>,
    /// Horizontal rules: x1, x2, y.
    rules: Vec<(f32, f32, f32)>,
}

struct Fonts {
    regular: &'static FontFace,
    bold: &'static FontFace,
    /// The character each used glyph stands for (for the ToUnicode map), per style.
    used: [BTreeMap<u16, char>; 2],
}

impl Fonts {
    fn face(&self, s: Style) -> &'static FontFace {
        match s {
            Style::Regular => self.regular,
            Style::Bold => self.bold,
        }
    }

    fn glyph(&mut self, s: Style, c: char) -> u16 {
        // A non-breaking space prints as a space (and reads back as one).
        let c = if c == '\u{a0}' || c == '\u{202f}' {
            ' '
        } else {
            c
        };
        let gid = self.face(s).face.glyph_index(c).map(|g| g.0).unwrap_or(0);
        self.used[s as usize].entry(gid).or_insert(c);
        gid
    }

    fn width(&self, s: Style, size: f32, text: &str) -> f32 {
        let f = &self.face(s).face;
        let upem = f32::from(f.units_per_em());
        text.chars()
            .map(|c| {
                let c = if c == '\u{a0}' { ' ' } else { c };
                f.glyph_index(c)
                    .and_then(|g| f.glyph_hor_advance(g))
                    .map(f32::from)
                    .unwrap_or(0.0)
            })
            .sum::<f32>()
            * size
            / upem
    }
}

struct Layout<'f> {
    fonts: &'f mut Fonts,
    pages: Vec<Page>,
    y: f32,
    footer: Option<String>,
    /// Index of this letter's first page (page numbers restart per letter).
    first_page: usize,
}

impl Layout<'_> {
    fn page(&mut self) -> &mut Page {
        if self.pages.is_empty() {
            self.pages.push(Page::default());
        }
        let n = self.pages.len() - 1;
        &mut self.pages[n]
    }

    fn new_page(&mut self) {
        self.pages.push(Page::default());
        self.y = TOP;
    }

    fn text(&mut self, style: Style, size: f32, x: f32, y: f32, text: &str) {
        let glyphs = text.chars().map(|c| self.fonts.glyph(style, c)).collect();
        self.page().runs.push(Run {
            style,
            size,
            x,
            y,
            glyphs,
        });
    }

    /// Room for `h` more points on this page, or a new page.
    fn need(&mut self, h: f32) {
        if self.y - h < BOTTOM {
            self.new_page();
        }
    }

    fn wrap(&self, style: Style, size: f32, text: &str, width: f32) -> Vec<String> {
        let mut lines = Vec::new();
        for src in text.split('\n') {
            let mut line = String::new();
            for word in src.split(' ').filter(|w| !w.is_empty()) {
                let candidate = if line.is_empty() {
                    word.to_string()
                } else {
                    format!("{line} {word}")
                };
                if self.fonts.width(style, size, &candidate) <= width || line.is_empty() {
                    line = candidate;
                } else {
                    lines.push(std::mem::replace(&mut line, word.to_string()));
                }
            }
            lines.push(line);
        }
        lines
    }

    fn paragraph(&mut self, style: Style, size: f32, text: &str) {
        let width = PAGE_W - 2.0 * MARGIN_X;
        for line in self.wrap(style, size, text, width) {
            self.need(size * LEADING);
            self.y -= size * LEADING;
            let y = self.y;
            self.text(style, size, MARGIN_X, y, &line);
        }
        self.y -= size * 0.8;
    }

    fn table(&mut self, rows: &[Vec<String>]) {
        let Some(header) = rows.first() else { return };
        let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
        let size = BODY_SIZE - 1.0;
        let width = PAGE_W - 2.0 * MARGIN_X;
        let cell = |r: &Vec<String>, i: usize| r.get(i).cloned().unwrap_or_default();
        // Column widths from the widest cell, the spare room going to the first column.
        let pad = 12.0;
        let mut widths: Vec<f32> = (0..cols)
            .map(|i| {
                rows.iter()
                    .enumerate()
                    .map(|(n, r)| {
                        let st = if n == 0 { Style::Bold } else { Style::Regular };
                        self.fonts.width(st, size, &cell(r, i))
                    })
                    .fold(0.0, f32::max)
                    + pad
            })
            .collect();
        let total: f32 = widths.iter().sum();
        if total < width && cols > 0 {
            widths[0] += width - total;
        }
        let right: Vec<bool> = (0..cols)
            .map(|i| {
                i > 0
                    && rows.iter().skip(1).all(|r| {
                        cell(r, i)
                            .chars()
                            .next()
                            .is_none_or(|c| c.is_ascii_digit() || c == '-' || c == '+')
                            || cell(r, i)
                                .chars()
                                .last()
                                .is_some_and(|c| c.is_ascii_digit())
                    })
            })
            .collect();
        let line_h = size * LEADING + 3.0;
        let draw_row = |l: &mut Layout, r: &Vec<String>, style: Style| {
            l.y -= line_h;
            let y = l.y + 3.0;
            let mut x = MARGIN_X;
            for (i, w) in widths.iter().enumerate() {
                let t = cell(r, i);
                let tx = if right[i] {
                    x + w - pad / 2.0 - l.fonts.width(style, size, &t)
                } else {
                    x + if i == 0 { 0.0 } else { pad / 2.0 }
                };
                l.text(style, size, tx, y, &t);
                x += w;
            }
        };
        let draw_header = |l: &mut Layout| {
            draw_row(l, header, Style::Bold);
            let y = l.y;
            l.page().rules.push((MARGIN_X, MARGIN_X + width, y));
        };
        self.need(2.0 * line_h);
        draw_header(self);
        for r in &rows[1..] {
            if self.y - line_h < BOTTOM {
                self.new_page();
                draw_header(self);
            }
            draw_row(self, r, Style::Regular);
        }
        let y = self.y - 2.0;
        self.page().rules.push((MARGIN_X, MARGIN_X + width, y));
        self.y -= BODY_SIZE;
    }

    fn letter(&mut self, l: &Letter) {
        self.new_page();
        self.first_page = self.pages.len() - 1;
        self.footer = l.footer.clone();
        // Letterhead: the sender's name in bold, the rest small, a rule under it.
        let mut y = TOP;
        for (i, line) in l.letterhead.iter().enumerate() {
            let (style, size) = if i == 0 {
                (Style::Bold, 13.0)
            } else {
                (Style::Regular, 8.5)
            };
            y -= size * LEADING;
            self.text(style, size, MARGIN_X, y, line);
        }
        y -= 6.0;
        self.page().rules.push((MARGIN_X, PAGE_W - MARGIN_X, y));
        // Address block where a DL window envelope shows it (about 50 mm from the top).
        let mut ay = PAGE_H - 150.0;
        for m in &l.marks {
            self.text(Style::Bold, 11.0, MARGIN_X, ay, m);
            ay -= 11.0 * LEADING;
        }
        ay -= 4.0;
        for (i, line) in l.address.iter().enumerate() {
            let style = if i == 0 { Style::Bold } else { Style::Regular };
            self.text(style, BODY_SIZE + 1.0, MARGIN_X, ay, line);
            ay -= (BODY_SIZE + 1.0) * LEADING;
        }
        let mut by = ay.min(PAGE_H - 250.0) - 10.0;
        if let Some(d) = &l.dateline {
            let w = self.fonts.width(Style::Regular, BODY_SIZE, d);
            self.text(Style::Regular, BODY_SIZE, PAGE_W - MARGIN_X - w, by, d);
            by -= BODY_SIZE * LEADING * 2.0;
        }
        self.y = by;
        for b in &l.body {
            match b {
                Block::Heading(h) => {
                    self.need(3.0 * BODY_SIZE * LEADING);
                    self.y -= 4.0;
                    self.paragraph(Style::Bold, BODY_SIZE + 2.0, h);
                }
                Block::Paragraph(p) => self.paragraph(Style::Regular, BODY_SIZE, p),
                Block::Table(rows) => self.table(rows),
            }
        }
        // Footers with "page n of m" once the letter's pages are known.
        let n = self.pages.len() - self.first_page;
        for i in 0..n {
            let text = match &self.footer {
                Some(f) => format!("{f} · {}/{n}", i + 1),
                None => format!("{}/{n}", i + 1),
            };
            let glyphs = text
                .chars()
                .map(|c| self.fonts.glyph(Style::Regular, c))
                .collect();
            self.pages[self.first_page + i].runs.push(Run {
                style: Style::Regular,
                size: 7.5,
                x: MARGIN_X,
                y: BOTTOM - 30.0,
                glyphs,
            });
        }
    }
}

/// Lays out the letters, each from a new page, into one PDF.
pub fn render(letters: &[Letter]) -> Result<Vec<u8>, PdfError> {
    let (Some(regular), Some(bold)) = (REGULAR.as_ref(), BOLD.as_ref()) else {
        return Err(PdfError::Font);
    };
    let mut fonts = Fonts {
        regular,
        bold,
        used: [BTreeMap::new(), BTreeMap::new()],
    };
    let mut layout = Layout {
        fonts: &mut fonts,
        pages: Vec::new(),
        y: TOP,
        footer: None,
        first_page: 0,
    };
    for l in letters {
        layout.letter(l);
    }
    let pages = std::mem::take(&mut layout.pages);
    write(&fonts, &pages)
}

fn write(fonts: &Fonts, pages: &[Page]) -> Result<Vec<u8>, PdfError> {
    let mut next = 1;
    let mut alloc = || {
        let r = Ref::new(next);
        next += 1;
        r
    };
    let catalog = alloc();
    let tree = alloc();
    let info = alloc();
    let mut pdf = Pdf::new();
    pdf.catalog(catalog).pages(tree);
    pdf.document_info(info)
        .producer(TextStr("arrears"))
        .title(TextStr("Letter"));
    // Fonts: each style subset to the glyphs used, CIDs numbered by the subset's glyph ids.
    let mut font_refs = Vec::new();
    let mut remappers = Vec::new();
    for (i, style) in [Style::Regular, Style::Bold].into_iter().enumerate() {
        let face = fonts.face(style);
        let used = &fonts.used[i];
        let mut mapper = subsetter::GlyphRemapper::new();
        for gid in used.keys() {
            mapper.remap(*gid);
        }
        let subset = subsetter::subset(face.data, 0, &mapper)
            .map_err(|e| PdfError::Subset(format!("{e:?}")))?;
        let (type0, cid, desc, file, cmap) = (alloc(), alloc(), alloc(), alloc(), alloc());
        // A subset's name carries a six-letter tag.
        let mut base = b"ARRRS".to_vec();
        base.push(b'A' + i as u8);
        base.push(b'+');
        base.extend_from_slice(face.name);
        pdf.type0_font(type0)
            .base_font(Name(&base))
            .encoding_predefined(Name(b"Identity-H"))
            .descendant_font(cid)
            .to_unicode(cmap);
        let f = &face.face;
        let scale = 1000.0 / f32::from(f.units_per_em());
        let widths: Vec<f32> = mapper
            .remapped_gids()
            .map(|old| {
                f.glyph_hor_advance(ttf_parser::GlyphId(old))
                    .map(f32::from)
                    .unwrap_or(0.0)
                    * scale
            })
            .collect();
        let system = SystemInfo {
            registry: Str(b"Adobe"),
            ordering: Str(b"Identity"),
            supplement: 0,
        };
        let mut cidf = pdf.cid_font(cid);
        cidf.subtype(CidFontType::Type2)
            .base_font(Name(&base))
            .system_info(system)
            .font_descriptor(desc)
            .default_width(0.0)
            .cid_to_gid_map_predefined(Name(b"Identity"));
        cidf.widths().consecutive(0, widths);
        cidf.finish();
        let bbox = f.global_bounding_box();
        let mut flags = FontFlags::NON_SYMBOLIC;
        if style == Style::Bold {
            flags |= FontFlags::FORCE_BOLD;
        }
        pdf.font_descriptor(desc)
            .name(Name(&base))
            .flags(flags)
            .bbox(Rect::new(
                f32::from(bbox.x_min) * scale,
                f32::from(bbox.y_min) * scale,
                f32::from(bbox.x_max) * scale,
                f32::from(bbox.y_max) * scale,
            ))
            .italic_angle(0.0)
            .ascent(f32::from(f.ascender()) * scale)
            .descent(f32::from(f.descender()) * scale)
            .cap_height(f32::from(f.capital_height().unwrap_or(f.ascender())) * scale)
            .stem_v(if style == Style::Bold { 120.0 } else { 80.0 })
            .font_file2(file);
        let mut unicode = UnicodeCmap::new(Name(b"Custom"), system);
        for (old, c) in used {
            if let Some(new) = mapper.get(*old) {
                unicode.pair(new, *c);
            }
        }
        pdf.stream(cmap, &unicode.finish());
        pdf.stream(file, &subset)
            .pair(Name(b"Length1"), subset.len() as i32);
        font_refs.push(type0);
        remappers.push(mapper);
    }
    let mut page_refs = Vec::new();
    for p in pages {
        let (page_id, content_id) = (alloc(), alloc());
        page_refs.push(page_id);
        let mut c = Content::new();
        c.set_line_width(0.6);
        c.set_stroke_gray(0.3);
        for (x1, x2, y) in &p.rules {
            c.move_to(*x1, *y);
            c.line_to(*x2, *y);
            c.stroke();
        }
        c.begin_text();
        for r in &p.runs {
            let i = r.style as usize;
            let name = if i == 0 { Name(b"F0") } else { Name(b"F1") };
            let mut bytes = Vec::with_capacity(r.glyphs.len() * 2);
            for g in &r.glyphs {
                let new = remappers[i].get(*g).unwrap_or(0);
                bytes.extend_from_slice(&new.to_be_bytes());
            }
            c.set_font(name, r.size);
            c.set_text_matrix([1.0, 0.0, 0.0, 1.0, r.x, r.y]);
            c.show(Str(&bytes));
        }
        c.end_text();
        let mut page = pdf.page(page_id);
        page.media_box(Rect::new(0.0, 0.0, PAGE_W, PAGE_H))
            .parent(tree)
            .contents(content_id);
        page.resources()
            .fonts()
            .pair(Name(b"F0"), font_refs[0])
            .pair(Name(b"F1"), font_refs[1]);
        page.finish();
        pdf.stream(content_id, &c.finish());
    }
    let count = page_refs.len() as i32;
    pdf.pages(tree).kids(page_refs).count(count);
    Ok(pdf.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_read_headings_paragraphs_and_tables() {
        let blocks =
            Block::parse("# TITLE\n\nDear Sir,\nsecond line\n\n| A | B |\n| 1 | 2 |\nAfter");
        assert_eq!(
            blocks,
            vec![
                Block::Heading("TITLE".into()),
                Block::Paragraph("Dear Sir,\nsecond line".into()),
                Block::Table(vec![
                    vec!["A".into(), "B".into()],
                    vec!["1".into(), "2".into()]
                ]),
                Block::Paragraph("After".into()),
            ]
        );
    }

    #[test]
    fn a_long_table_breaks_onto_new_pages() {
        let mut rows = vec![vec!["Document".to_string(), "Amount".to_string()]];
        for i in 0..200 {
            rows.push(vec![format!("FV/{i}"), format!("{i},00 zł")]);
        }
        let letter = Letter {
            letterhead: vec!["Sender".into()],
            address: vec!["Zażółć Gęślą Jaźń".into()],
            body: vec![Block::Table(rows)],
            ..Default::default()
        };
        let pdf = render(&[letter]).expect("renders");
        let pages = String::from_utf8_lossy(&pdf)
            .matches("/Type /Page\n")
            .count()
            + String::from_utf8_lossy(&pdf)
                .matches("/Type /Page ")
                .count();
        assert!(pdf.starts_with(b"%PDF-"));
        assert!(pages >= 1);
        let text = String::from_utf8_lossy(&pdf);
        assert!(
            text.contains("/Count 4") || text.contains("/Count 5"),
            "200 rows need several pages"
        );
    }
}
