//! A scenario's flowchart drawn as inline SVG from the engine's layered flow
//! (`scenario::graph::flow`): one box per step in its row and column, with the step's id,
//! what it does, the events that jump to it and its number of open cases; arrows down to the
//! next steps, labelled with the branch's condition or the task's outcome; arrows that lead
//! back (loops) dashed, round the right-hand side. The whole is an image with a title and a
//! description, each box and arrow with its own `<title>`; the page lists the same steps in
//! a table.

use std::collections::HashMap;
use std::fmt::Write;

use arrears_engine::scenario::graph::Flow;

use crate::chart::clip;
use crate::ui::esc;

const BOX_W: i64 = 220;
const BOX_H: i64 = 66;
const COL_GAP: i64 = 50;
const ROW_GAP: i64 = 70;
const MARGIN: i64 = 20;
/// Room on the right for the arrows that lead back.
const LOOP_ROOM: i64 = 120;

/// Where a box stands.
#[derive(Clone, Copy)]
struct At {
    x: i64,
    y: i64,
}

/// The flowchart; `cases` are the open cases per step id, `cases_label` says "{n} open
/// cases" for the boxes' titles (with `{n}` in it).
pub fn svg(
    id: &str,
    title: &str,
    desc: &str,
    flow: &Flow,
    cases: &HashMap<String, i64>,
    cases_label: &str,
) -> String {
    let layers = flow.layers() as i64;
    let mut per_row: HashMap<usize, i64> = HashMap::new();
    for n in &flow.nodes {
        *per_row.entry(n.layer).or_default() += 1;
    }
    let columns = per_row.values().copied().max().unwrap_or(1);
    let pitch = BOX_W + COL_GAP;
    let width = 2 * MARGIN + columns * pitch - COL_GAP + LOOP_ROOM;
    let height = 2 * MARGIN + layers * (BOX_H + ROW_GAP) - ROW_GAP;
    let at: Vec<At> = flow
        .nodes
        .iter()
        .map(|n| {
            // Rows start at the left, where a phone shows the chart first.
            At {
                x: MARGIN + n.order as i64 * pitch,
                y: MARGIN + n.layer as i64 * (BOX_H + ROW_GAP),
            }
        })
        .collect();

    let mut svg = format!(
        "<svg class=\"flow\" id=\"{id}\" role=\"img\" aria-labelledby=\"{id}-t {id}-d\" \
         viewBox=\"0 0 {width} {height}\" width=\"{width}\" height=\"{height}\" \
         font-family=\"system-ui,sans-serif\" font-size=\"12\">\
         <title id=\"{id}-t\">{}</title><desc id=\"{id}-d\">{}</desc>\
         <defs><marker id=\"{id}-arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"8\" \
         markerHeight=\"8\" orient=\"auto-start-reverse\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"#444\"/></marker></defs>",
        esc(title),
        esc(desc)
    );

    // Arrows first, so the boxes cover their ends. Several arrows leaving (or reaching) one
    // box spread along its edge.
    let mut leaving: HashMap<usize, Vec<usize>> = HashMap::new();
    let mut reaching: HashMap<usize, Vec<usize>> = HashMap::new();
    for (k, e) in flow.edges.iter().enumerate().filter(|(_, e)| !e.back) {
        leaving.entry(e.from).or_default().push(k);
        reaching.entry(e.to).or_default().push(k);
    }
    let spread = |list: Option<&Vec<usize>>, k: usize, x: i64| -> i64 {
        let list = list.map(Vec::as_slice).unwrap_or(&[]);
        let i = list.iter().position(|&j| j == k).unwrap_or(0) as i64;
        x + BOX_W * (i + 1) / (list.len() as i64 + 1)
    };
    for (k, e) in flow.edges.iter().enumerate() {
        let (a, b) = (at[e.from], at[e.to]);
        // Labels: beside the outermost point of a loop; under the start of a downward
        // arrow, one line lower for each arrow before it from the same box.
        let (path, lx, ly, anchor, room) = if e.back {
            // Round the right-hand side, further out the more rows it climbs.
            let climb = (flow.nodes[e.from].layer as i64 - flow.nodes[e.to].layer as i64).max(0);
            let bulge = 40 + 12 * climb.min(6);
            let (sx, sy) = (a.x + BOX_W, a.y + BOX_H / 2);
            let (tx, ty) = (b.x + BOX_W, b.y + BOX_H / 2 - 10);
            let far = sx.max(tx) + bulge;
            (
                format!("M{sx},{sy} C{far},{sy} {far},{ty} {tx},{ty}"),
                sx.max(tx) + bulge * 3 / 4 + 4,
                (sy + ty) / 2,
                "start",
                16,
            )
        } else {
            let sx = spread(leaving.get(&e.from), k, a.x);
            let sy = a.y + BOX_H;
            let tx = spread(reaching.get(&e.to), k, b.x);
            let ty = b.y;
            let bend = (ty - sy) / 2;
            let nth = leaving
                .get(&e.from)
                .and_then(|l| l.iter().position(|&j| j == k))
                .unwrap_or(0) as i64;
            (
                format!(
                    "M{sx},{sy} C{sx},{} {tx},{} {tx},{ty}",
                    sy + bend,
                    ty - bend
                ),
                sx,
                sy + 14 + 13 * (nth % 4),
                "middle",
                24,
            )
        };
        let from = &flow.nodes[e.from].id;
        let to = &flow.nodes[e.to].id;
        let label = e.label.as_deref().unwrap_or("");
        let _ = write!(
            svg,
            "<g class=\"edge\"><title>{} → {}{}</title><path d=\"{path}\" fill=\"none\" stroke=\"#444\" \
             stroke-width=\"1.4\"{} marker-end=\"url(#{id}-arrow)\"/>",
            esc(from),
            esc(to),
            if label.is_empty() {
                String::new()
            } else {
                format!(": {}", esc(label))
            },
            if e.back {
                " stroke-dasharray=\"5 4\""
            } else {
                ""
            },
        );
        if !label.is_empty() {
            let _ = write!(
                svg,
                "<text x=\"{lx}\" y=\"{ly}\" text-anchor=\"{anchor}\" font-size=\"11\" fill=\"#333\" \
                 stroke=\"#fff\" stroke-width=\"4\" paint-order=\"stroke\">{}</text>",
                esc(&clip(label, room))
            );
        }
        svg.push_str("</g>");
    }

    for (i, n) in flow.nodes.iter().enumerate() {
        let At { x, y } = at[i];
        let (fill, radius) = match n.kind {
            "end" | "close" => ("#e6f4ea", 22),
            "task" | "handover" => ("#fff6d5", 4),
            "switch" => ("#f0e8ff", 4),
            "wait" => ("#eef2f6", 4),
            _ => ("#e8f0fb", 4),
        };
        let count = cases.get(&n.id).copied().unwrap_or(0);
        let events: Vec<&str> = flow
            .entries
            .iter()
            .filter(|(_, to)| *to == i)
            .map(|(ev, _)| ev.as_str())
            .collect();
        let cases_text = cases_label.replace("{n}", &count.to_string());
        let _ = write!(
            svg,
            "<g class=\"step\" id=\"{id}-node-{sid}\"><title>{sid}: {text}; {cases}{events_title}</title>\
             <rect x=\"{x}\" y=\"{y}\" width=\"{BOX_W}\" height=\"{BOX_H}\" rx=\"{radius}\" fill=\"{fill}\" stroke=\"#555\"/>\
             <text x=\"{tx}\" y=\"{l1}\" font-weight=\"600\" font-size=\"13\">{sid_short}</text>\
             <text x=\"{tx}\" y=\"{l2}\">{text_short}</text>",
            sid = esc(&n.id),
            text = esc(&n.text),
            cases = esc(&cases_text),
            events_title = if events.is_empty() {
                String::new()
            } else {
                format!("; on {}", esc(&events.join(", ")))
            },
            tx = x + 8,
            l1 = y + 18,
            l2 = y + 36,
            sid_short = esc(&clip(&n.id, 22)),
            text_short = esc(&clip(&n.text, 32)),
        );
        if !events.is_empty() {
            let _ = write!(
                svg,
                "<text x=\"{}\" y=\"{}\" font-style=\"italic\" fill=\"#555\">{}</text>",
                x + 8,
                y + 55,
                esc(&clip(&format!("on {}", events.join(", ")), 32))
            );
        }
        if n.kind != "end" {
            // The open cases, as a badge in the top right corner.
            let _ = write!(
                svg,
                "<rect x=\"{}\" y=\"{}\" width=\"40\" height=\"20\" rx=\"10\" fill=\"{}\"/>\
                 <text class=\"count\" x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-weight=\"600\" fill=\"{}\">{count}</text>",
                x + BOX_W - 46,
                y + 5,
                if count > 0 { "#1a5fb4" } else { "#d8dde3" },
                x + BOX_W - 26,
                y + 19,
                if count > 0 { "#fff" } else { "#333" },
            );
        }
        svg.push_str("</g>");
    }
    svg.push_str("</svg>");
    svg
}
